package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.time.Duration;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Durability over a backend whose VMs outlive the server: reattach, or mark error and release quota. */
class RestartTest extends ApiTestBase {
    @TempDir
    Path dir;

    @Test
    void restartKeepsRowsReattachesLiveVmsAndFailsLostOnes() throws Exception {
        FakeBackend backend = new FakeBackend();
        try (Env env = new Env(dir, backend, new QuotaValues(8, 1 << 20, 10_000, 10), Duration.ofSeconds(2))) {
            String keep = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"name\":\"keeper\"}")
                    .get("id")
                    .asText();
            String lose = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c2m4\"}")
                    .get("id")
                    .asText();
            String snap = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + keep + "\"}")
                    .get("id")
                    .asText();
            assertEquals("ready", awaitReady(env, snap));
            assertEquals(
                    3,
                    env.expect(200, "GET", "/v1/org/quotas", null)
                            .get("usage")
                            .get("vcpu")
                            .asLong());

            env.server.close();
            backend.machines.get(lose).crash(); // dies while no server watches
            env.server = FastVmServer.start(env.config, backend);
            env.server.recovery().join();

            assertTrue(env.server.bootstrapKey().isEmpty(), "no new default key on a non-empty database");
            assertEquals(
                    "running",
                    env.expect(200, "GET", "/v1/vms/" + keep, null)
                            .get("status")
                            .asText());
            assertEquals(
                    "keeper",
                    env.expect(200, "GET", "/v1/vms/" + keep, null).get("name").asText());
            assertEquals(
                    "ok\n",
                    env.expect(200, "POST", "/v1/vms/" + keep + "/exec", "{\"command\":[\"echo\",\"ok\"]}")
                            .get("stdout")
                            .asText());
            assertEquals(
                    "error",
                    env.expect(200, "GET", "/v1/vms/" + lose, null)
                            .get("status")
                            .asText());
            assertEquals(
                    1,
                    env.expect(200, "GET", "/v1/org/quotas", null)
                            .get("usage")
                            .get("vcpu")
                            .asLong(),
                    "the lost VM's vCPUs are released");
            assertEquals(
                    20,
                    env.expect(200, "GET", "/v1/org/quotas", null)
                            .get("usage")
                            .get("diskGiB")
                            .asLong(),
                    "its disk is not: its files are kept until it is deleted");
            assertTrue(backend.stopped.contains(lose), "stopped with its files kept, not discarded");
            assertEquals(
                    "ready",
                    env.expect(200, "GET", "/v1/snapshots/" + snap, null)
                            .get("status")
                            .asText());
            assertEquals(
                    "running",
                    env.expect(201, "POST", "/v1/vms", "{\"snapshotId\":\"" + snap + "\"}")
                            .get("status")
                            .asText());
            // Killing a reattached VM is still noticed.
            backend.machines.get(keep).crash();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!env.expect(200, "GET", "/v1/vms/" + keep, null)
                    .get("status")
                    .asText()
                    .equals("error")) {
                assertTrue(System.nanoTime() < deadline);
                Thread.sleep(20); // client-style polling
            }
        }
    }

    static String awaitReady(Env env, String snap) throws Exception {
        long deadline = System.nanoTime() + 5_000_000_000L;
        String st = env.expect(200, "GET", "/v1/snapshots/" + snap, null)
                .get("status")
                .asText();
        while (st.equals("creating")) {
            assertTrue(System.nanoTime() < deadline);
            Thread.sleep(20); // client-style polling
            st = env.expect(200, "GET", "/v1/snapshots/" + snap, null)
                    .get("status")
                    .asText();
        }
        return st;
    }
}
