package org.fastvm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.Machine;
import org.fastvm.vmm.MachineSpec;
import org.fastvm.vmm.RestoreSpec;
import org.fastvm.vmm.SnapshotSpec;
import org.fastvm.vmm.VmSnapshot;

/**
 * Snapshot figures on a minimal-image VM (512 MiB) with 256 MiB of guest memory dirtied:
 * {@code snapshot_pause_ms} (the source's pause, as the engine measures it: stopped →
 * running again, for the first snapshot of a launched VM: re-homing),
 * {@code snapshot_pause_2nd_ms} (its 2nd and 3rd snapshot: RAM migrated live where the QEMU allows it, else stopped),
 * {@code snapshot_pause_clone_ms} (a snapshot of a clone: private RAM, migrated),
 * {@code restore_ready_ms} (restore call → the clone answered {@code true}, cold),
 * {@code restore_warm_ready_ms} (the same with a pre-spawned QEMU waiting),
 * {@code fanout10_first_ms} (10 concurrent restores of a snapshot just marked hot: one warm, nine
 * cold), {@code fanout10_ready_ms} (the later bursts of 10, once the warm pool has followed that
 * demand and refilled; until all answered) and
 * {@code clone_pss_mib} (PSS of each idle clone QEMU with 10 alive).
 */
final class SnapshotBench {
    private SnapshotBench() {}

    static void run(Engine engine, Report report, boolean quick) throws Exception {
        int firsts = quick ? 2 : 4, restores = quick ? 3 : 8, fanouts = quick ? 2 : 4;
        List<Double> pause = new ArrayList<>();
        for (int i = 1; i < firsts; i++) { // first snapshots of fresh VMs (re-homing); the last VM goes on below
            Machine vm = dirtiedVm(engine);
            try {
                System.err.printf("first snapshot %d/%d ...%n", i, firsts);
                VmSnapshot s = engine.snapshot(vm, SnapshotSpec.withId("bench-first-" + i));
                pause.add(s.pauseMillis());
                engine.deleteSnapshot(s.id());
            } finally {
                vm.destroy();
            }
        }
        Machine src = dirtiedVm(engine);
        List<Machine> alive = new ArrayList<>();
        try {
            System.err.printf("first snapshot %d/%d ...%n", firsts, firsts);
            pause.add(engine.snapshot(src, SnapshotSpec.withId("bench-0")).pauseMillis());
            report.add("snapshot_pause_ms", new Stats(pause));
            List<Double> later = new ArrayList<>();
            for (int i = 1; i <= 2; i++) { // the 2nd and 3rd snapshot of the same VM
                System.err.printf("snapshot %d of the same VM ...%n", i + 1);
                VmSnapshot s = engine.snapshot(src, SnapshotSpec.withId("bench-" + i));
                later.add(s.pauseMillis());
                engine.deleteSnapshot(s.id());
            }
            report.add("snapshot_pause_2nd_ms", new Stats(later));
            String base = "bench-0";

            List<Double> cold = new ArrayList<>();
            for (int i = 0; i < restores; i++) {
                System.err.printf("cold restore %d/%d ...%n", i + 1, restores);
                long t0 = System.nanoTime();
                Machine c = engine.restore(base, RestoreSpec.defaults());
                require(c.exec(ExecRequest.of("true")));
                cold.add(ms(System.nanoTime() - t0));
                if (i == 0) { // a snapshot of a clone: private RAM, the migration path
                    List<Double> clonePause = new ArrayList<>();
                    for (int k = 0; k < (quick ? 1 : 3); k++) {
                        VmSnapshot cs = engine.snapshot(c, SnapshotSpec.withId("bench-clone-" + k));
                        clonePause.add(cs.pauseMillis());
                        engine.deleteSnapshot(cs.id());
                    }
                    report.add("snapshot_pause_clone_ms", new Stats(clonePause));
                }
                c.destroy();
            }
            report.add("restore_ready_ms", new Stats(cold));

            VmSnapshot hot = engine.snapshot(src, SnapshotSpec.withId("bench-hot"));
            engine.markHot(hot.id()).get(60, TimeUnit.SECONDS);
            List<Double> warm = new ArrayList<>();
            for (int i = 0; i < restores; i++) {
                engine.warmRefill(hot.id()).get(60, TimeUnit.SECONDS); // a QEMU waits before each timed restore
                System.err.printf("warm restore %d/%d (%d waiting) ...%n", i + 1, restores, engine.warmCount(hot.id()));
                long t0 = System.nanoTime();
                Machine c = engine.restore(hot.id(), RestoreSpec.defaults());
                require(c.exec(ExecRequest.of("true")));
                warm.add(ms(System.nanoTime() - t0));
                c.destroy();
            }
            report.add("restore_warm_ready_ms", new Stats(warm));
            engine.deleteSnapshot(hot.id());

            // the first burst finds the pool at its default depth (one entry); the pool then follows
            // that demand, so later bursts (after its refill) are served warm
            engine.markHot(base).get(60, TimeUnit.SECONDS);
            List<Double> first = new ArrayList<>();
            List<Double> fan = new ArrayList<>();
            List<Double> pss = new ArrayList<>();
            for (int f = 0; f < fanouts; f++) {
                engine.warmRefill(base).get(120, TimeUnit.SECONDS);
                System.err.printf("fan-out of 10, %d/%d (%d waiting) ...%n", f + 1, fanouts, engine.warmCount(base));
                long t0 = System.nanoTime();
                List<CompletableFuture<Machine>> fs = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    fs.add(CompletableFuture.supplyAsync(
                            () -> {
                                try {
                                    Machine c = engine.restore(base, RestoreSpec.defaults());
                                    synchronized (alive) {
                                        alive.add(c);
                                    }
                                    require(c.exec(ExecRequest.of("true")));
                                    return c;
                                } catch (InterruptedException e) {
                                    throw new IllegalStateException(e);
                                }
                            },
                            Thread::startVirtualThread));
                }
                CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(300, TimeUnit.SECONDS);
                (f == 0 ? first : fan).add(ms(System.nanoTime() - t0));
                if (f == fanouts - 1) {
                    Thread.sleep(2000); // let the clones go idle before measuring memory
                    for (Machine c : alive) pss.add(pssMib(c.pid()));
                }
                for (Machine c : alive) c.destroy();
                alive.clear();
            }
            report.add("fanout10_first_ms", new Stats(first));
            report.add("fanout10_ready_ms", new Stats(fan));
            report.add("clone_pss_mib", new Stats(pss));
        } finally {
            for (Machine c : alive) c.destroy();
            src.destroy();
            for (VmSnapshot s : engine.snapshots()) engine.deleteSnapshot(s.id());
        }
    }

    /** A fresh minimal VM (512 MiB) with 256 MiB of its memory written with non-zero data. */
    private static Machine dirtiedVm(Engine engine) throws InterruptedException {
        Machine vm = engine.launch(
                MachineSpec.builder().image("minimal").memoryMib(512).build());
        System.err.println("dirtying 256 MiB of guest memory ...");
        require(vm.exec(ExecRequest.of(
                "sh",
                "-c",
                "dd if=/dev/urandom of=/tmp/r bs=1048576 count=1 2>/dev/null; i=0; "
                        + "while [ $i -lt 256 ]; do cat /tmp/r; i=$((i+1)); done > /tmp/dirty; rm /tmp/r")));
        return vm;
    }

    /** Proportional set size of a process, from /proc/PID/smaps_rollup, in MiB. */
    static double pssMib(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
            if (line.startsWith("Pss:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
        throw new IOException("no Pss line in /proc/" + pid + "/smaps_rollup");
    }

    private static void require(ExecResult r) {
        if (r.exitCode() != 0) throw new IllegalStateException("exec exited " + r.exitCode() + ": " + r.stderrText());
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
