package org.fastvm.openapi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.dialect.Dialect;
import com.networknt.schema.dialect.Dialects;
import com.networknt.schema.keyword.NonValidationKeyword;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The FastVM OpenAPI 3.1 document ({@code docs/api/openapi.yaml}) and a validator of HTTP
 * requests and responses against it.
 *
 * <p>Schemas are checked with networknt's JSON Schema 2020-12 validator in the OpenAPI 3.1
 * dialect, with format assertions on ({@code date-time}, {@code uuid}). Validation is
 * <em>closed</em>: every object schema that lists {@code properties} and says nothing about
 * {@code additionalProperties} is checked as if it said {@code false}, so a field the document
 * does not describe is a violation. The published document stays open (clients must tolerate
 * new fields); the tests hold the server and the SDK to exactly what it describes.
 *
 * <p>Each validated response is recorded as {@code "METHOD /template STATUS"}, so a test can
 * check that it saw every status the document lists ({@link #declaredResponses()},
 * {@link #coveredResponses()}). Thread-safe.
 */
public final class OpenApi {
    /** Where the document is on the classpath of this module's jar. */
    public static final String RESOURCE = "org/fastvm/openapi/openapi.yaml";
    /** The retrieval IRI the in-memory document is known by (never fetched). */
    private static final String BASE = "https://fastvm.invalid/openapi.json";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> METHODS =
            Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");
    private static final Pattern INTEGER = Pattern.compile("-?[0-9]{1,18}");

    private final JsonNode document;
    private final ObjectNode closed;
    private final List<Operation> operations = new ArrayList<>();
    private final SchemaRegistry registry;
    private final Map<String, Schema> schemas = new ConcurrentHashMap<>();
    private final Set<String> covered = ConcurrentHashMap.newKeySet();

    /** An operation of the document: its method (upper case), path template and JSON pointer. */
    public record Operation(String method, String template, String pointer) {
        /** {@return e.g. {@code "POST /v1/vms"}} */
        public String key() {
            return method + " " + template;
        }
    }

    private OpenApi(JsonNode document) {
        this.document = document;
        this.closed = document.deepCopy();
        close(closed);
        JsonNode paths = closed.path("paths");
        for (Map.Entry<String, JsonNode> p : paths.properties()) {
            for (Iterator<String> ms = p.getValue().fieldNames(); ms.hasNext(); ) {
                String m = ms.next();
                if (METHODS.contains(m)) {
                    operations.add(new Operation(
                            m.toUpperCase(Locale.ROOT), p.getKey(), "/paths/" + escape(p.getKey()) + "/" + m));
                }
            }
        }
        // More literal segments first, so /v1/openapi.json wins over a template like /v1/{x}.
        operations.sort(Comparator.comparingLong((Operation o) ->
                -segments(o.template()).stream().filter(s -> !s.startsWith("{")).count()));
        String text;
        try {
            text = JSON.writeValueAsString(closed);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // Schemas are looked up inside the whole document, so its top-level fields are read as
        // keywords too: known here as keywords without validation, like the OpenAPI annotations.
        Dialect.Builder dialect = Dialect.builder(Dialects.getOpenApi31());
        for (String k : List.of(
                "openapi",
                "info",
                "jsonSchemaDialect",
                "servers",
                "paths",
                "webhooks",
                "components",
                "security",
                "tags",
                "externalDocs",
                "discriminator",
                "xml",
                "example",
                "x-fastvm-addition")) {
            dialect.keyword(new NonValidationKeyword(k));
        }
        SchemaRegistryConfig config =
                SchemaRegistryConfig.builder().formatAssertionsEnabled(true).build();
        this.registry = SchemaRegistry.withDialect(
                dialect.build(), b -> b.schemaRegistryConfig(config).schemas(Map.of(BASE, text)));
    }

    /** {@return the document packaged in this module's jar (a copy of {@code docs/api/openapi.yaml})} */
    public static OpenApi load() {
        try (InputStream in = OpenApi.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IllegalStateException(RESOURCE + " is not on the classpath");
            return new OpenApi(new YAMLMapper().readTree(in));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@return the document as written, with its schemas open (shared: do not modify)} */
    public JsonNode document() {
        return document;
    }

    /** {@return every operation} */
    public List<Operation> operations() {
        return List.copyOf(operations);
    }

    /** {@return the operation serving {@code method} on {@code path} (raw, without query), if any} */
    public Optional<Operation> find(String method, String path) {
        List<String> actual = segments(path);
        for (Operation o : operations) {
            if (!o.method().equalsIgnoreCase(method)) continue;
            List<String> t = segments(o.template());
            if (t.size() != actual.size()) continue;
            boolean match = true;
            for (int i = 0; i < t.size() && match; i++) {
                match = t.get(i).startsWith("{")
                        ? !actual.get(i).isEmpty()
                        : t.get(i).equals(actual.get(i));
            }
            if (match) return Optional.of(o);
        }
        return Optional.empty();
    }

    /**
     * Validates a request: an operation serves it; its path, query and header parameters; the
     * API key when the operation needs one; its body (presence, media type, schema).
     *
     * @param headers the request's headers (see {@link #headers})
     * @param body    the body as text; null or empty for none
     * @return the violations, empty when the request is valid
     */
    public List<String> validateRequest(
            String method, String path, String query, Map<String, String> headers, String body) {
        List<String> out = new ArrayList<>();
        Optional<Operation> found = find(method, path);
        if (found.isEmpty()) {
            out.add(method + " " + path + ": no operation in the document");
            return out;
        }
        Operation op = found.get();
        String where = op.key() + " request";
        JsonNode opNode = closed.at(op.pointer());
        Map<String, String> h = caseInsensitive(headers);
        Map<String, String> q = parseQuery(query);
        Map<String, String> pathValues = pathValues(op.template(), path);
        List<Ref> parameterRefs = new ArrayList<>();
        JsonNode pathLevel = closed.at("/paths/" + escape(op.template()) + "/parameters");
        for (int i = 0; i < pathLevel.size(); i++) {
            parameterRefs.add(resolve("/paths/" + escape(op.template()) + "/parameters/" + i));
        }
        JsonNode opLevel = opNode.path("parameters");
        for (int i = 0; i < opLevel.size(); i++) parameterRefs.add(resolve(op.pointer() + "/parameters/" + i));
        for (Ref p : parameterRefs) {
            String name = p.node().path("name").asText();
            String in = p.node().path("in").asText();
            String value = switch (in) {
                case "path" -> pathValues.get(name);
                case "query" -> q.get(name);
                case "header" -> h.get(name);
                default -> null;
            };
            if (value == null) {
                if (p.node().path("required").asBoolean(false))
                    out.add(where + ": missing required " + in + " parameter " + name);
                continue;
            }
            validate(
                    p.pointer() + "/schema",
                    scalar(p.node().path("schema"), value),
                    where + " " + in + " parameter " + name,
                    out);
        }
        JsonNode security = opNode.has("security") ? opNode.get("security") : closed.path("security");
        if (security.isArray() && !security.isEmpty() && !securitySatisfied(security, h, q)) {
            out.add(where + ": no credentials satisfy " + security);
        }
        boolean hasBody = body != null && !body.isEmpty();
        if (!opNode.has("requestBody")) {
            if (hasBody) out.add(where + ": the operation takes no body, got " + abbreviate(body));
            return out;
        }
        Ref rb = resolve(op.pointer() + "/requestBody");
        if (!hasBody) {
            if (rb.node().path("required").asBoolean(false)) out.add(where + ": body required");
            return out;
        }
        String type = mediaType(h.get("content-type"));
        if (type == null || !rb.node().path("content").has(type)) {
            out.add(where + ": Content-Type " + h.get("content-type") + " is not one of "
                    + names(rb.node().path("content")));
            return out;
        }
        validateBody(rb.pointer() + "/content/" + escape(type) + "/schema", type, body, where + " body", out);
        return out;
    }

    /**
     * Validates a response of the operation serving {@code method path}: the status is listed
     * (or a {@code default} covers it), required headers are present and valid, and the body
     * matches the media type's schema. NDJSON bodies are validated line by line.
     *
     * @return the violations, empty when the response is valid
     */
    public List<String> validateResponse(
            String method, String path, int status, Map<String, String> headers, String body) {
        List<String> out = new ArrayList<>();
        Optional<Operation> found = find(method, path);
        if (found.isEmpty()) {
            out.add(method + " " + path + ": no operation in the document");
            return out;
        }
        Operation op = found.get();
        String code = Integer.toString(status);
        JsonNode responses = closed.at(op.pointer() + "/responses");
        String key;
        if (responses.has(code)) {
            key = code;
            covered.add(op.key() + " " + code);
        } else if (responses.has("default")) {
            key = "default";
        } else {
            out.add(op.key() + ": status " + status + " is not in the document (listed: " + names(responses) + ")");
            return out;
        }
        checkResponse(resolve(op.pointer() + "/responses/" + key), op.key() + " " + status, headers, body, out);
        return out;
    }

    /**
     * Validates a response against {@code components/responses/<name>}: for answers no
     * operation lists, such as a 405 for a method a path does not serve.
     */
    public List<String> validateComponentResponse(String name, Map<String, String> headers, String body) {
        List<String> out = new ArrayList<>();
        String pointer = "/components/responses/" + escape(name);
        if (closed.at(pointer).isMissingNode()) {
            out.add("no response " + name + " in components");
            return out;
        }
        checkResponse(resolve(pointer), "components/responses/" + name, headers, body, out);
        return out;
    }

    /** {@return every {@code "METHOD /template STATUS"} the document lists (explicit statuses, not {@code default})} */
    public Set<String> declaredResponses() {
        Set<String> out = new TreeSet<>();
        for (Operation o : operations) {
            closed.at(o.pointer() + "/responses").fieldNames().forEachRemaining(s -> {
                if (!s.equals("default")) out.add(o.key() + " " + s);
            });
        }
        return out;
    }

    /** {@return the {@code "METHOD /template STATUS"} of every response validated so far against an explicit status} */
    public Set<String> coveredResponses() {
        return new TreeSet<>(covered);
    }

    /** {@return the headers of a {@code java.net.http} response or any multi-valued map, as one value each (the first)} */
    public static Map<String, String> headers(Map<String, List<String>> multi) {
        Map<String, String> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        multi.forEach((k, v) -> {
            if (k != null && !v.isEmpty()) out.put(k, v.get(0));
        });
        return out;
    }

    // ------------------------------------------------------------------ internals

    /** A node of the closed document and its JSON pointer, after following a {@code $ref} (not for schemas). */
    private record Ref(JsonNode node, String pointer) {}

    private Ref resolve(String pointer) {
        String p = pointer;
        for (int i = 0; i < 10; i++) {
            JsonNode n = closed.at(p);
            if (!n.has("$ref")) return new Ref(n, p);
            String ref = n.get("$ref").asText();
            if (!ref.startsWith("#")) throw new IllegalStateException("only local $refs are supported: " + ref);
            p = ref.substring(1);
        }
        throw new IllegalStateException("$ref chain too long at " + pointer);
    }

    private void checkResponse(Ref response, String where, Map<String, String> headers, String body, List<String> out) {
        Map<String, String> h = caseInsensitive(headers);
        JsonNode declared = response.node().path("headers");
        for (Iterator<String> it = declared.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            Ref header = resolve(response.pointer() + "/headers/" + escape(name));
            String value = h.get(name);
            if (value == null) {
                if (header.node().path("required").asBoolean(false)) out.add(where + ": missing header " + name);
                continue;
            }
            validate(
                    header.pointer() + "/schema",
                    scalar(header.node().path("schema"), value),
                    where + " header " + name,
                    out);
        }
        JsonNode content = response.node().path("content");
        boolean hasBody = body != null && !body.isEmpty();
        if (content.isEmpty()) {
            if (hasBody) out.add(where + ": no body expected, got " + abbreviate(body));
            return;
        }
        String type = mediaType(h.get("content-type"));
        if (type == null || !content.has(type)) {
            out.add(where + ": Content-Type " + h.get("content-type") + " is not one of " + names(content));
            return;
        }
        validateBody(response.pointer() + "/content/" + escape(type) + "/schema", type, body, where + " body", out);
    }

    private void validateBody(String schemaPointer, String mediaType, String body, String where, List<String> out) {
        if (mediaType.equals("application/x-ndjson")) {
            String[] lines = (body == null ? "" : body).split("\n", -1);
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isEmpty()) continue;
                JsonNode line = readJson(lines[i], where + " line " + (i + 1), out);
                if (line != null) validate(schemaPointer, line, where + " line " + (i + 1), out);
            }
            return;
        }
        JsonNode json = readJson(body == null ? "" : body, where, out);
        if (json != null) validate(schemaPointer, json, where, out);
    }

    private static JsonNode readJson(String text, String where, List<String> out) {
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || n.isMissingNode()) {
                out.add(where + ": empty, expected JSON");
                return null;
            }
            return n;
        } catch (JsonProcessingException e) {
            out.add(where + ": not JSON (" + e.getOriginalMessage() + "): " + abbreviate(text));
            return null;
        }
    }

    private void validate(String schemaPointer, JsonNode value, String where, List<String> out) {
        Schema schema = schemas.computeIfAbsent(
                schemaPointer,
                p -> registry.getSchema(
                        SchemaLocation.of(BASE + "#" + p.replace("{", "%7B").replace("}", "%7D"))));
        for (Error e : schema.validate(value)) {
            out.add(where + ": " + e.getInstanceLocation() + " " + e.getMessage() + " (schema " + e.getSchemaLocation()
                    + ")");
        }
    }

    /** A header, path or query value as the JSON value its schema expects (they arrive as text). */
    private static JsonNode scalar(JsonNode schema, String value) {
        String type = schema.path("type").asText("");
        if (type.equals("integer") && INTEGER.matcher(value).matches()) return LongNode.valueOf(Long.parseLong(value));
        if (type.equals("boolean") && (value.equals("true") || value.equals("false")))
            return BooleanNode.valueOf(value.equals("true"));
        return TextNode.valueOf(value);
    }

    /** {@return true when one of the requirements is met: each of its API key schemes has its header (or query) value} */
    private boolean securitySatisfied(JsonNode requirements, Map<String, String> headers, Map<String, String> query) {
        for (JsonNode requirement : requirements) {
            boolean met = true;
            for (Iterator<String> it = requirement.fieldNames(); it.hasNext() && met; ) {
                JsonNode scheme =
                        closed.path("components").path("securitySchemes").path(it.next());
                String name = scheme.path("name").asText();
                String value = switch (scheme.path("in").asText()) {
                    case "header" -> headers.get(name);
                    case "query" -> query.get(name);
                    default -> null;
                };
                met = scheme.path("type").asText().equals("apiKey") && value != null && !value.isEmpty();
            }
            if (met) return true; // an empty requirement {} means anonymous access
        }
        return false;
    }

    /**
     * Closes every object schema that lists properties and says nothing about additional ones:
     * what the document does not describe is then a violation.
     */
    private static void close(JsonNode node) {
        if (node.isObject()) {
            ObjectNode o = (ObjectNode) node;
            JsonNode type = o.get("type");
            boolean object = type != null
                    && (type.asText().equals("object")
                            || (type.isArray() && type.toString().contains("\"object\"")));
            if (object && o.has("properties") && !o.has("additionalProperties") && !o.has("unevaluatedProperties")) {
                o.put("additionalProperties", false);
            }
        }
        node.forEach(OpenApi::close);
    }

    private static Map<String, String> caseInsensitive(Map<String, String> headers) {
        Map<String, String> out = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        if (headers != null)
            headers.forEach((k, v) -> {
                if (k != null && v != null) out.put(k, v);
            });
        return out;
    }

    private static Map<String, String> parseQuery(String query) {
        Map<String, String> out = new TreeMap<>();
        if (query == null || query.isEmpty()) return out;
        for (String pair : query.split("&", -1)) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String k = decode(eq < 0 ? pair : pair.substring(0, eq));
            String v = eq < 0 ? "" : decode(pair.substring(eq + 1));
            out.putIfAbsent(k, v);
        }
        return out;
    }

    private static Map<String, String> pathValues(String template, String path) {
        Map<String, String> out = new TreeMap<>();
        List<String> t = segments(template);
        List<String> a = segments(path);
        for (int i = 0; i < t.size() && i < a.size(); i++) {
            String s = t.get(i);
            if (s.startsWith("{") && s.endsWith("}")) out.put(s.substring(1, s.length() - 1), decode(a.get(i)));
        }
        return out;
    }

    private static String decode(String s) {
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }

    /** Splits at '/', dropping empty segments (the server routes {@code //} like {@code /}). */
    private static List<String> segments(String path) {
        List<String> out = new ArrayList<>();
        for (String s : path.split("/", -1)) if (!s.isEmpty()) out.add(s);
        return out;
    }

    private static String mediaType(String contentType) {
        if (contentType == null) return null;
        int semi = contentType.indexOf(';');
        return (semi < 0 ? contentType : contentType.substring(0, semi)).trim().toLowerCase(Locale.ROOT);
    }

    /** JSON pointer escaping of one reference token. */
    private static String escape(String token) {
        return token.replace("~", "~0").replace("/", "~1");
    }

    private static List<String> names(JsonNode object) {
        List<String> out = new ArrayList<>();
        object.fieldNames().forEachRemaining(out::add);
        return out;
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
