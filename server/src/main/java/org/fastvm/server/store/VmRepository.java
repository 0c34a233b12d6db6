package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.fastvm.server.model.FirewallPolicy;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.Vm;
import org.fastvm.server.model.VmStatus;

/** VMs table. Status changes are compare-and-set so racing transitions cannot both win. */
public final class VmRepository {
    /**
     * The SQL condition under which a VM row's disk counts against quota: while its status holds
     * quota at all, and in {@code error} while its files are kept.
     */
    static final String DISK_COUNTS = "(status IN (" + statuses(VmStatus::holdsQuota) + ") OR (status = '"
            + VmStatus.ERROR.wire() + "' AND disk_kept = 1))";

    /** {@return the wire names of the statuses that pass {@code p}, quoted for an SQL IN list} */
    static String statuses(java.util.function.Predicate<VmStatus> p) {
        return java.util.Arrays.stream(VmStatus.values())
                .filter(p)
                .map(s -> "'" + s.wire() + "'")
                .collect(java.util.stream.Collectors.joining(", "));
    }

    /** Inserts a new VM row. */
    public void insert(Connection c, Vm vm) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("INSERT INTO vms (id, org_id, name, machine_name, cpu, memory_mib, "
                        + "disk_gib, status, created_at, source_name, source_snapshot_id, firewall, metadata, deleted_at, error_message) "
                        + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, vm.id());
            ps.setString(2, vm.orgId());
            ps.setString(3, vm.name());
            ps.setString(4, vm.machineName());
            ps.setInt(5, vm.cpu());
            ps.setInt(6, vm.memoryMiB());
            ps.setInt(7, vm.diskGiB());
            ps.setString(8, vm.status().wire());
            Rows.setInstant(ps, 9, vm.createdAt());
            ps.setString(10, vm.sourceName());
            ps.setString(11, vm.sourceSnapshotId());
            ps.setString(12, ModelJson.write(ModelJson.firewall(vm.firewall())));
            ps.setString(13, ModelJson.write(ModelJson.metadata(vm.metadata())));
            Rows.setInstant(ps, 14, vm.deletedAt());
            ps.setString(15, vm.errorMessage());
            ps.executeUpdate();
        }
    }

    /** {@return the row with this id, whatever its org or status} */
    public Optional<Vm> find(Connection c, String id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM vms WHERE id = ?")) {
            ps.setString(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(map(rs)) : Optional.empty();
            }
        }
    }

    /** {@return the org's VMs that are not deleted, oldest first, optionally only one status} */
    public List<Vm> listLive(Connection c, String orgId, VmStatus status) throws SQLException {
        String sql = "SELECT * FROM vms WHERE org_id = ? AND status <> ?" + (status != null ? " AND status = ?" : "")
                + " ORDER BY created_at, id";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, orgId);
            ps.setString(2, VmStatus.DELETED.wire());
            if (status != null) ps.setString(3, status.wire());
            return mapAll(ps);
        }
    }

    /** {@return every VM (all orgs) in one of these statuses; for reconciliation on start} */
    public List<Vm> listByStatus(Connection c, List<VmStatus> statuses) throws SQLException {
        List<Vm> out = new ArrayList<>();
        for (VmStatus s : statuses) {
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT * FROM vms WHERE status = ? ORDER BY created_at, id")) {
                ps.setString(1, s.wire());
                out.addAll(mapAll(ps));
            }
        }
        return out;
    }

    /** {@return the number of VMs in each status (for metrics), deleted excluded} */
    public Map<VmStatus, Long> countByStatus(Connection c) throws SQLException {
        Map<VmStatus, Long> out = new java.util.EnumMap<>(VmStatus.class);
        try (PreparedStatement ps =
                c.prepareStatement("SELECT status, COUNT(*) FROM vms WHERE status <> ? GROUP BY status")) {
            ps.setString(1, VmStatus.DELETED.wire());
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    VmStatus s = VmStatus.fromWire(rs.getString(1));
                    if (s != null) out.put(s, rs.getLong(2));
                }
            }
        }
        return out;
    }

    /**
     * Moves the VM from {@code from} to {@code to}, recording {@code errorMessage} (may be null).
     *
     * @return true if the row was in {@code from} and changed
     */
    public boolean transition(Connection c, String id, VmStatus from, VmStatus to, String errorMessage)
            throws SQLException {
        if (to == VmStatus.ERROR)
            throw new IllegalArgumentException(
                    "to: a VM turns error through fail(), which says whether its files stay");
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE vms SET status = ?, error_message = COALESCE(?, error_message) WHERE id = ? AND status = ?")) {
            ps.setString(1, to.wire());
            ps.setString(2, errorMessage);
            ps.setString(3, id);
            ps.setString(4, from.wire());
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * Turns the VM {@code error} if it is {@code from}.
     *
     * @param filesKept whether its files (disk layers, RAM) stay on the host until it is deleted:
     *                  then its disk keeps counting against quota; without files it holds nothing
     * @return true if the row was in {@code from} and changed
     */
    public boolean fail(Connection c, String id, VmStatus from, String errorMessage, boolean filesKept)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE vms SET status = ?, error_message = ?, disk_kept = ? WHERE id = ? AND status = ?")) {
            ps.setString(1, VmStatus.ERROR.wire());
            ps.setString(2, errorMessage);
            ps.setInt(3, filesKept ? 1 : 0);
            ps.setString(4, id);
            ps.setString(5, from.wire());
            return ps.executeUpdate() == 1;
        }
    }

    /** {@return the ids of every VM whose disk counts against its org's quota (the rule of {@link #DISK_COUNTS})} */
    public java.util.Set<String> diskHolding(Connection c) throws SQLException {
        java.util.Set<String> ids = new java.util.HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM vms WHERE " + DISK_COUNTS);
                java.sql.ResultSet rs = ps.executeQuery()) {
            while (rs.next()) ids.add(rs.getString(1));
        }
        return ids;
    }

    /** Marks the VM deleted at {@code at}; @return true if it was {@code from} */
    public boolean markDeleted(Connection c, String id, VmStatus from, Instant at) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("UPDATE vms SET status = ?, deleted_at = ? WHERE id = ? AND status = ?")) {
            ps.setString(1, VmStatus.DELETED.wire());
            Rows.setInstant(ps, 2, at);
            ps.setString(3, id);
            ps.setString(4, from.wire());
            return ps.executeUpdate() == 1;
        }
    }

    /** Sets name and/or metadata (null = unchanged). */
    public void update(Connection c, String id, String name, Map<String, String> metadata) throws SQLException {
        if (name != null) {
            try (PreparedStatement ps = c.prepareStatement("UPDATE vms SET name = ? WHERE id = ?")) {
                ps.setString(1, name);
                ps.setString(2, id);
                ps.executeUpdate();
            }
        }
        if (metadata != null) {
            try (PreparedStatement ps = c.prepareStatement("UPDATE vms SET metadata = ? WHERE id = ?")) {
                ps.setString(1, ModelJson.write(ModelJson.metadata(metadata)));
                ps.setString(2, id);
                ps.executeUpdate();
            }
        }
    }

    /** Replaces the firewall policy. */
    public void updateFirewall(Connection c, String id, FirewallPolicy policy) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE vms SET firewall = ? WHERE id = ?")) {
            ps.setString(1, ModelJson.write(ModelJson.firewall(policy)));
            ps.setString(2, id);
            ps.executeUpdate();
        }
    }

    private static List<Vm> mapAll(PreparedStatement ps) throws SQLException {
        List<Vm> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) out.add(map(rs));
        }
        return out;
    }

    private static Vm map(ResultSet rs) throws SQLException {
        return new Vm(
                rs.getString("id"),
                rs.getString("org_id"),
                rs.getString("name"),
                rs.getString("machine_name"),
                rs.getInt("cpu"),
                rs.getInt("memory_mib"),
                rs.getInt("disk_gib"),
                VmStatus.fromWire(rs.getString("status")),
                Rows.instant(rs, "created_at"),
                rs.getString("source_name"),
                rs.getString("source_snapshot_id"),
                ModelJson.firewallFromStored(rs.getString("firewall")),
                ModelJson.metadataFromStored(rs.getString("metadata")),
                Rows.instant(rs, "deleted_at"),
                rs.getString("error_message"));
    }
}
