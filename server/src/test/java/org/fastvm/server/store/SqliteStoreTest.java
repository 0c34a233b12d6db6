package org.fastvm.server.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store contract on SQLite, plus the SQLite-specific settings. */
class SqliteStoreTest extends StoreContract {
    @TempDir
    Path dir;

    @Override
    Database openFresh() {
        return Database.openSqlite(dir);
    }

    @Test
    void usesWalInTheDataDirAndSurvivesReopen() {
        assertTrue(Files.exists(dir.resolve("fastvm.db")));
        String mode = store.db().read(c -> {
            try (var rs = c.createStatement().executeQuery("PRAGMA journal_mode")) {
                rs.next();
                return rs.getString(1);
            }
        });
        assertEquals("wal", mode);
        orgs.findOrCreate("persisted");
        store.close();
        store = org.fastvm.server.store.Store.over(Database.openSqlite(dir));
        assertEquals(
                "persisted",
                new org.fastvm.server.core.Orgs(store, keys).byName("persisted").name());
    }
}
