package org.fastvm.server.api;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A TCP relay with a fixed address in front of servers that come and go, as a load balancer
 * in front of a restarting server: each connection is piped to the current upstream, and one
 * that arrives while there is none ({@link #hold}) waits until {@link #to} names the next.
 */
final class Relay implements AutoCloseable {
    private final ServerSocket listener;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile CompletableFuture<Integer> upstream = new CompletableFuture<>();

    Relay() throws IOException {
        listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().name("relay-accept").start(this::accept);
    }

    /** {@return the port clients connect to} */
    int port() {
        return listener.getLocalPort();
    }

    /** Connections go to {@code port} from now on (those waiting too). */
    void to(int port) {
        upstream.complete(port);
    }

    /** Connections from now on wait for the next {@link #to}. */
    void hold() {
        upstream = new CompletableFuture<>();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                open.add(client);
                CompletableFuture<Integer> target = upstream;
                Thread.ofVirtual().name("relay-pipe").start(() -> pipe(client, target));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void pipe(Socket client, CompletableFuture<Integer> target) {
        Socket server = null;
        try {
            server = new Socket(InetAddress.getLoopbackAddress(), target.get(60, TimeUnit.SECONDS));
            open.add(server);
            Socket s = server;
            Thread.ofVirtual().start(() -> copy(client, s));
            copy(server, client);
        } catch (Exception e) {
            closeQuietly(client);
            if (server != null) closeQuietly(server);
        }
    }

    /** Copies until either side ends, then closes both: a server going away drops its clients. */
    private void copy(Socket from, Socket to) {
        try {
            from.getInputStream().transferTo(to.getOutputStream());
        } catch (IOException e) {
            // one side closed
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private void closeQuietly(Socket s) {
        open.remove(s);
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        open.forEach(this::closeQuietly);
    }
}
