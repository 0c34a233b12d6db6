package org.fastvm.vmm;

import java.nio.file.Path;

/**
 * The engine process {@link SnapshotCrashIT} crashes: launches a VM, writes a file in it,
 * optionally takes a first snapshot (so the next one is a live migration, not a re-home), then
 * snapshots it and halts the JVM at the named step, as {@code kill -9} would (no finally
 * blocks, no shutdown hooks, no undo).
 *
 * <p>Arguments: dataDir cacheDir fastvmHome vmId step firstSnapshot(true|false).
 */
public final class SnapshotCrashChild {
    private SnapshotCrashChild() {}

    /** Armed for the snapshot that crashes only (a first snapshot passes the same step names). */
    private static volatile boolean armed;

    public static void main(String[] a) throws Exception {
        String step = a[4];
        EngineConfig config = EngineConfig.builder()
                .dataDir(Path.of(a[0]))
                .cacheDir(Path.of(a[1]))
                .fastvmHome(Path.of(a[2]))
                .warmPoolSize(0)
                .launchFromBase(false)
                .build();
        Engine engine = Engine.open(config, s -> {
            if (armed && s.equals(step)) {
                System.out.println("CRASH at " + s);
                System.out.flush();
                Runtime.getRuntime().halt(137);
            }
        });
        Machine vm = engine.launch(
                MachineSpec.builder().id(a[3]).image("minimal").memoryMib(256).build());
        run(vm, "echo before > /tmp/before");
        if (Boolean.parseBoolean(a[5])) engine.snapshot(vm, SnapshotSpec.withId("first"));
        run(
                vm,
                "echo during > /tmp/during; sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n;"
                        + " sleep 0.05; done' </dev/null >/dev/null 2>&1 &");
        armed = true;
        engine.snapshot(vm, SnapshotSpec.withId("crashed"));
        System.out.println("NO CRASH: step " + step + " was not reached");
        Runtime.getRuntime().halt(3);
    }

    private static void run(Machine vm, String script) throws InterruptedException {
        ExecResult r = vm.exec(ExecRequest.of("sh", "-c", script));
        if (r.exitCode() != 0) throw new IllegalStateException(script + ": " + r.stderrText());
    }
}
