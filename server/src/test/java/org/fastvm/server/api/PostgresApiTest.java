package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Path;
import java.time.Duration;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server on PostgreSQL: the quota race through HTTP holds there too (row lock on the org). */
class PostgresApiTest extends ApiTestBase {
    @TempDir
    Path dir;

    @Test
    void concurrentLaunchesRespectTheQuotaOnPostgres() throws Exception {
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start()) {
            ServerConfig cfg = ServerConfig.defaults(dir)
                    .withBind("127.0.0.1", 0)
                    .withMetricsBind("127.0.0.1", 0)
                    .withDefaultQuota(new QuotaValues(4, 1 << 20, 10_000, 3))
                    .withLaunchWait(Duration.ofSeconds(5))
                    .withDb(pg.getJdbcUrl("postgres", "postgres"), "postgres", null);
            try (FastVmServer server = FastVmServer.start(cfg, new FakeBackend())) {
                Env env = new Env(server);
                var results = QuotaRaceTest.concurrently(env, 20, "/v1/vms", "{\"machineType\":\"c1m2\"}");
                assertEquals(
                        4, results.stream().filter(r -> r.statusCode() == 201).count());
                assertEquals(
                        16, results.stream().filter(r -> r.statusCode() == 429).count());
                assertEquals(
                        4,
                        env.expect(200, "GET", "/v1/org/quotas", null)
                                .get("usage")
                                .get("vcpu")
                                .asLong());
            }
        }
    }
}
