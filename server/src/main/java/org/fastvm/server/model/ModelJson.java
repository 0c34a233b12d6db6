package org.fastvm.server.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one JSON mapping of model values shared by the store (columns) and the API (wire):
 * firewall policies and metadata have the same shape in both places.
 */
public final class ModelJson {
    /** The shared mapper: unknown fields ignored, as the contract asks. */
    public static final ObjectMapper MAPPER =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private ModelJson() {}

    /** {@return the wire/stored shape of {@code p}: {mode, ingress:[...]}} */
    public static ObjectNode firewall(FirewallPolicy p) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("mode", p.mode());
        ArrayNode rules = n.putArray("ingress");
        for (FirewallRule r : p.ingress()) {
            ObjectNode rn = rules.addObject();
            rn.put("protocol", r.protocol());
            rn.put("portStart", r.portStart());
            rn.put("portEnd", r.portEnd());
            ArrayNode cidrs = rn.putArray("sourceCidrs");
            r.sourceCidrs().forEach(cidrs::add);
            if (r.description() != null) rn.put("description", r.description());
        }
        return n;
    }

    /** Reads a policy this class wrote (trusted input: the store's own column). */
    public static FirewallPolicy firewallFromStored(String json) {
        JsonNode n = read(json);
        List<FirewallRule> rules = new ArrayList<>();
        for (JsonNode r : n.path("ingress")) {
            List<String> cidrs = new ArrayList<>();
            r.path("sourceCidrs").forEach(c -> cidrs.add(c.asText()));
            rules.add(new FirewallRule(
                    r.path("protocol").asText(),
                    r.path("portStart").asInt(),
                    r.path("portEnd").asInt(),
                    cidrs,
                    r.hasNonNull("description") ? r.get("description").asText() : null));
        }
        return new FirewallPolicy(n.path("mode").asText(), rules);
    }

    /** {@return metadata as a JSON object} */
    public static ObjectNode metadata(Map<String, String> m) {
        ObjectNode n = MAPPER.createObjectNode();
        m.forEach(n::put);
        return n;
    }

    /** Reads metadata this class wrote (trusted input). */
    public static Map<String, String> metadataFromStored(String json) {
        Map<String, String> m = new LinkedHashMap<>();
        read(json).properties().forEach(e -> m.put(e.getKey(), e.getValue().asText()));
        return m;
    }

    /** {@return {@code node} as compact JSON text} */
    public static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise JSON", e);
        }
    }

    private static JsonNode read(String json) {
        try {
            return MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("stored JSON is corrupt: " + json, e);
        }
    }
}
