package org.fastvm.server.model;

/** Lifecycle of a snapshot row: creating → ready | error. */
public enum SnapshotStatus {
    CREATING,
    READY,
    ERROR;

    /** {@return the wire spelling} */
    public String wire() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** {@return the status for a wire spelling, or null when there is none} */
    public static SnapshotStatus fromWire(String s) {
        for (SnapshotStatus v : values()) if (v.wire().equals(s)) return v;
        return null;
    }
}
