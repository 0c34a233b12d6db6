package org.fastvm.server.model;

import java.time.Instant;
import java.util.Map;

/**
 * A VM row as the control plane knows it.
 *
 * @param id               UUID
 * @param orgId            owning org
 * @param name             normalised display name
 * @param machineName      machine type name, e.g. c1m2
 * @param cpu              vCPUs
 * @param memoryMiB        memory
 * @param diskGiB          disk size
 * @param status           lifecycle status
 * @param createdAt        creation time
 * @param sourceName       the snapshot name it was restored from, or null
 * @param sourceSnapshotId the snapshot id it was restored from, or null
 * @param firewall         ingress policy
 * @param metadata         user metadata
 * @param deletedAt        deletion time, or null
 * @param errorMessage     why the VM is in error, or null (internal; logged, not on the wire)
 */
public record Vm(
        String id,
        String orgId,
        String name,
        String machineName,
        int cpu,
        int memoryMiB,
        int diskGiB,
        VmStatus status,
        Instant createdAt,
        String sourceName,
        String sourceSnapshotId,
        FirewallPolicy firewall,
        Map<String, String> metadata,
        Instant deletedAt,
        String errorMessage) {
    public Vm {
        metadata = Map.copyOf(metadata);
    }
}
