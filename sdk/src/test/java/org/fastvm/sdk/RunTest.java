package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import org.fastvm.sdk.errors.ConflictException;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** run(): command encoding, options, and the retry rule (502/503 the server marks "not started", only). */
class RunTest extends WithTestServer {
    static final String EXEC = "/v1/vms/" + Fixtures.VM_ID + "/exec";

    /** How the FastVM server answers an exec whose command provably never started. */
    static TestServer.Reply notStarted(int status) {
        return TestServer.json(
                status,
                "{\"error\":\"vm_unreachable\",\"message\":\"the command was not started\"}",
                "x-should-retry",
                "true",
                "Retry-After",
                "0");
    }

    /** A gateway's timeout page: sent after it forwarded the request, so the command may be running. */
    static TestServer.Reply gatewayTimeout() {
        return (req, res, cb) -> {
            res.setStatus(504);
            res.getHeaders().put("Content-Type", "text/html");
            res.write(
                    true,
                    java.nio.ByteBuffer.wrap(
                            "<html><body><h1>504 Gateway Time-out</h1></body></html>".getBytes(StandardCharsets.UTF_8)),
                    cb);
        };
    }

    @Test
    void shellStringBecomesShDashC() {
        server.on("POST", EXEC, TestServer.json(200, Fixtures.execResult(0, "hello\\n")));
        CommandResult r = client.run(Fixtures.VM_ID, "echo hello | tr a-z A-Z");
        assertEquals("hello\n", r.stdout());
        assertEquals(12, r.durationMs());
        assertTrue(r.succeeded());
        TestServer.Hit hit = server.apiHits().get(0);
        assertEquals("POST", hit.method());
        assertEquals("test-key", hit.header("X-API-Key"));
        assertEquals("application/json", hit.header("Accept"));
        JsonNode body = hit.json();
        assertEquals(
                List.of("sh", "-c", "echo hello | tr a-z A-Z"),
                List.of(
                        body.at("/command/0").asText(),
                        body.at("/command/1").asText(),
                        body.at("/command/2").asText()));
        assertEquals(3, body.get("command").size());
        assertFalse(body.has("timeoutSec"));
        assertFalse(body.has("stdin"));
    }

    @Test
    void argvIsSentAsIsWithTimeoutSecAndStdin() {
        server.on("POST", EXEC, TestServer.json(200, Fixtures.execResult(3, "")));
        VM vm = new VM(
                Fixtures.VM_ID, "n", "o", "c1m2", 1, 2048, 10, VMStatus.RUNNING, null, null, null, null, null, null);
        CommandResult r = client.run(
                vm,
                List.of("python3", "-c", "import sys; sys.exit(3)"),
                RunOptions.builder()
                        .timeoutSec(7)
                        .stdin("in\n".getBytes(StandardCharsets.UTF_8))
                        .build());
        assertEquals(3, r.exitCode());
        assertFalse(r.succeeded());
        JsonNode body = server.apiHits().get(0).json();
        assertEquals("python3", body.at("/command/0").asText());
        assertEquals(3, body.get("command").size());
        assertEquals(7, body.get("timeoutSec").asInt());
        assertEquals(
                "in\n", new String(Base64.getDecoder().decode(body.get("stdin").asText()), StandardCharsets.UTF_8));
    }

    @ParameterizedTest
    @ValueSource(ints = {502, 503})
    void aCommandTheServerMarksNotStartedIsRetriedThenSucceeds(int status) {
        server.on("POST", EXEC, notStarted(status), TestServer.json(200, Fixtures.execResult(0, "ok")));
        assertEquals("ok", client.run(Fixtures.VM_ID, "true").stdout());
        assertEquals(2, server.count("POST", EXEC));
    }

    @Test
    void aGatewayTimeoutIsNeverRetried() {
        // A gateway answers 504 after it forwarded the request: the command may be running.
        server.on("POST", EXEC, gatewayTimeout(), TestServer.json(200, Fixtures.execResult(0, "ok")));
        InternalServerException e =
                assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"));
        assertEquals(504, e.status());
        assertEquals(1, server.count("POST", EXEC), "sent once");
    }

    @Test
    void a504IsNeverRetriedEvenWhenMarkedRetryable() {
        server.on(
                "POST",
                EXEC,
                TestServer.json(504, "{\"error\":\"timeout\"}", "x-should-retry", "true"),
                TestServer.json(200, Fixtures.execResult(0, "ok")));
        assertEquals(
                504,
                assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"))
                        .status());
        assertEquals(1, server.count("POST", EXEC));
    }

    @ParameterizedTest
    @ValueSource(ints = {502, 503})
    void anUnmarked502Or503IsNotRetried(int status) {
        // e.g. a proxy whose upstream closed the connection mid-command: it says nothing about the command.
        server.on(
                "POST",
                EXEC,
                TestServer.error(status, "bad_gateway", "upstream went away"),
                TestServer.json(200, Fixtures.execResult(0, "ok")));
        assertEquals(
                status,
                assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"))
                        .status());
        assertEquals(1, server.count("POST", EXEC));
    }

    @Test
    void retriesStopAfterTransientRetriesAndReportTheLastStatus() {
        server.on("POST", EXEC, notStarted(503));
        InternalServerException e =
                assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"));
        assertEquals(503, e.status());
        assertEquals(4, server.count("POST", EXEC), "1 attempt + 3 transient retries");
    }

    @Test
    void transientRetriesZeroMeansOneAttempt() {
        server.on("POST", EXEC, notStarted(502));
        assertThrows(
                InternalServerException.class,
                () -> client.run(
                        Fixtures.VM_ID,
                        "true",
                        RunOptions.builder().transientRetries(0).build()));
        assertEquals(1, server.count("POST", EXEC));
    }

    @Test
    void status500IsNeverRetried() {
        server.on(
                "POST",
                EXEC,
                TestServer.json(500, "{\"error\":\"vm_died\",\"message\":\"the VM died\"}", "x-should-retry", "true"),
                TestServer.json(200, Fixtures.execResult(0, "")));
        InternalServerException e =
                assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"));
        assertEquals(500, e.status());
        assertEquals("vm_died", e.errorCode().orElseThrow());
        assertEquals(1, server.count("POST", EXEC));
    }

    @Test
    void conflictIsNeverRetried() {
        server.on(
                "POST",
                EXEC,
                TestServer.error(409, "vm_not_running", "VM is stopped"),
                TestServer.json(200, Fixtures.execResult(0, "")));
        ConflictException e = assertThrows(ConflictException.class, () -> client.run(Fixtures.VM_ID, "true"));
        assertEquals("VM is stopped", e.errorMessage().orElseThrow());
        assertEquals(1, server.count("POST", EXEC));
    }

    @Test
    void serverSayingDoNotRetryWinsOverATransientStatus() {
        server.on(
                "POST",
                EXEC,
                TestServer.json(503, "{\"error\":\"x\"}", "x-should-retry", "false"),
                TestServer.json(200, Fixtures.execResult(0, "")));
        assertThrows(InternalServerException.class, () -> client.run(Fixtures.VM_ID, "true"));
        assertEquals(1, server.count("POST", EXEC));
    }

    @Test
    void transportTimeoutIsATimeoutAndIsNotRetried() {
        server.on("POST", EXEC, TestServer.hang(), TestServer.json(200, Fixtures.execResult(0, "")));
        FastVMTimeoutException e = assertThrows(
                FastVMTimeoutException.class,
                () -> client.run(
                        Fixtures.VM_ID,
                        "sleep 100",
                        RunOptions.builder().timeout(Duration.ofMillis(300)).build()));
        assertTrue(e.getMessage().startsWith("POST " + server.url() + "/v1/vms/"), e.getMessage());
        assertEquals(1, server.count("POST", EXEC), "a command that may have started is not sent again");
    }

    @Test
    void connectionRefusedIsAConnectionException() throws Exception {
        String deadUrl;
        try (TestServer gone = TestServer.start()) {
            deadUrl = gone.url();
        }
        try (FastVM dead = FastVM.builder()
                .apiKey("k")
                .baseUrl(deadUrl)
                .timeout(Duration.ofSeconds(2))
                .build()) {
            assertThrows(FastVMConnectionException.class, () -> dead.run(Fixtures.VM_ID, "true"));
        }
    }

    @Test
    void asyncRunRetriesTheSameWay() {
        server.on("POST", EXEC, notStarted(502), TestServer.json(200, Fixtures.execResult(0, "ok")));
        assertEquals("ok", client.async().run(Fixtures.VM_ID, "true").join().stdout());
        assertEquals(2, server.count("POST", EXEC));

        server.reset();
        server.on("POST", EXEC, gatewayTimeout(), TestServer.json(200, Fixtures.execResult(0, "ok")));
        java.util.concurrent.CompletionException e = assertThrows(
                java.util.concurrent.CompletionException.class,
                () -> client.async().run(Fixtures.VM_ID, "true").join());
        assertEquals(504, ((InternalServerException) e.getCause()).status());
        assertEquals(1, server.count("POST", EXEC));
    }
}
