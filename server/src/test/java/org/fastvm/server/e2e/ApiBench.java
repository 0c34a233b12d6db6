package org.fastvm.server.e2e;

import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.LaunchOptions;
import org.fastvm.sdk.models.VM;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.FileTreesForTests;
import org.fastvm.server.ServerConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * API figures through the Java SDK against a real server and VM (not a test; run by hand):
 * {@code api_exec_rtt_ms} (median of {@code run(vm, "true")}), {@code api_get_rps}
 * (GET /v1/vms/{id} from one client on its one HTTP/2 connection, 32 concurrent callers),
 * {@code api_restore_ms} (median SDK {@code restore} call until it returns a running VM).
 */
public final class ApiBench {
    private ApiBench() {}

    /** Runs the benchmark and prints one figure per line. */
    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("fastvm-bench");
        ServerConfig config = ServerConfig.defaults(dir).withBind("127.0.0.1", 0);
        try (FastVmServer server = FastVmServer.start(config, RealEngine.open(dir))) {
            String key = server.apiKeys().create(server.orgs().findOrCreate("bench").id()).key();
            try (FastVM client = FastVM.builder().apiKey(key).baseUrl(server.baseUri().toString())
                    .timeout(Duration.ofSeconds(120)).build()) {
                client.warmup();
                long t0 = System.nanoTime();
                VM vm = client.launch(LaunchOptions.builder().machine("c1m2").build());
                System.out.printf("api_launch_ms %d%n", (System.nanoTime() - t0) / 1_000_000);
                for (int i = 0; i < 10; i++) client.run(vm, "true");
                List<Double> rtts = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    long s = System.nanoTime();
                    client.run(vm, "true");
                    rtts.add((System.nanoTime() - s) / 1e6);
                }
                Collections.sort(rtts);
                System.out.printf("api_exec_rtt_ms %.1f (p90 %.1f, n=100)%n", rtts.get(50), rtts.get(90));
                AtomicLong done = new AtomicLong();
                long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
                try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (int t = 0; t < 32; t++) {
                        pool.submit(() -> {
                            while (System.nanoTime() < end) {
                                client.get(vm.id());
                                done.incrementAndGet();
                            }
                            return null;
                        });
                    }
                }
                System.out.printf("api_get_rps %.0f (32 concurrent callers, one HTTP/2 connection, 5 s)%n", done.get() / 5.0);
                var snap = client.snapshot(vm);
                List<Double> restores = new ArrayList<>();
                for (int i = 0; i < 10; i++) {
                    long s = System.nanoTime();
                    VM clone = client.restore(snap);
                    restores.add((System.nanoTime() - s) / 1e6);
                    client.remove(clone);
                }
                Collections.sort(restores);
                System.out.printf("api_restore_ms %.0f (median, p90 %.0f, n=10)%n", restores.get(5), restores.get(9));
                client.removeSnapshot(snap);
                client.remove(vm);
            }
        } finally {
            RealEngine.discardAll(dir);
            FileTreesForTests.delete(dir);
        }
    }
}
