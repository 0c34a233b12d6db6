package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.List;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.models.FirewallMode;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.OrgQuotaUsage;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;

/** The plain resource calls: method, path, body, response mapping; base URL prefixes. */
class ResourcesTest extends WithTestServer {
    static final String VM_PATH = "/v1/vms/" + Fixtures.VM_ID;
    static final String SNAP_PATH = "/v1/snapshots/" + Fixtures.SNAP_ID;

    private TestServer.Hit only() {
        List<TestServer.Hit> api = server.apiHits();
        assertEquals(1, api.size(), api.toString());
        assertEquals("test-key", api.get(0).header("X-API-Key"));
        return api.get(0);
    }

    @Test
    void getAcceptsIdOrObjectAndToleratesUnknownStatus() {
        server.on("GET", VM_PATH, TestServer.json(200, Fixtures.vm("hibernating")));
        VM vm = client.get(Fixtures.VM_ID);
        assertEquals("hibernating", vm.status().asString());
        assertEquals(VMStatus.Known.UNKNOWN, vm.status().known());
        VM again = client.get(vm);
        assertEquals(vm, again);
        assertEquals(2, server.count("GET", VM_PATH));
        assertEquals("", server.apiHits().get(0).body(), "GET has no body");
    }

    @Test
    void listReadsABareArray() {
        server.on(
                "GET",
                "/v1/vms",
                TestServer.json(
                        200,
                        "[" + Fixtures.vm("running") + ","
                                + Fixtures.vm("b0b0b0b0-0000-0000-0000-000000000000", "paused") + "]"));
        List<VM> vms = client.list();
        assertEquals(2, vms.size());
        assertEquals(VMStatus.PAUSED, vms.get(1).status());
        assertEquals("GET", only().method());
    }

    @Test
    void listFiltersBecomeQueryParameters() {
        server.on("GET", "/v1/vms", TestServer.json(200, "[]"));
        assertEquals(
                List.of(),
                client.list(ListOptions.builder()
                        .status(VMStatus.RUNNING)
                        .metadata("team", "a b")
                        .metadata("env", "ci")
                        .build()));
        assertEquals("status=running&metadata.env=ci&metadata.team=a%20b", only().query());
    }

    @Test
    void removeIsADelete() {
        server.on("DELETE", VM_PATH, TestServer.json(200, "{\"id\":\"" + Fixtures.VM_ID + "\",\"deleted\":true}"));
        client.remove(Fixtures.VM_ID);
        TestServer.Hit hit = only();
        assertEquals("DELETE", hit.method());
        assertEquals(VM_PATH, hit.path());
    }

    @Test
    void renamePatchesTheName() {
        server.on("PATCH", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        client.rename(Fixtures.VM_ID, "new-name");
        JsonNode body = only().json();
        assertEquals("new-name", body.get("name").asText());
        assertEquals(1, body.size());
    }

    @Test
    void setFirewallPutsTheWholePolicy() {
        server.on("PUT", VM_PATH + "/firewall", TestServer.json(200, Fixtures.vm("running")));
        client.setFirewall(
                Fixtures.VM_ID, FirewallPolicy.restricted(FirewallRule.udp(53).withDescription("dns")));
        TestServer.Hit hit = only();
        assertEquals("PUT", hit.method());
        JsonNode body = hit.json();
        assertEquals("restricted", body.get("mode").asText());
        assertEquals("udp", body.at("/ingress/0/protocol").asText());
        assertEquals(53, body.at("/ingress/0/portStart").asInt());
        assertEquals("dns", body.at("/ingress/0/description").asText());
        assertFalse(body.at("/ingress/0").has("portEnd"));
    }

    @Test
    void patchFirewallSendsOnlyWhatChanges() {
        server.on("PATCH", VM_PATH + "/firewall", TestServer.json(200, Fixtures.vm("running")));
        client.patchFirewall(
                Fixtures.VM_ID, FirewallPatch.builder().ingress(List.of()).build());
        JsonNode body = only().json();
        assertFalse(body.has("mode"), "omitted = unchanged");
        assertTrue(body.get("ingress").isArray() && body.get("ingress").isEmpty(), "empty list clears");

        server.reset();
        server.on("PATCH", VM_PATH + "/firewall", TestServer.json(200, Fixtures.vm("running")));
        client.patchFirewall(
                Fixtures.VM_ID, FirewallPatch.builder().mode(FirewallMode.OPEN).build());
        JsonNode second = only().json();
        assertEquals("open", second.get("mode").asText());
        assertFalse(second.has("ingress"));
    }

    @Test
    void snapshotCalls() {
        server.on("GET", "/v1/snapshots", TestServer.json(200, "[" + Fixtures.snapshot("ready") + "]"));
        server.on("PATCH", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("ready")));
        server.on("DELETE", SNAP_PATH, TestServer.json(200, "{\"id\":\"" + Fixtures.SNAP_ID + "\",\"deleted\":true}"));
        List<Snapshot> snaps = client.listSnapshots();
        assertEquals(Fixtures.SNAP_ID, snaps.get(0).id());
        server.on("GET", SNAP_PATH, TestServer.json(200, Fixtures.snapshot("ready")));
        assertEquals("snap", client.getSnapshot(snaps.get(0)).name());
        client.renameSnapshot(snaps.get(0), "golden-2");
        client.removeSnapshot(snaps.get(0));
        List<TestServer.Hit> api = server.apiHits();
        assertEquals(
                List.of("GET /v1/snapshots", "GET " + SNAP_PATH, "PATCH " + SNAP_PATH, "DELETE " + SNAP_PATH),
                api.stream().map(h -> h.method() + " " + h.path()).toList());
        assertEquals("golden-2", api.get(2).json().get("name").asText());
    }

    @Test
    void quotasMapWireNames() {
        server.on(
                "GET",
                "/v1/org/quotas",
                TestServer.json(
                        200,
                        "{\"orgId\":\"org-1\",\"limits\":{\"vcpu\":8,\"memoryMiB\":16384,\"diskGiB\":200,\"snapshotCount\":20},"
                                + "\"usage\":{\"vcpu\":2,\"memoryMiB\":4096,\"diskGiB\":20,\"snapshotCount\":1,\"gpu\":0}}"));
        OrgQuotaUsage q = client.quotas();
        assertEquals("org-1", q.orgId());
        assertEquals(16384, q.limits().memoryMib());
        assertEquals(200, q.limits().diskGib());
        assertEquals(4096, q.usage().memoryMib());
        assertEquals(1, q.usage().snapshotCount());
    }

    @Test
    void baseUrlPathPrefixIsJoinedWithExactlyOneSlash() {
        server.on("GET", "/fastvm/v1/vms/" + Fixtures.VM_ID, TestServer.json(200, Fixtures.vm("running")));
        for (String base : List.of(server.url() + "/fastvm", server.url() + "/fastvm/", server.url() + "/fastvm//")) {
            try (FastVM prefixed = FastVM.builder()
                    .apiKey("test-key")
                    .baseUrl(base)
                    .timeout(Duration.ofSeconds(5))
                    .build()) {
                assertEquals(Fixtures.VM_ID, prefixed.get(Fixtures.VM_ID).id());
            }
        }
        assertEquals(3, server.count("GET", "/fastvm/v1/vms/" + Fixtures.VM_ID));
        assertEquals(3, server.count("GET", "/fastvm/healthz"), "the warmup goes under the prefix too");
    }

    @Test
    void emptyOrUnreadableSuccessBodiesAreConnectionFailures() {
        server.on(
                "GET",
                VM_PATH,
                TestServer.json(200, ""),
                TestServer.json(200, "null"),
                TestServer.json(200, "{\"id\":"));
        for (int i = 0; i < 3; i++) {
            FastVMConnectionException e =
                    assertThrows(FastVMConnectionException.class, () -> client.get(Fixtures.VM_ID));
            assertTrue(e.getMessage().contains("GET " + VM_PATH), e.getMessage());
        }
    }

    @Test
    void aMissingStatusWhilePollingMeansKeepPolling() {
        server.on("POST", "/v1/vms", TestServer.json(202, "{\"id\":\"" + Fixtures.VM_ID + "\"}"));
        server.on("GET", VM_PATH, TestServer.json(200, Fixtures.vm("running")));
        assertEquals(VMStatus.RUNNING, client.launch().status());
        assertEquals(1, server.count("GET", VM_PATH));
    }

    @Test
    void idsArePercentEncodedInPaths() {
        server.on("GET", "/v1/vms/a%20b%3Fc", TestServer.json(200, Fixtures.vm("running")));
        client.get("a b?c");
        assertEquals("/v1/vms/a%20b%3Fc", only().path());
    }
}
