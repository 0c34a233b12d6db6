package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import java.util.Map;

/**
 * A virtual machine as the server last described it. Immutable: call
 * {@code client.get(vm)} for a fresh view.
 *
 * @param id the VM's id (UUID)
 * @param name its name
 * @param orgId the owning organisation
 * @param machineName the machine type, e.g. {@code c1m2}
 * @param cpu vCPUs
 * @param memoryMib memory in MiB (JSON name "memoryMiB")
 * @param diskGib disk size in GiB (JSON name "diskGiB")
 * @param status the status; unknown values are tolerated
 * @param createdAt creation time
 * @param sourceName the snapshot name it was restored from, or {@code null}/empty on fresh boot
 * @param publicIpv6 its public IPv6 address, or {@code null}
 * @param firewall its ingress policy, or {@code null} when the server sent none
 * @param deletedAt deletion time, or {@code null}
 * @param metadata user metadata; empty when none
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record VM(
        String id,
        String name,
        String orgId,
        String machineName,
        int cpu,
        @JsonProperty("memoryMiB") int memoryMib,
        @JsonProperty("diskGiB") int diskGib,
        VMStatus status,
        Instant createdAt,
        String sourceName,
        String publicIpv6,
        FirewallPolicy firewall,
        Instant deletedAt,
        Map<String, String> metadata) {

    /** Copies the metadata so the record stays immutable. */
    public VM {
        metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    }
}
