package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.fastvm.server.model.Org;

/** Orgs table. */
public final class OrgRepository {
    /** Inserts an org. */
    public void insert(Connection c, Org org) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")) {
            ps.setString(1, org.id());
            ps.setString(2, org.name());
            Rows.setInstant(ps, 3, org.createdAt());
            ps.executeUpdate();
        }
    }

    /** {@return the org with this name} */
    public Optional<Org> findByName(Connection c, String name) throws SQLException {
        return one(c, "SELECT * FROM orgs WHERE name = ?", name);
    }

    /** {@return the org with this id} */
    public Optional<Org> findById(Connection c, String id) throws SQLException {
        return one(c, "SELECT * FROM orgs WHERE id = ?", id);
    }

    /** {@return every org, by name} */
    public List<Org> list(Connection c) throws SQLException {
        List<Org> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM orgs ORDER BY name");
                ResultSet rs = ps.executeQuery()) {
            while (rs.next()) out.add(map(rs));
        }
        return out;
    }

    /** {@return how many orgs exist} */
    public long count(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM orgs");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private Optional<Org> one(Connection c, String sql, String arg) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, arg);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(map(rs)) : Optional.empty();
            }
        }
    }

    private static Org map(ResultSet rs) throws SQLException {
        return new Org(rs.getString("id"), rs.getString("name"), Rows.instant(rs, "created_at"));
    }
}
