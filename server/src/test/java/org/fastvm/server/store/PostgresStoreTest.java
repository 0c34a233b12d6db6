package org.fastvm.server.store;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.sql.Connection;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The store contract on a real PostgreSQL server (embedded, one per class, a database per test). */
class PostgresStoreTest extends StoreContract {
    private static EmbeddedPostgres pg;
    private static final AtomicInteger DBS = new AtomicInteger();

    @BeforeAll
    static void startPostgres() throws Exception {
        pg = EmbeddedPostgres.builder().start();
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        if (pg != null) pg.close();
    }

    @Override
    Database openFresh() throws Exception {
        String name = "fastvm_" + DBS.incrementAndGet();
        try (Connection c = pg.getPostgresDatabase().getConnection()) {
            c.createStatement().execute("CREATE DATABASE " + name);
        }
        return Database.open(pg.getJdbcUrl("postgres", name), "postgres", null);
    }
}
