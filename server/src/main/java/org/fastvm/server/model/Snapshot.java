package org.fastvm.server.model;

import java.time.Instant;
import java.util.Map;

/**
 * A snapshot row; it outlives its source VM and remembers the machine shape it restores to.
 *
 * @param id           UUID
 * @param orgId        owning org
 * @param vmId         the VM it was taken from
 * @param name         normalised display name
 * @param status       creating, ready or error
 * @param machineName  source machine type
 * @param cpu          source vCPUs
 * @param memoryMiB    source memory
 * @param diskGiB      source disk size
 * @param firewall     the source VM's policy when the snapshot was taken
 * @param metadata     user metadata
 * @param createdAt    creation time
 * @param deletedAt    deletion time, or null
 * @param errorMessage why it is in error, or null
 */
public record Snapshot(
        String id,
        String orgId,
        String vmId,
        String name,
        SnapshotStatus status,
        String machineName,
        int cpu,
        int memoryMiB,
        int diskGiB,
        FirewallPolicy firewall,
        Map<String, String> metadata,
        Instant createdAt,
        Instant deletedAt,
        String errorMessage) {
    public Snapshot {
        metadata = Map.copyOf(metadata);
    }
}
