package org.fastvm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.Machine;
import org.fastvm.vmm.MachineSpec;

/**
 * {@code bench/run [--quick] [--json]}: boots minimal-image VMs with the real engine and
 * measures {@code boot_ready_ms} (launch call → the agent answers an exec of {@code true}),
 * {@code exec_rtt_ms} (one {@code true} exec on a running VM) and {@code ping_rtt_ms} (one
 * agent PING: the channel's share of an exec), launches served from a base snapshot ({@code launch_first_ms},
 * {@code launch_ready_ms}), the snapshot figures of {@link SnapshotBench} and, through the
 * in-process server and the Java SDK, the API figures of {@link ApiBench}. VM dirs and the server's database go to
 * a temp dir that is removed at the end; images come from the usual cache.
 */
public final class Bench {
    private Bench() {}

    /** Entry point; see the class comment for the arguments. */
    public static void main(String[] args) throws Exception {
        boolean quick = false, json = false;
        for (String a : args) {
            switch (a) {
                case "--quick" -> quick = true;
                case "--json" -> json = true;
                default -> {
                    System.err.println("usage: bench/run [--quick] [--json]\nunknown argument: " + a);
                    System.exit(2);
                }
            }
        }
        Logger.getLogger("").setLevel(Level.WARNING); // engine INFO logs would drown the table
        Path data = Files.createTempDirectory("fastvm-bench-");
        try {
            // warm pool only for snapshots the benchmark marks hot, so cold figures stay cold (room for a
            // fan-out of ten to be served warm once the pool has followed that demand); every launch
            // boots, so boot_ready_ms is a boot and a fresh VM's first snapshot the re-home
            Report report = engineFigures(
                    engineSetup()
                            .dataDir(data.resolve("engine"))
                            .warmPoolSize(1)
                            .warmPoolRecent(0)
                            .warmPoolMax(12)
                            .launchFromBase(false)
                            .build(),
                    quick);
            launchFigures(
                    engineSetup()
                            .dataDir(data.resolve("launch"))
                            .launchFromBase(true)
                            .build(),
                    report,
                    quick);
            // after the engine above is closed, so its pre-spawned QEMUs don't compete; the server's engine as served
            ApiBench.run(report, quick, data.resolve("server"), engineSetup());
            System.out.print(report.table());
            if (json) System.out.println(report.json());
        } finally {
            deleteTree(data);
        }
    }

    /** The engine's own figures: boots, exec and ping round trips, then {@link SnapshotBench}. */
    private static Report engineFigures(EngineConfig config, boolean quick) throws Exception {
        int boots = quick ? 2 : 5;
        int execs = quick ? 20 : 100;
        try (Engine engine = Engine.open(config)) {
            engine.image("minimal"); // build/cache outside the timed region
            Report report = new Report(
                    engine.accelerator().name().toLowerCase(Locale.ROOT),
                    engine.qemuVersion().number());
            List<Double> bootMs = new ArrayList<>();
            List<Double> rttMs = new ArrayList<>();
            List<Double> pingMs = new ArrayList<>();
            for (int i = 0; i < boots; i++) {
                System.err.printf("boot %d/%d ...%n", i + 1, boots);
                long t0 = System.nanoTime();
                Machine m = engine.launch(
                        MachineSpec.builder().image("minimal").memoryMib(512).build());
                try {
                    require(m.exec(ExecRequest.of("true")));
                    bootMs.add(ms(System.nanoTime() - t0));
                    if (i == 0) {
                        for (int w = 0; w < 5; w++) require(m.exec(ExecRequest.of("true"))); // warm-up
                        for (int k = 0; k < execs; k++) {
                            long s = System.nanoTime();
                            require(m.exec(ExecRequest.of("true")));
                            rttMs.add(ms(System.nanoTime() - s));
                        }
                        for (int k = 0; k < execs; k++) { // the channel alone, no fork/exec in the guest
                            long s = System.nanoTime();
                            m.agent().ping();
                            pingMs.add(ms(System.nanoTime() - s));
                        }
                    }
                } finally {
                    m.destroy();
                }
            }
            report.add("boot_ready_ms", new Stats(bootMs));
            report.add("exec_rtt_ms", new Stats(rttMs));
            report.add("ping_rtt_ms", new Stats(pingMs));
            SnapshotBench.run(engine, report, quick);
            return report;
        }
    }

    /**
     * Launches served from a base snapshot: {@code launch_first_ms} (the first launch of the shape:
     * boot, then the base taken) and {@code launch_ready_ms} (a later launch call → the agent
     * answered {@code true}, the base's warm-pool QEMU waiting), one VM at a time.
     */
    private static void launchFigures(EngineConfig config, Report report, boolean quick) throws Exception {
        int launches = quick ? 3 : 8;
        MachineSpec spec = MachineSpec.builder().image("minimal").memoryMib(512).build();
        try (Engine engine = Engine.open(config)) {
            engine.image("minimal");
            System.err.println("first launch (boot + base snapshot) ...");
            long t0 = System.nanoTime();
            Machine first = engine.launch(spec);
            try {
                require(first.exec(ExecRequest.of("true")));
                report.add("launch_first_ms", new Stats(List.of(ms(System.nanoTime() - t0))));
            } finally {
                first.destroy();
            }
            List<Double> ready = new ArrayList<>();
            for (int i = 0; i < launches; i++) {
                Thread.sleep(2000); // the base's warm-pool QEMU is refilled in the background
                System.err.printf("launch from base %d/%d ...%n", i + 1, launches);
                long s = System.nanoTime();
                Machine m = engine.launch(spec);
                try {
                    require(m.exec(ExecRequest.of("true")));
                    ready.add(ms(System.nanoTime() - s));
                } finally {
                    m.destroy();
                }
            }
            report.add("launch_ready_ms", new Stats(ready));
        }
    }

    private static void require(ExecResult r) {
        if (r.exitCode() != 0) throw new IllegalStateException("'true' exited " + r.exitCode() + ": " + r.stderrText());
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    /** Engine settings both parts share: the usual image cache and, from bench/run, FASTVM_HOME. */
    private static EngineConfig.Builder engineSetup() {
        EngineConfig.Builder b = EngineConfig.builder().cacheDir(EngineConfig.sharedCacheDir());
        String home = System.getProperty("fastvm.home");
        if (home != null) b.fastvmHome(Path.of(home));
        return b;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (var w = Files.walk(dir)) {
            for (Path p : w.sorted(Collections.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
