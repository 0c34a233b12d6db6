package org.fastvm.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.LaunchOptions;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.VM;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.backend.EngineBackend;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;

/**
 * API figures through the Java SDK against the real server, started in-process on loopback
 * (ephemeral port, SQLite, the real engine in its own data dir) with one client whose calls
 * all travel on its one HTTP/2 connection ({@link FastVM#warmup()}):
 * {@code api_exec_rtt_ms} ({@code run(vm, "true")} on a warm c1m2 VM),
 * {@code api_launch_ready_ms} (an SDK {@code launch} of c1m2 after the first one, which left the
 * shape's base snapshot, until {@code run(vm, "true")} answered),
 * {@code api_get_rps} (GET /v1/vms/{id} per second, 32 concurrent callers, one sample per
 * second) and {@code api_restore_ms} (the SDK {@code restore} call until it returns a running
 * VM, back to back with the server's default warm pool).
 */
final class ApiBench {
    /** Concurrent callers for api_get_rps: enough to keep the one connection busy. */
    private static final int GET_CALLERS = 32;

    private ApiBench() {}

    /**
     * @param dataDir the server's data dir (database, VMs, snapshots); must not be in use.
     *                VMs left in it are discarded before returning, even on failure; the caller removes the dir
     * @param engine  the engine's setup as {@code fastvm serve} has it, plus the shared image cache; its data dir is set here
     */
    static void run(Report report, boolean quick, Path dataDir, EngineConfig.Builder engine) throws Exception {
        int execs = quick ? 20 : 100, rounds = quick ? 3 : 10, restores = quick ? 3 : 10;
        EngineConfig config = engine.dataDir(dataDir).build();
        try (FastVmServer server = FastVmServer.start(
                ServerConfig.defaults(dataDir).withBind("127.0.0.1", 0).withMetricsBind("127.0.0.1", 0),
                EngineBackend.open(config, "minimal"))) {
            String key = server.apiKeys()
                    .create(server.orgs().findOrCreate("bench").id())
                    .key();
            try (FastVM client = FastVM.builder()
                    .apiKey(key)
                    .baseUrl(server.baseUri().toString())
                    .timeout(Duration.ofMinutes(2))
                    .build()) {
                client.warmup();
                System.err.println("API: launching a c1m2 VM through the server ...");
                VM vm = client.launch(LaunchOptions.builder().machine("c1m2").build());
                try {
                    for (int w = 0; w < 5; w++) require(client.run(vm, "true")); // warm-up
                    List<Double> rtt = new ArrayList<>();
                    for (int i = 0; i < execs; i++) {
                        long s = System.nanoTime();
                        require(client.run(vm, "true"));
                        rtt.add(ms(System.nanoTime() - s));
                    }
                    report.add("api_exec_rtt_ms", new Stats(rtt));

                    System.err.printf("API: GET /v1/vms/{id}, %d callers, %d s ...%n", GET_CALLERS, rounds + 1);
                    report.add(
                            "api_get_rps",
                            new Stats(Throughput.measure(
                                    GET_CALLERS, Duration.ofSeconds(1), rounds, () -> client.get(vm.id()))));

                    System.err.println("API: snapshot ...");
                    Snapshot snap = client.snapshot(vm);
                    try {
                        List<Double> restore = new ArrayList<>();
                        for (int i = 0; i < restores; i++) {
                            System.err.printf("API: restore %d/%d ...%n", i + 1, restores);
                            long s = System.nanoTime();
                            VM clone = client.restore(snap);
                            restore.add(ms(System.nanoTime() - s));
                            client.remove(clone);
                        }
                        report.add("api_restore_ms", new Stats(restore));
                    } finally {
                        client.removeSnapshot(snap);
                    }

                    // the first launch above booted and left the shape's base snapshot: these are restores of it
                    // (last: each launch's warm-pool refill runs in the background, and would compete with the
                    // figures above)
                    List<Double> launches = new ArrayList<>();
                    for (int i = 0; i < (quick ? 3 : 5); i++) {
                        System.err.printf("API: launch from the base %d/%d ...%n", i + 1, quick ? 3 : 5);
                        long s = System.nanoTime();
                        VM v = client.launch(
                                LaunchOptions.builder().machine("c1m2").build());
                        require(client.run(v, "true"));
                        launches.add(ms(System.nanoTime() - s));
                        client.remove(v);
                    }
                    report.add("api_launch_ready_ms", new Stats(launches));
                } finally {
                    client.remove(vm);
                }
            }
        } finally {
            discardLeftovers(config); // the server leaves VMs running on close: a failure above may have left some
        }
    }

    /** Stops (by pid) every VM still in the data dir, e.g. after a failed remove. */
    private static void discardLeftovers(EngineConfig config) throws InterruptedException {
        try (Engine engine = Engine.open(config)) {
            for (String id : engine.machineIds()) engine.discard(id);
        }
    }

    private static void require(CommandResult r) {
        if (!r.succeeded()) {
            throw new IllegalStateException(
                    "'true' through the API: exit " + r.exitCode() + ", timed out " + r.timedOut() + ": " + r.stderr());
        }
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
