package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonCreator;
import java.util.List;

/**
 * A VM's status. The set is open: a server may send values this SDK does not know yet
 * (later API versions add {@code pausing}, {@code paused}, {@code resuming}); those are kept
 * verbatim in {@link #asString()} and reported as {@link Known#UNKNOWN} by {@link #known()}.
 */
public final class VMStatus extends OpenValue {
    /** Being created or restored; not yet usable. */
    public static final VMStatus PROVISIONING = new VMStatus("provisioning");
    /** Ready: commands can run. */
    public static final VMStatus RUNNING = new VMStatus("running");
    /** Stopped; a terminal failure while waiting for readiness. */
    public static final VMStatus STOPPED = new VMStatus("stopped");
    /** Being deleted; a terminal failure while waiting for readiness. */
    public static final VMStatus DELETING = new VMStatus("deleting");
    /** Failed; a terminal failure while waiting for readiness. */
    public static final VMStatus ERROR = new VMStatus("error");
    /** Being paused (API v0.5+). */
    public static final VMStatus PAUSING = new VMStatus("pausing");
    /** Paused (API v0.5+). */
    public static final VMStatus PAUSED = new VMStatus("paused");
    /** Being resumed (API v0.5+). */
    public static final VMStatus RESUMING = new VMStatus("resuming");

    /** The statuses this SDK knows, plus {@link #UNKNOWN} for anything else. */
    public enum Known {
        /** See {@link VMStatus#PROVISIONING}. */
        PROVISIONING,
        /** See {@link VMStatus#RUNNING}. */
        RUNNING,
        /** See {@link VMStatus#STOPPED}. */
        STOPPED,
        /** See {@link VMStatus#DELETING}. */
        DELETING,
        /** See {@link VMStatus#ERROR}. */
        ERROR,
        /** See {@link VMStatus#PAUSING}. */
        PAUSING,
        /** See {@link VMStatus#PAUSED}. */
        PAUSED,
        /** See {@link VMStatus#RESUMING}. */
        RESUMING,
        /** A value this SDK version does not know; read it with {@link VMStatus#asString()}. */
        UNKNOWN
    }

    private VMStatus(String value) {
        super(value);
    }

    /**
     * The status for a wire value; unknown values are accepted.
     *
     * @param value the wire value, e.g. {@code running}
     * @return the status
     */
    @JsonCreator
    public static VMStatus of(String value) {
        return lookup(
                value,
                "status",
                List.of(PROVISIONING, RUNNING, STOPPED, DELETING, ERROR, PAUSING, PAUSED, RESUMING),
                VMStatus::new);
    }

    /**
     * The known status, or {@link Known#UNKNOWN}.
     *
     * @return the enum constant for switch statements
     */
    public Known known() {
        return knownAs(Known.class, Known.UNKNOWN);
    }

    /**
     * Whether waiting for {@code running} can stop with a failure: {@code error},
     * {@code stopped} or {@code deleting}.
     *
     * @return true for a terminal failure status
     */
    public boolean isTerminalFailure() {
        Known k = known();
        return k == Known.ERROR || k == Known.STOPPED || k == Known.DELETING;
    }
}
