package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.VmStatus;

/**
 * Quota overrides, and usage computed from the rows themselves (never a counter that can
 * drift): VMs count while their status holds quota, and their disk also in {@code error} while
 * their files are kept (until deleted); snapshots while creating or ready.
 */
public final class QuotaRepository {
    private static final String HOLDING_VM_STATUSES = VmRepository.statuses(VmStatus::holdsQuota);

    /** {@return the org's override (all-null when none is stored)} */
    public QuotaOverride findOverride(Connection c, String orgId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM quotas WHERE org_id = ?")) {
            ps.setString(1, orgId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) return QuotaOverride.NONE;
                return new QuotaOverride(
                        Rows.nullableLong(rs, "vcpu"),
                        Rows.nullableLong(rs, "memory_mib"),
                        Rows.nullableLong(rs, "disk_gib"),
                        Rows.nullableLong(rs, "snapshot_count"));
            }
        }
    }

    /** Stores the org's override, replacing any previous one. */
    public void upsertOverride(Connection c, String orgId, QuotaOverride o) throws SQLException {
        try (PreparedStatement del = c.prepareStatement("DELETE FROM quotas WHERE org_id = ?")) {
            del.setString(1, orgId);
            del.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO quotas (org_id, vcpu, memory_mib, disk_gib, snapshot_count) VALUES (?, ?, ?, ?, ?)")) {
            ps.setString(1, orgId);
            Rows.setNullableLong(ps, 2, o.vcpu());
            Rows.setNullableLong(ps, 3, o.memoryMiB());
            Rows.setNullableLong(ps, 4, o.diskGiB());
            Rows.setNullableLong(ps, 5, o.snapshotCount());
            ps.executeUpdate();
        }
    }

    /** {@return what the org's live VMs and snapshots hold right now} */
    public QuotaValues usage(Connection c, String orgId) throws SQLException {
        long cpu, mem, disk, snaps;
        try (PreparedStatement ps = c.prepareStatement("SELECT COALESCE(SUM(CASE WHEN status IN (" + HOLDING_VM_STATUSES
                + ") THEN cpu ELSE 0 END), 0), "
                + "COALESCE(SUM(CASE WHEN status IN (" + HOLDING_VM_STATUSES + ") THEN memory_mib ELSE 0 END), 0), "
                + "COALESCE(SUM(CASE WHEN " + VmRepository.DISK_COUNTS + " THEN disk_gib ELSE 0 END), 0) "
                + "FROM vms WHERE org_id = ?")) {
            ps.setString(1, orgId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                cpu = rs.getLong(1);
                mem = rs.getLong(2);
                disk = rs.getLong(3);
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT COUNT(*) FROM snapshots WHERE org_id = ? AND deleted_at IS NULL AND status IN (?, ?)")) {
            ps.setString(1, orgId);
            ps.setString(2, SnapshotStatus.CREATING.wire());
            ps.setString(3, SnapshotStatus.READY.wire());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                snaps = rs.getLong(1);
            }
        }
        return new QuotaValues(cpu, mem, disk, snaps);
    }
}
