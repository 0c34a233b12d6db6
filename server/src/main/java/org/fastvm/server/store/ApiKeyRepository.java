package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.fastvm.server.model.ApiKey;

/** API keys table: hashes only. */
public final class ApiKeyRepository {
    /** Inserts a key by its hash. */
    public void insert(Connection c, ApiKey key, String keyHash) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO api_keys (id, org_id, prefix, key_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)")) {
            ps.setString(1, key.id());
            ps.setString(2, key.orgId());
            ps.setString(3, key.prefix());
            ps.setString(4, keyHash);
            Rows.setInstant(ps, 5, key.createdAt());
            ps.executeUpdate();
        }
    }

    /** {@return the unrevoked key with this hash} */
    public Optional<ApiKey> findActiveByHash(Connection c, String keyHash) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")) {
            ps.setString(1, keyHash);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(map(rs)) : Optional.empty();
            }
        }
    }

    /** {@return every key (revoked too), oldest first; {@code orgId} null = all orgs} */
    public List<ApiKey> list(Connection c, String orgId) throws SQLException {
        String sql = orgId == null
                ? "SELECT * FROM api_keys ORDER BY created_at, id"
                : "SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at, id";
        List<ApiKey> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            if (orgId != null) ps.setString(1, orgId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) out.add(map(rs));
            }
        }
        return out;
    }

    /** Revokes a key; @return true if a valid key with this id existed */
    public boolean revoke(Connection c, String id, Instant at) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")) {
            Rows.setInstant(ps, 1, at);
            ps.setString(2, id);
            return ps.executeUpdate() == 1;
        }
    }

    private static ApiKey map(ResultSet rs) throws SQLException {
        return new ApiKey(
                rs.getString("id"),
                rs.getString("org_id"),
                rs.getString("prefix"),
                Rows.instant(rs, "created_at"),
                Rows.instant(rs, "revoked_at"));
    }
}
