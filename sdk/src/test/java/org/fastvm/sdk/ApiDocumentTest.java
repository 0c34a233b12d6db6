package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.fastvm.openapi.OpenApi;
import org.fastvm.sdk.models.FirewallMode;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.MachineType;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;

/**
 * The SDK's requests against the API's OpenAPI document (docs/api/openapi.yaml): every call,
 * with every option it can send, is an operation of the document and conforms to it (the
 * {@link TestServer} validates each request; {@link WithTestServer} fails the test on any
 * violation), and the SDK calls every operation of the document meant for clients.
 */
class ApiDocumentTest extends WithTestServer {
    static final String VM_PATH = "/v1/vms/" + Fixtures.VM_ID;
    static final String SNAP_PATH = "/v1/snapshots/" + Fixtures.SNAP_ID;
    /** Operations the SDK has no call for: probes for orchestrators, and the document itself. */
    static final Set<String> NOT_FOR_THE_SDK = Set.of("GET /livez", "GET /readyz", "GET /v1/openapi.json");

    @Test
    void everyCallIsAnOperationOfTheDocumentAndConformsToIt() {
        server.on("POST", "/v1/vms", TestServer.json(201, Fixtures.vm("running")));
        server.on("GET", "/v1/vms", TestServer.json(200, "[" + Fixtures.vm("running") + "]"));
        server.on("GET", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        server.on("PATCH", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        server.on("DELETE", VM_PATH, TestServer.json(200, "{\"id\":\"" + Fixtures.VM_ID + "\",\"deleted\":true}"));
        server.on("PUT", VM_PATH + "/firewall", TestServer.json(200, Fixtures.vm("running")));
        server.on("PATCH", VM_PATH + "/firewall", TestServer.json(200, Fixtures.vm("running")));
        server.on("POST", VM_PATH + "/exec", TestServer.json(200, Fixtures.execResult(0, "hi")));
        server.on("POST", "/v1/snapshots", TestServer.json(201, Fixtures.snapshot("creating")));
        server.on("GET", "/v1/snapshots", TestServer.json(200, "[" + Fixtures.snapshot("ready") + "]"));
        server.on("GET", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("ready")));
        server.on("PATCH", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("ready")));
        server.on("DELETE", SNAP_PATH, TestServer.json(200, "{\"id\":\"" + Fixtures.SNAP_ID + "\",\"deleted\":true}"));
        server.on(
                "GET",
                "/v1/org/quotas",
                TestServer.json(
                        200,
                        "{\"orgId\":\"org-1\",\"limits\":{\"vcpu\":8,\"memoryMiB\":16384,\"diskGiB\":200,\"snapshotCount\":20},"
                                + "\"usage\":{\"vcpu\":2,\"memoryMiB\":4096,\"diskGiB\":20,\"snapshotCount\":1}}"));

        FirewallPolicy policy = FirewallPolicy.restricted(
                FirewallRule.tcp(443).withSourceCidrs("2001:db8::/32").withDescription("https"),
                FirewallRule.tcp(8000, 8080),
                FirewallRule.udp(53));
        client.warmup();
        client.launch();
        client.launch(LaunchOptions.builder()
                .machine(MachineType.C4M8)
                .name("web")
                .diskGib(20)
                .firewall(policy)
                .metadata(Map.of("team", "a"))
                .build());
        client.restore(Fixtures.SNAP_ID);
        client.restore(
                Fixtures.SNAP_ID,
                RestoreOptions.builder()
                        .name("clone")
                        .firewall(FirewallPolicy.open())
                        .metadata(Map.of("from", "golden"))
                        .build());
        client.get(Fixtures.VM_ID);
        client.list();
        client.list(ListOptions.builder()
                .status(VMStatus.RUNNING)
                .metadata("team", "a")
                .build());
        client.rename(Fixtures.VM_ID, "renamed");
        client.setFirewall(Fixtures.VM_ID, policy);
        client.setFirewall(Fixtures.VM_ID, FirewallPolicy.open());
        client.patchFirewall(
                Fixtures.VM_ID,
                FirewallPatch.builder().mode(FirewallMode.RESTRICTED).build());
        client.patchFirewall(
                Fixtures.VM_ID, FirewallPatch.builder().ingress(List.of()).build());
        client.run(Fixtures.VM_ID, "echo hi");
        client.run(
                Fixtures.VM_ID,
                List.of("ls", "-l", ""),
                RunOptions.builder()
                        .timeoutSec(30)
                        .stdin("input".getBytes(StandardCharsets.UTF_8))
                        .transientRetries(0)
                        .build());
        server.on(
                "POST",
                VM_PATH + "/exec",
                TestServer.chunks(
                        200, "application/x-ndjson", "{\"t\":\"o\",\"d\":\"aGkK\"}\n{\"t\":\"x\",\"ms\":2}\n"));
        try (ExecStream stream = client.stream(
                Fixtures.VM_ID,
                List.of("cat"),
                RunOptions.builder().timeoutSec(5).build())) {
            assertEquals(2, stream.stream().count(), "stdout, then the exit");
            assertEquals(0, stream.exit().code());
        }
        client.snapshot(Fixtures.VM_ID);
        client.snapshot(Fixtures.VM_ID, SnapshotOptions.builder().name("golden").build());
        client.listSnapshots();
        client.getSnapshot(Fixtures.SNAP_ID);
        client.renameSnapshot(Fixtures.SNAP_ID, "gold");
        client.removeSnapshot(Fixtures.SNAP_ID);
        client.remove(Fixtures.VM_ID);
        client.quotas();

        Set<String> called = server.hits().stream()
                .map(h -> TestServer.SPEC
                        .find(h.method(), TestServer.withoutBasePath(h.path()))
                        .map(OpenApi.Operation::key)
                        .orElse("not in the document: " + h.method() + " " + h.path()))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> meant = TestServer.SPEC.operations().stream()
                .map(OpenApi.Operation::key)
                .filter(k -> !NOT_FOR_THE_SDK.contains(k))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(meant, called, "the SDK calls every client operation of the document, and nothing else");
        for (String k : NOT_FOR_THE_SDK) {
            String[] methodPath = k.split(" ", 2);
            assertTrue(TestServer.SPEC.find(methodPath[0], methodPath[1]).isPresent(), k);
        }
    }

    @Test
    void aRequestTheDocumentRefusesIsCaught() throws Exception {
        HttpClient raw = HttpClient.newHttpClient();
        HttpResponse<String> r = raw.send(
                HttpRequest.newBuilder(URI.create(server.url() + "/v1/vms"))
                        .header("X-API-Key", "test-key")
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"machineType\":\"c9m99\",\"unknown\":1}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(404, r.statusCode(), "no route scripted");
        List<String> violations = server.takeSpecViolations();
        assertFalse(violations.isEmpty());
        assertTrue(violations.stream().allMatch(v -> v.startsWith("POST /v1/vms request")), violations.toString());
        assertTrue(
                violations.stream().anyMatch(v -> v.contains("unknown")),
                "undocumented fields are refused: " + violations);
    }
}
