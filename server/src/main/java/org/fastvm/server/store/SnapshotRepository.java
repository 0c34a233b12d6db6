package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;

/** Snapshots table. */
public final class SnapshotRepository {
    /** Inserts a new snapshot row. */
    public void insert(Connection c, Snapshot s) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("INSERT INTO snapshots (id, org_id, vm_id, name, status, machine_name, "
                        + "cpu, memory_mib, disk_gib, firewall, metadata, created_at, deleted_at, error_message) "
                        + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, s.id());
            ps.setString(2, s.orgId());
            ps.setString(3, s.vmId());
            ps.setString(4, s.name());
            ps.setString(5, s.status().wire());
            ps.setString(6, s.machineName());
            ps.setInt(7, s.cpu());
            ps.setInt(8, s.memoryMiB());
            ps.setInt(9, s.diskGiB());
            ps.setString(10, ModelJson.write(ModelJson.firewall(s.firewall())));
            ps.setString(11, ModelJson.write(ModelJson.metadata(s.metadata())));
            Rows.setInstant(ps, 12, s.createdAt());
            Rows.setInstant(ps, 13, s.deletedAt());
            ps.setString(14, s.errorMessage());
            ps.executeUpdate();
        }
    }

    /** {@return the row with this id, whatever its org or state} */
    public Optional<Snapshot> find(Connection c, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM snapshots WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(map(rs)) : Optional.empty();
            }
        }
    }

    /** {@return the org's snapshots that are not deleted, oldest first} */
    public List<Snapshot> listLive(Connection c, String orgId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT * FROM snapshots WHERE org_id = ? AND deleted_at IS NULL ORDER BY created_at, id")) {
            ps.setString(1, orgId);
            return mapAll(ps);
        }
    }

    /** {@return every undeleted snapshot (all orgs) in this status; for reconciliation on start} */
    public List<Snapshot> listByStatus(Connection c, SnapshotStatus status) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT * FROM snapshots WHERE status = ? AND deleted_at IS NULL ORDER BY created_at, id")) {
            ps.setString(1, status.wire());
            return mapAll(ps);
        }
    }

    /** Moves the snapshot from {@code from} to {@code to}; @return true if it changed */
    public boolean transition(Connection c, String id, SnapshotStatus from, SnapshotStatus to, String errorMessage)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE snapshots SET status = ?, error_message = COALESCE(?, error_message) WHERE id = ? AND status = ?")) {
            ps.setString(1, to.wire());
            ps.setString(2, errorMessage);
            ps.setString(3, id);
            ps.setString(4, from.wire());
            return ps.executeUpdate() == 1;
        }
    }

    /** Renames the snapshot. */
    public void rename(Connection c, String id, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE snapshots SET name = ? WHERE id = ?")) {
            ps.setString(1, name);
            ps.setString(2, id);
            ps.executeUpdate();
        }
    }

    /** Marks the snapshot deleted; @return true if it was not deleted before */
    public boolean markDeleted(Connection c, String id, Instant at) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("UPDATE snapshots SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")) {
            Rows.setInstant(ps, 1, at);
            ps.setString(2, id);
            return ps.executeUpdate() == 1;
        }
    }

    private static List<Snapshot> mapAll(PreparedStatement ps) throws SQLException {
        List<Snapshot> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) out.add(map(rs));
        }
        return out;
    }

    private static Snapshot map(ResultSet rs) throws SQLException {
        return new Snapshot(
                rs.getString("id"),
                rs.getString("org_id"),
                rs.getString("vm_id"),
                rs.getString("name"),
                SnapshotStatus.fromWire(rs.getString("status")),
                rs.getString("machine_name"),
                rs.getInt("cpu"),
                rs.getInt("memory_mib"),
                rs.getInt("disk_gib"),
                ModelJson.firewallFromStored(rs.getString("firewall")),
                ModelJson.metadataFromStored(rs.getString("metadata")),
                Rows.instant(rs, "created_at"),
                Rows.instant(rs, "deleted_at"),
                rs.getString("error_message"));
    }
}
