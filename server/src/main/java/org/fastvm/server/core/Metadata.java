package org.fastvm.server.core;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.fastvm.server.model.ModelJson;

/** Validates user metadata against the contract's limits. */
public final class Metadata {
    static final int MAX_KEYS = 256;
    static final int MAX_KEY_BYTES = 256;
    static final int MAX_VALUE_BYTES = 4096;
    static final int MAX_JSON_BYTES = 65536;

    private Metadata() {}

    /** {@return the metadata object as a map; 400 naming the offending key when a limit is broken} */
    public static Map<String, String> parse(String field, JsonNode node) {
        if (node == null || !node.isObject())
            throw ServiceException.invalid(field, "must be an object of string values");
        if (node.size() > MAX_KEYS)
            throw ServiceException.invalid(field, "at most " + MAX_KEYS + " keys, got " + node.size());
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String k = e.getKey();
            int kb = k.getBytes(StandardCharsets.UTF_8).length;
            if (kb < 1 || kb > MAX_KEY_BYTES)
                throw ServiceException.invalid(field, "key must be 1-" + MAX_KEY_BYTES + " bytes");
            if (!e.getValue().isTextual()) throw ServiceException.invalid(field + "." + k, "must be a string");
            String v = e.getValue().asText();
            if (v.getBytes(StandardCharsets.UTF_8).length > MAX_VALUE_BYTES) {
                throw ServiceException.invalid(field + "." + k, "value longer than " + MAX_VALUE_BYTES + " bytes");
            }
            out.put(k, v);
        }
        int json = ModelJson.write(ModelJson.metadata(out)).getBytes(StandardCharsets.UTF_8).length;
        if (json > MAX_JSON_BYTES)
            throw ServiceException.invalid(field, "larger than " + MAX_JSON_BYTES + " bytes as JSON");
        return out;
    }
}
