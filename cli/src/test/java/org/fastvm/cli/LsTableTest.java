package org.fastvm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;

/** `fastvm ls` keeps its columns aligned when names are 36-character UUIDs (the SDK's default). */
class LsTableTest {
    @Test
    void uuidNamesDoNotPushLaterColumnsOutOfLine() {
        VM uuidNamed =
                vm("7f3c2a1e-0000-4000-8000-000000000001", "0b9c3f0e-4a5e-4c7e-9d43-5a2f3b1c7e11", VMStatus.RUNNING);
        VM short1 = vm("7f3c2a1e-0000-4000-8000-000000000002", "web", VMStatus.PROVISIONING);
        List<String> lines =
                ClientCommands.Ls.table(List.of(uuidNamed, short1)).lines().toList();
        assertEquals(3, lines.size());
        int type = lines.get(0).indexOf("TYPE");
        int status = lines.get(0).indexOf("STATUS");
        int created = lines.get(0).indexOf("CREATED");
        for (String row : lines.subList(1, 3)) {
            assertEquals(type, row.indexOf("c1m2"), row);
            assertEquals(created, row.indexOf("2026-"), row);
        }
        assertEquals(status, lines.get(1).indexOf("running"));
        assertEquals(status, lines.get(2).indexOf("provisioning"));
        assertEquals(
                lines.get(1).indexOf(uuidNamed.name()) + 36 + 2,
                type,
                "NAME is exactly as wide as a UUID plus the gap");
    }

    private static VM vm(String id, String name, VMStatus status) {
        return new VM(
                id,
                name,
                "org",
                "c1m2",
                1,
                2048,
                10,
                status,
                Instant.parse("2026-11-28T21:00:00Z"),
                null,
                null,
                null,
                null,
                Map.of());
    }
}
