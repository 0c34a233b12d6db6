package org.fastvm.cli;

import java.nio.file.Path;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.store.Database;
import picocli.CommandLine.Option;

/** Where the control plane's state is: shared by serve and the admin commands. */
final class DataOptions {
    @Option(
            names = "--data-dir",
            defaultValue = "${env:FASTVM_DATA_DIR}",
            description = "Data directory: fastvm.db, vms/, tls/ (env FASTVM_DATA_DIR; default ~/.local/share/fastvm).")
    Path dataDir;

    @Option(
            names = "--db-url",
            defaultValue = "${env:FASTVM_DB_URL}",
            description = "JDBC URL of a PostgreSQL database instead of SQLite in the data dir (env FASTVM_DB_URL).")
    String dbUrl;

    @Option(
            names = "--db-user",
            defaultValue = "${env:FASTVM_DB_USER}",
            description = "Database user (env FASTVM_DB_USER).")
    String dbUser;

    @Option(
            names = "--db-password",
            defaultValue = "${env:FASTVM_DB_PASSWORD}",
            description = "Database password (env FASTVM_DB_PASSWORD; prefer the variable over the flag).")
    String dbPassword;

    /** {@return the data dir, absolute} */
    Path dataDir() {
        return (dataDir != null ? dataDir : Defaults.dataDir()).toAbsolutePath();
    }

    /** {@return the configured database, migrated} */
    Database open() {
        ServerConfig c = ServerConfig.defaults(dataDir())
                .withDb(blankToNull(dbUrl), blankToNull(dbUser), blankToNull(dbPassword));
        return org.fastvm.server.FastVmServer.openDatabase(c);
    }

    static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
