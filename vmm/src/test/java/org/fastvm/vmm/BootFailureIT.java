package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.fastvm.vmm.testing.SourceTree;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Launches that cannot succeed fail fast, with a typed error and no VM dir left behind. */
class BootFailureIT {
    private static EngineConfig.Builder config(Path data) {
        return EngineConfig.builder()
                .dataDir(data)
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(SourceTree.root())
                .accel(EngineConfig.AccelMode.TCG);
    }

    @Test
    void qemuExitingAtOnceIsABootFailureWithItsLog(@TempDir Path data) throws Exception {
        // a "QEMU" that rejects its argv the way a real one does on a bad option
        Path fake = data.resolve("fake-qemu");
        Files.writeString(fake, "#!/bin/sh\necho 'qemu: unsupported machine option' >&2\nexit 1\n");
        fake.toFile().setExecutable(true);
        try (Engine e = Engine.open(
                config(data.resolve("d")).qemuBinary(fake.toString()).build())) {
            long t0 = System.nanoTime();
            var ex = assertThrows(
                    BootFailedException.class,
                    () -> e.launch(MachineSpec.builder().id("bad").build()));
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "failed fast");
            assertTrue(ex.getMessage().contains("QEMU exited with 1"), ex.getMessage());
            assertTrue(ex.getMessage().contains("unsupported machine option"), ex.getMessage());
            assertEquals(java.util.List.of(), e.machineIds(), "the VM dir was removed");
        }
    }

    @Test
    void agentSilentPastTheBootTimeoutIsABootFailure(@TempDir Path data) throws Exception {
        try (Engine e = Engine.open(
                config(data.resolve("d")).bootTimeout(Duration.ofMillis(300)).build())) {
            var ex = assertThrows(
                    BootFailedException.class,
                    () -> e.launch(MachineSpec.builder().id("slow").build()));
            assertTrue(ex.getMessage().contains("did not say HELLO"), ex.getMessage());
            assertEquals(java.util.List.of(), e.machineIds());
        }
    }
}
