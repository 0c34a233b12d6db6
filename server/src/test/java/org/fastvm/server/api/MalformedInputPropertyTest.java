package org.fastvm.server.api;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.fastvm.server.model.QuotaValues;

import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Throws random and malformed bodies, ids and headers at every endpoint: the server must
 * answer every one (10 s client timeout = no hang) and never with a 5xx.
 */
class MalformedInputPropertyTest extends ApiTestBase {
    static Env env;
    static Path dir;
    static String vmId;
    static String snapId;

    @BeforeContainer
    static void start() throws Exception {
        dir = Files.createTempDirectory("fastvm-fuzz");
        FakeBackend backend = new FakeBackend();
        backend.gate.countDown(); // "gate" commands finish at once here
        env = new Env(dir, backend, new QuotaValues(1000, 1 << 30, 1 << 20, 1000), Duration.ofSeconds(2));
        vmId = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}").get("id").asText();
        snapId = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vmId + "\"}").get("id").asText();
    }

    @AfterContainer
    static void stop() throws Exception {
        if (env != null) env.close();
        if (dir != null) org.fastvm.server.FileTreesForTests.delete(dir);
    }

    static Req previous;
    static String previousStatus;

    record Req(String method, String path, String body, String key, String accept, String contentType) {}

    @Property(tries = 400, seed = "20261128")
    void neverA5xxNorAHang(@ForAll("requests") Req r) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(env.uri(r.path())).timeout(Duration.ofSeconds(10))
                .method(r.method(), r.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(r.body()));
        if (r.key() != null) b.header("X-API-Key", r.key());
        if (r.accept() != null) b.header("Accept", r.accept());
        if (r.contentType() != null) b.header("Content-Type", r.contentType());
        b.header("X-Stainless-Fuzz", "1");
        HttpResponse<String> resp;
        try {
            resp = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new AssertionError("transport failure; previous request="  + previous + " previousStatus=" + previousStatus + " current=" + r, e);
        }
        previous = r;
        previousStatus = resp.statusCode() + " " + resp.headers().map();
        assertTrue(resp.statusCode() < 500, r + " → " + resp.statusCode() + " " + resp.body());
    }

    @Provide
    Arbitrary<Req> requests() {
        Arbitrary<String> method = Arbitraries.of("GET", "POST", "PUT", "PATCH", "DELETE");
        Arbitrary<String> id = Arbitraries.oneOf(Arbitraries.of(vmId, snapId, "", "..", "00000000-0000-0000-0000-000000000000"),
                Arbitraries.strings().ofMinLength(1).ofMaxLength(40).map(s -> URLEncoder.encode(s, StandardCharsets.UTF_8)));
        Arbitrary<String> path = Combinators.combine(Arbitraries.of(
                "/v1/vms", "/v1/vms/%s", "/v1/vms/%s/firewall", "/v1/vms/%s/exec", "/v1/snapshots", "/v1/snapshots/%s",
                "/v1/org/quotas", "/healthz", "/readyz", "/metrics", "/v1/vms?status=%s", "/v1/vms?metadata.%s=x",
                "/v1/%s"), id).as((t, i) -> t.contains("%s") ? t.formatted(i) : t);
        Arbitrary<String> body = Arbitraries.oneOf(
                Arbitraries.just(null), Arbitraries.just(""), Arbitraries.strings().ofMaxLength(200),
                jsonish(), jsonish().map(s -> s.substring(0, s.length() / 2)));
        Arbitrary<String> key = Arbitraries.oneOf(Arbitraries.just(env.keyA), Arbitraries.just(env.keyA),
                Arbitraries.just(null), Arbitraries.strings().ascii().ofMaxLength(60).filter(s -> s.chars().allMatch(c -> c >= 0x20 && c < 0x7f)));
        Arbitrary<String> accept = Arbitraries.of(null, "application/json", "application/x-ndjson", "*/*", "text/html", "application/x-ndjson;q=0.1");
        Arbitrary<String> ct = Arbitraries.of(null, "application/json", "text/plain", "application/json; charset=latin1", "multipart/form-data");
        return Combinators.combine(method, path, body, key, accept, ct).as(Req::new);
    }

    /** JSON objects with the real field names and values of wrong or extreme types. */
    private Arbitrary<String> jsonish() {
        Arbitrary<String> field = Arbitraries.of("machineType", "snapshotId", "name", "diskGiB", "firewall", "metadata",
                "command", "timeoutSec", "stdin", "vmId", "mode", "ingress", "zzz");
        Arbitrary<String> value = Arbitraries.oneOf(
                Arbitraries.of("null", "true", "0", "-1", "1e309", "9223372036854775808", "1.5", "\"c1m2\"", "\"c9m9\"",
                        "[]", "{}", "[\"echo\",\"hi\"]", "[\"\"]", "[1,2]", "\"" + vmId + "\"", "\"" + snapId + "\"",
                        "{\"mode\":\"restricted\",\"ingress\":[{\"protocol\":\"tcp\",\"portStart\":70000}]}",
                        "{\"mode\":\"open\",\"ingress\":[{\"protocol\":\"udp\",\"portStart\":1,\"sourceCidrs\":[\"::/0\",\"1.2.3.4/8\"]}]}",
                        "{\"k\":{\"nested\":1}}", "\"\\u0000\"", "\"" + "x".repeat(5000) + "\""),
                Arbitraries.strings().ofMaxLength(30).map(s -> "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""));
        return Combinators.combine(field, value).as((f, v) -> "\"" + f + "\":" + v).list().ofMaxSize(5)
                .map(List::toArray).map(a -> "{" + String.join(",", java.util.Arrays.stream(a).map(Object::toString).toList()) + "}");
    }
}
