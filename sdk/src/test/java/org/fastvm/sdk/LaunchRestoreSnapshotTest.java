package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.util.Callback;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.errors.NotFoundException;
import org.fastvm.sdk.errors.PermissionDeniedException;
import org.fastvm.sdk.errors.RateLimitException;
import org.fastvm.sdk.errors.SnapshotFailedException;
import org.fastvm.sdk.errors.VmFailedException;
import org.fastvm.sdk.errors.WaitFailedException;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.SnapshotStatus;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** launch / restore / snapshot: request bodies, 201 vs 202 + polling, terminal states, deadlines. */
class LaunchRestoreSnapshotTest extends WithTestServer {
    static final String VM_PATH = "/v1/vms/" + Fixtures.VM_ID;
    static final String SNAP_PATH = "/v1/snapshots/" + Fixtures.SNAP_ID;

    @Test
    void launchSendsContractFieldsAndSkipsPollingOn201Running() {
        server.on("POST", "/v1/vms", TestServer.json(201, Fixtures.vm("running")));
        VM vm = client.launch(LaunchOptions.builder()
                .machine("c2m4")
                .name("build-box")
                .diskGib(20)
                .firewall(FirewallPolicy.restricted(FirewallRule.tcp(8000, 8080).withSourceCidrs("2001:db8::/32")))
                .metadata(Map.of("team", "a"))
                .build());

        List<TestServer.Hit> api = server.apiHits();
        assertEquals(1, api.size(), "no polling after 201 running: " + api);
        TestServer.Hit post = api.get(0);
        assertEquals("POST", post.method());
        assertEquals("/v1/vms", post.path());
        assertEquals("test-key", post.header("X-API-Key"));
        assertTrue(post.header("Content-Type").startsWith("application/json"));
        JsonNode body = post.json();
        assertEquals("c2m4", body.get("machineType").asText());
        assertEquals("build-box", body.get("name").asText());
        assertEquals(20, body.get("diskGiB").asInt());
        assertFalse(body.has("diskGib"), "client name must not leak onto the wire");
        assertEquals("restricted", body.at("/firewall/mode").asText());
        JsonNode rule = body.at("/firewall/ingress/0");
        assertEquals("tcp", rule.get("protocol").asText());
        assertEquals(8000, rule.get("portStart").asInt());
        assertEquals(8080, rule.get("portEnd").asInt());
        assertEquals("2001:db8::/32", rule.at("/sourceCidrs/0").asText());
        assertFalse(rule.has("description"), "absent optionals are omitted, not null");
        assertEquals("a", body.at("/metadata/team").asText());

        // Response mapping: wire names to client names, unknown fields ignored.
        assertEquals(Fixtures.VM_ID, vm.id());
        assertEquals(VMStatus.RUNNING, vm.status());
        assertEquals(2048, vm.memoryMib());
        assertEquals(10, vm.diskGib());
        assertEquals("c1m2", vm.machineName());
        assertEquals(Instant.parse("2026-01-02T03:04:05.123Z"), vm.createdAt());
        assertEquals("2001:db8::5", vm.publicIpv6());
        assertEquals(FirewallPolicy.restricted(), vm.firewall());
        assertEquals(Map.of("team", "a"), vm.metadata());
    }

    @Test
    void launchDefaultsToC1m2AndAUuidName() {
        server.on("POST", "/v1/vms", TestServer.json(201, Fixtures.vm("running")));
        client.launch();
        JsonNode body = server.apiHits().get(0).json();
        assertEquals("c1m2", body.get("machineType").asText());
        UUID.fromString(body.get("name").asText()); // throws if the generated name is not a UUID
        assertFalse(body.has("diskGiB"));
        assertFalse(body.has("firewall"));
        assertFalse(body.has("snapshotId"));
    }

    @Test
    void launch202PollsUntilRunning() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.json(200, Fixtures.vm("provisioning")),
                TestServer.json(200, Fixtures.vm("provisioning")),
                TestServer.json(200, Fixtures.vm("running")));
        VM vm = client.launch();
        assertEquals(VMStatus.RUNNING, vm.status());
        assertEquals(3, server.count("GET", VM_PATH));
        server.apiHits().forEach(h -> assertEquals("test-key", h.header("X-API-Key")));
    }

    @Test
    void pollingTreatsUnknownStatusesAsNotReadyYet() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.json(200, Fixtures.vm("warming-up")),
                TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.launch().status());
        assertEquals(2, server.count("GET", VM_PATH));
    }

    @ParameterizedTest
    @ValueSource(strings = {"error", "stopped", "deleting"})
    void terminalStatusFailsFastWithTheVm(String terminal) {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.json(200, Fixtures.vm("provisioning")),
                TestServer.json(200, Fixtures.vm(terminal)));
        VmFailedException e = assertThrows(VmFailedException.class, client::launch);
        assertEquals(terminal, e.vm().status().asString());
        assertEquals(Fixtures.VM_ID, e.resourceId().orElseThrow());
        assertEquals(terminal, e.lastStatus().orElseThrow());
        assertEquals(2, server.count("GET", VM_PATH), "no polling after a terminal status");
    }

    @Test
    void terminalStatusInTheCreateResponseFailsWithoutPolling() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("error")));
        assertThrows(VmFailedException.class, client::launch);
        assertEquals(0, server.count("GET", VM_PATH));
    }

    @Test
    void deadlineGivesTimeoutWithLastStatus() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.json(200, Fixtures.vm("provisioning")),
                TestServer.json(200, Fixtures.vm("booting")));
        long start = System.nanoTime();
        FastVMTimeoutException e = assertThrows(
                FastVMTimeoutException.class,
                () -> client.launch(
                        LaunchOptions.builder().timeout(Duration.ofMillis(400)).build()));
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        assertEquals("booting", e.lastStatus().orElseThrow());
        assertEquals(Fixtures.VM_ID, e.resourceId().orElseThrow());
        assertTrue(server.count("GET", VM_PATH) >= 3, "polls fast at first: " + server.count("GET", VM_PATH));
        assertTrue(elapsedMs >= 400 && elapsedMs < 3000, "stops at the deadline, took " + elapsedMs + " ms");
    }

    @Test
    void quotaExceededOnLaunchIsARateLimitExceptionAndNotRetried() {
        server.on(
                "POST",
                "/v1/vms",
                TestServer.json(
                        429,
                        "{\"error\":\"quota_exceeded\",\"message\":\"vcpu limit 4 reached\"}",
                        "x-should-retry",
                        "false"));
        RateLimitException e = assertThrows(RateLimitException.class, client::launch);
        assertEquals("quota_exceeded", e.errorCode().orElseThrow());
        assertEquals(1, server.count("POST", "/v1/vms"));
    }

    @Test
    void createCallsAreNotRetriedEvenOnATransientStatus() {
        // Only run() has transientRetries; a second POST could create a second VM or snapshot.
        server.on(
                "POST",
                "/v1/vms",
                TestServer.error(503, "overloaded", "busy"),
                TestServer.json(201, Fixtures.vm("running")));
        server.on(
                "POST",
                "/v1/snapshots",
                TestServer.error(502, "unreachable", "x"),
                TestServer.json(201, Fixtures.snapshot("ready")));
        assertEquals(
                503, assertThrows(InternalServerException.class, client::launch).status());
        assertEquals(
                502,
                assertThrows(InternalServerException.class, () -> client.snapshot(Fixtures.VM_ID))
                        .status());
        assertEquals(1, server.count("POST", "/v1/vms"));
        assertEquals(1, server.count("POST", "/v1/snapshots"));
    }

    @Test
    void restoreSendsSnapshotIdAndAcceptsTheObjectOrTheId() {
        server.on("POST", "/v1/vms", TestServer.json(201, Fixtures.vm("running")));
        Snapshot snap =
                new Snapshot(Fixtures.SNAP_ID, "s", "org-1", Fixtures.VM_ID, SnapshotStatus.READY, null, null, null);
        client.restore(snap);
        client.restore(
                Fixtures.SNAP_ID,
                RestoreOptions.builder()
                        .name("clone-1")
                        .firewall(FirewallPolicy.open())
                        .build());
        List<TestServer.Hit> api = server.apiHits();
        assertEquals(2, api.size());
        JsonNode first = api.get(0).json();
        assertEquals(Fixtures.SNAP_ID, first.get("snapshotId").asText());
        assertFalse(first.has("machineType"), "the machine comes from the snapshot");
        assertFalse(first.has("name"));
        JsonNode second = api.get(1).json();
        assertEquals(Fixtures.SNAP_ID, second.get("snapshotId").asText());
        assertEquals("clone-1", second.get("name").asText());
        assertEquals("open", second.at("/firewall/mode").asText());
    }

    @Test
    void restore202PollsUntilRunning() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on("GET", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.restore(Fixtures.SNAP_ID).status());
        assertEquals(1, server.count("GET", VM_PATH));
    }

    @Test
    void snapshotPostsVmIdAndPollsUntilReady() {
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on(
                "GET",
                SNAP_PATH,
                TestServer.json(200, Fixtures.snapshot("creating")),
                TestServer.json(200, Fixtures.snapshot("ready")));
        Snapshot s = client.snapshot(
                Fixtures.VM_ID, SnapshotOptions.builder().name("golden").build());
        assertEquals(SnapshotStatus.READY, s.status());
        assertEquals(Fixtures.VM_ID, s.vmId());
        JsonNode body = server.apiHits().get(0).json();
        assertEquals(Fixtures.VM_ID, body.get("vmId").asText());
        assertEquals("golden", body.get("name").asText());
        assertEquals(2, server.count("GET", SNAP_PATH));
    }

    @Test
    void snapshotAlreadyReadyIsNotPolled() {
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("ready")));
        client.snapshot(Fixtures.VM_ID);
        assertEquals(0, server.count("GET", SNAP_PATH));
    }

    @Test
    void snapshotErrorFailsFast() {
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on("GET", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("error")));
        SnapshotFailedException e = assertThrows(SnapshotFailedException.class, () -> client.snapshot(Fixtures.VM_ID));
        assertEquals(SnapshotStatus.ERROR, e.snapshot().status());
    }

    @Test
    void snapshotDeadlineCarriesLastStatus() {
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on("GET", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("creating")));
        FastVMTimeoutException e = assertThrows(
                FastVMTimeoutException.class,
                () -> client.snapshot(
                        Fixtures.VM_ID,
                        SnapshotOptions.builder()
                                .timeout(Duration.ofMillis(200))
                                .build()));
        assertEquals("creating", e.lastStatus().orElseThrow());
    }

    @Test
    void vmVanishingWhilePollingEndsTheWaitWithTheNotFoundAndTheVmsId() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on("GET", VM_PATH, TestServer.error(404, "not_found", "no such vm"));
        WaitFailedException e = assertThrows(WaitFailedException.class, client::launch);
        assertInstanceOf(NotFoundException.class, e.getCause());
        assertEquals(Fixtures.VM_ID, e.resourceId().orElseThrow());
        assertEquals("provisioning", e.lastStatus().orElseThrow());
        assertTrue(e.getMessage().contains(Fixtures.VM_ID), e.getMessage());
        assertEquals(1, server.count("GET", VM_PATH), "a 404 will not pass: not asked again");
    }

    @Test
    void pollingRidesOutA429WithRetryAfterThenA500ThenADroppedConnection() {
        List<Long> polledAt = new CopyOnWriteArrayList<>();
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                timed(
                        polledAt,
                        TestServer.json(
                                429, "{\"error\":\"rate_limited\",\"message\":\"slow down\"}", "Retry-After", "1")),
                timed(polledAt, TestServer.error(500, "internal_error", "a proxy's bad moment")),
                timed(polledAt, TestServer.dropConnection()),
                timed(polledAt, TestServer.json(200, Fixtures.vm("running"))));
        VM vm = client.launch(
                LaunchOptions.builder().timeout(Duration.ofSeconds(30)).build());
        assertEquals(VMStatus.RUNNING, vm.status());
        assertEquals(Fixtures.VM_ID, vm.id());
        assertEquals(4, server.count("GET", VM_PATH));
        long pauseMs = (polledAt.get(1) - polledAt.get(0)) / 1_000_000;
        assertTrue(pauseMs >= 950, "Retry-After: 1 honoured, paused " + pauseMs + " ms");
    }

    @Test
    void restoreAndSnapshotRideOutFailedPollsToo() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.error(502, "bad_gateway", "x"),
                TestServer.dropConnection(),
                TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.restore(Fixtures.SNAP_ID).status());
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on(
                "GET",
                SNAP_PATH,
                TestServer.json(408, "{}"),
                TestServer.json(409, "{\"error\":\"conflict\"}"),
                TestServer.json(200, Fixtures.snapshot("ready")));
        assertEquals(SnapshotStatus.READY, client.snapshot(Fixtures.VM_ID).status());
        assertEquals(3, server.count("GET", SNAP_PATH));
    }

    @ParameterizedTest
    @ValueSource(ints = {429, 500, 503})
    void aPollThatKeepsFailingEndsAtTheDeadlineWithTheVmsIdAndLastStatus(int status) {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET", VM_PATH, TestServer.json(200, Fixtures.vm("booting")), TestServer.error(status, "x", "failing"));
        long start = System.nanoTime();
        FastVMTimeoutException e = assertThrows(
                FastVMTimeoutException.class,
                () -> client.launch(
                        LaunchOptions.builder().timeout(Duration.ofMillis(600)).build()));
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        assertEquals(Fixtures.VM_ID, e.resourceId().orElseThrow());
        assertEquals("booting", e.lastStatus().orElseThrow(), "the status last seen, before the failures");
        assertLastPollFailure(e, FastVMServiceException.class);
        if (e.getCause() instanceof FastVMServiceException s) assertEquals(status, s.status());
        assertTrue(e.getMessage().contains(Fixtures.VM_ID) && e.getMessage().contains("booting"), e.getMessage());
        assertTrue(server.count("GET", VM_PATH) >= 3, "kept polling: " + server.count("GET", VM_PATH));
        assertTrue(elapsedMs >= 600 && elapsedMs < 3000, "stops at the deadline, took " + elapsedMs + " ms");
    }

    @Test
    void aSnapshotPollThatKeepsLosingItsConnectionEndsAtTheDeadlineWithTheSnapshotsId() {
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on("GET", SNAP_PATH, TestServer.dropConnection());
        FastVMException failure = assertThrows(
                FastVMException.class,
                () -> client.snapshot(
                        Fixtures.VM_ID,
                        SnapshotOptions.builder()
                                .timeout(Duration.ofMillis(500))
                                .build()));
        FastVMTimeoutException e = assertInstanceOf(FastVMTimeoutException.class, failure);
        assertEquals(Fixtures.SNAP_ID, e.resourceId().orElseThrow());
        assertEquals("creating", e.lastStatus().orElseThrow());
        assertLastPollFailure(e, FastVMConnectionException.class);
        assertTrue(server.count("GET", SNAP_PATH) >= 2, "kept polling: " + server.count("GET", SNAP_PATH));
    }

    /**
     * The timeout's cause is the last poll's failure: the scripted one, or the look the deadline
     * cut short (its request timeout is what is left of the wait).
     */
    private static void assertLastPollFailure(FastVMTimeoutException e, Class<? extends Throwable> scripted) {
        Throwable cause = e.getCause();
        assertTrue(scripted.isInstance(cause) || cause instanceof FastVMTimeoutException, "cause: " + cause);
    }

    @Test
    void aRestoreWhosePollIsRefusedNamesTheVm() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on("GET", VM_PATH, TestServer.error(403, "forbidden", "key lost its rights"));
        FastVMException e = assertThrows(FastVMException.class, () -> client.restore(Fixtures.SNAP_ID));
        assertInstanceOf(WaitFailedException.class, e);
        assertInstanceOf(PermissionDeniedException.class, e.getCause());
        assertEquals(Fixtures.VM_ID, e.resourceId().orElseThrow());
        assertEquals("provisioning", e.lastStatus().orElseThrow());
    }

    @Test
    void failuresBeforeTheServerCreatedAnythingNameNoResource() {
        server.on("POST", "/v1/vms", TestServer.error(500, "internal_error", "x"));
        InternalServerException e = assertThrows(InternalServerException.class, client::launch);
        assertTrue(e.resourceId().isEmpty());
        assertTrue(e.lastStatus().isEmpty());
    }

    /** Records when each request arrives, then answers with {@code reply}. */
    private static TestServer.Reply timed(List<Long> at, TestServer.Reply reply) {
        return (req, res, cb) -> {
            at.add(System.nanoTime());
            reply.write(req, res, cb);
        };
    }

    @Test
    void pollingRetriesTransientErrors() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on(
                "GET",
                VM_PATH,
                TestServer.error(503, "overloaded", "busy"),
                TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.launch().status());
        assertEquals(2, server.count("GET", VM_PATH));
    }

    @Test
    void closingTheClientEndsAWaitInsteadOfLeavingItHanging() throws Exception {
        CountDownLatch polled = new CountDownLatch(1);
        TestServer.Reply provisioning = TestServer.json(200, Fixtures.vm("provisioning"));
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        // Signals once the first poll's answer is written, so close() most likely lands while the
        // client pauses before its next poll (either way the wait must end, not hang).
        server.on(
                "GET",
                VM_PATH,
                (req, res, cb) -> provisioning.write(
                        req,
                        res,
                        Callback.from(
                                () -> {
                                    cb.succeeded();
                                    polled.countDown();
                                },
                                cb::failed)));
        FastVM own = server.client();
        CompletableFuture<VM> launch = own.async()
                .launch(LaunchOptions.builder().timeout(Duration.ofSeconds(30)).build());
        assertTrue(polled.await(5, TimeUnit.SECONDS), "the client polled");
        own.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> launch.get(5, TimeUnit.SECONDS));
        assertInstanceOf(FastVMException.class, e.getCause());
    }

    @Test
    void asyncLaunchCompletesWithTheRunningVm() {
        server.on("POST", "/v1/vms", TestServer.json(202, Fixtures.vm("provisioning")));
        server.on("GET", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.async().launch().join().status());
    }
}
