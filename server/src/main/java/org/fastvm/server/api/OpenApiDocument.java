package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import org.fastvm.server.model.ModelJson;

/**
 * The API's OpenAPI 3.1 document, served at {@code GET /v1/openapi.json}. It is written as
 * YAML ({@code docs/api/openapi.yaml}, packaged into the server jar by the build) and turned
 * into JSON once, when the server starts: a jar without it fails at start-up, not on the first
 * request.
 */
final class OpenApiDocument {
    /** Where the build puts the document on the classpath. */
    static final String RESOURCE = "org/fastvm/server/api/openapi.yaml";

    private final String json;

    private OpenApiDocument(String json) {
        this.json = json;
    }

    /** {@return the packaged document, converted to compact JSON} */
    static OpenApiDocument load() {
        try (InputStream in = OpenApiDocument.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null)
                throw new IllegalStateException(RESOURCE + " is missing from the classpath; the build packages it");
            JsonNode tree = new YAMLMapper().readTree(in);
            if (tree == null || !tree.isObject() || !tree.path("openapi").isTextual()) {
                throw new IllegalStateException(RESOURCE + " is not an OpenAPI document");
            }
            return new OpenApiDocument(ModelJson.write(tree));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** {@return the document as compact JSON} */
    String json() {
        return json;
    }
}
