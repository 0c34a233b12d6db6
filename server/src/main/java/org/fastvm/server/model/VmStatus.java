package org.fastvm.server.model;

/** Lifecycle of a VM row; {@code deleted} is internal (never listed, never returned). */
public enum VmStatus {
    PROVISIONING,
    RUNNING,
    STOPPED,
    DELETING,
    ERROR,
    DELETED;

    /** {@return the wire spelling} */
    public String wire() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** {@return the status for a wire spelling, or null when there is none} */
    public static VmStatus fromWire(String s) {
        for (VmStatus v : values()) if (v.wire().equals(s)) return v;
        return null;
    }

    /** {@return true when a VM in this status holds quota (its resources are not yet released)} */
    public boolean holdsQuota() {
        return this == PROVISIONING || this == RUNNING || this == STOPPED || this == DELETING;
    }
}
