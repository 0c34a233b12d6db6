package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official SDKs announce their client timeout and retry when it passes: launch must answer
 * before it (else one launch() makes several VMs), and an exec outliving it must be killed (an
 * HTTP/2 client may forget the stream without a reset, then run the command again).
 */
class ClientDeadlineApiTest extends ApiTestBase {
    @TempDir
    static Path dir;

    static Env env;
    static HttpClient h2;

    @BeforeAll
    static void start() throws Exception {
        // A long server-side launch wait, so only the client's header can make the answer come sooner.
        env = new Env(dir, new FakeBackend(), new QuotaValues(64, 1 << 20, 10_000, 100), Duration.ofSeconds(60));
        h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        // Prime the h2c upgrade with a GET so later POSTs are HTTP/2 streams.
        var g = h2.send(HttpRequest.newBuilder(env.uri("/healthz")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, g.version());
    }

    @AfterAll
    static void stop() throws Exception {
        if (h2 != null) h2.close();
        if (env != null) env.close();
    }

    @Test
    void aSlowLaunchAnswers202BeforeTheClientsAnnouncedTimeout() throws Exception {
        for (String[] header : new String[][] {{"x-stainless-read-timeout", "2.0"}, {"X-Stainless-Timeout", "2"}}) {
            CountDownLatch boot = new CountDownLatch(1);
            env.backend.bootGate = boot;
            try {
                // The client gives up after 2 s, as it announced; without the cap the server would wait 60 s.
                HttpRequest req = HttpRequest.newBuilder(env.uri("/v1/vms"))
                        .header("X-API-Key", env.keyA)
                        .header("Content-Type", "application/json")
                        .header(header[0], header[1])
                        .timeout(Duration.ofSeconds(2))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"machineType\":\"c1m2\"}"))
                        .build();
                HttpResponse<String> r = h2.send(req, HttpResponse.BodyHandlers.ofString());
                assertEquals(202, r.statusCode(), header[0] + ": " + r.body());
                assertEquals("provisioning", json(r.body()).get("status").asText());
            } finally {
                env.backend.bootGate = null;
                boot.countDown();
            }
        }
    }

    @Test
    void garbageTimeoutHeadersAreIgnoredNotRejected() throws Exception {
        HttpRequest req = HttpRequest.newBuilder(env.uri("/v1/vms"))
                .header("X-API-Key", env.keyA)
                .header("Content-Type", "application/json")
                .header("x-stainless-read-timeout", "soon")
                .header("X-Stainless-Timeout", "-3")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString("{\"machineType\":\"c1m2\"}"))
                .build();
        HttpResponse<String> launched = h2.send(req, HttpResponse.BodyHandlers.ofString());
        assertEquals(201, launched.statusCode(), launched.body());
        String id = json(launched.body()).get("id").asText();
        HttpRequest exec = HttpRequest.newBuilder(env.uri("/v1/vms/" + id + "/exec"))
                .header("X-API-Key", env.keyA)
                .header("x-stainless-read-timeout", "NaN")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"echo\",\"hi\"]}"))
                .build();
        HttpResponse<String> r = h2.send(exec, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("hi\n", json(r.body()).get("stdout").asText());
    }

    @Test
    void aBufferedExecOutlivingTheClientsTimeoutIsKilledAndLoggedAs499() throws Exception {
        assertKilledAtTheAnnouncedDeadline("hang", "application/json", "x-stainless-read-timeout", "1");
        assertKilledAtTheAnnouncedDeadline("gate", "application/json", "X-Stainless-Timeout", "1");
        String metrics = env.metrics().body();
        assertTrue(metrics.contains("route=\"/v1/vms/{id}/exec\",status=\"499\""), metrics);
        assertFalse(metrics.contains("route=\"/v1/vms/{id}/exec\",status=\"500\""), metrics);
    }

    @Test
    void aStreamedExecSilentForPythonsReadTimeoutIsKilled() throws Exception {
        // "gate" prints a line at once, then is silent: the read timeout counts from the last output.
        assertKilledAtTheAnnouncedDeadline("gate", "application/x-ndjson", "x-stainless-read-timeout", "1");
    }

    /**
     * Runs {@code command} over h2c with a 1 s announced timeout while the client itself stays
     * connected far longer (as httpcore does after forgetting the stream): the command must be
     * killed within moments of the deadline, not when the connection finally goes.
     */
    private static void assertKilledAtTheAnnouncedDeadline(String command, String accept, String header, String value)
            throws Exception {
        String id = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                .get("id")
                .asText();
        env.backend.cancelled.remove(command);
        env.backend.gate = new CountDownLatch(1); // "gate" stays closed: the command runs until killed
        HttpRequest req = HttpRequest.newBuilder(env.uri("/v1/vms/" + id + "/exec"))
                .header("X-API-Key", env.keyA)
                .header("Accept", accept)
                .header(header, value)
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"" + command + "\"]}"))
                .build();
        long t0 = System.nanoTime();
        CompletableFuture<HttpResponse<String>> call = h2.sendAsync(req, HttpResponse.BodyHandlers.ofString());
        long deadline = t0 + TimeUnit.SECONDS.toNanos(10);
        while (!env.backend.cancelled.contains(command) && System.nanoTime() < deadline) Thread.onSpinWait();
        assertTrue(
                env.backend.cancelled.contains(command), command + " (" + accept + ", " + header + ") was not killed");
        assertTrue(
                System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(1000), "killed before the announced deadline");
        // Nothing is answered: the stream is reset rather than given a 200/500 to retry on.
        ExecutionException gone = assertThrows(ExecutionException.class, () -> call.get(10, TimeUnit.SECONDS));
        assertInstanceOf(java.io.IOException.class, gone.getCause());
    }

    @Test
    void notFoundMessagesShowIdsDecoded() throws Exception {
        JsonNode e = env.expect(404, "GET", "/v1/vms/a%2Fc", null);
        assertEquals("vm not found: a/c", e.get("message").asText());
        e = env.expect(404, "GET", "/v1/snapshots/caf%C3%A9", null);
        assertEquals("snapshot not found: café", e.get("message").asText());
    }
}
