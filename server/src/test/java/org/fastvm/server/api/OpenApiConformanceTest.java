package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.fastvm.openapi.OpenApi;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The running server (over the scripted engine) against its OpenAPI document,
 * {@code docs/api/openapi.yaml}: every response below, success or error, is validated against
 * the operation and status the document lists for it (status listed, required headers present
 * and valid, body of the declared media type matching its schema, with no field the document
 * does not describe); the requests the test means to be valid are validated too, and some it
 * means to be invalid must be refused by the document's schemas as well as by the server. The
 * last test checks that every operation and status the document lists was seen, except those
 * in {@link #UNREACHABLE}; and that every path serves exactly the methods the document lists.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OpenApiConformanceTest extends ApiTestBase {
    static final OpenApi SPEC = OpenApi.load();
    static final String UNKNOWN = "00000000-0000-0000-0000-000000000000";

    /** Statuses the document lists that this test cannot produce, and why. */
    static final Map<String, String> UNREACHABLE = Map.of(
            "DELETE /v1/vms/{id} 409",
            "the VM must change state between the delete's read and its compare-and-set "
                    + "in the same transaction; no test can time that");

    @TempDir
    static Path dir;

    static Env env;
    /** An org with tight limits, for the 429s. */
    static String keyC;

    @BeforeAll
    static void start() throws Exception {
        env = new Env(
                dir.resolve("main"),
                new FakeBackend(),
                new QuotaValues(64, 1 << 20, 10_000, 100),
                Duration.ofSeconds(1));
        String orgC = env.server.orgs().findOrCreate("org-c").id();
        keyC = env.server.apiKeys().create(orgC).key();
        env.server.quotas().setOverride(orgC, new QuotaOverride(1L, null, null, 1L));
    }

    @AfterAll
    static void stop() throws Exception {
        if (env != null) env.close();
    }

    // ------------------------------------------------------------------ health and the document

    @Test
    void healthProbesAndTheDocumentNeedNoKey() throws Exception {
        for (String key : new String[] {null, "garbage"}) {
            JsonNode h = json(send(env, "GET", "/healthz", key, null).body());
            assertEquals("ok", h.get("status").asText());
            assertEquals(200, send(env, "GET", "/livez", key, null).statusCode());
            assertEquals(200, send(env, "GET", "/readyz", key, null).statusCode());
            assertEquals(200, send(env, "GET", "/v1/openapi.json", key, null).statusCode());
        }
    }

    @Test
    void theServedDocumentIsTheRepositoryDocumentAsJson() throws Exception {
        HttpResponse<String> r = ok(env, 200, "GET", "/v1/openapi.json", null);
        assertEquals("application/json", r.headers().firstValue("content-type").orElseThrow());
        assertEquals(SPEC.document(), json(r.body()), "GET /v1/openapi.json serves docs/api/openapi.yaml");
        // other methods: 405 with Allow, and no key needed to learn that
        HttpResponse<String> post = env.call("POST", "/v1/openapi.json", null, "{}");
        assertEquals(405, post.statusCode());
        assertEquals("GET", post.headers().firstValue("allow").orElseThrow());
        assertConforms(
                SPEC.validateComponentResponse(
                        "MethodNotAllowed", OpenApi.headers(post.headers().map()), post.body()),
                "POST /v1/openapi.json");
    }

    // ------------------------------------------------------------------ VMs

    @Test
    void vmLifecycle() throws Exception {
        String fw = "{\"mode\":\"restricted\",\"ingress\":[{\"protocol\":\"tcp\",\"portStart\":443,\"portEnd\":444,"
                + "\"sourceCidrs\":[\"2001:db8::/32\"],\"description\":\"https\"},{\"protocol\":\"udp\",\"portStart\":53}]}";
        JsonNode vm = body(ok(
                env,
                201,
                "POST",
                "/v1/vms",
                "{\"machineType\":\"c2m4\",\"name\":\"  web  one \",\"diskGiB\":12," + "\"firewall\":" + fw
                        + ",\"metadata\":{\"team\":\"red\",\"env\":\"ci\"}}",
                "x-stainless-read-timeout",
                "60.0"));
        String id = vm.get("id").asText();
        assertEquals("web one", vm.get("name").asText());
        body(ok(
                env,
                201,
                "POST",
                "/v1/vms",
                "{\"machineType\":\"c1m2\",\"name\":null,\"firewall\":null}",
                "X-Stainless-Timeout",
                "60"));
        assertTrue(ApiTest.contains(body(ok(env, 200, "GET", "/v1/vms", null)), id));
        assertTrue(ApiTest.contains(body(ok(env, 200, "GET", "/v1/vms?status=running&metadata.team=red", null)), id));
        assertEquals(
                0, body(ok(env, 200, "GET", "/v1/vms?status=hibernating", null)).size());
        assertEquals(
                id, body(ok(env, 200, "GET", "/v1/vms/" + id, null)).get("id").asText());
        assertEquals(
                "renamed",
                body(ok(env, 200, "PATCH", "/v1/vms/" + id, "{\"name\":\"renamed\"}"))
                        .get("name")
                        .asText());
        assertEquals(
                0,
                body(ok(env, 200, "PATCH", "/v1/vms/" + id, "{\"metadata\":{}}"))
                        .get("metadata")
                        .size());
        assertEquals(
                "open",
                body(ok(env, 200, "PUT", "/v1/vms/" + id + "/firewall", "{\"mode\":\"open\"}"))
                        .at("/firewall/mode")
                        .asText());
        assertEquals(
                2,
                body(ok(env, 200, "PATCH", "/v1/vms/" + id + "/firewall", fw))
                        .at("/firewall/ingress")
                        .size());
        assertEquals(
                0,
                body(ok(env, 200, "PATCH", "/v1/vms/" + id + "/firewall", "{\"ingress\":[]}"))
                        .at("/firewall/ingress")
                        .size());
        ok(env, 200, "PATCH", "/v1/vms/" + id + "/firewall", null); // no body: nothing changes
        JsonNode deleted = body(ok(env, 200, "DELETE", "/v1/vms/" + id, null));
        assertTrue(deleted.get("deleted").asBoolean());
        send(env, "GET", "/v1/vms/" + id, env.keyA, null);
    }

    @Test
    void aSlowBootIs202AndAVmDeletedWhileBootingIsAConflictForChanges() throws Exception {
        CountDownLatch boot = new CountDownLatch(1);
        env.backend.bootGate = boot;
        String id;
        try {
            JsonNode vm = body(ok(env, 202, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}"));
            assertEquals("provisioning", vm.get("status").asText());
            id = vm.get("id").asText();
            expect(env, 409, "POST", "/v1/vms/" + id + "/exec", "{\"command\":[\"echo\"]}");
            expect(env, 409, "POST", "/v1/snapshots", "{\"vmId\":\"" + id + "\"}");
            ok(env, 200, "DELETE", "/v1/vms/" + id, null); // deleted as soon as its boot ends; deleting meanwhile
            assertEquals(
                    "deleting",
                    body(ok(env, 200, "GET", "/v1/vms/" + id, null))
                            .get("status")
                            .asText());
            expect(env, 409, "PATCH", "/v1/vms/" + id, "{\"name\":\"x\"}");
            expect(env, 409, "PUT", "/v1/vms/" + id + "/firewall", "{\"mode\":\"open\"}");
            expect(env, 409, "PATCH", "/v1/vms/" + id + "/firewall", "{\"mode\":\"open\"}");
        } finally {
            env.backend.bootGate = null;
            boot.countDown();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (send(env, "GET", "/v1/vms/" + id, env.keyA, null).statusCode() != 404) {
            assertTrue(System.nanoTime() < deadline, "the VM deleted while booting went once its boot ended");
            Thread.sleep(20); // polling, as a client would
        }
    }

    @Test
    void badVmRequestsAre400AndTheDocumentRefusesThemToo() throws Exception {
        String id = launch(env);
        String fw = "{\"machineType\":\"c1m2\",\"firewall\":{\"mode\":\"restricted\",\"ingress\":[%s]}}";
        for (String bad : List.of(
                "{}",
                "{\"machineType\":\"c3m7\"}",
                "{\"machineType\":\"c1m2\",\"diskGiB\":5}",
                "{\"machineType\":\"c1m2\",\"diskGiB\":\"big\"}",
                "{\"machineType\":\"c1m2\",\"metadata\":{\"k\":1}}",
                "{\"machineType\":\"c1m2\",\"metadata\":{\"k\":\"" + "v".repeat(4097) + "\"}}",
                "{\"machineType\":\"c1m2\",\"firewall\":{\"mode\":\"closed\"}}",
                fw.formatted("{\"protocol\":\"icmp\",\"portStart\":22}"),
                fw.formatted("{\"protocol\":\"tcp\",\"portStart\":0}"),
                fw.formatted("{\"protocol\":\"udp\",\"portStart\":90,\"portEnd\":65536}"))) {
            expectRefused(env, 400, "POST", "/v1/vms", bad);
        }
        // refused by the server only: rules a JSON Schema cannot state
        expect(
                env,
                400,
                "POST",
                "/v1/vms",
                fw.formatted("{\"protocol\":\"tcp\",\"portStart\":22,\"sourceCidrs\":[\"10.0.0.0/8\"]}"));
        expect(env, 400, "POST", "/v1/vms", fw.formatted("{\"protocol\":\"udp\",\"portStart\":90,\"portEnd\":80}"));
        expect(env, 400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"name\":\"a\\u0007b\"}");
        expect(env, 400, "POST", "/v1/vms", "{\"machineType\":");
        expect(env, 400, "POST", "/v1/vms", "[1,2]");
        expect(env, 400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"x\":\"" + "a".repeat(1 << 20) + "\"}");
        expectRefused(env, 400, "PATCH", "/v1/vms/" + id, "{}");
        expectRefused(env, 400, "PATCH", "/v1/vms/" + id, "{\"name\":\"   \"}");
        expectRefused(env, 400, "PUT", "/v1/vms/" + id + "/firewall", "{\"ingress\":[]}");
        expectRefused(env, 400, "PATCH", "/v1/vms/" + id + "/firewall", "{\"mode\":\"shut\"}");
    }

    @Test
    void restoreErrorsAndQuota() throws Exception {
        expect(env, 404, "POST", "/v1/vms", "{\"snapshotId\":\"" + UNKNOWN + "\"}");
        String vm = launch(env);
        env.backend.supportsSnapshots = false;
        String failed;
        try {
            failed = body(ok(env, 201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}"))
                    .get("id")
                    .asText();
            assertEquals("error", awaitSnapshot(failed));
        } finally {
            env.backend.supportsSnapshots = true;
        }
        expect(env, 409, "POST", "/v1/vms", "{\"snapshotId\":\"" + failed + "\"}");
        // org C may run 1 vCPU and keep 1 snapshot
        String c = json(sendAs(env, keyC, 201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                        .body())
                .get("id")
                .asText();
        sendAs(env, keyC, 429, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}");
        String snap = json(sendAs(env, keyC, 201, "POST", "/v1/snapshots", "{\"vmId\":\"" + c + "\"}")
                        .body())
                .get("id")
                .asText();
        sendAs(env, keyC, 429, "POST", "/v1/snapshots", "{\"vmId\":\"" + c + "\"}");
        assertEquals("ready", awaitSnapshot(keyC, snap));
        JsonNode q = json(sendAs(env, keyC, 200, "GET", "/v1/org/quotas", null).body());
        assertEquals(1, q.at("/usage/vcpu").asLong());
        assertEquals(1, q.at("/limits/snapshotCount").asLong());
    }

    // ------------------------------------------------------------------ exec

    @Test
    void bufferedExec() throws Exception {
        String path = "/v1/vms/" + launch(env) + "/exec";
        assertEquals(
                "hi\n",
                body(ok(env, 200, "POST", path, "{\"command\":[\"echo\",\"hi\"]}"))
                        .get("stdout")
                        .asText());
        assertEquals(
                3,
                body(ok(env, 200, "POST", path, "{\"command\":[\"exit\",\"3\"],\"timeoutSec\":5}"))
                        .get("exitCode")
                        .asInt());
        assertTrue(body(ok(env, 200, "POST", path, "{\"command\":[\"timeout\"],\"timeoutSec\":1}"))
                .get("timedOut")
                .asBoolean());
        String stdin = Base64.getEncoder().encodeToString("fed in".getBytes(StandardCharsets.UTF_8));
        assertEquals(
                "fed in",
                body(ok(env, 200, "POST", path, "{\"command\":[\"cat\"],\"stdin\":\"" + stdin + "\"}"))
                        .get("stdout")
                        .asText());
        assertTrue(body(ok(env, 200, "POST", path, "{\"command\":[\"big\",\"5000000\"]}", "Accept", "application/json"))
                .get("stdoutTruncated")
                .asBoolean());
        ok(env, 200, "POST", path, "{\"command\":[\"echo\"]}", "Accept", "*/*");
    }

    @Test
    void ndjsonExec() throws Exception {
        String path = "/v1/vms/" + launch(env) + "/exec";
        for (String command :
                List.of("[\"echo\",\"a\",\"b\"]", "[\"exit\",\"7\"]", "[\"timeout\"]", "[\"big\",\"200000\"]")) {
            HttpResponse<String> r =
                    ok(env, 200, "POST", path, "{\"command\":" + command + "}", "Accept", "application/x-ndjson");
            assertEquals(
                    "application/x-ndjson",
                    r.headers().firstValue("content-type").orElseThrow());
            List<String> lines = r.body().lines().toList();
            assertFalse(lines.isEmpty(), command);
            for (int i = 0; i < lines.size(); i++) {
                String t = json(lines.get(i)).get("t").asText();
                assertEquals(i == lines.size() - 1, t.equals("x"), "exactly one exit event, last: " + r.body());
            }
        }
    }

    @Test
    void execErrors() throws Exception {
        String id = launch(env);
        String path = "/v1/vms/" + id + "/exec";
        for (String bad : List.of(
                "{}",
                "{\"command\":[]}",
                "{\"command\":\"echo hi\"}",
                "{\"command\":[\"\"]}",
                "{\"command\":[\"echo\",1]}",
                "{\"command\":[\"echo\"],\"timeoutSec\":0}",
                "{\"command\":[\"echo\"],\"timeoutSec\":\"5\"}",
                "{\"command\":[\"echo\"" + ",\"x\"".repeat(4096) + "]}",
                "{\"command\":[\"a\\u0000b\"]}")) {
            expectRefused(env, 400, "POST", path, bad);
        }
        expect(env, 400, "POST", path, "{\"command\":[\"echo\"],\"stdin\":\"***\"}");
        expect(env, 400, "POST", path, "{\"command\":[\"echo\"" + (",\"" + "a".repeat(258) + "\"").repeat(3999) + "]}");
        expect(env, 500, "POST", path, "{\"command\":[\"die\"]}"); // the VM died after the command started
        env.backend.agentUnreachable = true;
        try {
            expect(env, 502, "POST", path, "{\"command\":[\"echo\"]}"); // never started
        } finally {
            env.backend.agentUnreachable = false;
        }
        env.backend.machines.get(id).crash();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!body(ok(env, 200, "GET", "/v1/vms/" + id, null))
                .get("status")
                .asText()
                .equals("error")) {
            assertTrue(System.nanoTime() < deadline, "the VM turned error");
            Thread.sleep(20);
        }
        expect(env, 409, "POST", path, "{\"command\":[\"echo\"]}");
        expect(env, 409, "POST", "/v1/snapshots", "{\"vmId\":\"" + id + "\"}");
        ok(env, 200, "DELETE", "/v1/vms/" + id, null);
    }

    // ------------------------------------------------------------------ snapshots and quotas

    @Test
    void snapshotLifecycle() throws Exception {
        String vm = launch(env);
        JsonNode s = body(ok(env, 201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\",\"name\":\"golden\"}"));
        String sid = s.get("id").asText();
        assertEquals("ready", awaitSnapshot(sid));
        JsonNode restored = body(ok(
                env,
                201,
                "POST",
                "/v1/vms",
                "{\"snapshotId\":\"" + sid + "\",\"name\":\"clone\","
                        + "\"firewall\":{\"mode\":\"open\"},\"metadata\":{\"from\":\"golden\"}}"));
        assertEquals("golden", restored.get("sourceName").asText());
        ok(env, 201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}");
        assertTrue(ApiTest.contains(body(ok(env, 200, "GET", "/v1/snapshots", null)), sid));
        assertEquals(
                "ready",
                body(ok(env, 200, "GET", "/v1/snapshots/" + sid, null))
                        .get("status")
                        .asText());
        assertEquals(
                "gold",
                body(ok(env, 200, "PATCH", "/v1/snapshots/" + sid, "{\"name\":\"gold\"}"))
                        .get("name")
                        .asText());
        expectRefused(env, 400, "PATCH", "/v1/snapshots/" + sid, "{}");
        expectRefused(env, 400, "PATCH", "/v1/snapshots/" + sid, "{\"name\":\" \"}");
        expectRefused(env, 400, "POST", "/v1/snapshots", "{\"name\":\"no vm\"}");
        expect(env, 404, "POST", "/v1/snapshots", "{\"vmId\":\"" + UNKNOWN + "\"}");
        assertTrue(body(ok(env, 200, "DELETE", "/v1/snapshots/" + sid, null))
                .get("deleted")
                .asBoolean());
        assertTrue(body(ok(env, 200, "GET", "/v1/org/quotas", null))
                        .at("/limits/vcpu")
                        .asLong()
                > 0);
    }

    // ------------------------------------------------------------------ errors on every operation

    @Test
    void everyOperationWithAKeyIs401WithoutOne() throws Exception {
        String vm = launch(env);
        for (OpenApi.Operation op : SPEC.operations()) {
            JsonNode security = SPEC.document().at(op.pointer()).get("security");
            if (security != null && security.isEmpty()) continue; // no key needed
            String path = op.template().replace("{id}", vm);
            String body = SPEC.document().at(op.pointer()).has("requestBody") ? "{}" : null;
            for (String key : new String[] {null, "fvm_wrong"}) {
                HttpResponse<String> r = send(env, op.method(), path, key, body);
                assertEquals(401, r.statusCode(), op.key() + " key=" + key);
            }
        }
        HttpResponse<String> unknown =
                env.call("GET", "/v1/nonexistent", null, null); // no operation: the component describes it
        assertEquals(401, unknown.statusCode(), "unknown paths under /v1 need a key first");
        assertConforms(
                SPEC.validateComponentResponse(
                        "Unauthorized", OpenApi.headers(unknown.headers().map()), unknown.body()),
                "GET /v1/nonexistent");
    }

    @Test
    void everyOperationOnAnIdIs404ForAnUnknownOne() throws Exception {
        for (OpenApi.Operation op : SPEC.operations()) {
            if (!op.template().contains("{id}")) continue;
            for (String id : List.of(UNKNOWN, "not-a-uuid", "%2e%2e")) {
                String body = SPEC.document().at(op.pointer()).has("requestBody") ? "{}" : null;
                assertEquals(
                        404,
                        send(env, op.method(), op.template().replace("{id}", id), env.keyA, body)
                                .statusCode(),
                        op.key());
            }
        }
        String other = json(sendAs(env, env.keyB, 201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                        .body())
                .get("id")
                .asText();
        expect(env, 404, "GET", "/v1/vms/" + other, null); // another org's
    }

    @Test
    void unknownPathsMethodsAndUnparsableRequests() throws Exception {
        HttpResponse<String> unknown = env.call("GET", "/v1/nonexistent", env.keyA, null);
        assertEquals(404, unknown.statusCode());
        assertConforms(
                SPEC.validateComponentResponse(
                        "NotFound", OpenApi.headers(unknown.headers().map()), unknown.body()),
                "GET /v1/nonexistent");
        // A malformed id (Jetty alone would refuse %00 with a 400) is an unknown id.
        try (Socket s = new Socket(
                InetAddress.getLoopbackAddress(), env.server.baseUri().getPort())) {
            s.setSoTimeout(5000);
            s.getOutputStream()
                    .write(("GET /v1/vms/%00 HTTP/1.1\r\nHost: x\r\nX-API-Key: " + env.keyA
                                    + "\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            RawResponse r = RawResponse.read(s.getInputStream());
            assertEquals(404, r.status());
            assertConforms(
                    SPEC.validateResponse("GET", "/v1/vms/%00", r.status(), r.headers(), r.body()), "GET /v1/vms/%00");
        }
        // Jetty rejects this before the router: the operation's default response describes it.
        try (Socket s = new Socket(
                InetAddress.getLoopbackAddress(), env.server.baseUri().getPort())) {
            s.setSoTimeout(5000);
            s.getOutputStream()
                    .write("GET /v1/vms/a\u0000b HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            RawResponse r = RawResponse.read(s.getInputStream());
            assertEquals(400, r.status());
            assertConforms(
                    SPEC.validateResponse("GET", "/v1/vms/a%00b", r.status(), r.headers(), r.body()),
                    "GET /v1/vms/a\\0b");
        }
    }

    @Test
    void whileVmsAreReattachedReadinessAndCallsOnThemAre503() throws Exception {
        FakeBackend backend = new FakeBackend();
        Env restarted = new Env(
                dir.resolve("restart"), backend, new QuotaValues(8, 1 << 20, 10_000, 10), Duration.ofSeconds(1));
        try {
            String id = json(ok(restarted, 201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                            .body())
                    .get("id")
                    .asText();
            restarted.server.close();
            backend.attachGate = new CountDownLatch(1); // its agent does not answer yet
            restarted.server = assertTimeoutPreemptively(
                    Duration.ofSeconds(10), () -> FastVmServer.start(restarted.config, backend));
            try {
                assertEquals(503, send(restarted, "GET", "/readyz", null, null).statusCode());
                expect(restarted, 503, "POST", "/v1/vms/" + id + "/exec", "{\"command\":[\"echo\"]}");
                expect(restarted, 503, "POST", "/v1/snapshots", "{\"vmId\":\"" + id + "\"}");
                expect(restarted, 503, "DELETE", "/v1/vms/" + id, null);
                assertEquals(
                        "running",
                        body(ok(restarted, 200, "GET", "/v1/vms/" + id, null))
                                .get("status")
                                .asText());
            } finally {
                backend.attachGate.countDown();
            }
            restarted.server.recovery().get(10, TimeUnit.SECONDS);
            assertEquals(200, send(restarted, "GET", "/readyz", null, null).statusCode());
        } finally {
            restarted.close();
        }
    }

    // ------------------------------------------------------------------ coverage

    @Test
    @Order(Integer.MAX_VALUE)
    void everyListedStatusWasSeenAndEveryPathServesExactlyTheListedMethods() throws Exception {
        Set<String> missing = new TreeSet<>(SPEC.declaredResponses());
        missing.removeAll(SPEC.coveredResponses());
        missing.removeAll(UNREACHABLE.keySet());
        assertEquals(Set.of(), missing, "listed in the document but never answered here (run the whole class)");
        for (String r : UNREACHABLE.keySet()) {
            assertTrue(SPEC.declaredResponses().contains(r), r + " is in the document");
            assertFalse(SPEC.coveredResponses().contains(r), r + " was reached after all: drop it from UNREACHABLE");
        }
        Map<String, Set<String>> methods = new TreeMap<>();
        for (OpenApi.Operation op : SPEC.operations())
            methods.computeIfAbsent(op.template(), t -> new TreeSet<>()).add(op.method());
        String vm = launch(env);
        for (Map.Entry<String, Set<String>> p : methods.entrySet()) {
            for (String m : List.of("GET", "POST", "PUT", "PATCH", "DELETE")) {
                if (p.getValue().contains(m)) continue;
                HttpResponse<String> r = env.call(m, p.getKey().replace("{id}", vm), env.keyA, null);
                if (p.getKey().equals("/healthz")
                        || p.getKey().equals("/livez")
                        || p.getKey().equals("/readyz")) {
                    assertEquals(404, r.statusCode(), m + " " + p.getKey() + ": probes serve GET only");
                    continue;
                }
                assertEquals(405, r.statusCode(), m + " " + p.getKey() + " is served but not in the document");
                assertEquals(
                        String.join(", ", p.getValue()),
                        r.headers().firstValue("allow").orElseThrow(),
                        p.getKey());
                assertConforms(
                        SPEC.validateComponentResponse(
                                "MethodNotAllowed", OpenApi.headers(r.headers().map()), r.body()),
                        m + " " + p.getKey());
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /** Sends a request and validates the response against the document, whatever its status. */
    static HttpResponse<String> send(Env e, String method, String path, String key, String body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(e.uri(path))
                .timeout(Duration.ofSeconds(30))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        if (key != null) b.header("X-API-Key", key);
        for (int i = 0; i + 1 < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        int q = path.indexOf('?');
        String rawPath = q < 0 ? path : path.substring(0, q);
        assertConforms(
                SPEC.validateResponse(
                        method,
                        rawPath,
                        r.statusCode(),
                        OpenApi.headers(r.headers().map()),
                        r.body()),
                method + " " + path + " -> " + r.statusCode());
        return r;
    }

    /** As org A, a request the document calls valid: validates it, expects {@code status}, validates the response. */
    static HttpResponse<String> ok(Env e, int status, String method, String path, String body, String... headers)
            throws Exception {
        int q = path.indexOf('?');
        Map<String, String> sent = new LinkedHashMap<>();
        sent.put("X-API-Key", e.keyA);
        if (body != null) sent.put("Content-Type", "application/json");
        for (int i = 0; i + 1 < headers.length; i += 2) sent.put(headers[i], headers[i + 1]);
        assertConforms(
                SPEC.validateRequest(
                        method, q < 0 ? path : path.substring(0, q), q < 0 ? null : path.substring(q + 1), sent, body),
                "request " + method + " " + path);
        return sendAs(e, e.keyA, status, method, path, body, headers);
    }

    static HttpResponse<String> sendAs(
            Env e, String key, int status, String method, String path, String body, String... headers)
            throws Exception {
        HttpResponse<String> r = send(e, method, path, key, body, headers);
        assertEquals(status, r.statusCode(), method + " " + path + ": " + r.body());
        return r;
    }

    /** As org A, expects an error {@code status}; the response is validated. */
    static JsonNode expect(Env e, int status, String method, String path, String body) throws Exception {
        return json(sendAs(e, e.keyA, status, method, path, body).body());
    }

    /** Like {@link #expect}, and the document's schemas must refuse the request as well. */
    static void expectRefused(Env e, int status, String method, String path, String body) throws Exception {
        Map<String, String> sent = Map.of("X-API-Key", e.keyA, "Content-Type", "application/json");
        assertFalse(
                SPEC.validateRequest(method, path, null, sent, body).isEmpty(),
                "the document accepts what the server refuses: " + method + " " + path + " " + abbreviate(body));
        expect(e, status, method, path, body);
    }

    static JsonNode body(HttpResponse<String> r) throws Exception {
        return json(r.body());
    }

    static String launch(Env e) throws Exception {
        return body(ok(e, 201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}"))
                .get("id")
                .asText();
    }

    static String awaitSnapshot(String id) throws Exception {
        return awaitSnapshot(env.keyA, id);
    }

    static String awaitSnapshot(String key, String id) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String st = json(sendAs(env, key, 200, "GET", "/v1/snapshots/" + id, null)
                            .body())
                    .get("status")
                    .asText();
            if (!st.equals("creating")) return st;
            assertTrue(System.nanoTime() < deadline, "snapshot stuck in creating");
            Thread.sleep(20); // polling, as a client would
        }
    }

    static void assertConforms(List<String> violations, String what) {
        assertEquals(List.of(), violations, what + " does not conform to docs/api/openapi.yaml");
    }

    static String abbreviate(String s) {
        return s == null || s.length() <= 120 ? s : s.substring(0, 120) + "...";
    }

    /** A response read off a socket: enough HTTP/1.1 for a short answer with Content-Length. */
    record RawResponse(int status, Map<String, String> headers, String body) {
        static RawResponse read(InputStream in) throws Exception {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            in.transferTo(all); // the server closes the connection after it
            String text = all.toString(StandardCharsets.UTF_8);
            int end = text.indexOf("\r\n\r\n");
            String[] lines = text.substring(0, end).split("\r\n", -1);
            Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                headers.put(
                        lines[i].substring(0, colon).trim(),
                        lines[i].substring(colon + 1).trim());
            }
            return new RawResponse(Integer.parseInt(lines[0].split(" ", 3)[1]), headers, text.substring(end + 4));
        }
    }
}
