package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Amounts of the resources an organisation's quota counts.
 *
 * @param vcpu vCPUs
 * @param memoryMib memory in MiB (JSON name "memoryMiB")
 * @param diskGib disk in GiB (JSON name "diskGiB")
 * @param snapshotCount snapshots
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record QuotaValues(
        long vcpu,
        @JsonProperty("memoryMiB") long memoryMib,
        @JsonProperty("diskGiB") long diskGib,
        long snapshotCount) {}
