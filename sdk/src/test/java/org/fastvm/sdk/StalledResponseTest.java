package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A server that sends a response's headers and then stalls mid-body. The JDK's request
 * timeout only covers the wait for headers, so without the SDK's own bound on the whole
 * exchange such a call would hang forever.
 */
class StalledResponseTest {
    private ServerSocket listener;
    private final List<Socket> accepted = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        daemon(() -> {
            try {
                while (true) {
                    Socket s = listener.accept();
                    synchronized (accepted) {
                        accepted.add(s);
                    }
                    daemon(() -> serve(s));
                }
            } catch (IOException closed) {
                // the test is over
            }
        });
    }

    private static Thread daemon(Runnable r) {
        Thread t = new Thread(r, "stalling-server");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** HTTP/1.1 (the h2c upgrade is ignored): /healthz answers, anything else stalls mid-body. */
    private static void serve(Socket s) {
        try (s;
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream()) {
            while (true) {
                String head = readHead(in);
                if (head == null) return;
                if (head.startsWith("GET /healthz ")) {
                    out.write(response("{\"status\":\"ok\"}", "{\"status\":\"ok\"}".length()));
                } else {
                    out.write(response("{\"id\":", 100)); // promises 100 bytes, sends 6, then nothing
                    out.flush();
                    in.transferTo(OutputStream.nullOutputStream()); // hold the connection until the client leaves
                    return;
                }
                out.flush();
            }
        } catch (IOException gone) {
            // client closed
        }
    }

    private static byte[] response(String body, int contentLength) {
        return ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + contentLength + "\r\n\r\n"
                        + body)
                .getBytes(StandardCharsets.US_ASCII);
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            sb.append((char) c);
            if (sb.length() >= 4 && sb.substring(sb.length() - 4).equals("\r\n\r\n")) return sb.toString();
        }
        return null;
    }

    @AfterEach
    void stop() throws IOException {
        listener.close();
        synchronized (accepted) {
            for (Socket s : accepted) s.close();
        }
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aBodyThatStallsFailsWithATimeoutInsteadOfHanging() {
        try (FastVM client = FastVM.builder()
                .apiKey("k")
                .baseUrl("http://127.0.0.1:" + listener.getLocalPort())
                .timeout(Duration.ofSeconds(1))
                .build()) {
            FastVMTimeoutException e = assertThrows(FastVMTimeoutException.class, () -> client.get("vm-1"));
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        }
    }
}
