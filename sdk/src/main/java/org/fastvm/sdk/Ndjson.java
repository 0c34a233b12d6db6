package org.fastvm.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.models.ExecEvent;

/**
 * The one reader of the exec stream format: {@code {"t":"o"|"e","d":<base64>}} for output
 * and {@code {"t":"x","c"?,"to"?,"ms"}} for the exit ({@code c} omitted = 0, {@code to}
 * omitted = false).
 */
final class Ndjson {
    static final String MEDIA_TYPE = "application/x-ndjson";

    private Ndjson() {}

    /** Parses one line; returns null for blank lines and for event kinds this SDK does not know. */
    static ExecEvent parse(String line) {
        if (line.isBlank()) return null;
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(line);
        } catch (IOException e) {
            throw new FastVMConnectionException("malformed exec stream line: " + abbreviate(line), e);
        }
        String kind = node.path("t").asText("");
        try {
            return switch (kind) {
                case "o" ->
                    new ExecEvent.Stdout(
                            Base64.getDecoder().decode(node.path("d").asText("")));
                case "e" ->
                    new ExecEvent.Stderr(
                            Base64.getDecoder().decode(node.path("d").asText("")));
                case "x" ->
                    new ExecEvent.Exit(
                            node.path("c").asInt(0),
                            node.path("to").asBoolean(false),
                            node.path("ms").asLong(0));
                default -> null; // a newer server's event: skip, as unknown fields are skipped
            };
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new FastVMConnectionException("bad base64 in exec stream line: " + abbreviate(line), e);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "…" : s;
    }
}
