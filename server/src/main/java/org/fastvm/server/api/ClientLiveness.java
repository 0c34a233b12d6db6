package org.fastvm.server.api;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.eclipse.jetty.server.Request;

/**
 * Tells whether an HTTP/1.x client has closed its connection while the server is still
 * working on its request. Jetty does not read an HTTP/1 connection while a handler runs, so a
 * client's close is silent until the next write; for connection-bound execs that is too late.
 * On Linux the kernel shows it: our side of the TCP connection moves to CLOSE_WAIT (or
 * disappears after a reset) in /proc/net/tcp{,6}, which we read without touching the socket.
 * HTTP/2 needs none of this: a reset or closed stream reaches the request's failure listeners.
 */
final class ClientLiveness {
    private static final Path[] TABLES = {Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6")};
    private static final String CLOSE_WAIT = "08";

    private final String localPortHex;
    private final String remotePortHex;

    private ClientLiveness(int localPort, int remotePort) {
        this.localPortHex = String.format(Locale.ROOT, ":%04X", localPort);
        this.remotePortHex = String.format(Locale.ROOT, ":%04X", remotePort);
    }

    /** {@return a watcher for this request's connection, or null when none is needed or possible} */
    static ClientLiveness of(Request request) {
        var meta = request.getConnectionMetaData();
        if (!meta.getProtocol().startsWith("HTTP/1")) return null;
        if (!Files.isReadable(TABLES[0])) return null;
        SocketAddress local = meta.getLocalSocketAddress();
        SocketAddress remote = meta.getRemoteSocketAddress();
        if (!(local instanceof InetSocketAddress l) || !(remote instanceof InetSocketAddress r)) return null;
        return new ClientLiveness(l.getPort(), r.getPort());
    }

    /**
     * {@return true when the client has closed or reset the connection. Connections are matched
     * by (server port, client port), which is unique among live connections on one host.}
     */
    boolean gone() {
        for (Path table : TABLES) {
            List<String> lines;
            try {
                lines = Files.readAllLines(table);
            } catch (IOException e) {
                continue;
            }
            for (String line : lines) {
                String[] f = line.trim().split("\\s+", -1);
                if (f.length < 4 || !f[1].endsWith(localPortHex) || !f[2].endsWith(remotePortHex)) continue;
                if (!f[3].equals(CLOSE_WAIT)) return false;
            }
        }
        return true; // only CLOSE_WAIT entries, or none at all (reset and gone)
    }
}
