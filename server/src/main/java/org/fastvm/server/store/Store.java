package org.fastvm.server.store;

/**
 * The database plus its repositories: what core services are given.
 *
 * @param db        the database (transactions)
 * @param orgs      orgs table
 * @param apiKeys   api_keys table
 * @param quotas    quotas table and usage
 * @param vms       vms table
 * @param snapshots snapshots table
 */
public record Store(
        Database db,
        OrgRepository orgs,
        ApiKeyRepository apiKeys,
        QuotaRepository quotas,
        VmRepository vms,
        SnapshotRepository snapshots)
        implements AutoCloseable {
    /** {@return a store over {@code db}} */
    public static Store over(Database db) {
        return new Store(
                db,
                new OrgRepository(),
                new ApiKeyRepository(),
                new QuotaRepository(),
                new VmRepository(),
                new SnapshotRepository());
    }

    /** Closes the database. */
    @Override
    public void close() {
        db.close();
    }
}
