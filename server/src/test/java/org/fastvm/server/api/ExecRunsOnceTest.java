package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.RunOptions;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exec never runs twice: once a command has been dispatched, the server's failure answers tell
 * the client not to send it again — 500 with {@code x-should-retry: false} — also when the
 * server shuts down or its request thread is interrupted mid-command. The client is the Java
 * SDK, which retries exec when a server marks a failure retryable; {@code count} counts its runs.
 */
class ExecRunsOnceTest extends ApiTestBase {
    private static final QuotaValues QUOTA = new QuotaValues(8, 1 << 20, 10_000, 10);

    @TempDir
    Path dir;

    @Test
    void aServerShuttingDownMidCommandAnswers500WithoutRetryAndTheCommandRunsOnce() throws Exception {
        FakeBackend backend = new FakeBackend();
        Env env = new Env(dir, backend, QUOTA, Duration.ofSeconds(2));
        // Clients reach the server through a fixed address, as behind a load balancer, so a retry
        // would reach the server that comes back.
        try (Relay relay = new Relay();
                FastVM client = client("http://127.0.0.1:" + relay.port(), env.keyA)) {
            relay.to(env.server.baseUri().getPort());
            String vm = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                    .get("id")
                    .asText();
            CompletableFuture<CommandResult> run = client.async().run(vm, List.of("count"));
            assertTrue(backend.counted.await(10, TimeUnit.SECONDS), "the command ran");

            relay.hold(); // connections from now on wait for the next server
            env.server.close();
            env.server = FastVmServer.start(env.config, backend); // the same database and VMs
            env.server.recovery().join();
            relay.to(env.server.baseUri().getPort());

            Throwable failure = awaitFailure(run);
            assertEquals(1, backend.runs.get(), "the command ran once");
            InternalServerException e = assertInstanceOf(InternalServerException.class, failure);
            assertEquals(500, e.status());
            assertEquals("false", e.headers().firstValue("x-should-retry").orElse(null));
            assertTrue(e.errorMessage().orElseThrow().contains("shutting down"), e.getMessage());
            assertTrue(backend.cancelled.contains("count"), "the command was killed at shutdown");
            // The server that came back runs commands through the same address: a retry would have run it again.
            assertEquals("ok\n", client.run(vm, List.of("echo", "ok")).stdout());
            assertEquals(1, backend.runs.get());
        } finally {
            env.close();
        }
    }

    @Test
    void aStreamedExecIsBrokenOffWithoutItsExitEventAtShutdownAndRunsOnce() throws Exception {
        FakeBackend backend = new FakeBackend();
        Env env = new Env(dir, backend, QUOTA, Duration.ofSeconds(2));
        try (FastVM client = client(env.server.baseUri().toString(), env.keyA)) {
            String vm = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                    .get("id")
                    .asText();
            List<ExecEvent> events = new CopyOnWriteArrayList<>();
            CompletableFuture<ExecEvent.Exit> stream =
                    client.async().stream(vm, List.of("count"), RunOptions.defaults(), events::add);
            assertTrue(backend.counted.await(10, TimeUnit.SECONDS), "the command ran");
            env.server.close();
            env.server = null;

            Throwable failure = awaitFailure(stream);
            assertInstanceOf(
                    FastVMConnectionException.class, failure, "a stream that ends early is a failure, not a retry");
            assertEquals(List.of(), events, "no exit event");
            assertEquals(1, backend.runs.get());
            assertTrue(backend.cancelled.contains("count"), "the command was killed at shutdown");
        } finally {
            env.close();
        }
    }

    @Test
    void anExecInterruptedAfterItsCommandStartedAnswers500WithoutRetryAndRunsOnce() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, QUOTA, Duration.ofSeconds(2));
                FastVM client = client(env.server.baseUri().toString(), env.keyA)) {
            String vm = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                    .get("id")
                    .asText();
            CompletableFuture<CommandResult> run = client.async().run(vm, List.of("count"));
            assertTrue(backend.counted.await(10, TimeUnit.SECONDS), "the command ran");
            backend.countCaller.interrupt(); // the request's thread, as a shutdown may interrupt it

            Throwable failure = awaitFailure(run);
            assertEquals(1, backend.runs.get(), "the command ran once");
            InternalServerException e = assertInstanceOf(InternalServerException.class, failure);
            assertEquals(500, e.status());
            assertEquals("false", e.headers().firstValue("x-should-retry").orElse(null));
            assertTrue(backend.cancelled.contains("count"), "the command was killed");
        }
    }

    private static FastVM client(String baseUrl, String key) {
        return FastVM.builder()
                .apiKey(key)
                .baseUrl(baseUrl)
                .timeout(Duration.ofSeconds(10))
                .build();
    }

    /** {@return what the call failed with; fails the test if it succeeded or is still running after 30 s} */
    private static Throwable awaitFailure(CompletableFuture<?> call) throws Exception {
        try {
            Object r = call.get(30, TimeUnit.SECONDS);
            return fail("expected a failure, got " + r);
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }
}
