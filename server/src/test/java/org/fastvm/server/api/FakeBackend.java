package org.fastvm.server.api;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import org.fastvm.server.backend.BackendMachine;
import org.fastvm.server.backend.LaunchSpec;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.MachineDeadException;
import org.fastvm.vmm.VmmException;

/**
 * A scripted VM backend for handler tests (no QEMU). Commands: {@code echo ARGS},
 * {@code exit N}, {@code big BYTES} (that many 'x' on stdout and stderr), {@code hang}
 * (runs until cancelled), {@code gate} (prints "first", waits for {@link #gate} to open,
 * prints "second"), {@code count} (counts its run in {@link #runs}, then runs until cancelled),
 * {@code sleep MS} (silent for MS milliseconds, then exits 0). Every cancel is recorded.
 */
final class FakeBackend implements VmBackend {
    final Map<String, FakeMachine> machines = new ConcurrentHashMap<>();
    final Set<String> cancelled = ConcurrentHashMap.newKeySet();
    final Set<String> snapshots = ConcurrentHashMap.newKeySet();
    /** VMs with files on the "host": from launch until discarded or destroyed (a crash or a stop keeps them). */
    final Set<String> files = ConcurrentHashMap.newKeySet();

    volatile CountDownLatch gate = new CountDownLatch(1);
    volatile CountDownLatch bootGate;
    /** When set, attach waits for it (a VM whose agent is slow to answer after a restart). */
    volatile CountDownLatch attachGate;
    /** When set, launches and restores fail with it (after cleaning up, as the engine does). */
    volatile RuntimeException bootFailure;

    volatile boolean supportsSnapshots = true;
    /** When set, starting a command fails as it does when the guest agent does not answer (nothing started). */
    volatile boolean agentUnreachable;

    final CountDownLatch hangStarted = new CountDownLatch(1);
    /** How many times {@code count} ran: the marker of a command with a side effect. */
    final java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
    /** Opens once {@code count} has run. */
    final CountDownLatch counted = new CountDownLatch(1);
    /** The thread that started {@code count}: the request's handler thread. */
    volatile Thread countCaller;

    @Override
    public BackendMachine launch(LaunchSpec spec) {
        RuntimeException failure = bootFailure;
        if (failure != null) throw failure;
        CountDownLatch g = bootGate;
        if (g != null) {
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        FakeMachine m = new FakeMachine(spec.vmId());
        machines.put(spec.vmId(), m);
        files.add(spec.vmId());
        return m;
    }

    @Override
    public BackendMachine restore(String snapshotId, LaunchSpec spec) {
        if (!snapshots.contains(snapshotId)) throw new IllegalStateException("no snapshot files for " + snapshotId);
        return launch(spec);
    }

    @Override
    public Optional<BackendMachine> attach(String vmId) {
        CountDownLatch g = attachGate;
        if (g != null) {
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while attaching " + vmId);
            }
        }
        FakeMachine m = machines.get(vmId);
        return m != null && m.isAlive() ? Optional.of(m) : Optional.empty();
    }

    @Override
    public void discard(String vmId) {
        FakeMachine m = machines.remove(vmId);
        if (m != null) m.destroy();
        files.remove(vmId);
    }

    /** VMs stopped with their files kept (a real engine keeps their dirs). */
    final java.util.Set<String> stopped = java.util.concurrent.ConcurrentHashMap.newKeySet();

    @Override
    public void stop(String vmId) {
        FakeMachine m = machines.get(vmId);
        if (m != null) m.crash(); // the process ends, the files stay
        stopped.add(vmId);
    }

    /** When set, snapshots wait for it to open; interrupted, they fail as the engine's do (see {@link #snapshot}). */
    volatile CountDownLatch snapshotGate;

    final CountDownLatch snapshotWaiting = new CountDownLatch(1);
    volatile Thread snapshotThread;
    final CountDownLatch closed = new CountDownLatch(1);

    @Override
    public void snapshot(BackendMachine machine, String snapshotId) {
        CountDownLatch g = snapshotGate;
        if (g != null) {
            snapshotThread = Thread.currentThread();
            snapshotWaiting.countDown();
            try {
                g.await();
            } catch (InterruptedException e) {
                // Like the engine's: the snapshot fails once the engine lets go of the VM, after
                // undoing its steps (killing the capture QEMU, removing the temp dir), which takes a moment.
                try {
                    closed.await();
                    Thread.sleep(300);
                } catch (InterruptedException again) {
                    // fail now
                }
                Thread.currentThread().interrupt();
                throw new VmmException("interrupted while snapshotting " + machine.id(), e);
            }
        }
        if (!supportsSnapshots) throw new IllegalStateException("fake engine: snapshot failed (disk full)");
        snapshots.add(snapshotId);
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        snapshots.remove(snapshotId);
    }

    @Override
    public List<String> vmIds() {
        return List.copyOf(files);
    }

    @Override
    public List<String> snapshotIds() {
        return List.copyOf(snapshots);
    }

    @Override
    public String accelerator() {
        return "fake";
    }

    @Override
    public String qemuVersion() {
        return "0.0.0-fake";
    }

    @Override
    public boolean liveSnapshots() {
        return true;
    }

    @Override
    public void close() {
        closed.countDown();
    }

    final class FakeMachine implements BackendMachine {
        final String id;
        final CompletableFuture<Void> exit = new CompletableFuture<>();

        FakeMachine(String id) {
            this.id = id;
        }

        @Override
        public String id() {
            return id;
        }

        @Override
        public boolean isAlive() {
            return !exit.isDone();
        }

        @Override
        public CompletableFuture<Void> onExit() {
            return exit;
        }

        @Override
        public void destroy() {
            exit.complete(null);
            files.remove(id);
        }

        /** Simulates QEMU dying. */
        void crash() {
            exit.complete(null);
        }

        @Override
        public ExecHandle start(ExecRequest request, ExecListener l) {
            if (!isAlive()) throw new MachineDeadException("fake " + id + " is dead");
            if (agentUnreachable) throw new VmmException("fake " + id + ": the guest agent does not answer");
            List<String> argv = request.argv();
            if (argv.get(0).equals("count")) countCaller = Thread.currentThread();
            CompletableFuture<ExecResult> result = new CompletableFuture<>();
            ExecHandle handle = new ExecHandle() {
                @Override
                public CompletableFuture<ExecResult> result() {
                    return result;
                }

                @Override
                public void kill(int signal) {
                    cancelled.add(argv.get(0));
                    finish(result, l, 128 + signal, false);
                }

                @Override
                public void writeStdin(byte[] data) {}

                @Override
                public void closeStdin() {}
            };
            Thread.ofVirtual().start(() -> {
                switch (argv.get(0)) {
                    case "echo" -> {
                        l.onStdout((String.join(" ", argv.subList(1, argv.size())) + "\n")
                                .getBytes(StandardCharsets.UTF_8));
                        finish(result, l, 0, false);
                    }
                    case "cat" -> {
                        l.onStdout(request.stdin() == null ? new byte[0] : request.stdin());
                        finish(result, l, 0, false);
                    }
                    case "exit" -> finish(result, l, Integer.parseInt(argv.get(1)), false);
                    case "timeout" -> finish(result, l, 137, true);
                    case "big" -> {
                        int n = Integer.parseInt(argv.get(1));
                        byte[] chunk = "x".repeat(65536).getBytes(StandardCharsets.US_ASCII);
                        for (int sent = 0; sent < n; sent += chunk.length) {
                            byte[] c = sent + chunk.length <= n ? chunk : java.util.Arrays.copyOf(chunk, n - sent);
                            l.onStdout(c);
                            l.onStderr(c);
                        }
                        finish(result, l, 0, false);
                    }
                    case "hang" -> hangStarted.countDown();
                    case "count" -> { // a command with a side effect: each run counts, then runs until killed
                        runs.incrementAndGet();
                        counted.countDown();
                    }
                    case "sleep" -> { // a quiet command: no output for MS milliseconds, then exit 0
                        try {
                            Thread.sleep(Long.parseLong(argv.get(1)));
                        } catch (InterruptedException e) {
                            return;
                        }
                        finish(result, l, 0, false);
                    }
                    case "gate" -> {
                        l.onStdout("first\n".getBytes(StandardCharsets.UTF_8));
                        try {
                            gate.await();
                        } catch (InterruptedException e) {
                            return;
                        }
                        l.onStdout("second\n".getBytes(StandardCharsets.UTF_8));
                        finish(result, l, 0, false);
                    }
                    case "die" -> {
                        l.onStdout("partial\n".getBytes(StandardCharsets.UTF_8));
                        l.onError(new MachineDeadException("fake " + id + " died mid-command"));
                        result.completeExceptionally(new MachineDeadException("died"));
                    }
                    default -> finish(result, l, 127, false);
                }
            });
            return handle;
        }

        private void finish(CompletableFuture<ExecResult> result, ExecListener l, int code, boolean timedOut) {
            ExecResult r = new ExecResult(
                    code, code > 128 ? code - 128 : 0, new byte[0], new byte[0], false, false, timedOut, 3);
            if (result.complete(r)) l.onExit(r);
        }
    }
}
