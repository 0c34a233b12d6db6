package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonCreator;
import java.util.List;

/**
 * A firewall mode: {@code open} (all inbound allowed) or {@code restricted} (inbound denied
 * except the rules). Open like {@link VMStatus}: unknown values are kept verbatim.
 */
public final class FirewallMode extends OpenValue {
    /** All public inbound traffic allowed. */
    public static final FirewallMode OPEN = new FirewallMode("open");
    /** Public inbound traffic denied except the ingress rules. */
    public static final FirewallMode RESTRICTED = new FirewallMode("restricted");

    private FirewallMode(String value) {
        super(value);
    }

    /**
     * The mode for a wire value; unknown values are accepted.
     *
     * @param value the wire value
     * @return the mode
     */
    @JsonCreator
    public static FirewallMode of(String value) {
        return lookup(value, "mode", List.of(OPEN, RESTRICTED), FirewallMode::new);
    }
}
