package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import java.time.Instant;
import java.util.Map;

/**
 * A snapshot of a VM (memory, device state and disk) that new VMs can be restored from.
 *
 * @param id the snapshot's id
 * @param name its name
 * @param orgId the owning organisation
 * @param vmId the VM it was taken from
 * @param status {@code creating}, {@code ready} or {@code error}; unknown values tolerated
 * @param createdAt creation time
 * @param firewall the firewall captured from the VM, or {@code null}
 * @param metadata user metadata; empty when none
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Snapshot(
        String id,
        String name,
        String orgId,
        String vmId,
        SnapshotStatus status,
        Instant createdAt,
        FirewallPolicy firewall,
        Map<String, String> metadata) {

    /** Copies the metadata so the record stays immutable. */
    public Snapshot {
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }
}
