package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Arrays;
import java.util.List;

/**
 * A VM's public IPv6 ingress policy. {@code open} allows all inbound traffic;
 * {@code restricted} denies it except the {@code ingress} rules (none = all ports closed).
 * It never blocks the control path used for commands.
 *
 * @param mode {@link FirewallMode#OPEN} or {@link FirewallMode#RESTRICTED}
 * @param ingress the allow rules; empty for none
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record FirewallPolicy(FirewallMode mode, List<FirewallRule> ingress) {

    /**
     * Validates the mode and copies the list.
     *
     * @throws IllegalArgumentException when {@code mode} or a rule is null
     */
    public FirewallPolicy {
        if (mode == null) throw new IllegalArgumentException("firewall mode must not be null");
        ingress = Copies.list(ingress, "firewall ingress");
    }

    /**
     * All inbound traffic allowed.
     *
     * @return the open policy
     */
    public static FirewallPolicy open() {
        return new FirewallPolicy(FirewallMode.OPEN, List.of());
    }

    /**
     * Inbound traffic denied except the given rules.
     *
     * @param rules the allow rules (none = all public ports closed)
     * @return the restricted policy
     */
    public static FirewallPolicy restricted(FirewallRule... rules) {
        return new FirewallPolicy(FirewallMode.RESTRICTED, Arrays.asList(rules));
    }
}
