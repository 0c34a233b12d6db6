package org.fastvm.server.core;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.fastvm.server.model.ApiKey;
import org.fastvm.server.store.Store;

/**
 * API keys: {@code fvm_} + 32 random bytes (base64url); only the SHA-256 hash is stored.
 * Successful lookups are cached briefly so a hot client does not hit the database per request;
 * a revoked key stops working within {@link #CACHE_TTL}.
 */
public final class ApiKeys {
    /** Every key starts with this, so it is recognisable in configs and logs. */
    public static final String PREFIX = "fvm_";
    /** How long a successful lookup is trusted. */
    public static final Duration CACHE_TTL = Duration.ofSeconds(5);

    private static final int DISPLAY_PREFIX = 12;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Store store;
    private final ConcurrentHashMap<String, Cached> cache = new ConcurrentHashMap<>();

    private record Cached(String orgId, long expiresAtNanos) {}

    /**
     * A key just created: {@code key} is the secret, shown once and never stored.
     *
     * @param record the stored record
     * @param key    the secret
     */
    public record CreatedKey(ApiKey record, String key) {}

    public ApiKeys(Store store) {
        this.store = store;
    }

    /** Creates a key for an existing org. */
    public CreatedKey create(String orgId) {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        String key = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
        ApiKey rec = new ApiKey(
                UUID.randomUUID().toString(),
                orgId,
                key.substring(0, DISPLAY_PREFIX),
                Instant.now().truncatedTo(ChronoUnit.MILLIS),
                null);
        store.db().write(c -> {
            store.apiKeys().insert(c, rec, hash(key));
            return null;
        });
        return new CreatedKey(rec, key);
    }

    /** {@return the org a presented key belongs to; empty for missing, unknown or revoked keys} */
    public Optional<String> authenticate(String presented) {
        if (presented == null || presented.isBlank() || presented.length() > 512) return Optional.empty();
        String h = hash(presented.strip());
        Cached hit = cache.get(h);
        if (hit != null && hit.expiresAtNanos - System.nanoTime() > 0) return Optional.of(hit.orgId);
        Optional<String> org =
                store.db().read(c -> store.apiKeys().findActiveByHash(c, h)).map(ApiKey::orgId);
        org.ifPresentOrElse(
                o -> cache.put(h, new Cached(o, System.nanoTime() + CACHE_TTL.toNanos())), () -> cache.remove(h));
        return org;
    }

    /** {@return the keys (never the secrets) of one org, or of all orgs when {@code orgId} is null} */
    public List<ApiKey> list(String orgId) {
        return store.db().read(c -> store.apiKeys().list(c, orgId));
    }

    /** Revokes the key with this id; 404 when no valid key has it. */
    public void revoke(String keyId) {
        boolean done = store.db()
                .write(c -> store.apiKeys().revoke(c, keyId, Instant.now().truncatedTo(ChronoUnit.MILLIS)));
        if (!done) throw ServiceException.notFound("api key", keyId);
        cache.clear();
    }

    /** {@return the SHA-256 of the key, hex} */
    static String hash(String key) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }
}
