package org.fastvm.server.model;

import java.util.List;

/**
 * A VM's public-ingress policy (contract v1 shape).
 *
 * @param mode    "open" or "restricted"
 * @param ingress rules (meaningful for restricted), never null
 */
public record FirewallPolicy(String mode, List<FirewallRule> ingress) {
    /** The policy a VM gets when launch names none: restricted, no rules. */
    public static final FirewallPolicy DEFAULT = new FirewallPolicy("restricted", List.of());

    public FirewallPolicy {
        ingress = List.copyOf(ingress);
    }
}
