package org.fastvm.server.core;

import java.sql.Connection;
import java.sql.SQLException;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.store.Store;

/**
 * Quota arithmetic: limits are the org's override over the server defaults; usage is what
 * its live rows hold. {@link #reserve} runs inside the caller's org-locked transaction, so the
 * check and the insert that consumes the quota are one atomic step.
 */
public final class Quotas {
    private final Store store;
    private final QuotaValues defaults;

    /** @param defaults limits for orgs without an override */
    public Quotas(Store store, QuotaValues defaults) {
        this.store = store;
        this.defaults = defaults;
    }

    /** {@return the server's default limits} */
    public QuotaValues defaults() {
        return defaults;
    }

    /** {@return the org's limits and usage} */
    public OrgQuotaUsage get(String orgId) {
        return store.db()
                .read(c -> new OrgQuotaUsage(
                        orgId, limits(c, orgId), store.quotas().usage(c, orgId)));
    }

    /** Sets (merges) the org's override; null fields stay as they were. */
    public OrgQuotaUsage setOverride(String orgId, QuotaOverride change) {
        for (Long v : new Long[] {change.vcpu(), change.memoryMiB(), change.diskGiB(), change.snapshotCount()}) {
            if (v != null && v < 0) throw ServiceException.invalid("quota", "limits must not be negative, got " + v);
        }
        store.db().writeLockingOrg(orgId, c -> {
            store.quotas()
                    .upsertOverride(
                            c, orgId, store.quotas().findOverride(c, orgId).with(change));
            return null;
        });
        return get(orgId);
    }

    /**
     * Checks that {@code delta} fits the org's limits given current usage; call inside
     * {@code writeLockingOrg} before inserting the row that consumes it.
     *
     * @throws ServiceException 429 quota_exceeded naming the resource, limit and usage
     */
    public void reserve(Connection c, String orgId, QuotaValues delta) throws SQLException {
        QuotaValues limits = limits(c, orgId);
        QuotaValues usage = store.quotas().usage(c, orgId);
        check("vcpu", limits.vcpu(), usage.vcpu(), delta.vcpu());
        check("memoryMiB", limits.memoryMiB(), usage.memoryMiB(), delta.memoryMiB());
        check("diskGiB", limits.diskGiB(), usage.diskGiB(), delta.diskGiB());
        check("snapshotCount", limits.snapshotCount(), usage.snapshotCount(), delta.snapshotCount());
    }

    private static void check(String resource, long limit, long used, long want) {
        if (want > 0 && used + want > limit) {
            throw new ServiceException(
                    ErrorKind.QUOTA_EXCEEDED,
                    "quota exceeded for " + resource + ": limit " + limit + ", in use " + used + ", requested " + want);
        }
    }

    private QuotaValues limits(Connection c, String orgId) throws SQLException {
        return store.quotas().findOverride(c, orgId).over(defaults);
    }

    /**
     * The wire OrgQuotaUsage.
     *
     * @param orgId  the org
     * @param limits its limits
     * @param usage  what it holds now
     */
    public record OrgQuotaUsage(String orgId, QuotaValues limits, QuotaValues usage) {}
}
