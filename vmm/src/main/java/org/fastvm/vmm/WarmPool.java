package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Pre-spawned restore QEMUs per hot snapshot (started with its restore argv, the state
 * loaded, the guest run once through HELLO and an exec so TCG has translated its code, then
 * stopped; see {@link Snapshots#warmUp}), so a restore is "cont, renew identity, answer".
 * Hot = marked with {@link Engine#markHot} or among the {@code warmPoolRecent} most recently
 * restored snapshots. Bounded by {@code warmPoolMax} processes in all; refilled on virtual
 * threads; drained when a snapshot is deleted and when the engine closes (these QEMUs
 * belong to the engine, unlike running VMs).
 */
final class WarmPool implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(WarmPool.class.getName());

    private final Snapshots snapshots;
    private final Path poolDir;
    private final int perSnapshot;
    private final int recentCount;
    private final int max;
    private final Map<String, ArrayDeque<Snapshots.Prepared>> ready = new HashMap<>();
    private final Map<String, Integer> spawning = new HashMap<>();
    private final Set<String> marked = new LinkedHashSet<>();
    private final LinkedHashSet<String> recent = new LinkedHashSet<>();
    private final Map<String, CompletableFuture<Void>> filled = new HashMap<>();
    private boolean closed;

    WarmPool(Snapshots snapshots, Path poolDir, EngineConfig config) {
        this.snapshots = snapshots;
        this.poolDir = poolDir;
        this.perSnapshot = config.warmPoolSize();
        this.recentCount = config.warmPoolRecent();
        this.max = config.warmPoolMax();
        try {
            Files.createDirectories(poolDir);
            try (var s = Files.list(poolDir)) { // left by an engine that did not close
                for (Path p : s.toList()) {
                    if (Files.isSymbolicLink(p)) continue; // a claimed entry's link to its VM dir
                    killPidIn(p);
                    FileTrees.deleteQuietly(p);
                }
            }
            sweepLinks();
        } catch (IOException e) {
            throw new VmmException("cannot prepare " + poolDir + ": " + e.getMessage(), e);
        }
    }

    /** Takes a ready QEMU for {@code id} and moves its dir to {@code dir}; null when none is ready. */
    Snapshots.Prepared claim(String id, Path dir) {
        Snapshots.Prepared p;
        synchronized (this) {
            var q = ready.get(id);
            p = q == null ? null : q.pollFirst();
        }
        if (p == null) return null;
        if (!p.process().isAlive()) {
            p.kill();
            return null;
        }
        try {
            Files.move(p.dir(), dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            p.kill();
            throw new IllegalArgumentException("id: cannot use " + dir + " (" + e.getMessage() + ")");
        }
        try { // QEMU knows its files by their pool paths and may reopen them (a snapshot freezing the disk)
            Files.createSymbolicLink(p.dir(), dir);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "warm pool: cannot link {0} to {1}: {2}", p.dir(), dir, e.toString());
        }
        sweepLinks();
        return new Snapshots.Prepared(p.snapshotId(), dir, p.process(), p.command(), p.qmp(), p.incoming(), p.agent(),
                p.label());
    }

    /** Notes a restore: the snapshot becomes (or stays) one of the recent hot ones; refills. */
    void restored(String id) {
        if (perSnapshot == 0) return;
        synchronized (this) {
            recent.remove(id);
            recent.add(id);
            while (recent.size() > recentCount) recent.remove(recent.iterator().next());
        }
        refill(id);
    }

    /** Marks a snapshot hot and fills its pool; the future completes when it is full (or cannot be). */
    CompletableFuture<Void> markHot(String id) {
        synchronized (this) {
            marked.add(id);
        }
        return refill(id);
    }

    /** @return how many QEMUs wait for {@code id} */
    synchronized int readyCount(String id) {
        var q = ready.get(id);
        return q == null ? 0 : q.size();
    }

    private synchronized boolean hot(String id) {
        return marked.contains(id) || recent.contains(id);
    }

    private synchronized int total() {
        int n = spawning.values().stream().mapToInt(Integer::intValue).sum();
        for (var q : ready.values()) n += q.size();
        return n;
    }

    /** Starts (at most one) refill run for {@code id}; returns a future completing when it ends. */
    CompletableFuture<Void> refill(String id) {
        CompletableFuture<Void> f;
        synchronized (this) {
            if (closed || perSnapshot == 0) return CompletableFuture.completedFuture(null);
            f = filled.get(id);
            if (f != null && !f.isDone()) return f;
            f = new CompletableFuture<>();
            filled.put(id, f);
        }
        CompletableFuture<Void> done = f;
        Thread.ofVirtual().name("warm-pool " + id).start(() -> {
            try {
                while (true) {
                    synchronized (this) {
                        if (closed || !hot(id) || readyCount(id) + spawning.getOrDefault(id, 0) >= perSnapshot
                                || total() >= max) break;
                        spawning.merge(id, 1, Integer::sum);
                    }
                    Snapshots.Prepared p = null;
                    try {
                        SnapshotManifest man = snapshots.compatible(id);
                        p = snapshots.warmUp(snapshots.prepare(man, poolDir.resolve(Snapshots.hex(4)), man.diskBytes()), man);
                    } catch (RuntimeException | InterruptedException e) {
                        LOG.log(Level.WARNING, "warm pool: cannot pre-spawn a QEMU for {0}: {1}", id, e.toString());
                        synchronized (this) {
                            spawning.merge(id, -1, Integer::sum);
                        }
                        break;
                    }
                    boolean keep;
                    synchronized (this) {
                        spawning.merge(id, -1, Integer::sum);
                        keep = !closed && hot(id);
                        if (keep) ready.computeIfAbsent(id, k -> new ArrayDeque<>()).add(p);
                    }
                    if (!keep) p.kill();
                }
            } finally {
                done.complete(null);
            }
        });
        return done;
    }

    /** Kills the QEMUs waiting for {@code id} and forgets it. */
    void drain(String id) {
        List<Snapshots.Prepared> gone;
        synchronized (this) {
            marked.remove(id);
            recent.remove(id);
            var q = ready.remove(id);
            gone = q == null ? List.of() : new ArrayList<>(q);
        }
        gone.forEach(Snapshots.Prepared::kill);
    }

    @Override
    public void close() {
        List<CompletableFuture<Void>> running;
        synchronized (this) {
            closed = true;
            running = new ArrayList<>(filled.values());
        }
        try { // a refill in flight kills what it spawns once it sees the pool closed
            CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.log(Level.WARNING, "warm pool: refills still running at close: {0}", e.toString());
        }
        List<Snapshots.Prepared> gone = new ArrayList<>();
        synchronized (this) {
            ready.values().forEach(gone::addAll);
            ready.clear();
        }
        gone.forEach(Snapshots.Prepared::kill);
    }

    /** Removes links of claimed entries whose VM is gone. */
    private void sweepLinks() {
        try (var s = Files.list(poolDir)) {
            for (Path p : s.filter(Files::isSymbolicLink).toList()) {
                if (!Files.exists(p)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "warm pool: sweeping links in {0}: {1}", poolDir, e.toString());
        }
    }

    private static void killPidIn(Path dir) {
        try {
            Path argvQmp = dir.resolve("qmp.sock");
            for (ProcessHandle h : ProcessHandle.allProcesses().toList()) {
                String[] args = h.info().arguments().orElse(null);
                if (args != null && String.join(" ", args).contains(argvQmp.toString())) {
                    h.destroyForcibly();
                    h.onExit().join();
                }
            }
        } catch (RuntimeException e) {
            LOG.log(Level.DEBUG, "stale pool dir {0}: {1}", dir, e.toString());
        }
    }
}
