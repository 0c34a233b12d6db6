package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.VmStatus;
import org.fastvm.server.store.SqlWork;
import org.fastvm.server.store.Store;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What start-up does with what the previous run left (the rows are put in the states a crash
 * leaves them in; the crash itself is {@code ServerCrashIT}'s), and the audit of rows against
 * files. A fake engine: its "files" are a set of ids.
 */
class StartupRecoveryTest extends ApiTestBase {
    @TempDir
    Path dir;

    @Test
    void theListenerOpensBeforeAStuckVmIsReattachedAndCallsOnItWait() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, new QuotaValues(8, 1 << 20, 10_000, 10), Duration.ofSeconds(2))) {
            String id = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                    .get("id")
                    .asText();
            env.server.close();
            backend.attachGate = new CountDownLatch(1); // its agent does not answer yet
            env.server = assertTimeoutPreemptively(
                    Duration.ofSeconds(10),
                    () -> FastVmServer.start(env.config, backend),
                    "start-up waited for the stuck VM");

            HttpResponse<String> ready = env.call("GET", "/readyz", null, null);
            assertEquals(503, ready.statusCode(), "not ready while VMs are being reattached");
            assertEquals(
                    "running",
                    env.expect(200, "GET", "/v1/vms/" + id, null).get("status").asText(),
                    "rows are served");
            HttpResponse<String> exec =
                    env.call("POST", "/v1/vms/" + id + "/exec", env.keyA, "{\"command\":[\"echo\",\"hi\"]}");
            assertEquals(503, exec.statusCode(), exec.body());
            assertEquals("true", exec.headers().firstValue("x-should-retry").orElse(""));
            assertEquals(
                    503,
                    env.call("DELETE", "/v1/vms/" + id, env.keyA, null).statusCode(),
                    "no delete racing the attach");
            env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}"); // new VMs do not wait

            backend.attachGate.countDown();
            env.server.recovery().get(10, TimeUnit.SECONDS);
            assertEquals(200, env.call("GET", "/readyz", null, null).statusCode());
            assertEquals(
                    "hi\n",
                    env.expect(200, "POST", "/v1/vms/" + id + "/exec", "{\"command\":[\"echo\",\"hi\"]}")
                            .get("stdout")
                            .asText());
        } finally {
            if (backend.attachGate != null) backend.attachGate.countDown();
        }
    }

    @Test
    void operationsCutShortAreFinishedOrRolledBackAndOrphanFilesRemoved() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, new QuotaValues(64, 1 << 20, 10_000, 10), Duration.ofSeconds(2))) {
            String kept = launch(env);
            String booting = launch(env);
            String deleting = launch(env);
            String deletedWithFiles = launch(env);
            String published = snapshot(env, kept);
            String unpublished = snapshot(env, kept);
            String deletedSnapWithFiles = snapshot(env, kept);
            env.server.close();

            // The states a crash leaves, step by step (see Vms and Snapshots for the order of rows and files).
            try (Store store = Store.over(FastVmServer.openDatabase(env.config))) {
                write(store, c -> store.vms().transition(c, booting, VmStatus.RUNNING, VmStatus.PROVISIONING, null));
                write(store, c -> store.vms().transition(c, deleting, VmStatus.RUNNING, VmStatus.DELETING, null));
                write(store, c -> store.vms().markDeleted(c, deletedWithFiles, VmStatus.RUNNING, Instant.now()));
                write(
                        store,
                        c -> store.snapshots()
                                .transition(c, published, SnapshotStatus.READY, SnapshotStatus.CREATING, null));
                write(
                        store,
                        c -> store.snapshots()
                                .transition(c, unpublished, SnapshotStatus.READY, SnapshotStatus.CREATING, null));
                write(store, c -> store.snapshots().markDeleted(c, deletedSnapWithFiles, Instant.now()));
            }
            backend.snapshots.remove(unpublished); // the engine never published it
            String strayVm = UUID.randomUUID().toString();
            backend.files.add(strayVm); // files whose row was never committed... or long deleted
            backend.files.add("base-123abc"); // the engine's own (not the server's to remove)

            env.server = FastVmServer.start(env.config, backend);
            env.server.recovery().get(10, TimeUnit.SECONDS);

            assertEquals("running", status(env, "/v1/vms/" + kept));
            JsonNode rolledBack = env.expect(200, "GET", "/v1/vms/" + booting, null);
            assertEquals("error", rolledBack.get("status").asText());
            assertFalse(backend.files.contains(booting), "a boot cut short is rolled back: its files go");
            env.expect(404, "GET", "/v1/vms/" + deleting, null);
            assertFalse(backend.files.contains(deleting), "a delete cut short is finished");
            assertFalse(backend.files.contains(deletedWithFiles), "files of a deleted row are removed");
            assertFalse(backend.files.contains(strayVm), "files of no row are removed");
            assertTrue(backend.files.contains("base-123abc"), "the engine's own VMs are left alone");
            assertEquals("ready", status(env, "/v1/snapshots/" + published), "a published snapshot is complete");
            assertEquals("error", status(env, "/v1/snapshots/" + unpublished));
            assertFalse(backend.snapshots.contains(deletedSnapWithFiles), "a snapshot delete cut short is finished");

            // quota = disk: kept and booting each asked for 10 GiB; only kept still has files
            JsonNode usage = env.expect(200, "GET", "/v1/org/quotas", null).get("usage");
            assertEquals(10, usage.get("diskGiB").asLong());
            assertEquals(1, usage.get("vcpu").asLong());
            assertEquals(List.of(), env.server.audit());
        }
    }

    @Test
    void aBootThatFailedHoldsNoDiskAndAVmThatDiedHoldsItsFilesDisk() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, new QuotaValues(64, 1 << 20, 10_000, 10), Duration.ofSeconds(2))) {
            String died = launch(env);
            backend.machines.get(died).crash();
            awaitStatus(env, died, "error");
            backend.bootFailure = new IllegalStateException("no kernel");
            JsonNode failed = env.expect(202, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"diskGiB\":25}");
            assertEquals("error", failed.get("status").asText());
            assertEquals(
                    10,
                    env.expect(200, "GET", "/v1/org/quotas", null)
                            .get("usage")
                            .get("diskGiB")
                            .asLong(),
                    "the dead VM's files count, the failed boot left none");
            assertEquals(List.of(), env.server.audit());
        }
    }

    @Test
    void theAuditReportsRowsAndFilesThatDisagree() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, new QuotaValues(64, 1 << 20, 10_000, 10), Duration.ofSeconds(2))) {
            String vm = launch(env);
            String snap = snapshot(env, vm);
            assertEquals(List.of(), env.server.audit());
            backend.files.remove(vm); // someone removed its dir behind the server's back
            backend.snapshots.remove(snap);
            String stray = UUID.randomUUID().toString();
            backend.files.add(stray);
            List<String> found = env.server.audit();
            assertEquals(3, found.size(), found.toString());
            assertTrue(
                    found.stream().anyMatch(f -> f.startsWith("vm=" + vm) && f.contains("holds 10 GiB")),
                    found.toString());
            assertTrue(
                    found.stream().anyMatch(f -> f.startsWith("snapshot=" + snap) && f.contains("no files")),
                    found.toString());
            assertTrue(
                    found.stream().anyMatch(f -> f.startsWith("vm=" + stray) && f.contains("no live row")),
                    found.toString());
            assertTrue(env.metrics().body().contains("fastvm_reconcile_differences 3.0"), "the gauge counts them");
        }
    }

    private static String launch(Env env) throws Exception {
        return env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                .get("id")
                .asText();
    }

    private static String snapshot(Env env, String vm) throws Exception {
        String id = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}")
                .get("id")
                .asText();
        assertEquals("ready", RestartTest.awaitReady(env, id));
        return id;
    }

    private static String status(Env env, String path) throws Exception {
        return env.expect(200, "GET", path, null).get("status").asText();
    }

    private static void awaitStatus(Env env, String vm, String want) throws Exception {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!status(env, "/v1/vms/" + vm).equals(want)) {
            assertTrue(System.nanoTime() < deadline, "vm " + vm + " did not turn " + want);
            Thread.sleep(20); // client-style polling
        }
    }

    private static void write(Store store, SqlWork<Boolean> work) {
        assertTrue(store.db().write(work), "the row was in the expected state");
    }
}
