package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.model.QuotaValues;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API over a scripted backend: every endpoint's status codes, shapes and rules. */
class ApiTest extends ApiTestBase {
    @TempDir
    static Path dir;

    static Env env;

    @BeforeAll
    static void start() throws Exception {
        env = new Env(dir, new FakeBackend(), new QuotaValues(64, 1 << 20, 10_000, 100), Duration.ofSeconds(2));
    }

    @AfterAll
    static void stop() throws Exception {
        if (env != null) env.close();
    }

    static String launch(String body) throws Exception {
        return env.expect(201, "POST", "/v1/vms", body).get("id").asText();
    }

    @Test
    void healthNeedsNoKeyAndSaysThereIsNoPublicNetwork() throws Exception {
        var r = env.call("GET", "/healthz", null, null);
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("content-type").orElseThrow());
        JsonNode n = json(r.body());
        assertEquals("ok", n.get("status").asText());
        assertEquals("fake", n.get("accelerator").asText());
        assertEquals("0.0.0-fake", n.get("qemu").asText());
        assertTrue(n.get("liveSnapshots").asBoolean());
        assertFalse(n.get("publicNetwork").asBoolean());
        assertEquals(200, env.call("GET", "/healthz", "garbage", null).statusCode());
        assertEquals(200, env.call("GET", "/livez", null, null).statusCode());
        assertEquals(200, env.call("GET", "/readyz", null, null).statusCode());
    }

    @Test
    void missingOrWrongKeyIs401WithNoRetry() throws Exception {
        for (String key : new String[] {null, "fvm_wrong", ""}) {
            var r = env.call("GET", "/v1/vms", key, null);
            assertEquals(401, r.statusCode());
            assertEquals("false", r.headers().firstValue("x-should-retry").orElseThrow());
            assertEquals("unauthorized", json(r.body()).get("error").asText());
        }
        assertEquals(401, env.call("GET", "/v1/nonexistent", null, null).statusCode());
        String id = launch("{\"machineType\":\"c1m2\"}");
        String[][] endpoints = {
            {"POST", "/v1/vms", "{\"machineType\":\"c1m2\"}"},
            {"GET", "/v1/vms/" + id, null},
            {"PATCH", "/v1/vms/" + id, "{\"name\":\"x\"}"},
            {"DELETE", "/v1/vms/" + id, null},
            {"PUT", "/v1/vms/" + id + "/firewall", "{\"mode\":\"open\"}"},
            {"PATCH", "/v1/vms/" + id + "/firewall", "{}"},
            {"POST", "/v1/vms/" + id + "/exec", "{\"command\":[\"echo\"]}"},
            {"POST", "/v1/snapshots", "{\"vmId\":\"" + id + "\"}"},
            {"GET", "/v1/snapshots", null},
            {"GET", "/v1/snapshots/" + id, null},
            {"PATCH", "/v1/snapshots/" + id, "{\"name\":\"x\"}"},
            {"DELETE", "/v1/snapshots/" + id, null},
            {"GET", "/v1/org/quotas", null}
        };
        for (String[] e : endpoints) {
            for (String key : new String[] {null, "fvm_wrong"}) {
                assertEquals(401, env.call(e[0], e[1], key, e[2]).statusCode(), e[0] + " " + e[1] + " key=" + key);
            }
        }
        assertEquals(
                "running",
                env.expect(200, "GET", "/v1/vms/" + id, null).get("status").asText(),
                "nothing happened");
        assertEquals(404, env.call("GET", "/v1/nonexistent", env.keyA, null).statusCode());
    }

    @Test
    void launchReturnsTheContractShape() throws Exception {
        JsonNode vm = env.expect(
                201,
                "POST",
                "/v1/vms",
                "{\"machineType\":\"c2m4\",\"metadata\":{\"team\":\"red\"},\"unknownField\":42}");
        String id = vm.get("id").asText();
        assertEquals("vm-" + id.substring(0, 8), vm.get("name").asText());
        assertEquals("c2m4", vm.get("machineName").asText());
        assertEquals(2, vm.get("cpu").asInt());
        assertEquals(4096, vm.get("memoryMiB").asInt());
        assertEquals(10, vm.get("diskGiB").asInt());
        assertEquals("running", vm.get("status").asText());
        assertTrue(vm.get("createdAt").asText().endsWith("Z"));
        assertFalse(vm.has("publicIpv6"));
        assertEquals("restricted", vm.get("firewall").get("mode").asText());
        assertEquals(0, vm.get("firewall").get("ingress").size());
        assertEquals("red", vm.get("metadata").get("team").asText());
        assertEquals(id, env.expect(200, "GET", "/v1/vms/" + id, null).get("id").asText());
        JsonNode list = env.expect(200, "GET", "/v1/vms?metadata.team=red&status=running", null);
        assertTrue(list.isArray());
        assertTrue(contains(list, id));
        assertFalse(contains(env.expect(200, "GET", "/v1/vms?metadata.team=blue", null), id));
        assertFalse(contains(env.expect(200, "GET", "/v1/vms?status=error", null), id));
        assertFalse(contains(env.expectAs(env.keyB, 200, "GET", "/v1/vms", null), id));
    }

    @Test
    void namesAreNormalised() throws Exception {
        JsonNode vm = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"name\":\"  my \\t  box  \"}");
        assertEquals("my box", vm.get("name").asText());
        String id = vm.get("id").asText();
        String longName = "n".repeat(100);
        assertEquals(
                "n".repeat(64),
                env.expect(200, "PATCH", "/v1/vms/" + id, "{\"name\":\"" + longName + "\"}")
                        .get("name")
                        .asText());
        env.expect(400, "PATCH", "/v1/vms/" + id, "{\"name\":\"   \"}");
        for (String control : List.of("\\u0000", "\\u001b[2J", "\\u0007", "\\u007f", "\\u009b")) {
            assertMessage(env.expect(400, "PATCH", "/v1/vms/" + id, "{\"name\":\"a" + control + "b\"}"), "name");
            assertMessage(
                    env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"name\":\"" + control + "\"}"),
                    "name");
        }
        assertEquals(
                "n".repeat(64),
                env.expect(200, "GET", "/v1/vms/" + id, null).get("name").asText(),
                "unchanged");
        env.expect(400, "PATCH", "/v1/vms/" + id, "{}");
        JsonNode md = env.expect(200, "PATCH", "/v1/vms/" + id, "{\"metadata\":{\"a\":\"1\"}}")
                .get("metadata");
        assertEquals("1", md.get("a").asText());
        assertEquals(
                0,
                env.expect(200, "PATCH", "/v1/vms/" + id, "{\"metadata\":{}}")
                        .get("metadata")
                        .size());
    }

    @Test
    void badLaunchInputIs400NamingTheField() throws Exception {
        assertMessage(env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c3m7\"}"), "machineType");
        assertMessage(env.expect(400, "POST", "/v1/vms", "{}"), "machineType");
        assertMessage(env.expect(400, "POST", "/v1/vms", ""), "machineType");
        assertMessage(env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"diskGiB\":5}"), "diskGiB");
        assertMessage(env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"diskGiB\":\"big\"}"), "diskGiB");
        assertMessage(env.expect(400, "POST", "/v1/vms", "{\"machineType\":"), "body");
        assertMessage(env.expect(400, "POST", "/v1/vms", "[1,2]"), "body");
        assertMessage(
                env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"x\":\"" + "a".repeat(1 << 20) + "\"}"),
                "body");
        assertMessage(
                env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"metadata\":{\"k\":1}}"), "metadata.k");
        assertMessage(
                env.expect(
                        400,
                        "POST",
                        "/v1/vms",
                        "{\"machineType\":\"c1m2\",\"metadata\":{\"k\":\"" + "v".repeat(4097) + "\"}}"),
                "metadata.k");
        String fw = "{\"machineType\":\"c1m2\",\"firewall\":{\"mode\":\"restricted\",\"ingress\":[%s]}}";
        assertMessage(
                env.expect(
                        400,
                        "POST",
                        "/v1/vms",
                        fw.formatted("{\"protocol\":\"tcp\",\"portStart\":22,\"sourceCidrs\":[\"10.0.0.0/8\"]}")),
                "firewall.ingress[0].sourceCidrs[0]");
        assertMessage(
                env.expect(
                        400,
                        "POST",
                        "/v1/vms",
                        fw.formatted(
                                "{\"protocol\":\"tcp\",\"portStart\":22,\"sourceCidrs\":[\"::ffff:10.0.0.0/104\"]}")),
                "firewall.ingress[0].sourceCidrs[0]");
        assertMessage(
                env.expect(400, "POST", "/v1/vms", fw.formatted("{\"protocol\":\"icmp\",\"portStart\":22}")),
                "firewall.ingress[0].protocol");
        assertMessage(
                env.expect(400, "POST", "/v1/vms", fw.formatted("{\"protocol\":\"tcp\",\"portStart\":0}")),
                "firewall.ingress[0].portStart");
        assertMessage(
                env.expect(
                        400, "POST", "/v1/vms", fw.formatted("{\"protocol\":\"udp\",\"portStart\":90,\"portEnd\":80}")),
                "firewall.ingress[0].portEnd");
        assertMessage(
                env.expect(
                        400,
                        "POST",
                        "/v1/vms",
                        fw.formatted("{\"protocol\":\"udp\",\"portStart\":90,\"portEnd\":65536}")),
                "firewall.ingress[0].portEnd");
        assertMessage(
                env.expect(400, "POST", "/v1/vms", "{\"machineType\":\"c1m2\",\"firewall\":{\"mode\":\"closed\"}}"),
                "firewall.mode");
    }

    @Test
    void firewallPutAndPatchRoundTrip() throws Exception {
        String id = launch("{\"machineType\":\"c1m2\"}");
        JsonNode put = env.expect(
                        200,
                        "PUT",
                        "/v1/vms/" + id + "/firewall",
                        "{\"mode\":\"restricted\",\"ingress\":["
                                + "{\"protocol\":\"tcp\",\"portStart\":443,\"sourceCidrs\":[\"2001:db8::/32\"],\"description\":\"https\"}]}")
                .get("firewall");
        assertEquals(1, put.get("ingress").size());
        JsonNode rule = put.get("ingress").get(0);
        assertEquals(443, rule.get("portEnd").asInt());
        assertEquals("2001:db8::/32", rule.get("sourceCidrs").get(0).asText());
        assertEquals("https", rule.get("description").asText());
        JsonNode patched = env.expect(200, "PATCH", "/v1/vms/" + id + "/firewall", "{\"mode\":\"open\"}")
                .get("firewall");
        assertEquals("open", patched.get("mode").asText());
        assertEquals(1, patched.get("ingress").size(), "omitted ingress stays");
        JsonNode cleared = env.expect(200, "PATCH", "/v1/vms/" + id + "/firewall", "{\"ingress\":[]}")
                .get("firewall");
        assertEquals("open", cleared.get("mode").asText());
        assertEquals(0, cleared.get("ingress").size());
        assertEquals(
                "open",
                env.expect(200, "GET", "/v1/vms/" + id, null)
                        .get("firewall")
                        .get("mode")
                        .asText());
        env.expect(400, "PUT", "/v1/vms/" + id + "/firewall", "{\"ingress\":[]}");
    }

    @Test
    void otherOrgsAndMalformedIdsAre404OnEveryEndpoint() throws Exception {
        String id = launch("{\"machineType\":\"c1m2\"}");
        String snap = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + id + "\"}")
                .get("id")
                .asText();
        String b = env.keyB;
        for (String badId : new String[] {
            id, "not-a-uuid", "%20", "00000000-0000-0000-0000-000000000000", "%2e%2e", "%2E", "..%2f.."
        }) {
            String key = badId.equals(id) ? b : env.keyA;
            env.expectAs(key, 404, "GET", "/v1/vms/" + badId, null);
            env.expectAs(key, 404, "PATCH", "/v1/vms/" + badId, "{\"name\":\"x\"}");
            env.expectAs(key, 404, "PUT", "/v1/vms/" + badId + "/firewall", "{\"mode\":\"open\"}");
            env.expectAs(key, 404, "PATCH", "/v1/vms/" + badId + "/firewall", "{\"mode\":\"open\"}");
            env.expectAs(key, 404, "POST", "/v1/vms/" + badId + "/exec", "{\"command\":[\"echo\",\"hi\"]}");
            env.expectAs(key, 404, "POST", "/v1/snapshots", "{\"vmId\":\"" + badId + "\"}");
            env.expectAs(key, 404, "DELETE", "/v1/vms/" + badId, null);
        }
        // encoded dot segments never walk to another route
        for (String walk : new String[] {
            "/v1/vms/%2e%2e/%2e%2e/v1/org/quotas",
            "/v1/vms/" + id + "/%2e%2e/%2e%2e/%2e%2e/healthz",
            "/v1/snapshots/%2E%2E/vms",
            "/v1/vms/.%2e/snapshots"
        }) {
            var r = env.call("GET", walk, env.keyA, null);
            assertTrue(r.statusCode() == 400 || r.statusCode() == 404, walk + " -> " + r.statusCode());
            assertEquals(
                    "application/json", r.headers().firstValue("content-type").orElse(""), walk);
            assertFalse(json(r.body()).has("status"), walk + " reached a route: " + r.body());
        }
        env.expectAs(b, 404, "GET", "/v1/snapshots/" + snap, null);
        env.expectAs(b, 404, "PATCH", "/v1/snapshots/" + snap, "{\"name\":\"x\"}");
        env.expectAs(b, 404, "DELETE", "/v1/snapshots/" + snap, null);
        env.expectAs(b, 404, "POST", "/v1/vms", "{\"snapshotId\":\"" + snap + "\"}");
        assertFalse(contains(env.expectAs(b, 200, "GET", "/v1/snapshots", null), snap));
        // Still there for its owner.
        env.expect(200, "GET", "/v1/vms/" + id, null);
        env.expect(200, "GET", "/v1/snapshots/" + snap, null);
    }

    @Test
    void bufferedExecCapsOutputAndReportsExitCodesAndTimeouts() throws Exception {
        String id = launch("{\"machineType\":\"c1m2\"}");
        String path = "/v1/vms/" + id + "/exec";
        JsonNode r = env.expect(200, "POST", path, "{\"command\":[\"echo\",\"hello\",\"world\"]}");
        assertEquals("hello world\n", r.get("stdout").asText());
        for (String f : new String[] {
            "exitCode", "stdout", "stderr", "timedOut", "stdoutTruncated", "stderrTruncated", "durationMs"
        }) {
            assertTrue(r.has(f), f);
        }
        assertEquals(
                3,
                env.expect(200, "POST", path, "{\"command\":[\"exit\",\"3\"]}")
                        .get("exitCode")
                        .asInt());
        assertTrue(env.expect(200, "POST", path, "{\"command\":[\"timeout\"],\"timeoutSec\":1}")
                .get("timedOut")
                .asBoolean());
        String stdin = Base64.getEncoder().encodeToString("fed in".getBytes(StandardCharsets.UTF_8));
        assertEquals(
                "fed in",
                env.expect(200, "POST", path, "{\"command\":[\"cat\"],\"stdin\":\"" + stdin + "\"}")
                        .get("stdout")
                        .asText());
        JsonNode big = env.expect(200, "POST", path, "{\"command\":[\"big\",\"5000000\"]}");
        assertEquals(ExecHandler.BUFFERED_CAP_BYTES, big.get("stdout").asText().length());
        assertEquals(ExecHandler.BUFFERED_CAP_BYTES, big.get("stderr").asText().length());
        assertTrue(big.get("stdoutTruncated").asBoolean());
        assertTrue(big.get("stderrTruncated").asBoolean());
        JsonNode small = env.expect(200, "POST", path, "{\"command\":[\"big\",\"1000\"]}");
        assertFalse(small.get("stdoutTruncated").asBoolean());
        assertMessage(env.expect(400, "POST", path, "{\"command\":[]}"), "command");
        assertMessage(env.expect(400, "POST", path, "{\"command\":\"echo hi\"}"), "command");
        assertMessage(env.expect(400, "POST", path, "{\"command\":[\"\"]}"), "command[0]");
        assertMessage(env.expect(400, "POST", path, "{\"command\":[\"echo\",1]}"), "command[1]");
        assertMessage(env.expect(400, "POST", path, "{\"command\":[\"echo\"],\"timeoutSec\":0}"), "timeoutSec");
        assertMessage(env.expect(400, "POST", path, "{\"command\":[\"echo\"],\"timeoutSec\":1.5}"), "timeoutSec");
        assertMessage(env.expect(400, "POST", path, "{\"command\":[\"echo\"],\"stdin\":\"***\"}"), "stdin");
    }

    @Test
    void commandsBeyondWhatTheGuestAgentTakesAre400NamingTheLimit() throws Exception {
        String path = "/v1/vms/" + launch("{\"machineType\":\"c1m2\"}") + "/exec";
        String most = "[\"echo\"" + ",\"x\"".repeat(4095) + "]";
        assertEquals(
                0,
                env.expect(200, "POST", path, "{\"command\":" + most + "}")
                        .get("exitCode")
                        .asInt());
        var many = env.expect(400, "POST", path, "{\"command\":[\"echo\"" + ",\"x\"".repeat(4096) + "]}");
        assertMessage(many, "command");
        assertEquals(
                "command: at most 4096 arguments, got 4097", many.get("message").asText());
        var tiny = env.expect(400, "POST", path, "{\"command\":[\"echo\"" + ",\"x\"".repeat(175_000) + "]}");
        assertEquals(
                "command: at most 4096 arguments, got 175001",
                tiny.get("message").asText());
        // under the count and the 1 MiB body, over the agent's frame: 4000 arguments of 258 bytes
        String arg = ",\"" + "a".repeat(258) + "\"";
        var big = env.expect(400, "POST", path, "{\"command\":[\"echo\"" + arg.repeat(3999) + "]}");
        assertTrue(big.get("message").asText().startsWith("command: with env and cwd it takes "), big.toString());
        assertTrue(big.get("message").asText().endsWith("at most 1047552"), big.toString());
    }

    @Test
    void ndjsonStreamsOutputBeforeTheCommandEnds() throws Exception {
        String id = launch("{\"machineType\":\"c1m2\"}");
        env.backend.gate = new CountDownLatch(1);
        HttpRequest req = HttpRequest.newBuilder(env.uri("/v1/vms/" + id + "/exec"))
                .header("X-API-Key", env.keyA)
                .header("Accept", "application/x-ndjson")
                .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"gate\"]}"))
                .build();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        assertEquals(
                "application/x-ndjson", r.headers().firstValue("content-type").orElseThrow());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            JsonNode first = json(in.readLine()); // arrives while the command still waits on the gate
            assertEquals("o", first.get("t").asText());
            assertEquals(
                    "first\n",
                    new String(Base64.getDecoder().decode(first.get("d").asText()), StandardCharsets.UTF_8));
            env.backend.gate.countDown();
            JsonNode second = json(in.readLine());
            assertEquals(
                    "second\n",
                    new String(Base64.getDecoder().decode(second.get("d").asText()), StandardCharsets.UTF_8));
            JsonNode exit = json(in.readLine());
            assertEquals("x", exit.get("t").asText());
            assertFalse(exit.has("c"), "c omitted when 0");
            assertFalse(exit.has("to"), "to omitted when false");
            assertTrue(exit.has("ms"));
            assertNull(in.readLine());
        }
        HttpRequest fail = HttpRequest.newBuilder(env.uri("/v1/vms/" + id + "/exec"))
                .header("X-API-Key", env.keyA)
                .header("Accept", "application/x-ndjson")
                .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"exit\",\"7\"]}"))
                .build();
        String body = http.send(fail, HttpResponse.BodyHandlers.ofString()).body();
        assertEquals(7, json(body.strip()).get("c").asInt());
    }

    @Test
    void clientDisconnectKillsTheCommand() throws Exception {
        long closedBefore = clientClosedExecs();
        for (HttpClient.Version v : new HttpClient.Version[] {HttpClient.Version.HTTP_1_1, HttpClient.Version.HTTP_2}) {
            String id = launch("{\"machineType\":\"c1m2\"}");
            env.backend.cancelled.clear();
            HttpClient client = HttpClient.newBuilder().version(v).build();
            if (v == HttpClient.Version.HTTP_2) { // prime the h2c upgrade with a GET so the POST is HTTP/2
                HttpResponse<String> g = client.send(
                        HttpRequest.newBuilder(env.uri("/healthz")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(HttpClient.Version.HTTP_2, g.version());
            }
            HttpRequest req = HttpRequest.newBuilder(env.uri("/v1/vms/" + id + "/exec"))
                    .header("X-API-Key", env.keyA)
                    .timeout(Duration.ofMillis(1500))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"command\":[\"hang\"]}"))
                    .build();
            assertThrows(HttpTimeoutException.class, () -> client.send(req, HttpResponse.BodyHandlers.ofString()));
            client.close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!env.backend.cancelled.contains("hang") && System.nanoTime() < deadline) Thread.onSpinWait();
            assertTrue(
                    env.backend.cancelled.contains("hang"), "the command was killed after the " + v + " client left");
        }
        // Logged and counted as client-closed (499), not as a server error.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (clientClosedExecs() < closedBefore + 2) {
            assertTrue(System.nanoTime() < deadline, "both abandoned execs count as status 499");
            Thread.sleep(20); // polling /metrics, as a scraper would
        }
    }

    /** {@return how many execs /metrics counts with status 499} */
    static long clientClosedExecs() throws Exception {
        String key = "http_server_requests_seconds_count{method=\"POST\",route=\"/v1/vms/{id}/exec\",status=\"499\"} ";
        return env.metrics()
                .body()
                .lines()
                .filter(l -> l.startsWith(key))
                .mapToLong(
                        l -> (long) Double.parseDouble(l.substring(key.length()).trim()))
                .sum();
    }

    @Test
    void execOnADeadVmIs409AndAVmDyingMidCommandIs500WithoutRetry() throws Exception {
        String id = launch("{\"machineType\":\"c1m2\"}");
        var r = env.call("POST", "/v1/vms/" + id + "/exec", env.keyA, "{\"command\":[\"die\"]}");
        assertEquals(500, r.statusCode());
        assertEquals("false", r.headers().firstValue("x-should-retry").orElseThrow());
        env.backend.machines.get(id).crash();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!env.expect(200, "GET", "/v1/vms/" + id, null)
                .get("status")
                .asText()
                .equals("error")) {
            assertTrue(System.nanoTime() < deadline, "VM did not turn error after its process died");
            Thread.sleep(20); // polling an HTTP status, as a client would
        }
        var conflict = env.call("POST", "/v1/vms/" + id + "/exec", env.keyA, "{\"command\":[\"echo\"]}");
        assertEquals(409, conflict.statusCode());
        assertEquals("false", conflict.headers().firstValue("x-should-retry").orElseThrow());
    }

    @Test
    void snapshotsConvergeRestoreRenameAndDelete() throws Exception {
        String vm = launch("{\"machineType\":\"c2m4\",\"diskGiB\":20,\"firewall\":{\"mode\":\"open\"}}");
        JsonNode s = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\",\"name\":\" golden  one \"}");
        assertEquals("golden one", s.get("name").asText());
        assertEquals(vm, s.get("vmId").asText());
        String sid = s.get("id").asText();
        assertTrue(s.get("status").asText().equals("creating")
                || s.get("status").asText().equals("ready"));
        assertEquals("ready", awaitSnapshot(sid));
        JsonNode restored = env.expect(201, "POST", "/v1/vms", "{\"snapshotId\":\"" + sid + "\"}");
        assertEquals("golden one", restored.get("sourceName").asText());
        assertEquals("c2m4", restored.get("machineName").asText());
        assertEquals(20, restored.get("diskGiB").asInt());
        assertEquals("open", restored.get("firewall").get("mode").asText());
        assertMessage(env.expect(400, "POST", "/v1/vms", "{\"snapshotId\":\"" + sid + "\",\"diskGiB\":10}"), "diskGiB");
        JsonNode def = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}");
        assertEquals("snapshot-" + vm.substring(0, 8), def.get("name").asText());
        assertEquals(
                "renamed",
                env.expect(200, "PATCH", "/v1/snapshots/" + sid, "{\"name\":\"renamed\"}")
                        .get("name")
                        .asText());
        assertTrue(contains(env.expect(200, "GET", "/v1/snapshots", null), sid));
        JsonNode del = env.expect(200, "DELETE", "/v1/snapshots/" + sid, null);
        assertEquals(sid, del.get("id").asText());
        assertTrue(del.get("deleted").asBoolean());
        env.expect(404, "GET", "/v1/snapshots/" + sid, null);
        // The VM restored from it keeps working.
        env.expect(200, "POST", "/v1/vms/" + restored.get("id").asText() + "/exec", "{\"command\":[\"echo\",\"ok\"]}");
        env.expect(400, "POST", "/v1/snapshots", "{}");
    }

    @Test
    void aFailedEngineSnapshotYieldsErrorNot5xx() throws Exception {
        String vm = launch("{\"machineType\":\"c1m2\"}");
        env.backend.supportsSnapshots = false;
        try {
            JsonNode s = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}");
            assertEquals("error", awaitSnapshot(s.get("id").asText()));
            env.expect(
                    409, "POST", "/v1/vms", "{\"snapshotId\":\"" + s.get("id").asText() + "\"}");
        } finally {
            env.backend.supportsSnapshots = true;
        }
    }

    @Test
    void aVmInErrorKeepsItsDiskQuotaUntilDeleted() throws Exception {
        JsonNode before = env.expect(200, "GET", "/v1/org/quotas", null).get("usage");
        String id = launch("{\"machineType\":\"c2m4\",\"diskGiB\":20}");
        env.backend.machines.get(id).crash(); // QEMU exits on its own: its RAM file and disk stay on disk
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!env.expect(200, "GET", "/v1/vms/" + id, null)
                .get("status")
                .asText()
                .equals("error")) {
            assertTrue(System.nanoTime() < deadline, "the VM turned error");
            Thread.sleep(20);
        }
        JsonNode usage = env.expect(200, "GET", "/v1/org/quotas", null).get("usage");
        assertEquals(before.get("vcpu").asLong(), usage.get("vcpu").asLong(), "CPU released: nothing runs");
        assertEquals(before.get("memoryMiB").asLong(), usage.get("memoryMiB").asLong(), "memory released");
        assertEquals(before.get("diskGiB").asLong() + 20, usage.get("diskGiB").asLong(), "the disk is still there");
        env.expect(200, "DELETE", "/v1/vms/" + id, null);
        assertEquals(
                before.get("diskGiB").asLong(),
                env.expect(200, "GET", "/v1/org/quotas", null)
                        .get("usage")
                        .get("diskGiB")
                        .asLong(),
                "deleted: released");
    }

    @Test
    void deleteReleasesQuotaAndHidesTheVm() throws Exception {
        long before = env.expect(200, "GET", "/v1/org/quotas", null)
                .get("usage")
                .get("vcpu")
                .asLong();
        String id = launch("{\"machineType\":\"c4m8\"}");
        JsonNode q = env.expect(200, "GET", "/v1/org/quotas", null);
        assertEquals(before + 4, q.get("usage").get("vcpu").asLong());
        assertEquals(64, q.get("limits").get("vcpu").asLong());
        assertTrue(q.get("limits").has("snapshotCount") && q.get("usage").has("memoryMiB") && q.has("orgId"));
        JsonNode d = env.expect(200, "DELETE", "/v1/vms/" + id, null);
        assertEquals(id, d.get("id").asText());
        assertTrue(d.get("deleted").asBoolean());
        env.expect(404, "GET", "/v1/vms/" + id, null);
        env.expect(404, "DELETE", "/v1/vms/" + id, null);
        assertFalse(contains(env.expect(200, "GET", "/v1/vms", null), id));
        assertEquals(
                before,
                env.expect(200, "GET", "/v1/org/quotas", null)
                        .get("usage")
                        .get("vcpu")
                        .asLong());
        assertFalse(env.backend.machines.containsKey(id)
                && env.backend.machines.get(id).isAlive());
    }

    @Test
    void wrongMethodIs405AndBodilessRequestsAreAccepted() throws Exception {
        var r = env.call("PUT", "/v1/vms", env.keyA, "{}");
        assertEquals(405, r.statusCode());
        assertEquals("GET, POST", r.headers().firstValue("allow").orElseThrow());
        // Content-Type: application/json with an empty body on DELETE is fine.
        String id = launch("{\"machineType\":\"c1m2\"}");
        HttpRequest del = HttpRequest.newBuilder(env.uri("/v1/vms/" + id))
                .header("X-API-Key", env.keyA)
                .header("Content-Type", "application/json")
                .header("X-Stainless-Lang", "js")
                .method("DELETE", HttpRequest.BodyPublishers.noBody())
                .build();
        assertEquals(200, http.send(del, HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    @Test
    void metricsArePrometheusTextOnTheirOwnListenerOnly() throws Exception {
        env.expect(200, "GET", "/v1/vms", null);
        var r = env.metrics();
        assertEquals(200, r.statusCode());
        assertEquals("127.0.0.1", env.server.metricsUri().orElseThrow().getHost(), "loopback");
        assertNotEquals(
                env.server.baseUri().getPort(),
                env.server.metricsUri().orElseThrow().getPort());
        assertTrue(r.body().contains("http_server_requests_seconds_count{"), r.body());
        assertTrue(r.body().contains("route=\"/v1/vms\""));
        assertTrue(r.body().contains("fastvm_vms{status=\"running\"}"));
        assertTrue(r.headers().firstValue("x-request-id").isPresent());
        // the API port does not serve them (to anyone), and the metrics port serves nothing else
        assertEquals(404, env.call("GET", "/metrics", null, null).statusCode());
        assertEquals(404, env.call("GET", "/metrics", env.keyA, null).statusCode());
        URI other = env.server.metricsUri().orElseThrow().resolve("/v1/vms");
        var api = http.send(
                HttpRequest.newBuilder(other).header("X-API-Key", env.keyA).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(404, api.statusCode());
        assertEquals("not_found", json(api.body()).get("error").asText());
    }

    @Test
    void h2cWorksByUpgradeAndByPriorKnowledge() throws Exception {
        HttpClient h2 =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
        HttpResponse<String> r =
                h2.send(HttpRequest.newBuilder(env.uri("/healthz")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(HttpClient.Version.HTTP_2, r.version());
        h2.close();
        // Prior knowledge: the client preface then a SETTINGS frame; the server must answer with SETTINGS.
        try (Socket s = new Socket(
                InetAddress.getLoopbackAddress(), env.server.baseUri().getPort())) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // empty SETTINGS
            out.flush();
            byte[] header = s.getInputStream().readNBytes(9);
            assertEquals(9, header.length);
            assertEquals(4, header[3], "first server frame is SETTINGS");
        }
    }

    @Test
    void slowBootsAnswer202ThenConverge() throws Exception {
        CountDownLatch boot = new CountDownLatch(1);
        env.backend.bootGate = boot;
        JsonNode vm;
        try {
            vm = env.expect(202, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}");
            assertEquals("provisioning", vm.get("status").asText());
            env.expect(409, "POST", "/v1/vms/" + vm.get("id").asText() + "/exec", "{\"command\":[\"echo\"]}");
        } finally {
            env.backend.bootGate = null;
            boot.countDown();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!env.expect(200, "GET", "/v1/vms/" + vm.get("id").asText(), null)
                .get("status")
                .asText()
                .equals("running")) {
            assertTrue(System.nanoTime() < deadline);
            Thread.sleep(20); // client-style polling
        }
    }

    @Test
    void requestsJettyCannotParseGetJsonAndConnectionClose() throws Exception {
        for (String req : List.of(
                "GET /v1/vms/a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
                "POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                "POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")) {
            try (Socket s = new Socket(
                    InetAddress.getLoopbackAddress(), env.server.baseUri().getPort())) {
                s.setSoTimeout(5000);
                s.getOutputStream().write(req.getBytes(StandardCharsets.ISO_8859_1));
                String resp = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(resp.startsWith("HTTP/1.1 400"), resp);
                assertTrue(resp.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), resp);
                assertTrue(resp.contains("application/json") && resp.contains("\"error\":\"invalid_request\""), resp);
            }
        }
    }

    @Test
    void malformedIdsAre404AndEncodedDotSegmentsRouteNowhere() throws Exception {
        String vm = launch("{\"machineType\":\"c1m2\"}");
        // escapes Jetty itself rejects (bad hex, a lone %, NUL): the contract says an unknown id, malformed too, is 404
        for (String id : List.of("%zz", "%00", "a%", "%2", "%%", "%u0000", "%ZZ;x")) {
            for (String path : List.of(
                    "/v1/vms/" + id, "/v1/vms/" + id + "/exec", "/v1/vms/" + id + "/firewall", "/v1/snapshots/" + id)) {
                String method = path.endsWith("/exec") ? "POST" : path.endsWith("/firewall") ? "PUT" : "GET";
                RawHttp.Response r = raw(method + " " + path + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + env.keyA
                        + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
                assertEquals(404, r.status(), path + ": " + r.shown());
                assertEquals("not_found", json(r.bodyText()).get("error").asText(), path + ": " + r.shown());
                assertFalse(r.bodyText().contains("%25"), "the message shows the id as sent: " + r.shown());
            }
        }
        // without a key it is still 401 first, as for any path under /v1
        assertEquals(401, raw("GET /v1/vms/%zz HTTP/1.1\r\nHost: x\r\n\r\n").status());
        // encoded (and plain) dot segments are literal: they never reach another route
        for (String path : List.of(
                "/v1/vms/%2e%2e/%2e%2e/v1/org/quotas",
                "/v1/vms/%2E%2E/%2E%2E/healthz",
                "/v1/vms/" + vm + "/%2e%2e",
                "/v1/vms/" + vm + "/exec/%2e%2e",
                "/v1/vms/../../v1/org/quotas",
                "/v1/snapshots/%2e%2e;x/%2e%2e/vms")) {
            RawHttp.Response r = raw("GET " + path + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + env.keyA + "\r\n\r\n");
            assertEquals(404, r.status(), path + ": " + r.shown());
        }
        // and %XX stays a real escape: the VM's own id, encoded, is that VM
        String encoded = vm.chars().mapToObj(c -> "%" + Integer.toHexString(c)).reduce("", String::concat);
        assertEquals(
                200,
                raw("GET /v1/vms/" + encoded + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + env.keyA + "\r\n\r\n")
                        .status());
    }

    @Test
    void headIsAnsweredAsGetWithoutABody() throws Exception {
        for (String path : List.of("/healthz", "/readyz", "/livez", "/v1/vms", "/v1/org/quotas")) {
            HttpRequest req = HttpRequest.newBuilder(env.uri(path))
                    .header("X-API-Key", env.keyA)
                    .method("HEAD", HttpRequest.BodyPublishers.noBody())
                    .build();
            HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), path);
            assertEquals(
                    "application/json", r.headers().firstValue("content-type").orElseThrow(), path);
            assertEquals("", r.body(), path);
        }
    }

    @Test
    void aBodyNoRouteReadsIsDrainedBeforeTheAnswerSoTheConnectionStaysUsable() throws Exception {
        // Jetty closes an HTTP/1.1 connection whose request body was not consumed when the answer
        // completed; a client that already reused it for its next request then gets nothing back.
        for (String path : List.of("/v1/openapi.json", "/healthz", "/v1/vms")) {
            try (Socket s = RawHttp.connect(env.server.baseUri().getPort(), Duration.ofSeconds(10))) {
                String head = "GET " + path + " HTTP/1.1\r\nHost: t\r\nX-API-Key: " + env.keyA
                        + "\r\nContent-Length: 5\r\n\r\n";
                s.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
                s.setSoTimeout(300);
                assertThrows(
                        java.net.SocketTimeoutException.class,
                        () -> s.getInputStream().read(),
                        path + ": answered before its body arrived");
                s.setSoTimeout(10_000);
                s.getOutputStream().write("12345".getBytes(StandardCharsets.ISO_8859_1));
                assertEquals(200, RawHttp.read(s.getInputStream(), false).status(), path);
                s.getOutputStream()
                        .write("GET /livez HTTP/1.1\r\nHost: t\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                RawHttp.Response next = RawHttp.read(s.getInputStream(), false);
                assertNotNull(next, path + ": the connection was closed after the answer");
                assertEquals(200, next.status(), path);
            }
        }
    }

    /** Sends {@code request} on a fresh socket and reads the answer. */
    static RawHttp.Response raw(String request) throws Exception {
        try (Socket s = RawHttp.connect(env.server.baseUri().getPort(), Duration.ofSeconds(10))) {
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            RawHttp.Response r = RawHttp.read(s.getInputStream(), request.startsWith("HEAD "));
            assertNotNull(r, "closed without an answer: " + request);
            return r;
        }
    }

    static String awaitSnapshot(String id) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            String st = env.expect(200, "GET", "/v1/snapshots/" + id, null)
                    .get("status")
                    .asText();
            if (!st.equals("creating")) return st;
            assertTrue(System.nanoTime() < deadline, "snapshot stuck in creating");
            Thread.sleep(20); // client-style polling
        }
    }

    static boolean contains(JsonNode array, String id) {
        for (JsonNode n : array) if (n.get("id").asText().equals(id)) return true;
        return false;
    }

    static void assertMessage(JsonNode error, String field) {
        assertEquals("invalid_request", error.get("error").asText());
        assertTrue(
                error.get("message").asText().startsWith(field),
                "message should name " + field + ": " + error.get("message"));
    }
}
