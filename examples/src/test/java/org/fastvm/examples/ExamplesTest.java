package org.fastvm.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.errors.InternalServerException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Runs each example end to end against an in-memory FastVM API and checks it cleans up. */
class ExamplesTest {
    private FakeFastVM api;
    private FastVM client;
    private final ByteArrayOutputStream printed = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8);

    @BeforeEach
    void start() throws Exception {
        api = new FakeFastVM();
        // Configured the way the examples' main() is: from FASTVM_API_KEY and FASTVM_BASE_URL.
        client = FastVM.builder()
                .environment(Map.of("FASTVM_API_KEY", "k", "FASTVM_BASE_URL", api.url()))
                .build();
    }

    @AfterEach
    void stop() throws Exception {
        client.close();
        api.close();
    }

    private String printed() {
        return printed.toString(StandardCharsets.UTF_8);
    }

    @Test
    void quickStartRunsStreamsSnapshotsRestoresAndCleansUp() {
        QuickStart.run(client, out);
        String text = printed();
        assertTrue(text.contains("run: exit 0, stdout: ran: echo hello from $(hostname)"), text);
        assertTrue(text.contains("  out| ran: for i in 1 2 3"), text);
        assertTrue(text.contains("  exit 0 after 3 ms"), text);
        assertTrue(text.contains("done"), text);
        assertEquals(1, api.restores.get());
        assertTrue(api.vms.isEmpty(), "VMs left behind: " + api.vms.keySet());
        assertTrue(api.snapshots.isEmpty(), "snapshots left behind: " + api.snapshots.keySet());
    }

    @Test
    void branchingRestoresTenAndRunsTenOnOneConnection() {
        Branching.run(client, out);
        String text = printed();
        assertTrue(text.contains(Branching.BRANCHES + " branches running"), text);
        for (int i = 0; i < Branching.BRANCHES; i++) {
            assertTrue(text.contains("branch " + i + ": ran: cat /tmp/setup; echo branch " + i), text);
        }
        assertEquals(Branching.BRANCHES, api.restores.get());
        assertEquals(Branching.BRANCHES + 1, api.execs.get());
        assertEquals(1, api.clientSockets.size(), "client sockets: " + api.clientSockets);
        assertTrue(api.vms.isEmpty(), "VMs left behind: " + api.vms.keySet());
        assertTrue(api.snapshots.isEmpty(), "snapshots left behind: " + api.snapshots.keySet());
    }

    @Test
    void quickStartRemovesItsVmsEvenWhenRemovingTheSnapshotFails() {
        api.failing = (method, path) -> method.equals("DELETE") && path.startsWith("/v1/snapshots/");
        assertThrows(InternalServerException.class, () -> QuickStart.run(client, out));
        assertEquals(1, api.restores.get(), "it got as far as the copy");
        assertTrue(api.vms.isEmpty(), "VMs left behind: " + api.vms.keySet());
    }

    @Test
    void branchingRemovesEveryVmEvenWhenRemovingTheSnapshotFails() {
        api.failing = (method, path) -> method.equals("DELETE") && path.startsWith("/v1/snapshots/");
        assertThrows(InternalServerException.class, () -> Branching.run(client, out));
        assertEquals(Branching.BRANCHES, api.restores.get());
        assertTrue(api.vms.isEmpty(), "VMs left behind: " + api.vms.keySet());
    }
}
