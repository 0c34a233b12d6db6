package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.testing.SourceTree;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine dies ({@code Runtime.halt}, as {@code kill -9}) at each named step of a snapshot;
 * the next engine attaches the VM and finds it running, its files and processes intact, and
 * nothing left behind: no second QEMU, no snapshot temp dir, no moved-aside socket.
 */
class SnapshotCrashIT {
    @ParameterizedTest(name = "{0} snapshot, crash at {1}")
    @CsvSource({
        "first (re-home), migrate, false",
        "first (re-home), state, false",
        "first (re-home), rehomed, false",
        "first (re-home), publish, false",
        "later (live), migrate, true",
        "later (live), switchover, true",
        "later (live), state, true",
        "later (live), publish, true",
    })
    void aCrashMidSnapshotLosesNoVmAndLeavesNothingBehind(String kind, String step, boolean firstSnapshot)
            throws Exception {
        EngineConfig config = TestEngines.config();
        Path data = config.dataDir();
        String vmId = "crash-" + step;
        Engine engine = null;
        Machine vm = null;
        try {
            Process child = new ProcessBuilder(
                            ProcessHandle.current().info().command().orElseThrow(),
                            "-cp",
                            System.getProperty("java.class.path"),
                            SnapshotCrashChild.class.getName(),
                            data.toString(),
                            TestEngines.sharedCache().toString(),
                            SourceTree.root().toString(),
                            vmId,
                            step,
                            Boolean.toString(firstSnapshot))
                    .redirectErrorStream(true)
                    .redirectOutput(data.resolve("child.log").toFile())
                    .start();
            try {
                assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child engine ended");
            } finally {
                child.destroyForcibly();
            }
            String out = Files.readString(data.resolve("child.log"), StandardCharsets.UTF_8);
            assertEquals(137, child.exitValue(), out);
            assertTrue(out.contains("CRASH at " + step), out);

            engine = Engine.open(config);
            vm = engine.attach(vmId).orElseThrow(() -> new AssertionError("the VM was lost"));
            assertEquals("before\nduring\n", exec(vm, "cat /tmp/before /tmp/during"));
            // the guest runs: its counter (started before the snapshot) moves on
            exec(
                    vm,
                    "a=$(cat /tmp/n); for i in $(seq 100); do [ $(cat /tmp/n) -gt $a ] && exit 0; sleep 0.05; done; exit 1");

            List<Long> qemus = qemusOf(data);
            assertEquals(List.of(vm.pid()), qemus, "one QEMU, the VM's");
            try (var s = Files.list(data.resolve("snapshots"))) {
                List<String> left = s.map(p -> p.getFileName().toString())
                        .filter(n -> n.startsWith(".tmp-"))
                        .toList();
                assertEquals(List.of(), left, "no snapshot temp dir");
            }
            try (var s = Files.list(vm.dir())) {
                assertFalse(s.anyMatch(p -> p.getFileName().toString().endsWith(".old")), "no moved-aside socket");
            }
            // and it can be snapshotted again
            VmSnapshot again = engine.snapshot(vm, SnapshotSpec.withId("after-crash"));
            assertTrue(again.memBytes() > 0);
        } finally {
            if (vm != null) vm.destroy();
            for (long pid : qemusOf(data))
                ProcessHandle.of(pid).ifPresent(h -> {
                    h.destroyForcibly();
                    h.onExit().join();
                });
            if (engine != null) engine.close();
            TestEngines.deleteDataDir(data);
        }
    }

    private static String exec(Machine vm, String script) throws InterruptedException {
        ExecResult r = vm.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), () -> script + ": " + r.stderrText());
        return r.stdoutText();
    }

    /** QEMU processes whose command line names a path in {@code data}. */
    private static List<Long> qemusOf(Path data) {
        List<Long> out = new ArrayList<>();
        for (ProcessHandle h : ProcessHandle.allProcesses().toList()) {
            try {
                String cmd = Files.readString(Path.of("/proc", Long.toString(h.pid()), "cmdline"))
                        .replace('\0', ' ');
                if (cmd.contains("qemu-system") && cmd.contains(data.toString())) out.add(h.pid());
            } catch (java.io.IOException e) {
                // gone meanwhile
            }
        }
        return out;
    }
}
