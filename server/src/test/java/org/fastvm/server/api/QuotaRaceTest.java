package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Concurrent launches and snapshots against small quotas: never more than the limit, usage consistent. */
class QuotaRaceTest extends ApiTestBase {
    @TempDir
    static Path dir;

    static Env env;

    @BeforeAll
    static void start() throws Exception {
        env = new Env(dir, new FakeBackend(), new QuotaValues(4, 1 << 20, 10_000, 3), Duration.ofSeconds(5));
    }

    @AfterAll
    static void stop() throws Exception {
        if (env != null) env.close();
    }

    static List<HttpResponse<String>> concurrently(Env env, int n, String path, String body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        CountDownLatch go = new CountDownLatch(1);
        try {
            List<Future<HttpResponse<String>>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(pool.submit(() -> {
                    go.await();
                    return env.call("POST", path, env.keyA, body);
                }));
            }
            go.countDown();
            List<HttpResponse<String>> out = new ArrayList<>();
            for (var f : fs) out.add(f.get());
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void twentyLaunchesAgainstFourVcpusThenTwentySnapshotsAgainstThree() throws Exception {
        var launches = concurrently(env, 20, "/v1/vms", "{\"machineType\":\"c1m2\"}");
        List<String> vmIds = new ArrayList<>();
        int refused = 0;
        for (var r : launches) {
            if (r.statusCode() == 201) vmIds.add(json(r.body()).get("id").asText());
            else {
                assertEquals(429, r.statusCode(), r.body());
                assertEquals("false", r.headers().firstValue("x-should-retry").orElseThrow());
                JsonNode e = json(r.body());
                assertEquals("quota_exceeded", e.get("error").asText());
                assertTrue(e.get("message").asText().contains("vcpu")
                        && e.get("message").asText().contains("limit 4"));
                refused++;
            }
        }
        assertEquals(4, vmIds.size());
        assertEquals(16, refused);
        JsonNode q = env.expect(200, "GET", "/v1/org/quotas", null);
        assertEquals(4, q.get("usage").get("vcpu").asLong());
        assertEquals(4 * 2048, q.get("usage").get("memoryMiB").asLong());
        assertEquals(40, q.get("usage").get("diskGiB").asLong());
        assertEquals(4, env.expect(200, "GET", "/v1/vms", null).size());

        var snaps = concurrently(env, 20, "/v1/snapshots", "{\"vmId\":\"" + vmIds.get(0) + "\"}");
        long ok = snaps.stream().filter(r -> r.statusCode() == 201).count();
        long no = snaps.stream().filter(r -> r.statusCode() == 429).count();
        assertEquals(3, ok);
        assertEquals(17, no);
        assertEquals(
                3,
                env.expect(200, "GET", "/v1/org/quotas", null)
                        .get("usage")
                        .get("snapshotCount")
                        .asLong());

        // Releasing one VM lets exactly one more in.
        env.expect(200, "DELETE", "/v1/vms/" + vmIds.get(3), null);
        env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}");
        env.expect(429, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}");
        assertEquals(
                4,
                env.expect(200, "GET", "/v1/org/quotas", null)
                        .get("usage")
                        .get("vcpu")
                        .asLong());
        // The other org is unaffected by org A's usage.
        env.expectAs(env.keyB, 201, "POST", "/v1/vms", "{\"machineType\":\"c4m8\"}");
    }
}
