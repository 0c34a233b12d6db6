package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.FirewallMode;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.FirewallRule;
import org.fastvm.sdk.models.SnapshotStatus;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;

/** The models' value semantics and immutability, without a server. */
class ModelsTest {
    @Test
    void openValuesKeepUnknownWireStringsAndCompareByClassAndValue() throws Exception {
        assertSame(VMStatus.RUNNING, VMStatus.of("running"));
        VMStatus future = VMStatus.of("hibernating");
        assertEquals(future, VMStatus.of("hibernating"));
        assertEquals(future.hashCode(), VMStatus.of("hibernating").hashCode());
        assertEquals(VMStatus.Known.UNKNOWN, future.known());
        assertEquals(SnapshotStatus.Known.READY, SnapshotStatus.of("ready").known());
        assertNotEquals(VMStatus.of("error"), SnapshotStatus.of("error"), "a VM status is not a snapshot status");
        assertEquals("\"hibernating\"", Json.MAPPER.writeValueAsString(future));
        assertEquals(FirewallMode.of("deny-all"), Json.MAPPER.readValue("\"deny-all\"", FirewallMode.class));
        assertEquals("deny-all", FirewallMode.of("deny-all").toString());
    }

    @Test
    void recordsCopyWhatTheyAreGiven() {
        byte[] bytes = {1, 2, 3};
        ExecEvent.Stdout out = new ExecEvent.Stdout(bytes);
        bytes[0] = 9;
        assertArrayEquals(new byte[] {1, 2, 3}, out.data(), "kept a copy");
        out.data()[1] = 9;
        assertArrayEquals(new byte[] {1, 2, 3}, out.data(), "handed out a copy");
        assertEquals(new ExecEvent.Stdout(new byte[] {1, 2, 3}), out);
        assertNotEquals(new ExecEvent.Stderr(new byte[] {1, 2, 3}), out);

        Map<String, String> meta = new HashMap<>(Map.of("team", "a"));
        VM vm = new VM("id", "n", "o", "c1m2", 1, 2048, 10, VMStatus.RUNNING, null, null, null, null, null, meta);
        meta.put("team", "b");
        assertEquals(Map.of("team", "a"), vm.metadata());

        List<FirewallRule> rules = new java.util.ArrayList<>(List.of(FirewallRule.tcp(22)));
        FirewallPolicy policy = new FirewallPolicy(FirewallMode.RESTRICTED, rules);
        rules.clear();
        assertEquals(List.of(FirewallRule.tcp(22)), policy.ingress());
    }
}
