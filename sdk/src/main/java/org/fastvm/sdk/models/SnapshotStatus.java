package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonCreator;
import java.util.List;

/**
 * A snapshot's status: {@code creating}, {@code ready} or {@code error}. Open like
 * {@link VMStatus}: unknown values are kept in {@link #asString()}.
 */
public final class SnapshotStatus extends OpenValue {
    /** Being written; not yet restorable. */
    public static final SnapshotStatus CREATING = new SnapshotStatus("creating");
    /** Restorable. */
    public static final SnapshotStatus READY = new SnapshotStatus("ready");
    /** Failed; a terminal failure while waiting for readiness. */
    public static final SnapshotStatus ERROR = new SnapshotStatus("error");

    /** The statuses this SDK knows, plus {@link #UNKNOWN}. */
    public enum Known {
        /** See {@link SnapshotStatus#CREATING}. */
        CREATING,
        /** See {@link SnapshotStatus#READY}. */
        READY,
        /** See {@link SnapshotStatus#ERROR}. */
        ERROR,
        /** A value this SDK version does not know. */
        UNKNOWN
    }

    private SnapshotStatus(String value) {
        super(value);
    }

    /**
     * The status for a wire value; unknown values are accepted.
     *
     * @param value the wire value
     * @return the status
     */
    @JsonCreator
    public static SnapshotStatus of(String value) {
        return lookup(value, "status", List.of(CREATING, READY, ERROR), SnapshotStatus::new);
    }

    /**
     * The known status, or {@link Known#UNKNOWN}.
     *
     * @return the enum constant
     */
    public Known known() {
        return knownAs(Known.class, Known.UNKNOWN);
    }
}
