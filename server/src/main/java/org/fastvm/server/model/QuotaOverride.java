package org.fastvm.server.model;

/**
 * Per-org quota limits; a null field means "use the server default".
 *
 * @param vcpu          vCPU limit or null
 * @param memoryMiB     memory limit or null
 * @param diskGiB       disk limit or null
 * @param snapshotCount snapshot limit or null
 */
public record QuotaOverride(Long vcpu, Long memoryMiB, Long diskGiB, Long snapshotCount) {
    /** No override at all. */
    public static final QuotaOverride NONE = new QuotaOverride(null, null, null, null);

    /** {@return the effective limits: each override field, else the default's} */
    public QuotaValues over(QuotaValues defaults) {
        return new QuotaValues(
                vcpu != null ? vcpu : defaults.vcpu(),
                memoryMiB != null ? memoryMiB : defaults.memoryMiB(),
                diskGiB != null ? diskGiB : defaults.diskGiB(),
                snapshotCount != null ? snapshotCount : defaults.snapshotCount());
    }

    /** {@return this override with {@code o}'s non-null fields applied on top} */
    public QuotaOverride with(QuotaOverride o) {
        return new QuotaOverride(
                o.vcpu != null ? o.vcpu : vcpu,
                o.memoryMiB != null ? o.memoryMiB : memoryMiB,
                o.diskGiB != null ? o.diskGiB : diskGiB,
                o.snapshotCount != null ? o.snapshotCount : snapshotCount);
    }
}
