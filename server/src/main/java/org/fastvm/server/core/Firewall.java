package org.fastvm.server.core;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import org.fastvm.server.model.FirewallPolicy;
import org.fastvm.server.model.FirewallRule;

/**
 * Parses and validates firewall policies from request JSON. Policies are stored and returned;
 * until VMs get a public network nothing enforces them (see /healthz detail).
 */
public final class Firewall {
    static final int MAX_RULES = 256;
    static final int MAX_CIDRS_PER_RULE = 64;
    static final int MAX_DESCRIPTION = 256;
    private static final Pattern IPV6_LITERAL = Pattern.compile("[0-9A-Fa-f:][0-9A-Fa-f:.]*");

    private Firewall() {}

    /** Parses a whole policy (its "mode" required, its "ingress" by default empty). */
    public static FirewallPolicy parse(String field, JsonNode node) {
        if (node == null || !node.isObject())
            throw ServiceException.invalid(field, "must be an object {mode, ingress?}");
        String mode = mode(field + ".mode", node.get("mode"));
        if (mode == null) throw ServiceException.invalid(field + ".mode", "required (open or restricted)");
        List<FirewallRule> rules =
                node.hasNonNull("ingress") ? rules(field + ".ingress", node.get("ingress")) : List.of();
        return new FirewallPolicy(mode, rules);
    }

    /** Applies a patch ({@code mode?}, {@code ingress?}; omitted = unchanged) to {@code current}. */
    public static FirewallPolicy patch(String field, FirewallPolicy current, JsonNode node) {
        if (node == null || !node.isObject())
            throw ServiceException.invalid(field, "must be an object {mode?, ingress?}");
        String mode = mode(field + ".mode", node.get("mode"));
        List<FirewallRule> rules =
                node.hasNonNull("ingress") ? rules(field + ".ingress", node.get("ingress")) : current.ingress();
        return new FirewallPolicy(mode != null ? mode : current.mode(), rules);
    }

    private static String mode(String field, JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (!n.isTextual() || !(n.asText().equals("open") || n.asText().equals("restricted"))) {
            throw ServiceException.invalid(field, "must be \"open\" or \"restricted\"");
        }
        return n.asText();
    }

    private static List<FirewallRule> rules(String field, JsonNode n) {
        if (!n.isArray()) throw ServiceException.invalid(field, "must be an array of rules");
        if (n.size() > MAX_RULES) throw ServiceException.invalid(field, "at most " + MAX_RULES + " rules");
        List<FirewallRule> out = new ArrayList<>();
        for (int i = 0; i < n.size(); i++) out.add(rule(field + "[" + i + "]", n.get(i)));
        return out;
    }

    private static FirewallRule rule(String field, JsonNode r) {
        if (!r.isObject()) throw ServiceException.invalid(field, "must be an object");
        JsonNode p = r.get("protocol");
        if (p == null || !p.isTextual())
            throw ServiceException.invalid(field + ".protocol", "required: \"tcp\" or \"udp\"");
        String protocol = p.asText().toLowerCase(Locale.ROOT);
        if (!protocol.equals("tcp") && !protocol.equals("udp")) {
            throw ServiceException.invalid(
                    field + ".protocol", "must be \"tcp\" or \"udp\", got \"" + p.asText() + "\"");
        }
        int start = port(field + ".portStart", r.get("portStart"));
        int end = r.hasNonNull("portEnd") ? port(field + ".portEnd", r.get("portEnd")) : start;
        if (end < start)
            throw ServiceException.invalid(field + ".portEnd", "must be ≥ portStart (" + start + "), got " + end);
        List<String> cidrs = new ArrayList<>();
        JsonNode c = r.get("sourceCidrs");
        if (c != null && !c.isNull()) {
            if (!c.isArray()) throw ServiceException.invalid(field + ".sourceCidrs", "must be an array of IPv6 CIDRs");
            if (c.size() > MAX_CIDRS_PER_RULE)
                throw ServiceException.invalid(field + ".sourceCidrs", "at most " + MAX_CIDRS_PER_RULE);
            for (int i = 0; i < c.size(); i++) cidrs.add(ipv6Cidr(field + ".sourceCidrs[" + i + "]", c.get(i)));
        }
        String description = null;
        JsonNode d = r.get("description");
        if (d != null && !d.isNull()) {
            if (!d.isTextual()) throw ServiceException.invalid(field + ".description", "must be a string");
            if (d.asText().length() > MAX_DESCRIPTION) {
                throw ServiceException.invalid(field + ".description", "at most " + MAX_DESCRIPTION + " characters");
            }
            description = d.asText();
        }
        return new FirewallRule(protocol, start, end, cidrs, description);
    }

    private static int port(String field, JsonNode n) {
        if (n == null || n.isNull()) throw ServiceException.invalid(field, "required (1-65535)");
        if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > 65535) {
            throw ServiceException.invalid(field, "must be an integer 1-65535, got " + n);
        }
        return n.asInt();
    }

    /** {@return the CIDR as given when it is an IPv6 address with an optional /0-128 prefix} */
    static String ipv6Cidr(String field, JsonNode n) {
        if (n == null || !n.isTextual()) throw ServiceException.invalid(field, "must be an IPv6 CIDR string");
        String s = n.asText().strip();
        int slash = s.indexOf('/');
        String addr = slash < 0 ? s : s.substring(0, slash);
        if (slash >= 0) {
            String prefix = s.substring(slash + 1);
            if (!prefix.matches("\\d{1,3}") || Integer.parseInt(prefix) > 128) {
                throw ServiceException.invalid(field, "prefix length must be 0-128 in \"" + s + "\"");
            }
        }
        if (!addr.contains(":")) {
            throw ServiceException.invalid(
                    field, "\"" + s + "\" is not IPv6; only IPv6 CIDRs are accepted (public ingress is IPv6-only)");
        }
        // Only hex, ':' and '.' reach InetAddress, so it parses a literal and never resolves a name.
        if (!IPV6_LITERAL.matcher(addr).matches())
            throw ServiceException.invalid(field, "not an IPv6 address: \"" + s + "\"");
        try {
            // Java turns an IPv4-mapped literal (::ffff:a.b.c.d) into an IPv4 address: that is IPv4 traffic
            if (!(InetAddress.getByName(addr) instanceof java.net.Inet6Address)) {
                throw ServiceException.invalid(
                        field,
                        "\"" + s + "\" is an IPv4-mapped address, which is IPv4; only IPv6" + " CIDRs are accepted");
            }
        } catch (UnknownHostException e) {
            throw ServiceException.invalid(field, "not an IPv6 address: \"" + s + "\"");
        }
        return s;
    }
}
