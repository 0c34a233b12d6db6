package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.testing.Preconditions;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.Test;

/**
 * A snapshot onto a full file system. A clone's snapshot writes its RAM (the clone maps its
 * own snapshot privately), so a clone with 64 MiB dirtied is snapshotted into a 32 MiB tmpfs
 * mounted over the snapshots dir: the snapshot fails with a typed error, leaves nothing
 * behind, and the clone runs on. (A launched VM's first snapshot writes only ~60 KB — its RAM
 * file is hard-linked — so SnapshotForkIT injects that failure instead.)
 */
class SnapshotDiskFullIT {
    @Test
    void outOfSpaceFailsCleanlyAndTheSourceRunsOn() throws Exception {
        EngineConfig config = EngineConfig.builder()
                .dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(org.fastvm.vmm.testing.SourceTree.root())
                .warmPoolSize(0)
                .build();
        Engine engine = Engine.open(config);
        Path snaps = config.dataDir().resolve("snapshots");
        boolean mounted = false;
        Machine vm = null;
        Machine clone = null;
        try {
            vm = engine.launch(
                    MachineSpec.builder().image("minimal").memoryMib(256).build());
            engine.snapshot(vm, SnapshotSpec.withId("base"));
            clone = engine.restore("base", RestoreSpec.withId("clone"));
            var dirty = clone.exec(ExecRequest.of(
                    "sh",
                    "-c",
                    "dd if=/dev/urandom of=/tmp/r bs=1048576 count=1 2>/dev/null;"
                            + " i=0; while [ $i -lt 64 ]; do cat /tmp/r; i=$((i+1)); done > /tmp/dirty"));
            assertEquals(0, dirty.exitCode(), dirty.stderrText());
            try {
                ProcessRunner.run(
                        List.of("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", snaps.toString()),
                        Duration.ofSeconds(10));
                mounted = true;
            } catch (ProcessFailedException e) {
                Preconditions.unmet("cannot mount a small tmpfs here (needs root): " + e.getMessage());
            }
            Machine source = clone;
            var e = assertThrows(
                    SnapshotFailedException.class, () -> engine.snapshot(source, SnapshotSpec.withId("full")));
            // Which side notices first (the capture QEMU dying on ENOSPC, or the source's migration
            // failing) is a race; either way the error must say how much space was left.
            assertTrue(e.getMessage().contains(" MiB free in " + snaps), e.getMessage());
            assertTrue(engine.findSnapshot("full").isEmpty());
            try (var s = Files.list(snaps)) {
                assertEquals(List.of(), s.toList(), "no partial snapshot, no temp dir");
            }
            assertEquals("ok\n", clone.exec(ExecRequest.of("echo", "ok")).stdoutText(), "the clone runs on");
            assertEquals(
                    0,
                    clone.exec(ExecRequest.of("sh", "-c", "cmp -n 1048576 /tmp/dirty /tmp/r"))
                            .exitCode());
        } finally {
            if (clone != null) clone.destroy();
            if (vm != null) vm.destroy();
            engine.close();
            if (mounted) ProcessRunner.run(List.of("umount", snaps.toString()), Duration.ofSeconds(10));
            if (engine.findSnapshot("base").isPresent()) engine.deleteSnapshot("base");
            TestEngines.deleteDataDir(config.dataDir());
        }
    }
}
