package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.MachineType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Construction from the environment, and validation that happens before any request. */
class ConfigTest extends WithTestServer {
    private static void rejects(String field, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(field), "message should name " + field + ": " + e.getMessage());
    }

    @Test
    void missingApiKeyNamesTheVariable() {
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> FastVM.builder().environment(Map.of()).build());
        assertTrue(e.getMessage().contains("FASTVM_API_KEY"), e.getMessage());
    }

    @Test
    void environmentSuppliesKeyAndBaseUrl() {
        try (FastVM fromEnv = FastVM.builder()
                .environment(Map.of("FASTVM_API_KEY", "env-key", "FASTVM_BASE_URL", server.url()))
                .build()) {
            assertEquals(server.url(), fromEnv.baseUrl());
            fromEnv.warmup();
        }
        assertEquals("env-key", server.hits().get(0).header("X-API-Key"));
    }

    @Test
    void baseUrlDefaultsToTheHostedService() {
        try (FastVM c =
                FastVM.builder().environment(Map.of("FASTVM_API_KEY", "k")).build()) {
            assertEquals("https://api.fastvm.org", c.baseUrl());
        }
    }

    @Test
    void builderValuesWinOverTheEnvironment() {
        try (FastVM c = FastVM.builder()
                .apiKey("explicit")
                .baseUrl(server.url())
                .environment(Map.of("FASTVM_API_KEY", "env", "FASTVM_BASE_URL", "http://elsewhere:1"))
                .build()) {
            c.warmup();
        }
        assertEquals("explicit", server.hits().get(0).header("X-API-Key"));
    }

    @Test
    void badConfigurationIsRejected() {
        rejects("apiKey", () -> FastVM.builder().apiKey(""));
        rejects("apiKey", () -> FastVM.builder().apiKey("key with space"));
        rejects(
                "FASTVM_API_KEY",
                () -> FastVM.builder()
                        .environment(Map.of("FASTVM_API_KEY", "secret\n"))
                        .build());
        rejects("timeout", () -> FastVM.builder().timeout(Duration.ofMillis(-1)));
        rejects("timeout", () -> FastVM.builder().timeout(Duration.ZERO));
        rejects("baseUrl", () -> FastVM.builder().baseUrl("ftp://host"));
        rejects("baseUrl", () -> FastVM.builder().baseUrl("not a url"));
        rejects(
                "FASTVM_BASE_URL",
                () -> FastVM.builder()
                        .environment(Map.of("FASTVM_API_KEY", "k", "FASTVM_BASE_URL", "localhost:8080"))
                        .build());
    }

    @Test
    void badArgumentsAreRejectedBeforeAnyRequest() {
        rejects("command", () -> client.run(Fixtures.VM_ID, ""));
        rejects("command", () -> client.run(Fixtures.VM_ID, "   "));
        rejects("command", () -> client.run(Fixtures.VM_ID, List.of()));
        rejects("command[0]", () -> client.run(Fixtures.VM_ID, List.of("", "x")));
        rejects("machine", () -> LaunchOptions.builder().machine("large"));
        rejects("machine", () -> LaunchOptions.builder().machine("c0m2"));
        rejects("machine", () -> LaunchOptions.builder().machine("C1M2"));
        rejects("timeout", () -> LaunchOptions.builder().timeout(Duration.ofSeconds(-5)));
        rejects("timeout", () -> RunOptions.builder().timeout(Duration.ofSeconds(-5)));
        rejects("timeoutSec", () -> RunOptions.builder().timeoutSec(0));
        rejects("transientRetries", () -> RunOptions.builder().transientRetries(-1));
        rejects("diskGib", () -> LaunchOptions.builder().diskGib(0));
        rejects("vm id", () -> client.get(""));
        rejects("name", () -> client.rename(Fixtures.VM_ID, ""));
        rejects("snapshot id", () -> client.restore(""));
        rejects("portStart", () -> FirewallRule.tcp(0));
        rejects("portEnd", () -> FirewallRule.tcp(90, 80));
        Map<String, String> nullValue = new java.util.HashMap<>();
        nullValue.put("team", null);
        rejects("metadata[team]", () -> LaunchOptions.builder().metadata(nullValue));
        rejects("metadata[team]", () -> RestoreOptions.builder().metadata(nullValue));
        rejects(
                "ingress[1]",
                () -> FirewallPatch.builder().ingress(java.util.Arrays.asList(FirewallRule.tcp(22), null)));
        rejects("ingress[0]", () -> FirewallPolicy.restricted((FirewallRule) null));
        rejects("sourceCidrs[0]", () -> FirewallRule.tcp(22).withSourceCidrs((String) null));
        rejects("command[1]", () -> client.run(Fixtures.VM_ID, java.util.Arrays.asList("echo", null)));
        assertEquals(0, server.hits().size(), "nothing was sent");
    }

    @Test
    void machineTypeParsesTheForm() {
        assertEquals(new MachineType(8, 16), MachineType.parse("c8m16"));
        assertEquals("c2m4", MachineType.C2M4.toString());
    }
}
