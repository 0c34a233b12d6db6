package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Arrays;
import java.util.List;

/**
 * One ingress rule of a {@code restricted} {@link FirewallPolicy}: allow {@code protocol}
 * traffic to ports {@code portStart..portEnd} (inclusive) from {@code sourceCidrs}.
 *
 * @param protocol {@code tcp} or {@code udp}
 * @param portStart first port, 1–65535
 * @param portEnd last port (inclusive), or {@code null} for just {@code portStart}
 * @param sourceCidrs IPv6 CIDRs allowed; empty means any source
 * @param description free text, or {@code null}
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record FirewallRule(
        String protocol, int portStart, Integer portEnd, List<String> sourceCidrs, String description) {

    /**
     * Validates ports and copies the list.
     *
     * @throws IllegalArgumentException naming the bad field
     */
    public FirewallRule {
        if (protocol == null || protocol.isEmpty()) {
            throw new IllegalArgumentException("firewall rule protocol must not be empty (tcp or udp)");
        }
        if (portStart < 1 || portStart > 65535) {
            throw new IllegalArgumentException("firewall rule portStart must be 1-65535, got " + portStart);
        }
        if (portEnd != null && (portEnd < portStart || portEnd > 65535)) {
            throw new IllegalArgumentException("firewall rule portEnd must be portStart-65535, got " + portEnd);
        }
        sourceCidrs = Copies.list(sourceCidrs, "firewall rule sourceCidrs");
    }

    /**
     * Allows TCP to one port from anywhere.
     *
     * @param port the port
     * @return the rule
     */
    public static FirewallRule tcp(int port) {
        return new FirewallRule("tcp", port, null, List.of(), null);
    }

    /**
     * Allows TCP to a port range from anywhere.
     *
     * @param portStart first port
     * @param portEnd last port (inclusive)
     * @return the rule
     */
    public static FirewallRule tcp(int portStart, int portEnd) {
        return new FirewallRule("tcp", portStart, portEnd, List.of(), null);
    }

    /**
     * Allows UDP to one port from anywhere.
     *
     * @param port the port
     * @return the rule
     */
    public static FirewallRule udp(int port) {
        return new FirewallRule("udp", port, null, List.of(), null);
    }

    /**
     * This rule limited to the given source networks.
     *
     * @param cidrs IPv6 CIDRs, e.g. {@code 2001:db8::/32}
     * @return a copy with {@code sourceCidrs} replaced
     */
    public FirewallRule withSourceCidrs(String... cidrs) {
        return new FirewallRule(protocol, portStart, portEnd, Arrays.asList(cidrs), description);
    }

    /**
     * This rule with a description.
     *
     * @param text the description
     * @return a copy with {@code description} replaced
     */
    public FirewallRule withDescription(String text) {
        return new FirewallRule(protocol, portStart, portEnd, sourceCidrs, text);
    }
}
