package org.fastvm.vmm;

import java.nio.file.Path;

/**
 * The engine process {@link OrphanedCommandIT} crashes: launches a VM, starts a command that
 * runs on (with a job in its process group) and halts the JVM while it runs, as {@code kill -9}
 * would. The VM and the command outlive it.
 *
 * <p>Arguments: dataDir cacheDir fastvmHome vmId.
 */
public final class OrphanedCommandChild {
    private OrphanedCommandChild() {}

    /** Writes its own pid and its job's to /tmp/cmd.pid and /tmp/job.pid, then waits for the job. */
    static final String COMMAND = "sleep 1000 & echo $! > /tmp/job.pid; echo $$ > /tmp/cmd.pid; wait";

    public static void main(String[] a) throws Exception {
        EngineConfig config = EngineConfig.builder()
                .dataDir(Path.of(a[0]))
                .cacheDir(Path.of(a[1]))
                .fastvmHome(Path.of(a[2]))
                .warmPoolSize(0)
                .launchFromBase(false)
                .build();
        Engine engine = Engine.open(config);
        Machine vm = engine.launch(
                MachineSpec.builder().id(a[3]).image("minimal").memoryMib(256).build());
        vm.start(ExecRequest.of("sh", "-c", COMMAND), new ExecListener() {
            @Override
            public void onStdout(byte[] chunk) {}

            @Override
            public void onStderr(byte[] chunk) {}

            @Override
            public void onExit(ExecResult result) {}
        });
        ExecResult r = vm.exec(
                ExecRequest.of(
                        "sh",
                        "-c",
                        "for i in $(seq 100); do [ -s /tmp/cmd.pid ] && [ -s /tmp/job.pid ] && exit 0; sleep 0.1; done; exit 1"));
        if (r.exitCode() != 0) throw new IllegalStateException("the command did not start");
        System.out.println("CRASH with the command running");
        System.out.flush();
        Runtime.getRuntime().halt(137);
    }
}
