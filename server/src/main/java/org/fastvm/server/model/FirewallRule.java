package org.fastvm.server.model;

import java.util.List;

/**
 * One ingress rule of a restricted firewall policy (validated by core's Firewall parser).
 *
 * @param protocol    "tcp" or "udp"
 * @param portStart   first port, 1..65535
 * @param portEnd     last port (inclusive), ≥ portStart
 * @param sourceCidrs IPv6 CIDRs allowed; empty means any source
 * @param description free text, or null
 */
public record FirewallRule(String protocol, int portStart, int portEnd, List<String> sourceCidrs, String description) {
    public FirewallRule {
        sourceCidrs = List.copyOf(sourceCidrs);
    }
}
