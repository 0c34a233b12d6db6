package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.NotFoundException;
import org.fastvm.sdk.models.VM;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** One multiplexed HTTP/2 connection for many concurrent calls, counted on the server side. */
class ConnectionTest {
    static TestServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServer.startWithTls();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @BeforeEach
    void script() {
        server.reset();
        server.on("GET", "/v1/vms/" + Fixtures.VM_ID, TestServer.json(200, Fixtures.vm("running")));
        server.on("POST", "/v1/vms/" + Fixtures.VM_ID + "/exec", TestServer.json(200, Fixtures.execResult(0, "hi")));
    }

    /** Fires 25 GETs and 25 exec POSTs at once and waits for all of them. */
    private static void burst(FastVM client) {
        List<CompletableFuture<?>> calls = new ArrayList<>();
        for (int i = 0; i < 25; i++) {
            calls.add(client.async().get(Fixtures.VM_ID));
            calls.add(client.async().run(Fixtures.VM_ID, "echo " + i));
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).join();
    }

    private static void assertOneHttp2Connection(List<TestServer.Hit> apiHits) {
        assertEquals(50, apiHits.size());
        Set<String> remotes = apiHits.stream().map(TestServer.Hit::remote).collect(Collectors.toSet());
        assertEquals(1, remotes.size(), "client sockets seen by the server: " + remotes);
        assertTrue(
                apiHits.stream().allMatch(h -> h.protocol().equals("HTTP/2.0")),
                "protocols: " + apiHits.stream().map(TestServer.Hit::protocol).collect(Collectors.toSet()));
    }

    @Test
    void afterWarmupFiftyConcurrentCallsShareOneCleartextConnection() {
        int before = server.connectionsOpened();
        try (FastVM client = server.client()) {
            client.warmup();
            TestServer.Hit warm = server.hits().get(0);
            assertEquals("GET", warm.method());
            assertEquals("/healthz", warm.path());
            assertEquals("test-key", warm.header("X-API-Key"));
            assertTrue(
                    warm.header("upgrade") != null && warm.header("upgrade").contains("h2c"),
                    "warmup must carry the h2c upgrade: " + warm.headers());
            burst(client);
        }
        assertOneHttp2Connection(server.apiHits());
        assertEquals(1, server.connectionsOpened() - before, "TCP connections accepted");
    }

    @Test
    void coldBurstWarmsOnceAndStillUsesOneConnection() {
        int before = server.connectionsOpened();
        try (FastVM client = server.client()) {
            burst(client); // no warmup(): the client warms itself, once, and the burst waits for it
        }
        assertEquals(1, server.count("GET", "/healthz"), "exactly one warmup");
        assertOneHttp2Connection(server.apiHits());
        assertEquals(1, server.connectionsOpened() - before, "TCP connections accepted");
    }

    @Test
    void callsMadeWhileAnExplicitWarmupIsInFlightShareIt() {
        int before = server.connectionsOpened();
        try (FastVM client = server.client()) {
            CompletableFuture<Void> warming = client.async().warmup(); // not awaited, as async users do
            burst(client);
            warming.join();
        }
        assertEquals(1, server.count("GET", "/healthz"), "one warmup, not a second one beside it");
        assertOneHttp2Connection(server.apiHits());
        assertEquals(1, server.connectionsOpened() - before, "TCP connections accepted");
    }

    @Test
    void aWarmupThatCouldNotConnectIsTriedAgainByTheNextCall() {
        server.on("GET", "/healthz", TestServer.dropConnection(), TestServer.json(200, "{\"status\":\"ok\"}"));
        // A clock that never moves: only the failed connect, not idleness, can cause the second warmup.
        try (FastVM client = FastVM.builder()
                .apiKey("test-key")
                .baseUrl(server.url())
                .timeout(Duration.ofSeconds(5))
                .nanoClock(() -> 0L)
                .build()) {
            assertThrows(FastVMConnectionException.class, client::warmup);
            assertEquals("running", client.get(Fixtures.VM_ID).status().asString());
        }
        assertEquals(2, server.count("GET", "/healthz"));
    }

    @Test
    void aWarmupAnsweredWithAnErrorStillOpenedTheConnection() {
        server.on("GET", "/healthz", TestServer.error(404, "not_found", "a proxy without /healthz"));
        try (FastVM client = server.client()) {
            assertThrows(NotFoundException.class, client::warmup);
            client.get(Fixtures.VM_ID);
            client.get(Fixtures.VM_ID);
        }
        assertEquals(1, server.count("GET", "/healthz"), "not warmed again before each call");
    }

    @Test
    void anIdleClientWarmsAgainBeforeItsNextCall() {
        AtomicLong now = new AtomicLong();
        try (FastVM client = FastVM.builder()
                .apiKey("test-key")
                .baseUrl(server.url())
                .timeout(Duration.ofSeconds(5))
                .nanoClock(now::get)
                .build()) {
            client.get(Fixtures.VM_ID);
            now.addAndGet(Duration.ofSeconds(5).toNanos());
            client.get(Fixtures.VM_ID);
            assertEquals(1, server.count("GET", "/healthz"), "recently used: no second warmup");

            now.addAndGet(HttpCore.IDLE_REWARM.plusSeconds(1).toNanos());
            client.get(Fixtures.VM_ID);
        }
        List<String> order = server.hits().stream().map(TestServer.Hit::path).collect(Collectors.toList());
        String vm = "/v1/vms/" + Fixtures.VM_ID;
        assertEquals(List.of("/healthz", vm, vm, "/healthz", vm), order);
    }

    @Test
    void tlsNegotiatesH2ViaAlpnAndMultiplexes() {
        int before = server.connectionsOpened();
        try (FastVM client = FastVM.builder()
                .apiKey("test-key")
                .baseUrl(server.tlsUrl())
                .sslContext(server.clientTls())
                .timeout(Duration.ofSeconds(5))
                .build()) {
            client.warmup();
            burst(client);
            VM vm = client.get(Fixtures.VM_ID);
            assertEquals("running", vm.status().asString());
        }
        List<TestServer.Hit> api = server.apiHits();
        assertOneHttp2Connection(api.subList(0, 50));
        assertEquals(1, server.connectionsOpened() - before, "TLS connections accepted");
    }
}
