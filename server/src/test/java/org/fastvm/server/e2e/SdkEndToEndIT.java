package org.fastvm.server.e2e;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.FirewallPatch;
import org.fastvm.sdk.LaunchOptions;
import org.fastvm.sdk.SnapshotOptions;
import org.fastvm.sdk.errors.AuthenticationException;
import org.fastvm.sdk.errors.NotFoundException;
import org.fastvm.sdk.errors.RateLimitException;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.FirewallMode;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.SnapshotStatus;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.model.QuotaOverride;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Server + Java SDK + real VMs (QEMU, TCG here). One server and a few VMs for the class;
 * the restart test runs last because it replaces the server.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SdkEndToEndIT {
    @TempDir
    static Path dir;

    static ServerConfig config;
    static FastVmServer server;
    static FastVM a;
    static FastVM b;
    static String keyA;
    static String keyC;
    static VM vm;

    @BeforeAll
    static void start() throws Exception {
        config = ServerConfig.defaults(dir)
                .withBind("127.0.0.1", 0)
                .withMetricsBind("127.0.0.1", 0)
                .withLaunchWait(Duration.ofSeconds(60));
        server = FastVmServer.start(config, RealEngine.open(dir));
        keyA = server.apiKeys().create(server.orgs().findOrCreate("org-a").id()).key();
        String keyB = server.apiKeys()
                .create(server.orgs().findOrCreate("org-b").id())
                .key();
        keyC = server.apiKeys().create(server.orgs().findOrCreate("org-c").id()).key();
        server.quotas().setOverride(server.orgs().byName("org-c").id(), new QuotaOverride(4L, null, null, null));
        a = client(keyA);
        b = client(keyB);
        a.warmup();
        vm = a.launch(LaunchOptions.builder().machine("c1m2").name("e2e main").build());
    }

    static FastVM client(String key) {
        return FastVM.builder()
                .apiKey(key)
                .baseUrl(server.baseUri().toString())
                .timeout(Duration.ofMinutes(2))
                .build();
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (a != null) {
                for (VM v : a.list()) a.remove(v);
            }
            if (b != null) b.close();
            if (a != null) a.close();
            FastVM c = server == null ? null : client(keyC);
            if (c != null) {
                for (VM v : c.list()) c.remove(v);
                c.close();
            }
        } finally {
            try {
                if (server != null) server.close();
            } finally {
                RealEngine.discardAll(dir); // VMs outlive the server by design; tests must not leave any
            }
        }
    }

    @Test
    @Order(1)
    void launchAndRunThroughTheSdk() {
        assertEquals(VMStatus.RUNNING, vm.status());
        assertEquals("e2e main", vm.name());
        assertEquals(2048, vm.memoryMib());
        assertNull(vm.publicIpv6());
        CommandResult r = a.run(vm, "echo hello");
        assertEquals(0, r.exitCode());
        assertEquals("hello\n", r.stdout());
        CommandResult fail = a.run(vm, List.of("sh", "-c", "echo oops >&2; exit 4"));
        assertEquals(4, fail.exitCode());
        assertEquals("oops\n", fail.stderr());
    }

    @Test
    @Order(2)
    void ndjsonDeliversOutputBeforeTheCommandEnds() throws Exception {
        long t0 = System.nanoTime();
        long firstAt = -1, exitAt = -1;
        StringBuilder out = new StringBuilder();
        try (var s = a.stream(vm, "echo first; sleep 2; echo second")) {
            for (ExecEvent e : s) {
                if (e instanceof ExecEvent.Stdout o) {
                    if (firstAt < 0) firstAt = System.nanoTime() - t0;
                    out.append(new String(o.data(), StandardCharsets.UTF_8));
                } else if (e instanceof ExecEvent.Exit x) {
                    exitAt = System.nanoTime() - t0;
                    assertEquals(0, x.code());
                }
            }
        }
        assertEquals("first\nsecond\n", out.toString());
        assertTrue(
                exitAt - firstAt > 1_500_000_000L,
                "first output arrived " + (exitAt - firstAt) / 1_000_000 + " ms before exit");
    }

    /**
     * The Python SDK on HTTP/2 forgets a timed-out exec stream without a reset, then retries:
     * the command must die at the client's announced timeout even though the connection lives.
     */
    @Test
    @Order(2)
    void anExecOutlivingTheClientsAnnouncedTimeoutIsKilledInTheVm() throws Exception {
        String marker = "/tmp/deadline-marker";
        try (java.net.http.HttpClient h2 = java.net.http.HttpClient.newBuilder()
                .version(java.net.http.HttpClient.Version.HTTP_2)
                .build()) {
            var prime = h2.send(
                    java.net.http.HttpRequest.newBuilder(server.baseUri().resolve("/healthz"))
                            .build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(java.net.http.HttpClient.Version.HTTP_2, prime.version()); // the exec below is an h2c stream
            var exec = java.net.http.HttpRequest.newBuilder(server.baseUri().resolve("/v1/vms/" + vm.id() + "/exec"))
                    .header("X-API-Key", keyA)
                    .header("x-stainless-read-timeout", "1.0")
                    .timeout(Duration.ofSeconds(60))
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                            "{\"command\":[\"sh\",\"-c\",\"sleep 3; touch " + marker + "\"]}"))
                    .build();
            long t0 = System.nanoTime();
            var call = h2.sendAsync(exec, java.net.http.HttpResponse.BodyHandlers.ofString());
            var gone = assertThrows(
                    java.util.concurrent.ExecutionException.class,
                    () -> call.get(30, java.util.concurrent.TimeUnit.SECONDS));
            assertInstanceOf(java.io.IOException.class, gone.getCause(), "the stream is reset, not answered");
            assertTrue(
                    System.nanoTime() - t0 < java.util.concurrent.TimeUnit.SECONDS.toNanos(3),
                    "abandoned at the 1 s deadline");
        }
        // The killed command would have touched the marker 3 s after it started; look after that.
        CommandResult r =
                a.run(vm, List.of("sh", "-c", "sleep 4; test -e " + marker + " && echo present || echo absent"));
        assertEquals("absent\n", r.stdout());
    }

    @Test
    @Order(3)
    void firewallRoundTripsAndRenameWorks() {
        VM open = a.setFirewall(
                vm, FirewallPolicy.restricted(FirewallRule.tcp(443).withSourceCidrs("2001:db8::/32")));
        assertEquals(FirewallMode.RESTRICTED, open.firewall().mode());
        assertEquals(443, open.firewall().ingress().get(0).portStart());
        VM patched = a.patchFirewall(
                vm, FirewallPatch.builder().mode(FirewallMode.OPEN).build());
        assertEquals(FirewallMode.OPEN, patched.firewall().mode());
        assertEquals(1, patched.firewall().ingress().size());
        VM cleared =
                a.patchFirewall(vm, FirewallPatch.builder().ingress(List.of()).build());
        assertTrue(cleared.firewall().ingress().isEmpty());
        assertEquals("renamed box", a.rename(vm, "  renamed   box ").name());
        assertEquals("renamed box", a.get(vm.id()).name());
    }

    @Test
    @Order(4)
    void otherOrgsSeeNothingAndBadKeysAre401() {
        assertThrows(NotFoundException.class, () -> b.get(vm.id()));
        assertThrows(NotFoundException.class, () -> b.run(vm.id(), "echo no"));
        assertThrows(NotFoundException.class, () -> b.snapshot(vm.id()));
        assertThrows(NotFoundException.class, () -> b.rename(vm.id(), "stolen"));
        assertThrows(NotFoundException.class, () -> b.remove(vm.id()));
        assertTrue(b.list().stream().noneMatch(v -> v.id().equals(vm.id())));
        try (FastVM wrong = client("fvm_not-a-key")) {
            assertThrows(AuthenticationException.class, wrong::list);
        }
        assertEquals(VMStatus.RUNNING, a.get(vm).status());
    }

    @Test
    @Order(5)
    void quickStartAndBranchingThroughSnapshots() throws Exception {
        // Quick start: snapshot, restore, run.
        Snapshot snap = a.snapshot(vm, SnapshotOptions.builder().name("golden").build());
        assertEquals(SnapshotStatus.READY, snap.status());
        assertEquals(1, a.quotas().usage().snapshotCount());
        a.run(vm, "echo after-snapshot > /tmp/state");
        VM clone = a.restore(snap);
        assertEquals(VMStatus.RUNNING, clone.status());
        assertEquals("golden", clone.sourceName());
        assertEquals("hello\n", a.run(clone, "echo hello").stdout());
        assertEquals(
                1,
                a.run(clone, "test -e /tmp/state").exitCode(),
                "the clone starts from the snapshot, not from later state");
        a.remove(clone);

        // Branching: 10 concurrent restores, a run in each, each its own machine.
        List<VM> clones = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(10);
        try {
            List<Future<String>> fs = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                int n = i;
                fs.add(pool.submit(() -> {
                    VM c = a.restore(snap);
                    synchronized (clones) {
                        clones.add(c);
                    }
                    return a.run(c, "echo branch-" + n + " > /tmp/b; cat /tmp/b; hostname")
                            .stdout();
                }));
            }
            java.util.Set<String> hostnames = new java.util.HashSet<>();
            for (int i = 0; i < 10; i++) {
                String[] out = fs.get(i).get().split("\n", -1);
                assertEquals("branch-" + i, out[0]);
                hostnames.add(out[1]);
            }
            assertEquals(10, hostnames.size(), "every clone has its own hostname: " + hostnames);
        } finally {
            pool.shutdownNow();
            for (VM c : clones) a.remove(c);
        }
        assertEquals(1, a.quotas().usage().vcpu(), "only the source VM holds vCPUs again");
        assertEquals("renamed snap", a.renameSnapshot(snap, "renamed snap").name());
    }

    @Test
    @Order(6)
    void twentyConcurrentLaunchesAgainstAFourVcpuQuota() throws Exception {
        try (FastVM c = client(keyC)) {
            ExecutorService pool = Executors.newFixedThreadPool(20);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<VM>> fs = new ArrayList<>();
            try {
                for (int i = 0; i < 20; i++) {
                    fs.add(pool.submit(() -> {
                        go.await();
                        return c.launch(LaunchOptions.builder().machine("c1m2").build());
                    }));
                }
                go.countDown();
                int ok = 0, limited = 0;
                for (Future<VM> f : fs) {
                    try {
                        assertEquals(VMStatus.RUNNING, f.get().status());
                        ok++;
                    } catch (java.util.concurrent.ExecutionException ex) {
                        assertInstanceOf(
                                RateLimitException.class,
                                ex.getCause(),
                                ex.getCause().toString());
                        limited++;
                    }
                }
                assertEquals(4, ok);
                assertEquals(16, limited);
            } finally {
                pool.shutdownNow();
            }
            assertEquals(4, c.quotas().usage().vcpu());
            assertEquals(4, c.list().size());
            for (VM v : c.list()) c.remove(v);
            assertEquals(0, c.quotas().usage().vcpu());
        }
    }

    @Test
    @Order(7)
    void aVmWhoseQemuDiesTurnsErrorAndReleasesQuota() throws Exception {
        VM doomed = a.launch(LaunchOptions.builder().machine("c2m4").build());
        long before = a.quotas().usage().vcpu();
        long pid = Long.parseLong(
                Files.readString(dir.resolve("vms").resolve(doomed.id()).resolve("pid"))
                        .strip());
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!VMStatus.ERROR.equals(a.get(doomed).status())) {
            assertTrue(System.nanoTime() < deadline, "VM did not turn error within 10 s of its QEMU dying");
            Thread.sleep(100); // polling the API, as a client would
        }
        assertEquals(before - 2, a.quotas().usage().vcpu());
        assertThrows(org.fastvm.sdk.errors.ConflictException.class, () -> a.run(doomed, "true"));
        a.remove(doomed);
    }

    @Test
    @Order(8)
    void vmsAndSnapshotsSurviveAServerRestart() throws Exception {
        a.run(vm, "echo marker > /tmp/marker");
        Snapshot snap = a.listSnapshots().get(0);
        a.close();
        server.close();
        server = FastVmServer.start(config, RealEngine.open(dir));
        server.recovery().join();
        a = client(server.apiKeys().create(server.orgs().byName("org-a").id()).key());
        assertEquals(VMStatus.RUNNING, a.get(vm.id()).status());
        assertEquals("marker\n", a.run(vm.id(), "cat /tmp/marker").stdout());
        assertEquals(SnapshotStatus.READY, a.getSnapshot(snap.id()).status());
        VM clone = a.restore(snap.id());
        assertEquals("hello\n", a.run(clone, "echo hello").stdout());
        a.remove(clone);
        a.removeSnapshot(snap);
        assertTrue(a.listSnapshots().isEmpty());
        assertEquals(0, a.quotas().usage().snapshotCount());
    }
}
