package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Connections are not held for ever: a silent connection is closed after the idle timeout, a
 * request whose head or body does not arrive within the read timeout is closed or answered
 * 408 — while a request being served (an exec that prints nothing for longer than the idle
 * timeout) is never cut by either.
 */
class ConnectionTimeoutTest extends ApiTestBase {
    static final Duration SHORT = Duration.ofSeconds(1);
    /** How late past a deadline the server may act (scheduling slack on a busy 2-core machine). */
    static final Duration SLACK = Duration.ofSeconds(4);

    @TempDir
    static Path dirIdle;

    @TempDir
    static Path dirRead;
    /** Idle timeout 1 s (read timeout 30 s). */
    static Env idle;
    /** Read timeout 1 s (idle timeout 30 s): what closes a half-sent request is the read timeout. */
    static Env read;

    @BeforeAll
    static void start() throws Exception {
        QuotaValues quota = new QuotaValues(64, 1 << 20, 10_000, 100);
        idle = new Env(
                dirIdle,
                new FakeBackend(),
                quota,
                Duration.ofSeconds(2),
                c -> c.withTimeouts(SHORT, Duration.ofSeconds(30)));
        read = new Env(
                dirRead,
                new FakeBackend(),
                quota,
                Duration.ofSeconds(2),
                c -> c.withTimeouts(Duration.ofSeconds(30), SHORT));
    }

    @AfterAll
    static void stop() throws Exception {
        if (idle != null) idle.close();
        if (read != null) read.close();
    }

    static int port(Env env) {
        return env.server.baseUri().getPort();
    }

    @Test
    void aSilentConnectionIsClosedAfterTheIdleTimeout() throws Exception {
        // never a byte sent
        try (Socket s = RawHttp.connect(port(idle), SLACK)) {
            assertClosedBetween(s, System.nanoTime(), SHORT, SHORT.plus(SLACK));
        }
        // a kept-alive connection after its response
        try (Socket s = RawHttp.connect(port(idle), SLACK)) {
            s.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            RawHttp.Response r = RawHttp.read(s.getInputStream(), false);
            long t0 = System.nanoTime();
            assertEquals(200, r.status(), r.shown());
            assertClosedBetween(s, t0, SHORT, SHORT.plus(SLACK));
        }
        // the metrics listener too
        try (Socket s = RawHttp.connect(idle.server.metricsUri().orElseThrow().getPort(), SLACK)) {
            assertClosedBetween(s, System.nanoTime(), SHORT, SHORT.plus(SLACK));
        }
        // an HTTP/2 connection (prior knowledge) with no stream open: GOAWAY, then closed
        try (Socket s = RawHttp.connect(port(idle), SLACK)) {
            OutputStream out = s.getOutputStream();
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // empty SETTINGS
            long t0 = System.nanoTime();
            assertClosedBetween(s, t0, SHORT, SHORT.plus(SLACK));
        }
    }

    @Test
    void aRequestHeadNotFinishedWithinTheReadTimeoutIsClosed() throws Exception {
        // the head stops half way
        try (Socket s = RawHttp.connect(port(read), SLACK)) {
            s.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            assertClosedBetween(s, System.nanoTime(), SHORT, SHORT.plus(SLACK));
        }
        // the head trickles in, a byte every 200 ms: never silent for long, still closed at the deadline
        try (Socket s = RawHttp.connect(port(read), SLACK)) {
            long t0 = System.nanoTime();
            Thread writer = trickle(s, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(200) + "\r\n\r\n");
            assertClosedBetween(s, t0, SHORT, SHORT.plus(SLACK));
            writer.join(TimeUnit.SECONDS.toMillis(10));
        }
    }

    @Test
    void aBodyNotReceivedWithinTheReadTimeoutIs408() throws Exception {
        String head = "POST /v1/vms HTTP/1.1\r\nHost: x\r\nX-API-Key: " + read.keyA
                + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        // shorter than its Content-Length, then silence
        try (Socket s = RawHttp.connect(port(read), SLACK.plus(SHORT))) {
            long t0 = System.nanoTime();
            s.getOutputStream().write((head + "{\"machineType\":").getBytes(StandardCharsets.US_ASCII));
            assert408(s, t0);
        }
        // trickled, a byte every 200 ms
        try (Socket s = RawHttp.connect(port(read), SLACK.plus(SHORT))) {
            long t0 = System.nanoTime();
            s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
            Thread writer = trickle(s, " ".repeat(100));
            assert408(s, t0);
            writer.join(TimeUnit.SECONDS.toMillis(10));
        }
        assertTrue(read.backend.machines.isEmpty(), "nothing was launched");
    }

    @Test
    void anHttp2BodyNotReceivedWithinTheReadTimeoutIs408() throws Exception {
        try (HttpClient h2 =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build()) {
            // prime the h2c upgrade with a GET, so the POST below is an HTTP/2 stream
            assertEquals(
                    HttpClient.Version.HTTP_2,
                    h2.send(
                                    HttpRequest.newBuilder(read.uri("/healthz")).build(),
                                    HttpResponse.BodyHandlers.discarding())
                            .version());
            HttpRequest req = HttpRequest.newBuilder(read.uri("/v1/vms"))
                    .header("X-API-Key", read.keyA)
                    .header("Content-Type", "application/json")
                    .timeout(SHORT.plus(SLACK))
                    .POST(HttpRequest.BodyPublishers.fromPublisher(new PartThenSilence("{\"machineType\":")))
                    .build();
            long t0 = System.nanoTime();
            HttpResponse<String> r = h2.send(req, HttpResponse.BodyHandlers.ofString());
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertEquals(HttpClient.Version.HTTP_2, r.version());
            assertEquals(408, r.statusCode(), r.body());
            assertEquals("request_timeout", json(r.body()).get("error").asText());
            assertTrue(took.compareTo(SHORT.minusMillis(100)) >= 0, "answered before the read timeout: " + took);
        }
    }

    @Test
    void aQuietExecLongerThanTheIdleTimeoutIsAnswered() throws Exception {
        String id = idle.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                .get("id")
                .asText();
        HttpClient h1 =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpClient h2 =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        try (h1;
                h2) {
            assertEquals(
                    HttpClient.Version.HTTP_2,
                    h2.send(
                                    HttpRequest.newBuilder(idle.uri("/healthz")).build(),
                                    HttpResponse.BodyHandlers.discarding())
                            .version());
            // 3 s without a byte either way, three idle timeouts: buffered and NDJSON, over HTTP/1.1 and h2c, all at
            // once
            List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            long t0 = System.nanoTime();
            for (HttpClient c : List.of(h1, h2)) {
                for (String accept : List.of("application/json", "application/x-ndjson")) {
                    HttpRequest req = HttpRequest.newBuilder(idle.uri("/v1/vms/" + id + "/exec"))
                            .header("X-API-Key", idle.keyA)
                            .header("Accept", accept)
                            .timeout(Duration.ofSeconds(30))
                            .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"sleep\",\"3000\"]}"))
                            .build();
                    calls.add(c.sendAsync(req, HttpResponse.BodyHandlers.ofString()));
                    labels.add(c.version() + " " + accept);
                }
            }
            for (int i = 0; i < calls.size(); i++) {
                HttpResponse<String> r = calls.get(i).get(30, TimeUnit.SECONDS);
                String body = r.body().length() > 300 ? r.body().substring(0, 300) : r.body();
                assertEquals(200, r.statusCode(), labels.get(i) + ": " + body);
                if (labels.get(i).endsWith("ndjson")) {
                    String[] lines = r.body().strip().split("\n", -1);
                    JsonNode exit = json(lines[lines.length - 1]);
                    assertEquals("x", exit.get("t").asText(), labels.get(i) + ": " + body);
                    assertNull(exit.get("c"), labels.get(i) + ": exit code 0 → no c: " + body);
                } else {
                    assertEquals(0, json(r.body()).get("exitCode").asInt(), labels.get(i) + ": " + body);
                }
            }
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(3000), "the command ran its 3 s");
            assertFalse(idle.backend.cancelled.contains("sleep"), "no exec was killed");
        }
    }

    /** Expects a 408 JSON answer no sooner than the read timeout and no later than the slack, then a close. */
    private static void assert408(Socket s, long t0) throws Exception {
        RawHttp.Response r = RawHttp.read(s.getInputStream(), false);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        assertNotNull(r, "closed without an answer");
        assertEquals(408, r.status(), r.shown());
        assertEquals("application/json", r.header("content-type"));
        assertEquals("request_timeout", json(r.bodyText()).get("error").asText(), r.shown());
        assertTrue(took.compareTo(SHORT.minusMillis(100)) >= 0, "answered before the read timeout: " + took);
        assertTrue(took.compareTo(SHORT.plus(SLACK)) <= 0, "answered late: " + took);
        RawHttp.awaitClosed(s, SLACK);
    }

    /** Asserts that the server closes {@code s} between {@code min} and {@code max} after {@code t0}. */
    private static void assertClosedBetween(Socket s, long t0, Duration min, Duration max) throws Exception {
        RawHttp.awaitClosed(s, max);
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        // a little under the timeout is fine (timers are coarse), well under is not the timeout at work
        assertTrue(took.compareTo(min.minusMillis(200)) >= 0, "closed after " + took + ", before the timeout");
        assertTrue(took.compareTo(max) <= 0, "closed after " + took);
    }

    /** Writes {@code text} a byte at a time, 200 ms apart, until done or the server closes the socket. */
    private static Thread trickle(Socket s, String text) {
        return Thread.ofVirtual().start(() -> {
            try {
                OutputStream out = s.getOutputStream();
                for (byte b : text.getBytes(StandardCharsets.US_ASCII)) {
                    out.write(b);
                    out.flush();
                    Thread.sleep(200); // the slow client's pace, not a synchronisation
                }
            } catch (Exception e) {
                // closed by the server, as expected
            }
        });
    }

    /** A request body that sends its first part and then nothing, never completing. */
    private record PartThenSilence(String part) implements Flow.Publisher<ByteBuffer> {
        @Override
        public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
            subscriber.onSubscribe(new Flow.Subscription() {
                private boolean sent;

                @Override
                public synchronized void request(long n) {
                    if (sent || n <= 0) return;
                    sent = true;
                    subscriber.onNext(ByteBuffer.wrap(part.getBytes(StandardCharsets.UTF_8)));
                }

                @Override
                public void cancel() {}
            });
        }
    }
}
