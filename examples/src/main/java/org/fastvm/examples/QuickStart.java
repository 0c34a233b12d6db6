package org.fastvm.examples;

import java.io.PrintStream;
import java.time.Duration;
import org.fastvm.sdk.ExecStream;
import org.fastvm.sdk.FastVM;
import org.fastvm.sdk.LaunchOptions;
import org.fastvm.sdk.RunOptions;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.VM;

/**
 * The quick start: launch a VM, run a command, stream another, snapshot it, restore a copy,
 * and clean up. Reads {@code FASTVM_API_KEY} and {@code FASTVM_BASE_URL} from the environment.
 *
 * <pre>
 * FASTVM_API_KEY=... FASTVM_BASE_URL=http://localhost:8080 ./mvnw -q -pl examples exec:java
 * </pre>
 */
public final class QuickStart {
    private QuickStart() {}

    /**
     * Runs the quick start against the server named by the environment.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        try (FastVM client = new FastVM()) {
            run(client, System.out);
        }
    }

    /**
     * The quick start itself; removes everything it created, also on failure.
     *
     * @param client a FastVM client
     * @param out where to print progress
     */
    public static void run(FastVM client, PrintStream out) {
        client.warmup(); // optional: opens the one HTTP/2 connection now instead of on first use
        VM vm = client.launch(LaunchOptions.builder()
                .machine("c1m2")
                .name("quickstart")
                .timeout(Duration.ofMinutes(2))
                .build());
        Snapshot snapshot = null;
        VM copy = null;
        try {
            out.println("launched " + vm.id() + " (" + vm.machineName() + ", " + vm.status() + ")");

            CommandResult hello = client.run(vm, "echo hello from $(hostname)");
            out.println("run: exit " + hello.exitCode() + ", stdout: "
                    + hello.stdout().strip());

            out.println("stream:");
            try (ExecStream events = client.stream(vm, "for i in 1 2 3; do echo line $i; done; echo oops >&2")) {
                for (ExecEvent event : events) {
                    if (event instanceof ExecEvent.Stdout o) out.print("  out| " + o.text());
                    else if (event instanceof ExecEvent.Stderr e) out.print("  err| " + e.text());
                    else if (event instanceof ExecEvent.Exit x)
                        out.println("  exit " + x.code() + " after " + x.durationMs() + " ms");
                }
            }

            client.run(
                    vm,
                    "echo saved > /tmp/state",
                    RunOptions.builder().timeoutSec(30).build());
            snapshot = client.snapshot(vm);
            out.println("snapshot " + snapshot.id() + " " + snapshot.status());

            copy = client.restore(snapshot);
            String state = client.run(copy, "cat /tmp/state").stdout().strip();
            out.println("restored " + copy.id() + ", /tmp/state = " + state);
            out.println("done");
        } finally {
            try {
                if (copy != null) client.remove(copy);
                if (snapshot != null) client.removeSnapshot(snapshot);
            } finally {
                client.remove(vm); // even when removing the copy or the snapshot failed
            }
        }
    }
}
