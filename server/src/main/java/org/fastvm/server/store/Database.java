package org.fastvm.server.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * The metadata database: SQLite in the data dir by default (WAL, busy timeout, every write
 * transaction {@code BEGIN IMMEDIATE}), or PostgreSQL from a JDBC URL. Migrates with Flyway
 * on open. All writes go through {@link #write} or {@link #writeLockingOrg}.
 */
public final class Database implements AutoCloseable {
    /** Which SQL engine is behind the pool; only row locking differs between them. */
    public enum Dialect {
        SQLITE,
        POSTGRES
    }

    private final HikariDataSource pool;
    private final Dialect dialect;

    private Database(HikariDataSource pool, Dialect dialect) {
        this.pool = pool;
        this.dialect = dialect;
    }

    /** Opens (creating if needed) SQLite at {@code <dataDir>/fastvm.db}. */
    public static Database openSqlite(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
        } catch (java.io.IOException e) {
            throw new StoreException("cannot create data dir " + dataDir, e);
        }
        return open("jdbc:sqlite:" + dataDir.resolve("fastvm.db").toAbsolutePath(), null, null);
    }

    /**
     * Opens the database at {@code jdbcUrl} ({@code jdbc:sqlite:...} or {@code jdbc:postgresql:...}).
     *
     * @param user     user name or null (may be in the URL)
     * @param password password or null
     */
    public static Database open(String jdbcUrl, String user, String password) {
        Dialect dialect;
        HikariConfig cfg = new HikariConfig();
        cfg.setJdbcUrl(jdbcUrl);
        cfg.setPoolName("fastvm-db");
        if (jdbcUrl.startsWith("jdbc:sqlite:")) {
            dialect = Dialect.SQLITE;
            cfg.addDataSourceProperty("journal_mode", "WAL");
            cfg.addDataSourceProperty("busy_timeout", "15000");
            cfg.addDataSourceProperty("synchronous", "NORMAL");
            cfg.addDataSourceProperty("foreign_keys", "true");
            // Write transactions take the write lock at BEGIN, so a read-check-insert is atomic.
            cfg.addDataSourceProperty("transaction_mode", "IMMEDIATE");
            cfg.setMaximumPoolSize(8);
        } else if (jdbcUrl.startsWith("jdbc:postgresql:")) {
            dialect = Dialect.POSTGRES;
            cfg.setMaximumPoolSize(16);
        } else {
            throw new IllegalArgumentException(
                    "db-url: only jdbc:sqlite: and jdbc:postgresql: URLs are supported, got " + jdbcUrl);
        }
        if (user != null) cfg.setUsername(user);
        if (password != null) cfg.setPassword(password);
        HikariDataSource ds = new HikariDataSource(cfg);
        try {
            Flyway.configure()
                    .dataSource(ds)
                    .locations("classpath:db/migration")
                    .load()
                    .migrate();
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
        return new Database(ds, dialect);
    }

    /** {@return the SQL engine in use} */
    public Dialect dialect() {
        return dialect;
    }

    /** {@return the pooled data source (for health checks)} */
    public DataSource dataSource() {
        return pool;
    }

    /** Runs read-only work in autocommit mode. */
    public <T> T read(SqlWork<T> work) {
        try (Connection c = pool.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw new StoreException("database read failed: " + e.getMessage(), e);
        }
    }

    /** Runs work in one transaction; commits if it returns, rolls back if it throws. */
    public <T> T write(SqlWork<T> work) {
        try (Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (Throwable t) {
                c.rollback();
                throw t;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw new StoreException("database write failed: " + e.getMessage(), e);
        }
    }

    /**
     * Runs work in one transaction that holds the org's lock, so concurrent quota checks for
     * one org serialise: SQLite's IMMEDIATE transaction already holds the database write lock;
     * PostgreSQL locks the org row with {@code SELECT ... FOR UPDATE}.
     */
    public <T> T writeLockingOrg(String orgId, SqlWork<T> work) {
        return write(c -> {
            if (dialect == Dialect.POSTGRES) {
                try (PreparedStatement ps = c.prepareStatement("SELECT id FROM orgs WHERE id = ? FOR UPDATE")) {
                    ps.setString(1, orgId);
                    ps.executeQuery().close();
                }
            }
            return work.run(c);
        });
    }

    /** Closes the pool. */
    @Override
    public void close() {
        pool.close();
    }
}
