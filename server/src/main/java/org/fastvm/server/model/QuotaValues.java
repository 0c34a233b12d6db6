package org.fastvm.server.model;

/**
 * One set of quota numbers, used for both limits and usage.
 *
 * @param vcpu          vCPUs
 * @param memoryMiB     memory in MiB
 * @param diskGiB       disk in GiB
 * @param snapshotCount snapshots
 */
public record QuotaValues(long vcpu, long memoryMiB, long diskGiB, long snapshotCount) {
    /** {@return these values plus {@code o}, field by field} */
    public QuotaValues plus(QuotaValues o) {
        return new QuotaValues(
                vcpu + o.vcpu, memoryMiB + o.memoryMiB, diskGiB + o.diskGiB, snapshotCount + o.snapshotCount);
    }
}
