package org.fastvm.vmm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.fastvm.vmm.Accelerator;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.VmmException;
import org.fastvm.vmm.process.ProcessRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QemuVersionTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void readsQueryVersionAndDescribesItAsTheVersionLine() throws Exception {
        QemuVersion v = QemuVersion.fromQmp(
                JSON.readTree(
                        "{\"qemu\":{\"major\":10,\"minor\":0,\"micro\":2},\"package\":\"Debian 1:10.0.2+ds-2+deb13u1~bpo12+1\"}"));
        assertEquals(new QemuVersion(10, 0, 2, "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"), v);
        assertEquals("10.0.2", v.number());
        assertEquals("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)", v.describe());
        assertEquals("QEMU emulator version 9.2.0", new QemuVersion(9, 2, 0, "").describe(), "an upstream build");
        assertThrows(VmmException.class, () -> QemuVersion.fromQmp(JSON.readTree("{\"qemu\":{\"major\":\"x\"}}")));
    }

    @Test
    void liveCopiesOnTcgOnlyFromTheDirtyTrackingFixOnKvmAlways() {
        assertFalse(new QemuVersion(7, 2, 0, "").livePrecopySafe(Accelerator.TCG), "Debian bookworm");
        assertFalse(new QemuVersion(8, 2, 2, "").livePrecopySafe(Accelerator.TCG), "Ubuntu 24.04");
        assertTrue(new QemuVersion(9, 0, 0, "").livePrecopySafe(Accelerator.TCG));
        assertTrue(new QemuVersion(10, 0, 2, "").livePrecopySafe(Accelerator.TCG));
        assertTrue(new QemuVersion(7, 2, 0, "").livePrecopySafe(Accelerator.KVM));
        assertFalse(QemuVersion.UNKNOWN.livePrecopySafe(Accelerator.KVM), "a QEMU that did not answer");
    }

    @Test
    void theInstalledQemuDescribesItselfAsItsVersionLine(@TempDir Path dir) throws Exception {
        // snapshots taken by earlier engines recorded the --version line: the text must not change
        String binary = EngineConfig.builder().build().qemuBinary();
        String line = ProcessRunner.run(List.of(binary, "--version"), Duration.ofSeconds(30))
                .stdout()
                .lines()
                .findFirst()
                .orElseThrow();
        assertEquals(line, QemuVersion.query(binary, dir.resolve("q")).describe());
    }

    @Test
    void ordersByNumbers() {
        assertTrue(new QemuVersion(9, 1, 0, "").atLeast(new QemuVersion(9, 0, 5, "")));
        assertFalse(new QemuVersion(8, 9, 9, "").atLeast(new QemuVersion(9, 0, 0, "")));
        assertTrue(new QemuVersion(9, 0, 0, "x").atLeast(new QemuVersion(9, 0, 0, "")));
    }
}
