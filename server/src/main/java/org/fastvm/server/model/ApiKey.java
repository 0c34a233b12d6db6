package org.fastvm.server.model;

import java.time.Instant;

/**
 * A stored API key: only its hash and a display prefix are kept, never the key.
 *
 * @param id        UUID
 * @param orgId     owning org
 * @param prefix    the first characters of the key, for recognising it in lists
 * @param createdAt creation time
 * @param revokedAt revocation time, or null while valid
 */
public record ApiKey(String id, String orgId, String prefix, Instant createdAt, Instant revokedAt) {}
