package org.fastvm.server.model;

import java.time.Instant;

/**
 * A tenant: owns keys, VMs, snapshots and a quota.
 *
 * @param id        UUID
 * @param name      unique name
 * @param createdAt creation time
 */
public record Org(String id, String name, Instant createdAt) {}
