package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import org.fastvm.server.core.ServiceException;

/** Typed reads of optional request fields, each failing with a 400 that names the field. */
final class Bodies {
    private Bodies() {}

    /** {@return the string field, or null when absent or null} */
    static String optString(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return null;
        if (!n.isTextual()) throw ServiceException.invalid(field, "must be a string");
        return n.asText();
    }

    /** {@return the integer field, or null when absent or null} */
    static Integer optInt(JsonNode body, String field) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) return null;
        if (!n.isIntegralNumber() || !n.canConvertToInt())
            throw ServiceException.invalid(field, "must be an integer, got " + n);
        return n.asInt();
    }

    /** {@return the field's node when present and not null, else null} */
    static JsonNode opt(JsonNode body, String field) {
        JsonNode n = body.get(field);
        return n == null || n.isNull() ? null : n;
    }
}
