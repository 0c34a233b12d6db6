package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.fastvm.vmm.testing.SourceTree;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The path hosts take whose QEMU loses TCG writes during a live copy (before 9.0, e.g.
 * Debian bookworm's 7.2, Ubuntu 24.04's 8.2), forced here with {@code liveSnapshots(false)}:
 * a VM's later snapshots stop it for the whole copy, and are still complete and correct.
 */
class StoppedSnapshotIT {
    private static Engine engine;
    private static final List<Machine> vms = new ArrayList<>();
    private static final List<String> steps = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void open() throws Exception {
        engine = Engine.open(
                EngineConfig.builder()
                        .dataDir(TestEngines.config().dataDir())
                        .cacheDir(TestEngines.sharedCache())
                        .fastvmHome(SourceTree.root())
                        .liveSnapshots(false)
                        .build(),
                steps::add);
    }

    @AfterAll
    static void tearDown() throws Exception {
        TestEngines.shutDown(engine, vms);
    }

    @Test
    void laterSnapshotsStopTheVmForTheCopyAndLoseNothing() throws Exception {
        assertFalse(engine.liveSnapshots(), "forced off");
        Machine vm = engine.launch(
                MachineSpec.builder().image("minimal").memoryMib(256).build());
        vms.add(vm);
        sh(vm, "echo one > /tmp/one");
        engine.snapshot(vm, SnapshotSpec.withId("first")); // re-homes: from here on a private mapping
        sh(
                vm,
                "echo two > /tmp/two; sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; done' </dev/null >/dev/null 2>&1 &");
        steps.clear();
        VmSnapshot second = engine.snapshot(vm, SnapshotSpec.withId("second"));
        assertTrue(steps.contains("migrate"), steps.toString());
        assertFalse(steps.contains("switchover"), "no live switch-over on the stopped path: " + steps);
        assertTrue(second.pauseMillis() > 0);

        Machine clone = engine.restore("second", RestoreSpec.withId("clone"));
        vms.add(clone);
        assertEquals("one\ntwo\n", sh(clone, "cat /tmp/one /tmp/two").stdoutText());
        // the counter loop came along and keeps counting in the clone, and in the source
        for (Machine m : List.of(clone, vm)) {
            sh(
                    m,
                    "a=$(cat /tmp/n); for i in $(seq 50); do [ $(cat /tmp/n) -gt $a ] && exit 0; sleep 0.1; done; exit 1");
        }
    }

    private static ExecResult sh(Machine m, String script) throws InterruptedException {
        ExecResult r = m.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), () -> script + ": " + r.stdoutText() + r.stderrText());
        return r;
    }
}
