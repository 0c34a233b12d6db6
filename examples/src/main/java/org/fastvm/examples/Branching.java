package org.fastvm.examples;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.FastVMAsync;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.VM;

/**
 * Branching: prepare one VM, snapshot it, restore ten branches concurrently, run a different
 * command in each concurrently, and clean up. All twenty concurrent calls travel on the
 * client's one HTTP/2 connection. Reads {@code FASTVM_API_KEY} and {@code FASTVM_BASE_URL}.
 *
 * <pre>
 * FASTVM_API_KEY=... FASTVM_BASE_URL=http://localhost:8080 ./mvnw -q -pl examples exec:java -Dexample=Branching
 * </pre>
 */
public final class Branching {
    /** How many branches to restore from the snapshot. */
    public static final int BRANCHES = 10;

    private Branching() {}

    /**
     * Runs the example against the server named by the environment.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        try (FastVM client = new FastVM()) {
            run(client, System.out);
        }
    }

    /**
     * The example itself; removes every VM and the snapshot it created, also on failure.
     *
     * @param client a FastVM client
     * @param out where to print progress
     */
    public static void run(FastVM client, PrintStream out) {
        FastVMAsync async = client.async();
        VM base = client.launch();
        Snapshot snapshot = null;
        List<CompletableFuture<VM>> restores = new ArrayList<>();
        try {
            client.run(base, "echo 'shared setup done' > /tmp/setup");
            snapshot = client.snapshot(base);
            out.println("base " + base.id() + " snapshotted as " + snapshot.id());

            long start = System.nanoTime();
            for (int i = 0; i < BRANCHES; i++) restores.add(async.restore(snapshot));
            List<VM> branches = CompletableFuture.allOf(restores.toArray(CompletableFuture[]::new))
                    .thenApply(
                            v -> restores.stream().map(CompletableFuture::join).toList())
                    .join();
            out.printf("%d branches running after %d ms%n", branches.size(), (System.nanoTime() - start) / 1_000_000);

            List<CompletableFuture<CommandResult>> runs = new ArrayList<>();
            for (int i = 0; i < branches.size(); i++) {
                runs.add(async.run(
                        branches.get(i), "cat /tmp/setup; echo branch " + i + " computes $((" + i + " * " + i + "))"));
            }
            for (int i = 0; i < runs.size(); i++) {
                out.println("branch " + i + ": "
                        + runs.get(i).join().stdout().strip().replace('\n', ' '));
            }
        } finally {
            // Remove whatever was created, even when some restores failed.
            List<CompletableFuture<Void>> removals = new ArrayList<>();
            for (CompletableFuture<VM> r : restores) {
                removals.add(r.handle((vm, e) -> vm)
                        .thenCompose(
                                vm -> vm == null ? CompletableFuture.<Void>completedFuture(null) : async.remove(vm)));
            }
            try {
                CompletableFuture.allOf(removals.toArray(CompletableFuture[]::new))
                        .join();
                if (snapshot != null) client.removeSnapshot(snapshot);
            } finally {
                client.remove(base); // even when removing a branch or the snapshot failed
            }
        }
    }
}
