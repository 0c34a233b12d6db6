package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.GenerationMode;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.QuotaValues;

/**
 * The fuzz suite: more than 5,000 requests at every route of both listeners, with every method,
 * odd headers and bodies of every shape — through java.net.http over HTTP/1.1 and h2c, and
 * through a plain socket for what that client will not send (bad framing, bad versions, raw
 * bytes in the target, requests cut short). For each: an answer within a bound (no hang),
 * never a 5xx (but 505 for a bad HTTP version), and every error a JSON object with string
 * {@code error} and {@code message}, {@code Content-Type: application/json} and
 * {@code x-should-retry}. Fixed seeds: a failure reproduces.
 */
class HttpFuzzTest extends ApiTestBase {
    /** What the suite must send, at least (issue 9). */
    static final int MIN_REQUESTS = 5_000;

    static final int HTTP1_TRIES = 2_300, H2C_TRIES = 1_200, RAW_TRIES = 1_600;
    /** The server's read timeout here: short, so requests left half-sent are over in a second. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(1);
    /** No answer (or close) within this is a hang. */
    static final Duration ANSWER_WITHIN = Duration.ofSeconds(10);

    static final AtomicInteger sent = new AtomicInteger();
    static final AtomicInteger closedUnanswered = new AtomicInteger();
    static final Map<Integer, Integer> statuses = new ConcurrentHashMap<>();
    static Env env;
    static Path dir;
    static HttpClient h2;
    static int apiPort, metricsPort;
    /** Live ids the symbolic ids resolve to; replaced when a request deletes them. */
    static final Map<String, String> ids = new ConcurrentHashMap<>();

    static final String VM = "$VM", VM_B = "$VMB", SNAP = "$SNAP", GONE = "$GONE", KEY_A = "$KEYA", KEY_B = "$KEYB";

    @BeforeContainer
    static void start() throws Exception {
        dir = Files.createTempDirectory("fastvm-fuzz");
        FakeBackend backend = new FakeBackend();
        backend.gate.countDown(); // "gate" commands finish at once here
        env = new Env(
                dir,
                backend,
                new QuotaValues(100_000, 1 << 30, 1 << 20, 100_000),
                Duration.ofSeconds(2),
                c -> c.withTimeouts(Duration.ofSeconds(30), READ_TIMEOUT));
        apiPort = env.server.baseUri().getPort();
        metricsPort = env.server.metricsUri().orElseThrow().getPort();
        ids.put(VM, launch(env.keyA));
        ids.put(VM_B, launch(env.keyB));
        ids.put(SNAP, snapshot(ids.get(VM)));
        String gone = launch(env.keyA);
        env.expect(200, "DELETE", "/v1/vms/" + gone, null);
        ids.put(GONE, gone);
        h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        // the h2c upgrade happens on a request without a body: prime it, later requests are streams
        HttpResponse<String> primed =
                h2.send(HttpRequest.newBuilder(env.uri("/healthz")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, primed.version());
    }

    @AfterContainer
    static void stop() throws Exception {
        try {
            // provably enough requests (each counted as it is sent)
            System.out.println(
                    "fuzz: " + sent.get() + " requests; answers by status " + new java.util.TreeMap<>(statuses)
                            + "; closed without an answer (fairly) " + closedUnanswered.get());
            assertTrue(
                    sent.get() >= MIN_REQUESTS,
                    "the fuzz suite sent " + sent.get() + " requests, fewer than " + MIN_REQUESTS);
        } finally {
            if (h2 != null) h2.close();
            if (env != null) env.close();
            if (dir != null) org.fastvm.server.FileTreesForTests.delete(dir);
        }
    }

    static String launch(String key) throws Exception {
        return env.expectAs(key, 201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                .get("id")
                .asText();
    }

    static String snapshot(String vm) throws Exception {
        return env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}")
                .get("id")
                .asText();
    }

    static String resolve(String s) {
        for (var e : ids.entrySet()) s = s.replace(e.getKey(), e.getValue());
        return s.replace(KEY_A, env.keyA).replace(KEY_B, env.keyB);
    }

    /** Puts back what a request deleted, so later requests still meet live objects. */
    static void replenish() throws Exception {
        if (gone("/v1/vms/" + ids.get(VM), env.keyA)) ids.put(VM, launch(env.keyA));
        if (gone("/v1/vms/" + ids.get(VM_B), env.keyB)) ids.put(VM_B, launch(env.keyB));
        if (gone("/v1/snapshots/" + ids.get(SNAP), env.keyA)) ids.put(SNAP, snapshot(ids.get(VM)));
    }

    private static boolean gone(String path, String key) throws Exception {
        HttpResponse<String> r = env.call("GET", path, key, null);
        if (r.statusCode() == 404) return true;
        JsonNode n = json(r.body());
        return n.path("status").asText().equals("deleting")
                || n.path("status").asText().equals("error");
    }

    // ---------------------------------------------------------------- java.net.http

    /** A request java.net.http can send: a listener, method, path (with symbolic ids), headers, body. */
    @SuppressWarnings("ArrayRecordComponent") // generated test input, sent as is and never compared
    record Req(
            boolean metricsListener,
            String method,
            String path,
            List<String[]> headers,
            byte[] body,
            String bodyShape) {
        @Override
        public String toString() {
            String hs = headers.stream()
                    .map(h -> h[0] + ": " + cut(h[1], 40))
                    .toList()
                    .toString();
            return (metricsListener ? "[metrics] " : "") + method + " " + cut(path, 120) + " " + hs + " body="
                    + bodyShape
                    + (body == null
                            ? ""
                            : "(" + body.length + " B) " + cut(new String(body, StandardCharsets.ISO_8859_1), 120));
        }
    }

    /**
     * A head over 8 KiB goes without a body here: Jetty answers it 431 and closes before reading
     * on, and java.net.http, still sending the body, sometimes (1 in 40) sees the close first and
     * reports no answer. The raw run sends such requests and reads the 431 every time.
     */
    @Property(tries = HTTP1_TRIES, seed = "20261128", generation = GenerationMode.RANDOMIZED)
    void overHttp1(@ForAll("requests") Req r) throws Exception {
        int head = r.headers().stream()
                        .mapToInt(h -> h[0].length() + resolve(h[1]).length() + 4)
                        .sum()
                + r.path().length();
        send(
                http,
                head > 8000 && r.body() != null
                        ? new Req(r.metricsListener(), r.method(), r.path(), r.headers(), null, "none")
                        : r);
    }

    /**
     * Over h2c, two kinds of headers are left out, as Jetty's HTTP/2 cannot answer them with an
     * error response: values with bytes over 0x7f (Jetty 12.1.5's HPACK decoder widens such a
     * byte with its sign, 0xe9 becoming U+FFE9, then rejects the value: a 400, or a reset stream
     * when a body follows) and header blocks over the 8 KiB the server announces in
     * SETTINGS_MAX_HEADER_LIST_SIZE (HPACK cannot skip a block, so the connection ends with a
     * GOAWAY). HTTP/1.1 takes the first and answers 431 to the second; the other runs send both.
     * And a path whose dot segments climb above the root ({@code /..}, {@code /v1/%2e%2e/%2e%2e})
     * goes without a body: Jetty's HPACK layer answers it 400 ("Invalid URI") and then resets
     * the stream at the client's DATA frame, and java.net.http reports the reset, not the 400.
     */
    @Property(tries = H2C_TRIES, seed = "20261205", generation = GenerationMode.RANDOMIZED)
    void overH2c(@ForAll("requests") Req r) throws Exception {
        List<String[]> headers = new ArrayList<>();
        int size = 0;
        for (String[] h : r.headers()) {
            String value = resolve(h[1]);
            if (!value.chars().allMatch(c -> c < 0x7f) || size + h[0].length() + value.length() + 32 > 7000) continue;
            size += h[0].length() + value.length() + 32;
            headers.add(h);
        }
        byte[] body = climbsAboveRoot(r.path()) ? null : r.body();
        send(
                h2,
                new Req(
                        r.metricsListener(),
                        r.method(),
                        r.path(),
                        headers,
                        body,
                        body == null ? "none" : r.bodyShape()));
    }

    /** {@return true when the path's dot segments (plain or %2e-encoded) lead above "/"} */
    static boolean climbsAboveRoot(String path) {
        int depth = 0;
        String p = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
        for (String seg : p.split("/", -1)) {
            String s = seg.replaceAll("(?i)%2e", ".");
            if (s.contains(";")) s = s.substring(0, s.indexOf(';'));
            if (s.isEmpty() || s.equals(".")) continue;
            if (s.equals("..")) {
                if (--depth < 0) return true;
            } else {
                depth++;
            }
        }
        return false;
    }

    static final Map<HttpClient, String> previous = new ConcurrentHashMap<>();

    private static void send(HttpClient client, Req r) throws Exception {
        URI base = r.metricsListener() ? URI.create("http://127.0.0.1:" + metricsPort) : env.server.baseUri();
        String path = resolve(r.path());
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(ANSWER_WITHIN)
                .method(
                        r.method(),
                        r.body() == null
                                ? HttpRequest.BodyPublishers.noBody()
                                : HttpRequest.BodyPublishers.ofByteArray(
                                        resolve(new String(r.body(), StandardCharsets.ISO_8859_1))
                                                .getBytes(StandardCharsets.ISO_8859_1)));
        for (String[] h : r.headers()) b.header(h[0], resolve(h[1]));
        HttpResponse<byte[]> resp;
        sent.incrementAndGet();
        try {
            resp = client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            // the previous exchange on the client, because a connection it left unusable shows on the next one
            throw new AssertionError("no answer (" + e + ") to " + r + "; previous: " + previous.get(client), e);
        }
        previous.put(
                client,
                r + " → " + resp.statusCode() + " " + resp.version() + " "
                        + resp.headers().map());
        check(
                r.toString(),
                resp.statusCode(),
                resp.headers(),
                resp.body(),
                r.method().equals("HEAD"),
                false);
        if (r.method().equals("DELETE") && resp.statusCode() == 200) replenish();
    }

    @Provide
    Arbitrary<Req> requests() {
        Arbitrary<String> method = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.of("GET", "POST", "PUT", "PATCH", "DELETE")),
                net.jqwik.api.Tuple.of(2, Arbitraries.of("HEAD", "OPTIONS", "FOO", "get", "PROPFIND", "X-Y")));
        Arbitrary<String> id = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(8, Arbitraries.of(VM, SNAP)),
                net.jqwik.api.Tuple.of(
                        3,
                        Arbitraries.of(
                                VM_B,
                                GONE,
                                "",
                                ".",
                                "..",
                                "%2e%2e",
                                "%2E%2e",
                                "%2F",
                                "%2f..%2f",
                                "x;y",
                                "%C0%AF",
                                "%ff",
                                "%fe%ff",
                                "%e2%80%ae",
                                "00000000-0000-0000-0000-000000000000",
                                "a".repeat(3000),
                                "%20",
                                "+",
                                "~",
                                "$VM/..",
                                "%25zz")),
                net.jqwik.api.Tuple.of(
                        2,
                        Arbitraries.strings()
                                .ofMinLength(1)
                                .ofMaxLength(40)
                                .map(s -> URLEncoder.encode(s, StandardCharsets.UTF_8))));
        Arbitrary<String> template = Arbitraries.of(
                "/v1/vms",
                "/v1/vms/%s",
                "/v1/vms/%s",
                "/v1/vms/%s/exec",
                "/v1/vms/%s/exec",
                "/v1/vms/%s/firewall",
                "/v1/snapshots",
                "/v1/snapshots/%s",
                "/v1/org/quotas",
                "/v1/openapi.json",
                "/healthz",
                "/livez",
                "/readyz",
                "/metrics",
                "/v1/%s",
                "/%s",
                "/v1/vms/%s/%s",
                "/v1/vms/%s/exec/x",
                "/",
                "/v1",
                "/v2/vms",
                "/v1/org",
                "/v1/vms?status=%s",
                "/v1/vms?metadata.%s=x",
                "/v1/vms?status=running&metadata.k=v",
                "/v1/vms?%25zz=1&=&&");
        Arbitrary<String> path = Combinators.combine(template, id).as((t, i) -> t.replace("%s", i));
        Arbitrary<Req> random = Combinators.combine(
                        Arbitraries.integers().between(0, 19).map(n -> n == 0), method, path, headers(), body())
                .as((metrics, m, p, h, b) -> new Req(metrics, m, p, h, b.bytes(), b.shape()));
        // well-formed calls too, with the same odd headers, so success paths (streams included) meet them
        Arbitrary<String[]> call = Arbitraries.of(
                new String[] {"POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"name\":\" fuzz  vm \"}"},
                new String[] {"POST", "/v1/vms", "{\"snapshotId\":\"" + SNAP + "\"}"},
                new String[] {"GET", "/v1/vms", null},
                new String[] {"GET", "/v1/vms/" + VM, null},
                new String[] {"PATCH", "/v1/vms/" + VM, "{\"name\":\"n\",\"metadata\":{\"k\":\"v\"}}"},
                new String[] {"POST", "/v1/vms/" + VM + "/exec", "{\"command\":[\"echo\",\"hi\"]}"},
                new String[] {"POST", "/v1/vms/" + VM + "/exec", "{\"command\":[\"big\",\"100000\"],\"stdin\":\"aGk=\"}"
                },
                new String[] {"POST", "/v1/vms/" + VM + "/exec", "{\"command\":[\"exit\",\"7\"],\"timeoutSec\":30}"},
                new String[] {"PUT", "/v1/vms/" + VM + "/firewall", "{\"mode\":\"open\"}"},
                new String[] {"PATCH", "/v1/vms/" + VM + "/firewall", "{\"ingress\":[]}"},
                new String[] {"POST", "/v1/snapshots", "{\"vmId\":\"" + VM + "\"}"},
                new String[] {"GET", "/v1/snapshots", null},
                new String[] {"GET", "/v1/snapshots/" + SNAP, null},
                new String[] {"PATCH", "/v1/snapshots/" + SNAP, "{\"name\":\"s\"}"},
                new String[] {"GET", "/v1/org/quotas", null},
                new String[] {"GET", "/v1/openapi.json", null},
                new String[] {"GET", "/healthz", null},
                new String[] {"HEAD", "/readyz", null});
        Arbitrary<Req> wellFormed = Combinators.combine(call, headers())
                .as((c, h) -> new Req(false, c[0], c[1], h, c[2] == null ? null : utf8(c[2]), "valid"));
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(4, random), net.jqwik.api.Tuple.of(1, wellFormed));
    }

    /** 0–5 headers from a pool of useful and odd ones; the key is usually org A's. */
    private Arbitrary<List<String[]>> headers() {
        Arbitrary<String[]> key = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(12, Arbitraries.just(new String[] {"X-API-Key", KEY_A})),
                net.jqwik.api.Tuple.of(
                        2,
                        Arbitraries.of(
                                new String[] {"X-API-Key", KEY_B},
                                new String[] {"Authorization", "Bearer " + KEY_A},
                                new String[] {"Authorization", "Bearer nope"},
                                new String[] {"X-API-Key", "fvm_nope"},
                                new String[] {"X-API-Key", " " + KEY_A + " "},
                                new String[] {"x-api-key", KEY_A},
                                new String[] {"X-API-Key", KEY_A + "\u00ff"},
                                new String[] {"X-API-Key", "k".repeat(5000)})),
                net.jqwik.api.Tuple.of(
                        1,
                        Arbitraries.strings()
                                .ascii()
                                .ofMaxLength(60)
                                .filter(s -> s.chars().allMatch(c -> c >= 0x20 && c < 0x7f))
                                .map(s -> new String[] {"X-API-Key", s})));
        Arbitrary<String[]> other = Arbitraries.of(
                new String[] {"Accept", "application/json"},
                new String[] {"Accept", "application/x-ndjson"},
                new String[] {"Accept", "*/*"},
                new String[] {"Accept", "text/html"},
                new String[] {"Accept", "application/x-ndjson;q=0.1, application/json"},
                new String[] {"Accept", "\u00e9/\u00e9"},
                new String[] {"Content-Type", "application/json"},
                new String[] {"Content-Type", "text/plain"},
                new String[] {"Content-Type", "application/json; charset=latin1"},
                new String[] {"Content-Type", "multipart/form-data; boundary=x"},
                new String[] {"Content-Type", ";;;"},
                new String[] {"Content-Type", "application/x-www-form-urlencoded"},
                new String[] {"Accept-Encoding", "gzip, br"},
                new String[] {"Content-Encoding", "gzip"},
                new String[] {"x-stainless-read-timeout", "NaN"},
                new String[] {"x-stainless-read-timeout", "30"},
                new String[] {"X-Stainless-Timeout", "-1"},
                new String[] {"X-Stainless-Timeout", "1e400"},
                new String[] {"X-Stainless-Retry-Count", "2"},
                new String[] {"X-Fuzz-Big", "b".repeat(9000)},
                new String[] {"X-Fuzz-Big", "b".repeat(4000)},
                new String[] {"Origin", "http://evil"},
                new String[] {"Cookie", "a=b; c"},
                new String[] {"Range", "bytes=0-1"},
                new String[] {"If-None-Match", "*"},
                new String[] {"X-Forwarded-For", "::1, 10.0.0.1"},
                new String[] {"Authorization", "Basic Zm9vOmJhcg=="},
                new String[] {"X-HTTP-Method-Override", "DELETE"});
        return Combinators.combine(key.list().ofMaxSize(1), other.list().ofMaxSize(4))
                .as((k, o) -> {
                    List<String[]> all = new ArrayList<>(k);
                    all.addAll(o);
                    return all;
                });
    }

    /** A body and a word for its shape. */
    @SuppressWarnings("ArrayRecordComponent") // generated test input, sent as is and never compared
    record Body(byte[] bytes, String shape) {}

    private Arbitrary<Body> body() {
        Arbitrary<Body> json = jsonish().map(s -> new Body(utf8(s), "json"));
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.just(new Body(null, "none"))),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(new Body(new byte[0], "empty"))),
                net.jqwik.api.Tuple.of(12, json),
                net.jqwik.api.Tuple.of(
                        4,
                        Arbitraries.of(
                                        "{\"machineType\":\"c1m2\"}",
                                        "{\"machineType\":\"c8m16\",\"name\":\"n\",\"diskGiB\":20}",
                                        "{\"command\":[\"echo\",\"hi\"]}",
                                        "{\"command\":[\"exit\",\"3\"],\"timeoutSec\":5}",
                                        "{\"command\":[\"cat\"],\"stdin\":\"aGk=\"}",
                                        "{\"vmId\":\"" + VM + "\"}",
                                        "{\"snapshotId\":\"" + SNAP + "\"}",
                                        "{\"mode\":\"restricted\",\"ingress\":[{\"protocol\":\"tcp\",\"portStart\":22,\"sourceCidrs\":[\"2001:db8::/32\"]}]}",
                                        "{\"name\":\"renamed\",\"metadata\":{\"k\":\"v\"}}")
                                .map(s -> new Body(utf8(s), "valid"))),
                net.jqwik.api.Tuple.of(
                        3, jsonish().map(s -> new Body(utf8(s.substring(0, s.length() / 2)), "truncated"))),
                net.jqwik.api.Tuple.of(
                        2,
                        Arbitraries.of(
                                        "null",
                                        "true",
                                        "0",
                                        "-0",
                                        "1e309",
                                        "\"s\"",
                                        "[]",
                                        "[{}]",
                                        "{}{}",
                                        "{\"a\":1,\"a\":2}",
                                        "\uFEFF{}",
                                        "{\"name\":\"\\ud800\"}",
                                        "{\"name\":\"\\u0000\\u001b[31m\\u0007\"}",
                                        "{'a':1}",
                                        "{\"a\":NaN}",
                                        "[".repeat(5000),
                                        "{\"a\":".repeat(3000),
                                        "/* c */ {}")
                                .map(s -> new Body(utf8(s), "odd json"))),
                net.jqwik.api.Tuple.of(2, Arbitraries.strings().ofMaxLength(200).map(s -> new Body(utf8(s), "text"))),
                net.jqwik.api.Tuple.of(
                        3,
                        Arbitraries.of(
                                        new byte[] {(byte) 0xff, (byte) 0xfe, 0, '{', 0, '}'}, // UTF-16 with a BOM
                                        "{\"name\":\"caf\u00e9\"}".getBytes(StandardCharsets.ISO_8859_1), // Latin-1
                                        new byte[] {
                                            '{',
                                            '"',
                                            'n',
                                            'a',
                                            'm',
                                            'e',
                                            '"',
                                            ':',
                                            '"',
                                            (byte) 0xc0,
                                            (byte) 0xaf,
                                            '"',
                                            '}'
                                        }, // overlong
                                        new byte[] {
                                            '{',
                                            '"',
                                            'n',
                                            'a',
                                            'm',
                                            'e',
                                            '"',
                                            ':',
                                            '"',
                                            (byte) 0xed,
                                            (byte) 0xa0,
                                            (byte) 0x80,
                                            '"',
                                            '}'
                                        }, // surrogate
                                        new byte[] {(byte) 0x80, (byte) 0x81, (byte) 0xfe})
                                .map(b -> new Body(b, "non-UTF-8"))),
                net.jqwik.api.Tuple.of(
                        2,
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(300).map(b -> new Body(b, "bytes"))),
                // near and over the 1 MiB limit
                net.jqwik.api.Tuple.of(
                        1,
                        Arbitraries.of(Exchange.MAX_BODY_BYTES - 100, Exchange.MAX_BODY_BYTES + 1, 3 << 20)
                                .map(n -> new Body(utf8("{\"name\":\"" + "x".repeat(n - 11) + "\"}"), "huge " + n))));
    }

    /** JSON objects with the real field names and values of wrong or extreme types. */
    private Arbitrary<String> jsonish() {
        Arbitrary<String> field = Arbitraries.of(
                "machineType",
                "snapshotId",
                "name",
                "diskGiB",
                "firewall",
                "metadata",
                "command",
                "timeoutSec",
                "stdin",
                "vmId",
                "mode",
                "ingress",
                "zzz");
        Arbitrary<String> value = Arbitraries.oneOf(
                Arbitraries.of(
                        "null",
                        "true",
                        "0",
                        "-1",
                        "1e309",
                        "9223372036854775808",
                        "1.5",
                        "\"c1m2\"",
                        "\"c9m9\"",
                        "[]",
                        "{}",
                        "[\"echo\",\"hi\"]",
                        "[\"\"]",
                        "[1,2]",
                        "\"" + VM + "\"",
                        "\"" + SNAP + "\"",
                        "\"" + GONE + "\"",
                        "\"" + VM_B + "\"",
                        "{\"mode\":\"restricted\",\"ingress\":[{\"protocol\":\"tcp\",\"portStart\":70000}]}",
                        "{\"mode\":\"open\",\"ingress\":[{\"protocol\":\"udp\",\"portStart\":1,\"sourceCidrs\":[\"::/0\",\"1.2.3.4/8\"]}]}",
                        "[{\"protocol\":\"tcp\",\"portStart\":1,\"sourceCidrs\":[\"::ffff:10.0.0.0/104\"]}]",
                        "{\"k\":{\"nested\":1}}",
                        "\"\\u0000\"",
                        "\"" + "x".repeat(5000) + "\"",
                        "[\"x\",null]",
                        "\"!!!not base64\"",
                        "[" + "\"a\",".repeat(5000) + "\"a\"]"),
                Arbitraries.strings()
                        .ofMaxLength(30)
                        .map(s -> "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""));
        return Combinators.combine(field, value)
                .as((f, v) -> "\"" + f + "\":" + v)
                .list()
                .ofMaxSize(5)
                .map(l -> "{" + String.join(",", l) + "}");
    }

    // ---------------------------------------------------------------- raw socket

    /** How a raw request ends. */
    enum Ending {
        /** sent whole; the socket stays open for the answer */
        COMPLETE,
        /** sent whole, then our sending side shut (the server reads EOF after it) */
        HALF_CLOSE,
        /** cut at {@link Raw#cutAt} of its bytes, then our side shut */
        CUT_HALF_CLOSE,
        /** cut at {@link Raw#cutAt}, then the socket closed */
        CUT_CLOSE
    }

    /**
     * A request as bytes: request line parts, header lines (the framing ones as given, others
     * with symbolic ids), a body and how it is framed, and how the request ends.
     */
    record Raw(
            boolean metricsListener,
            String method,
            String target,
            String version,
            List<String> headerLines,
            String framing,
            String body,
            Ending ending,
            double cutAt) {
        byte[] bytes() {
            String b = resolve(body);
            StringBuilder s = new StringBuilder();
            s.append(method)
                    .append(' ')
                    .append(resolve(target))
                    .append(version.isEmpty() ? "" : " " + version)
                    .append("\r\n");
            for (String h : headerLines) s.append(resolve(h)).append("\r\n");
            switch (framing) {
                case "none" -> {}
                case "length" -> s.append("Content-Length: ").append(b.length()).append("\r\n");
                case "chunked" -> s.append("Transfer-Encoding: chunked\r\n");
                case "chunked-bad" -> s.append("Transfer-Encoding: chunked\r\n");
                default -> s.append(framing).append("\r\n"); // an odd framing header, sent as is
            }
            s.append("\r\n");
            switch (framing) {
                case "none" -> {}
                case "chunked" -> {
                    if (!b.isEmpty())
                        s.append(Integer.toHexString(b.length()))
                                .append(";ext=1\r\n")
                                .append(b)
                                .append("\r\n");
                    s.append("0\r\n\r\n");
                }
                case "chunked-bad" -> s.append("zz\r\n").append(b).append("\r\n0\r\n\r\n");
                default -> s.append(b);
            }
            byte[] all = s.toString().getBytes(StandardCharsets.ISO_8859_1);
            if (ending == Ending.CUT_CLOSE || ending == Ending.CUT_HALF_CLOSE) {
                all = java.util.Arrays.copyOf(all, Math.max(1, (int) (all.length * cutAt)));
            }
            return all;
        }

        /** {@return true when the request line is three tokens with HTTP/1.1 or HTTP/1.0 (else 505 is a fair answer)} */
        boolean versionOk() {
            String line = method + " " + resolve(target) + (version.isEmpty() ? "" : " " + version);
            String[] t = line.split(" ", -1);
            return t.length == 3
                    && !t[0].isEmpty()
                    && !t[1].isEmpty()
                    && (t[2].equals("HTTP/1.1") || t[2].equals("HTTP/1.0"));
        }

        @Override
        public String toString() {
            return (metricsListener ? "[metrics] " : "") + ending + " " + cut(method, 20) + " " + cut(target, 100) + " "
                    + cut(version, 20)
                    + " " + headerLines.stream().map(h -> cut(h, 50)).toList() + " framing=" + framing + " body="
                    + cut(body, 100)
                    + (ending.name().startsWith("CUT") ? " cutAt=" + cutAt : "");
        }
    }

    @Property(tries = RAW_TRIES, seed = "20261206", generation = GenerationMode.RANDOMIZED)
    void overRawSockets(@ForAll("rawRequests") Raw r) throws Exception {
        byte[] bytes = r.bytes();
        try (Socket s = RawHttp.connect(r.metricsListener() ? metricsPort : apiPort, ANSWER_WITHIN)) {
            sent.incrementAndGet();
            try {
                s.getOutputStream().write(bytes);
            } catch (IOException e) {
                // the server may close (answering 400/431/414) before it has read a large request: read what it said
            }
            switch (r.ending()) {
                case CUT_CLOSE -> {
                    return; // nothing to see; the next requests show the server is fine
                }
                case HALF_CLOSE, CUT_HALF_CLOSE -> s.shutdownOutput();
                case COMPLETE -> {}
            }
            long t0 = System.nanoTime();
            RawHttp.Response resp;
            try {
                resp = RawHttp.read(s.getInputStream(), r.method().equals("HEAD"));
            } catch (java.net.SocketTimeoutException e) {
                throw new AssertionError("no answer nor close within " + ANSWER_WITHIN + ": " + r);
            } catch (java.net.SocketException e) {
                resp = null; // reset: the server closed without (or while) answering a request it could not take
            }
            assertTrue(System.nanoTime() - t0 < ANSWER_WITHIN.toNanos(), "slow answer to " + r);
            if (resp == null) {
                // Closing without an answer is fair only for a request that never arrived whole, or for
                // an exec bound to a connection whose client shut its side (that client counts as gone).
                boolean fair = r.ending() == Ending.CUT_HALF_CLOSE
                        || (r.ending() == Ending.HALF_CLOSE && r.target().contains("/exec"));
                assertTrue(fair, "closed without an answer: " + r);
                closedUnanswered.incrementAndGet();
                return;
            }
            check(
                    r.toString(),
                    resp.status(),
                    resp.headers(),
                    resp.body(),
                    r.method().equals("HEAD"),
                    !r.versionOk());
        }
        if (r.method().equals("DELETE")) replenish();
    }

    @Provide
    Arbitrary<Raw> rawRequests() {
        Arbitrary<String> method = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(8, Arbitraries.of("GET", "POST", "PUT", "PATCH", "DELETE")),
                net.jqwik.api.Tuple.of(
                        3,
                        Arbitraries.of(
                                "HEAD",
                                "OPTIONS",
                                "FOO",
                                "TRACE",
                                "CONNECT",
                                "get",
                                "M-SEARCH",
                                "PRI",
                                "",
                                "G\tET",
                                "GET GET",
                                "\u00ff",
                                "X".repeat(300))));
        Arbitrary<String> id = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.of(VM, SNAP)),
                net.jqwik.api.Tuple.of(
                        6,
                        Arbitraries.of(
                                "%zz",
                                "%00",
                                "%",
                                "%2",
                                "%u0000",
                                "%uzzzz",
                                "%2e%2e",
                                "%2e%2e/%2e%2e/v1/org/quotas",
                                "..%2f..%2fhealthz",
                                "../../healthz",
                                "a\u0000b",
                                "\u00e9",
                                "a b",
                                "a\tb",
                                "\u0001",
                                "%0d%0aX-Injected: 1",
                                "%C0%AF",
                                "x;y=%zz",
                                "%25",
                                VM_B,
                                GONE,
                                "a".repeat(9000),
                                "%2F",
                                "?",
                                "#",
                                "*")));
        Arbitrary<String> target = Combinators.combine(
                        Arbitraries.of(
                                "/v1/vms/%s",
                                "/v1/vms/%s/exec",
                                "/v1/vms/%s/firewall",
                                "/v1/snapshots/%s",
                                "/v1/%s",
                                "/%s",
                                "/v1/vms",
                                "/v1/snapshots",
                                "/v1/org/quotas",
                                "/v1/openapi.json",
                                "/healthz",
                                "/readyz",
                                "/metrics",
                                "*",
                                "http://x/v1/vms/%s",
                                "http://evil/v1/vms",
                                "//v1//vms",
                                "",
                                "v1/vms",
                                "/v1/vms?status=%s",
                                "x:80",
                                "/v1/vms#%s"),
                        id)
                .as((t, i) -> t.replace("%s", i));
        Arbitrary<String> version = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(12, Arbitraries.just("HTTP/1.1")),
                net.jqwik.api.Tuple.of(2, Arbitraries.just("HTTP/1.0")),
                net.jqwik.api.Tuple.of(
                        3,
                        Arbitraries.of(
                                "HTTP/2.0",
                                "HTTP/9.9",
                                "HTTP/1.2",
                                "FOO/1.1",
                                "http/1.1",
                                "",
                                "HTTP/1.1 x",
                                "HTTP/1.10",
                                "HTTP/",
                                "HTTP/1.1\u0000")));
        Arbitrary<String> header = Arbitraries.of(
                "X-API-Key: " + KEY_A,
                "X-API-Key: " + KEY_A,
                "X-API-Key: " + KEY_B,
                "X-API-Key: nope",
                "X-API-Key:",
                "Authorization: Bearer " + KEY_A,
                "Authorization: Bearer",
                "Accept: application/x-ndjson",
                "Accept: application/json",
                "Accept: */*",
                "Content-Type: application/json",
                "Content-Type: text/plain; charset=x",
                "Expect: 100-continue",
                "Expect: 42-nope",
                "Connection: close",
                "Connection: keep-alive",
                "Connection: Upgrade, x",
                "Upgrade: websocket",
                "Host: other",
                "Host:",
                "NoColonHeader",
                " Folded: x",
                "Bad Name: v",
                ": empty name",
                "X-Nul: a\u0000b",
                "X-Esc: \u001b[31m",
                "X-Latin: \u00ff\u00e9",
                "X-Big: " + "b".repeat(9000),
                "X-Many: " + "v,".repeat(2000),
                "Cookie: a=b",
                "TE: trailers",
                "X-Stainless-Timeout: 1e400",
                "x-stainless-read-timeout: -5",
                "Content-Encoding: gzip",
                "Range: bytes=1-0");
        Arbitrary<String> framing = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.of("none", "length", "chunked")),
                net.jqwik.api.Tuple.of(
                        2,
                        Arbitraries.of(
                                "chunked-bad",
                                "Content-Length: -1",
                                "Content-Length: 1x",
                                "Content-Length: 99999999999999999999",
                                "Content-Length: 2\r\nContent-Length: 3",
                                "Content-Length: 2\r\nContent-Length: 2",
                                "Content-Length: 5\r\nTransfer-Encoding: chunked",
                                "Transfer-Encoding: gzip",
                                "Transfer-Encoding: chunked, chunked",
                                "Transfer-Encoding: identity",
                                "Content-Length: +5",
                                "Content-Length:  5",
                                "Content-Length: 0x10",
                                "Content-Length: 10",
                                "Content-Length: 0")));
        Arbitrary<String> body = Arbitraries.oneOf(
                jsonish(),
                Arbitraries.of(
                        "",
                        "{}",
                        "{\"machineType\":\"c1m2\"}",
                        "{\"command\":[\"echo\",\"raw\"]}",
                        "{\"vmId\":\"" + VM + "\"}",
                        "{\"name\":\"caf\u00e9\"}",
                        "\u00ff\u00fe\u0000",
                        "[".repeat(3000)),
                Arbitraries.strings().ofMaxLength(100).map(s -> new String(utf8(s), StandardCharsets.ISO_8859_1)));
        Arbitrary<Ending> ending = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(10, Arbitraries.just(Ending.COMPLETE)),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(Ending.HALF_CLOSE)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Ending.CUT_HALF_CLOSE)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Ending.CUT_CLOSE)));
        Arbitrary<List<String>> headers = Combinators.combine(
                        Arbitraries.frequencyOf(
                                net.jqwik.api.Tuple.of(12, Arbitraries.just(List.of("Host: x"))),
                                net.jqwik.api.Tuple.of(
                                        1, Arbitraries.of(List.<String>of(), List.of("Host: x", "Host: y")))),
                        header.list().ofMaxSize(4))
                .as((h, o) -> {
                    List<String> all = new ArrayList<>(h);
                    all.addAll(o);
                    return all;
                });
        return Combinators.combine(
                        Arbitraries.integers().between(0, 14).map(n -> n == 0),
                        method,
                        target,
                        version,
                        headers,
                        framing,
                        body,
                        Combinators.combine(ending, Arbitraries.doubles().between(0.05, 0.95))
                                .as(List::of))
                .as((m, me, t, v, h, f, b, end) -> {
                    Ending e = (Ending) end.get(0);
                    // A framing that does not say how long the body is, or says it wrong, with the socket left
                    // open, would only show the read timeout (the test below does that, in parallel): shut our side.
                    if (e == Ending.COMPLETE && !f.matches("none|length|chunked")) e = Ending.HALF_CLOSE;
                    return new Raw(m, me, t, v, h, f, f.equals("none") ? "" : b, e, (Double) end.get(1));
                });
    }

    /**
     * Requests cut short and then left open: the server answers 408 or closes within its read
     * timeout (its idle timeout here is 30 s). Sent all at once, so the suite waits one timeout.
     */
    @Example
    void halfSentRequestsLeftOpenEndWithinTheReadTimeout() throws Exception {
        String key = "X-API-Key: " + env.keyA + "\r\n";
        String vm = ids.get(VM);
        // request text → whether an answer (408, or the handler's own after the read timeout) must come first
        Map<String, Boolean> cases = new java.util.LinkedHashMap<>();
        cases.put("GET /heal", false);
        cases.put("GET /healthz HTTP/1.1\r\n", false);
        cases.put("GET /healthz HTTP/1.1\r\nHost: x\r\n", false);
        cases.put("GET /v1/vms HTTP/1.1\r\nHost: x\r\nX-API-Key: " + env.keyA.substring(0, 5), false);
        cases.put("POST /v1/vms HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 50\r\n\r\n{\"ma", true);
        cases.put("POST /v1/vms HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 50\r\n\r\n", true);
        cases.put(
                "POST /v1/vms HTTP/1.1\r\nHost: x\r\n" + key + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"machine",
                true);
        cases.put("POST /v1/vms HTTP/1.1\r\nHost: x\r\n" + key + "Transfer-Encoding: chunked\r\n\r\n", true);
        cases.put(
                "POST /v1/vms/" + vm + "/exec HTTP/1.1\r\nHost: x\r\n" + key
                        + "Content-Length: 100\r\n\r\n{\"command\":",
                true);
        cases.put(
                "POST /v1/vms/" + vm + "/exec HTTP/1.1\r\nHost: x\r\n" + key + "Accept: application/x-ndjson\r\n"
                        + "Content-Length: 100\r\n\r\n{",
                true);
        cases.put("PUT /v1/vms/" + vm + "/firewall HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 9\r\n\r\n{", true);
        cases.put("POST /v1/snapshots HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 9\r\n\r\n", true);
        cases.put(
                "PATCH /v1/vms/%zz HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 9\r\n\r\n{",
                true); // 404, body unread
        cases.put("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", true); // 200, body unread
        cases.put("DELETE /v1/vms/%2e%2e HTTP/1.1\r\nHost: x\r\n" + key + "Content-Length: 10\r\n\r\n", true);
        cases.put(
                "POST /v1/vms HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + key + "Content-Length: 20\r\n\r\n",
                true);
        List<Future<String>> results = new ArrayList<>();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (var c : cases.entrySet()) {
                for (int port : new int[] {apiPort, metricsPort}) {
                    results.add(pool.submit(() -> halfSent(port, c.getKey(), c.getValue() && port == apiPort)));
                }
            }
            List<String> failures = new ArrayList<>();
            for (Future<String> f : results) {
                String failure = f.get(30, TimeUnit.SECONDS);
                if (failure != null) failures.add(failure);
            }
            assertTrue(failures.isEmpty(), String.join("\n", failures));
        }
    }

    /** {@return null when the server ended the half-sent request in time as it should, else what went wrong} */
    private static String halfSent(int port, String request, boolean answerExpected) throws Exception {
        String label = (port == metricsPort ? "[metrics] " : "") + cut(request.replace("\r\n", "|"), 160);
        try (Socket s = RawHttp.connect(port, ANSWER_WITHIN)) {
            sent.incrementAndGet();
            long t0 = System.nanoTime();
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            RawHttp.Response r;
            try {
                r = RawHttp.read(s.getInputStream(), false);
            } catch (java.net.SocketTimeoutException e) {
                return label + ": neither answered nor closed within " + ANSWER_WITHIN;
            } catch (java.net.SocketException e) {
                r = null;
            }
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            if (took.compareTo(READ_TIMEOUT.plusSeconds(5)) > 0) return label + ": ended only after " + took;
            if (r == null) {
                closedUnanswered.incrementAndGet();
                return answerExpected ? label + ": closed without an answer" : null;
            }
            try {
                check(label, r.status(), r.headers(), r.body(), false, false);
                RawHttp.awaitClosed(s, ANSWER_WITHIN); // a request left half-sent leaves the connection unusable
            } catch (AssertionError e) {
                return e.getMessage();
            }
            return null;
        }
    }

    // ---------------------------------------------------------------- the rules

    /** The rules for every answer: no 5xx (505 only if allowed), errors in JSON, JSON valid where declared. */
    static void check(String request, int status, Object headers, byte[] body, boolean head, boolean allow505) {
        statuses.merge(status, 1, Integer::sum);
        String shown = status + " " + cut(new String(body, StandardCharsets.UTF_8), 300) + " ← " + request;
        assertTrue(status < 500 || (allow505 && status == 505), "server error: " + shown);
        String contentType = header(headers, "content-type");
        if (status >= 400) {
            assertEquals("application/json", contentType, "error without JSON Content-Type: " + shown);
            // only an overload or an unreachable guest may be retried: never a client's mistake, nor a bad version
            assertEquals(
                    status == 502 || status == 503 ? "true" : "false",
                    header(headers, "x-should-retry"),
                    "x-should-retry: " + shown);
            if (!head) {
                JsonNode n = parse(body, shown);
                assertTrue(
                        n.isObject()
                                && n.path("error").isTextual()
                                && n.path("message").isTextual(),
                        "error body without string error and message: " + shown);
            }
        } else if (!head && contentType != null && contentType.startsWith("application/json")) {
            parse(body, shown);
        } else if (!head && contentType != null && contentType.startsWith("application/x-ndjson")) {
            for (String line : new String(body, StandardCharsets.UTF_8).split("\n", -1))
                if (!line.isBlank()) parse(utf8(line), shown);
        }
    }

    private static String header(Object headers, String name) {
        if (headers instanceof HttpHeaders h) return h.firstValue(name).orElse(null);
        @SuppressWarnings("unchecked")
        List<String> v = ((Map<String, List<String>>) headers).get(name.toLowerCase(Locale.ROOT));
        return v == null ? null : v.getFirst();
    }

    private static JsonNode parse(byte[] body, String shown) {
        try {
            return ModelJson.MAPPER.readTree(body);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + shown, e);
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String cut(String s, int max) {
        String t = s.replace("\r", "\\r").replace("\n", "\\n").replace("\u0000", "\\0");
        return t.length() > max ? t.substring(0, max) + "…(" + t.length() + ")" : t;
    }
}
