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
import org.junit.jupiter.api.Test;

/**
 * A command nobody can read any more does not run on in the guest: the agent kills the commands
 * (their process groups) that earlier hosts started when a new host connects, i.e. an engine
 * attaching after the last one died, or a restored clone's first connection. The same engine's
 * own snapshots of a VM leave its commands running.
 */
class OrphanedCommandIT {
    /** Exits 0 once the command and its job are gone (killed and reaped), 1 if they still run after 10 s. */
    private static final String GONE = "c=$(cat /tmp/cmd.pid); j=$(cat /tmp/job.pid); for i in $(seq 100); do"
            + " kill -0 $c 2>/dev/null || kill -0 $j 2>/dev/null || exit 0; sleep 0.1; done; exit 1";
    /** Exits 0 while both run. */
    private static final String RUNNING = "kill -0 $(cat /tmp/cmd.pid) && kill -0 $(cat /tmp/job.pid)";

    @Test
    void theCommandOfAnEngineThatDiedIsKilledWhenTheNextOneAttaches() throws Exception {
        EngineConfig config = TestEngines.config();
        Path data = config.dataDir();
        String vmId = "orphaned";
        Engine engine = null;
        Machine vm = null;
        try {
            Process child = new ProcessBuilder(
                            ProcessHandle.current().info().command().orElseThrow(),
                            "-cp",
                            System.getProperty("java.class.path"),
                            OrphanedCommandChild.class.getName(),
                            data.toString(),
                            TestEngines.sharedCache().toString(),
                            SourceTree.root().toString(),
                            vmId)
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
            assertTrue(out.contains("CRASH with the command running"), out);

            engine = Engine.open(config);
            vm = engine.attach(vmId).orElseThrow(() -> new AssertionError("the VM was lost"));
            assertEquals(0, sh(vm, GONE).exitCode(), "the dead engine's command and its job were killed");
        } finally {
            if (vm != null) vm.destroy();
            for (ProcessHandle h : ProcessHandle.allProcesses().toList()) { // nothing of this test runs on
                if (h.info()
                        .arguments()
                        .map(a -> String.join(" ", a).contains(data.toString()))
                        .orElse(false)) {
                    h.destroyForcibly();
                    h.onExit().join();
                }
            }
            if (engine != null) engine.close();
            TestEngines.deleteDataDir(data);
        }
    }

    @Test
    void clonesDoNotRunTheCommandsTheirSnapshotCaughtWhileTheSourceKeepsThem() throws Exception {
        // a warm pool of one and no base snapshots: the first restore is cold, the second warm
        EngineConfig config = EngineConfig.builder()
                .dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(SourceTree.root())
                .warmPoolSize(1)
                .warmPoolMax(1)
                .launchFromBase(false)
                .build();
        Engine engine = Engine.open(config);
        List<Machine> vms = new ArrayList<>();
        try {
            Machine source = engine.launch(
                    MachineSpec.builder().image("minimal").memoryMib(256).build());
            vms.add(source);
            ExecHandle command =
                    source.start(ExecRequest.of("sh", "-c", OrphanedCommandChild.COMMAND), new ExecListener() {
                        @Override
                        public void onStdout(byte[] chunk) {}

                        @Override
                        public void onStderr(byte[] chunk) {}

                        @Override
                        public void onExit(ExecResult result) {}
                    });
            assertEquals(
                    0,
                    sh(
                                    source,
                                    "for i in $(seq 100); do [ -s /tmp/cmd.pid ] && [ -s /tmp/job.pid ] && exit 0;"
                                            + " sleep 0.1; done; exit 1")
                            .exitCode());

            engine.snapshot(source, SnapshotSpec.withId("first")); // re-homed into a new QEMU, same connection
            engine.snapshot(source, SnapshotSpec.withId("second")); // stays in its QEMU
            assertEquals(0, sh(source, RUNNING).exitCode(), "the source's command runs on");
            assertFalse(command.result().isDone(), "and its exec is still in flight");

            Machine cold = engine.restore("second", RestoreSpec.withId("cold"));
            vms.add(cold);
            assertEquals(0, sh(cold, GONE).exitCode(), "a cold clone killed the command its snapshot caught");
            engine.warmRefill("second").get(60, TimeUnit.SECONDS);
            assertEquals(1, engine.warmCount("second"));
            Machine warm = engine.restore("second", RestoreSpec.withId("warm"));
            vms.add(warm);
            assertTrue(
                    Files.readString(warm.dir().resolve("machine.json"))
                            .contains(config.dataDir().resolve("pool").toString()),
                    "the second clone came from the warm pool");
            assertEquals(0, sh(warm, GONE).exitCode(), "so did a clone from the warm pool");

            assertEquals(0, sh(source, RUNNING).exitCode(), "the source's command still runs");
            assertFalse(command.result().isDone());
            command.cancel();
            assertEquals(9, command.result().get(30, TimeUnit.SECONDS).signal(), "its own exec ends it");
        } finally {
            TestEngines.shutDown(engine, vms);
        }
    }

    private static ExecResult sh(Machine vm, String script) throws InterruptedException {
        return vm.exec(ExecRequest.of("sh", "-c", script));
    }
}
