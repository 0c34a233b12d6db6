package org.fastvm.server.api;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP/1.x over a plain socket, for requests java.net.http will not send (odd framing, bad
 * versions, raw bytes in the target) and for watching what the server does with a connection.
 */
final class RawHttp {
    private RawHttp() {}

    /** One response: status line, headers (names in lower case) and the body as framed. */
    @SuppressWarnings("ArrayRecordComponent") // a test's read-only view of one response, never compared
    record Response(int status, String statusLine, Map<String, List<String>> headers, byte[] body) {
        String header(String name) {
            List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
            return v == null ? null : v.getFirst();
        }

        String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }

        /** {@return the response shortened for assertion messages} */
        String shown() {
            String b = bodyText();
            return statusLine + " " + headers + " " + (b.length() > 300 ? b.substring(0, 300) + "…" : b);
        }
    }

    /** {@return a socket to the server's port, reads bounded by {@code timeout}} */
    static Socket connect(int port, Duration timeout) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
        s.setSoTimeout((int) timeout.toMillis());
        return s;
    }

    /**
     * Reads one final response (1xx interim ones are skipped).
     *
     * @param head true when the request was HEAD (no body follows, whatever the headers say)
     * @return the response, or null when the server closed the connection before sending anything
     * @throws SocketTimeoutException when the server neither answers nor closes in the socket's timeout
     */
    static Response read(InputStream raw, boolean head) throws IOException {
        InputStream in = raw instanceof BufferedInputStream ? raw : new BufferedInputStream(raw);
        while (true) {
            String statusLine = line(in, true);
            if (statusLine == null) return null;
            String[] parts = statusLine.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/"))
                throw new IOException("not a status line: " + statusLine);
            int status = Integer.parseInt(parts[1]);
            Map<String, List<String>> headers = new LinkedHashMap<>();
            for (String h = line(in, false); !h.isEmpty(); h = line(in, false)) {
                int colon = h.indexOf(':');
                if (colon <= 0) throw new IOException("bad response header: " + h);
                headers.computeIfAbsent(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
                        .add(h.substring(colon + 1).trim());
            }
            if (status >= 100 && status < 200) continue;
            byte[] body;
            List<String> te = headers.get("transfer-encoding");
            List<String> cl = headers.get("content-length");
            if (head || status == 204 || status == 304) {
                body = new byte[0];
            } else if (te != null && te.getLast().toLowerCase(Locale.ROOT).contains("chunked")) {
                body = chunked(in);
            } else if (cl != null) {
                int n = Integer.parseInt(cl.getFirst());
                body = in.readNBytes(n);
                if (body.length < n) throw new EOFException("body cut short: " + body.length + " of " + n);
            } else {
                body = in.readAllBytes();
            }
            return new Response(status, statusLine, headers, body);
        }
    }

    private static byte[] chunked(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            String size = line(in, false);
            int semi = size.indexOf(';');
            int n = Integer.parseInt((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
            if (n == 0) {
                while (!line(in, false).isEmpty()) {
                    // trailers
                }
                return out.toByteArray();
            }
            byte[] chunk = in.readNBytes(n);
            if (chunk.length < n) throw new EOFException("chunk cut short");
            out.writeBytes(chunk);
            line(in, false);
        }
    }

    /** {@return one CRLF- (or LF-) terminated line; null at a clean EOF before any byte when {@code eofOk}} */
    private static String line(InputStream in, boolean eofOk) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                if (eofOk && b.size() == 0) return null;
                throw new EOFException("connection closed mid-line: " + b.toString(StandardCharsets.ISO_8859_1));
            }
            if (b.size() > 65536) throw new IOException("line too long");
            b.write(c);
        }
        String s = b.toString(StandardCharsets.ISO_8859_1);
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    /**
     * Waits for the server to close the connection, discarding anything it sends first (an
     * HTTP/2 GOAWAY, say).
     *
     * @return how long it took
     * @throws AssertionError when the connection is still open after {@code max}
     */
    static Duration awaitClosed(Socket s, Duration max) throws IOException {
        long t0 = System.nanoTime();
        s.setSoTimeout((int) max.toMillis());
        byte[] buf = new byte[4096];
        try {
            while (s.getInputStream().read(buf) >= 0) {
                if (System.nanoTime() - t0 > max.toNanos()) throw new AssertionError("still open after " + max);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the server did not close the connection within " + max);
        } catch (SocketException e) {
            // reset by the server: closed too
        }
        return Duration.ofNanos(System.nanoTime() - t0);
    }
}
