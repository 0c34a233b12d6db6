package org.fastvm.openapi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The document itself: a valid OpenAPI 3.1 document (checked against the OpenAPI Initiative's
 * 3.1 schema, kept under src/test/resources/oas/3.1), every {@code $ref} resolves, every
 * operation is named and lists its errors the same way; and the validator does what it says.
 */
class OpenApiDocumentTest {
    static final OpenApi SPEC = OpenApi.load();
    static final Map<String, String> JSON = Map.of("Content-Type", "application/json");

    @Test
    void isAValidOpenApi31Document() {
        Schema meta = SchemaRegistry.withDefaultDialect(
                        SpecificationVersion.DRAFT_2020_12,
                        b -> b.schemaIdResolvers(
                                r -> r.mapPrefix("https://spec.openapis.org/oas/3.1", "classpath:oas/3.1")))
                .getSchema(SchemaLocation.of("https://spec.openapis.org/oas/3.1/schema-base/2022-10-07"));
        List<Error> errors = meta.validate(SPEC.document());
        assertEquals(List.of(), errors.stream().map(Error::toString).toList());
        assertEquals("3.1.0", SPEC.document().get("openapi").asText());
    }

    @Test
    void everyLocalRefResolves() {
        List<String> broken = new ArrayList<>();
        refs(SPEC.document(), "", broken);
        assertEquals(List.of(), broken);
    }

    private static void refs(JsonNode n, String at, List<String> broken) {
        if (n.isObject() && n.has("$ref")) {
            String ref = n.get("$ref").asText();
            if (!ref.startsWith("#/") || SPEC.document().at(ref.substring(1)).isMissingNode())
                broken.add(at + " -> " + ref);
        }
        if (n.isObject()) {
            for (Map.Entry<String, JsonNode> e : n.properties()) refs(e.getValue(), at + "/" + e.getKey(), broken);
        } else if (n.isArray()) {
            for (int i = 0; i < n.size(); i++) refs(n.get(i), at + "/" + i, broken);
        }
    }

    @Test
    void everyOperationIsNamedTaggedAndListsItsErrors() {
        Set<String> ids = new TreeSet<>();
        for (OpenApi.Operation op : SPEC.operations()) {
            JsonNode node = SPEC.document().at(op.pointer());
            String id = node.path("operationId").asText("");
            assertFalse(id.isEmpty(), op.key() + " has an operationId");
            assertTrue(ids.add(id), "operationId " + id + " is unique");
            assertTrue(node.path("tags").size() > 0, op.key() + " has a tag");
            JsonNode responses = node.path("responses");
            assertTrue(responses.has("default"), op.key() + " has a default response for unexpected errors");
            boolean open = node.has("security") && node.get("security").isEmpty();
            assertEquals(!open, responses.has("401"), op.key() + ": 401 exactly when a key is needed");
            for (Iterator<String> it = responses.fieldNames(); it.hasNext(); ) {
                String status = it.next();
                if (status.startsWith("4") || status.startsWith("5")) {
                    assertTrue(
                            responses.get(status).path("$ref").asText().startsWith("#/components/responses/"),
                            op.key() + " " + status + " uses a shared error response");
                }
            }
        }
        assertEquals(18, SPEC.operations().size(), "every route of ApiHandler: " + SPEC.operations());
    }

    @Test
    void theDocumentSaysWhereMetricsAreAndMarksAdditions() {
        assertTrue(SPEC.find("GET", "/metrics").isEmpty(), "/metrics is not on the API port");
        assertTrue(SPEC.document().at("/info/description").asText().contains("/metrics"));
        for (String path : List.of("/livez", "/readyz", "/v1/openapi.json")) {
            assertTrue(
                    SPEC.document()
                            .at("/paths/" + path.replace("/", "~1") + "/get/x-fastvm-addition")
                            .asBoolean(),
                    path);
        }
        assertFalse(SPEC.document().at("/paths/~1healthz/get").has("x-fastvm-addition"), "/healthz is the API's");
    }

    @Test
    void matchesPathsToTemplates() {
        assertEquals(
                "/v1/vms/{id}", SPEC.find("GET", "/v1/vms/abc").orElseThrow().template());
        assertEquals(
                "/v1/vms/{id}/exec",
                SPEC.find("POST", "/v1/vms/a%2Fb/exec").orElseThrow().template());
        assertEquals(
                "/v1/openapi.json",
                SPEC.find("GET", "/v1/openapi.json").orElseThrow().template());
        assertTrue(SPEC.find("PUT", "/v1/vms").isEmpty());
        assertTrue(SPEC.find("GET", "/v1/nothing/here").isEmpty());
    }

    @Test
    void requestsAreCheckedForKeyBodyAndSchema() {
        Map<String, String> keyed = Map.of("X-API-Key", "k", "Content-Type", "application/json");
        assertEquals(
                List.of(),
                SPEC.validateRequest("POST", "/v1/vms", null, keyed, "{\"machineType\":\"c1m2\",\"name\":\"a\"}"));
        assertEquals(List.of(), SPEC.validateRequest("POST", "/v1/vms", null, keyed, "{\"snapshotId\":\"s\"}"));
        assertEquals(List.of(), SPEC.validateRequest("GET", "/healthz", null, Map.of(), null));
        assertFalse(
                SPEC.validateRequest("POST", "/v1/vms", null, JSON, "{\"machineType\":\"c1m2\"}")
                        .isEmpty(),
                "no key");
        assertFalse(
                SPEC.validateRequest("POST", "/v1/vms", null, keyed, "{}").isEmpty(),
                "neither machineType nor snapshotId");
        assertFalse(SPEC.validateRequest("POST", "/v1/vms", null, keyed, "{\"machineType\":\"c3m7\"}")
                .isEmpty());
        assertFalse(
                SPEC.validateRequest("POST", "/v1/vms", null, keyed, "{\"machineType\":\"c1m2\",\"extra\":1}")
                        .isEmpty(),
                "closed: undocumented fields are violations");
        assertFalse(SPEC.validateRequest("POST", "/v1/vms/x/exec", null, keyed, "{\"command\":[\"\"]}")
                .isEmpty());
        assertFalse(
                SPEC.validateRequest("POST", "/v1/vms/x/exec", null, keyed, "{\"command\":[\"ls\"],\"timeoutSec\":0}")
                        .isEmpty());
        assertEquals(
                List.of(),
                SPEC.validateRequest(
                        "POST", "/v1/vms/x/exec", null, keyed, "{\"command\":[\"ls\",\"\"],\"timeoutSec\":5}"));
        assertFalse(
                SPEC.validateRequest("POST", "/v1/vms/x/exec", null, keyed, null)
                        .isEmpty(),
                "body required");
        assertFalse(
                SPEC.validateRequest("DELETE", "/v1/vms/x", null, keyed, "{}").isEmpty(), "DELETE takes no body");
        assertFalse(
                SPEC.validateRequest("PUT", "/v1/vms/x/firewall", null, Map.of("X-API-Key", "k"), "{\"mode\":\"open\"}")
                        .isEmpty(),
                "no Content-Type");
        assertEquals(
                List.of(),
                SPEC.validateRequest("GET", "/v1/vms", "status=running&metadata.team=a", Map.of("X-API-Key", "k"), ""));
    }

    @Test
    void responsesAreCheckedForStatusHeadersAndBody() {
        String vm = "{\"id\":\"3f1c2a9e-1111-4d6b-9c1e-0123456789ab\",\"name\":\"vm-3f1c2a9e\",\"orgId\":\"o\","
                + "\"machineName\":\"c1m2\",\"cpu\":1,\"memoryMiB\":2048,\"diskGiB\":10,\"status\":\"running\","
                + "\"createdAt\":\"2026-01-02T03:04:05.123Z\",\"firewall\":{\"mode\":\"restricted\",\"ingress\":[]},\"metadata\":{}}";
        Map<String, String> ok =
                Map.of("Content-Type", "application/json", "x-request-id", "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11");
        assertEquals(List.of(), SPEC.validateResponse("GET", "/v1/vms/x", 200, ok, vm));
        assertFalse(SPEC.validateResponse("GET", "/v1/vms/x", 200, ok, vm.replace("\"running\"", "\"sleeping\""))
                .isEmpty());
        assertFalse(
                SPEC.validateResponse("GET", "/v1/vms/x", 200, ok, vm.replace("}}", "},\"extra\":1}"))
                        .isEmpty(),
                "closed");
        assertFalse(
                SPEC.validateResponse("GET", "/v1/vms/x", 200, ok, vm.replace("05.123Z", "05.123"))
                        .isEmpty(),
                "date-time Z");
        assertFalse(
                SPEC.validateResponse("GET", "/v1/vms/x", 200, Map.of("Content-Type", "application/json"), vm)
                        .isEmpty(),
                "x-request-id is required");
        assertEquals(
                List.of(),
                SPEC.validateResponse(
                        "GET",
                        "/v1/vms/x",
                        500,
                        Map.of("Content-Type", "application/json", "x-should-retry", "false"),
                        "{\"error\":\"internal_error\",\"message\":\"m\"}"),
                "default covers 500");
        assertFalse(SPEC.coveredResponses().contains("GET /v1/vms/{id} 500"), "default is not coverage");
        String notFound = "{\"error\":\"not_found\",\"message\":\"vm not found: x\"}";
        Map<String, String> err = Map.of(
                "Content-Type",
                "application/json",
                "x-request-id",
                "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11",
                "x-should-retry",
                "false");
        assertEquals(List.of(), SPEC.validateResponse("GET", "/v1/vms/x", 404, err, notFound));
        assertFalse(SPEC.validateResponse("GET", "/v1/vms/x", 404, err, notFound.replace("not_found", "conflict"))
                .isEmpty());
        assertFalse(SPEC.validateResponse(
                        "GET",
                        "/v1/vms/x",
                        404,
                        Map.of(
                                "Content-Type",
                                "application/json",
                                "x-request-id",
                                "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11",
                                "x-should-retry",
                                "true"),
                        notFound)
                .isEmpty());
        Map<String, String> unavailable = Map.of(
                "Content-Type",
                "application/json",
                "x-request-id",
                "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11",
                "x-should-retry",
                "true",
                "Retry-After",
                "1");
        assertEquals(
                List.of(),
                SPEC.validateResponse(
                        "GET", "/readyz", 503, unavailable, "{\"error\":\"unavailable\",\"message\":\"m\"}"));
        Map<String, String> noRetryAfter = Map.of(
                "Content-Type",
                "application/json",
                "x-request-id",
                "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11",
                "x-should-retry",
                "true");
        assertFalse(SPEC.validateResponse(
                        "GET", "/readyz", 503, noRetryAfter, "{\"error\":\"unavailable\",\"message\":\"m\"}")
                .isEmpty());
        Map<String, String> nd =
                Map.of("Content-Type", "application/x-ndjson", "x-request-id", "0e3c0c55-6c1f-4d5f-8d61-3f2f5e0f4a11");
        assertEquals(
                List.of(),
                SPEC.validateResponse(
                        "POST", "/v1/vms/x/exec", 200, nd, "{\"t\":\"o\",\"d\":\"aGk=\"}\n{\"t\":\"x\",\"ms\":3}\n"));
        assertFalse(
                SPEC.validateResponse("POST", "/v1/vms/x/exec", 200, nd, "{\"t\":\"x\",\"c\":0,\"ms\":3}\n")
                        .isEmpty(),
                "c omitted when 0");
        assertFalse(SPEC.validateResponse("POST", "/v1/vms/x/exec", 200, nd, "{\"t\":\"q\"}\n")
                .isEmpty());
        assertTrue(SPEC.coveredResponses().contains("GET /v1/vms/{id} 200"));
        assertTrue(SPEC.declaredResponses().contains("POST /v1/vms/{id}/exec 502"));
        assertFalse(SPEC.declaredResponses().stream().anyMatch(r -> r.endsWith(" default")));
    }
}
