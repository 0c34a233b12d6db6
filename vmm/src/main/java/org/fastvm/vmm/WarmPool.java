package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
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
 * stopped; see {@link Restorer#warmUp}), so a restore is "cont, renew identity, answer".
 * Hot = marked with {@link Engine#markHot} or among the {@code warmPoolRecent} most recently
 * restored snapshots. A hot snapshot keeps {@code warmPoolSize} entries, or as many as the
 * most of its restores that recently ran at once ({@link #depth}). Bounded by
 * {@code warmPoolMax} processes in all and by the host's available memory; refilled on virtual
 * threads; drained when a snapshot is deleted and when the engine closes (these QEMUs
 * belong to the engine, unlike running VMs).
 */
final class WarmPool implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(WarmPool.class.getName());

    /** Makes a warmed-up entry for a snapshot in a dir (see {@link Restorer#prepareWarm}). */
    @FunctionalInterface
    interface Spawner {
        PreparedQemu spawn(String snapshotId, Path dir) throws InterruptedException;
    }

    private final Spawner spawner;
    private final Path poolDir;
    private final int perSnapshot;
    private final int recentCount;
    private final int max;
    private final Map<String, ArrayDeque<PreparedQemu>> ready = new HashMap<>();
    private final Map<String, Integer> spawning = new HashMap<>();
    private final Set<String> marked = new LinkedHashSet<>();
    private final LinkedHashSet<String> recent = new LinkedHashSet<>();
    private final Map<String, CompletableFuture<Void>> filled = new HashMap<>();
    /** Restores running now, per snapshot. */
    private final Map<String, Integer> inFlight = new HashMap<>();
    /** The most restores of a snapshot seen running at once, and when. */
    private final Map<String, Demand> demand = new HashMap<>();

    private record Demand(int peak, long at) {}

    /** A burst of restores keeps the pool that deep for this long after it. */
    static final Duration DEMAND_WINDOW = Duration.ofMinutes(10);
    /** No pre-spawning while the host has less memory available than this share of its total. */
    static final double MIN_AVAILABLE_MEMORY = 0.25;

    private boolean closed;

    WarmPool(Spawner spawner, Path poolDir, EngineConfig config) {
        this.spawner = spawner;
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
                    FileOps.deleteQuietly(p);
                }
            }
            sweepLinks(Level.INFO);
        } catch (IOException e) {
            throw new VmmException("cannot prepare " + poolDir + ": " + e.getMessage(), e);
        }
    }

    /** Takes a ready QEMU for {@code id} and moves its dir to {@code dir}; null when none is ready. */
    PreparedQemu claim(String id, Path dir) {
        PreparedQemu p;
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
        sweepLinks(Level.DEBUG);
        return p.movedTo(dir);
    }

    /**
     * Notes a restore of {@code id} beginning: the pool's depth for it follows the most restores
     * seen running at once (see {@link #depth}).
     */
    void restoreStarted(String id) {
        synchronized (this) {
            int now = inFlight.merge(id, 1, Integer::sum);
            Demand d = demand.get(id);
            long t = System.nanoTime();
            if (d == null || t - d.at() > DEMAND_WINDOW.toNanos() || now >= d.peak())
                demand.put(id, new Demand(now, t));
        }
    }

    /**
     * Notes a restore of {@code id} ended (either way): the snapshot becomes (or stays) one of the
     * recent hot ones, unless it is marked hot already (a base snapshot restored by every launch
     * must not push the users' snapshots out of the recent ones); once no restore of it runs any
     * more its pool is refilled (after, not during, a burst: both want the CPU).
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the refill logs its own failures; the restore does not wait
    void restoreEnded(String id) {
        boolean last;
        synchronized (this) {
            last = inFlight.merge(id, -1, Integer::sum) <= 0;
            if (last) inFlight.remove(id);
            if (perSnapshot == 0) return;
            if (!marked.contains(id)) {
                recent.remove(id);
                recent.add(id);
                while (recent.size() > recentCount)
                    recent.remove(recent.iterator().next());
            }
        }
        if (last) refill(id);
    }

    /**
     * How many warmed-up QEMUs {@code id} should have: {@code warmPoolSize}, or the most of its
     * restores that ran at once within {@link #DEMAND_WINDOW} if more (a fan-out of ten is served
     * warm the next time), never over {@code warmPoolMax} in all.
     */
    synchronized int depth(String id) {
        Demand d = demand.get(id);
        boolean recentBurst = d != null && System.nanoTime() - d.at() <= DEMAND_WINDOW.toNanos();
        return Math.min(max, Math.max(perSnapshot, recentBurst ? d.peak() : 0));
    }

    /** Marks a snapshot hot and fills its pool; the future completes when it is full (or cannot be). */
    CompletableFuture<Void> markHot(String id) {
        synchronized (this) {
            marked.add(id);
        }
        return refill(id);
    }

    /** {@return how many QEMUs wait for {@code id}} */
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
                        if (closed
                                || !hot(id)
                                || readyCount(id) + spawning.getOrDefault(id, 0) >= depth(id)
                                || total() >= max) break;
                        spawning.merge(id, 1, Integer::sum);
                    }
                    if (memoryTight()) {
                        LOG.log(
                                Level.INFO,
                                "warm pool: host memory below {0}% available; not pre-spawning for {1}",
                                (int) (MIN_AVAILABLE_MEMORY * 100),
                                id);
                        synchronized (this) {
                            spawning.merge(id, -1, Integer::sum);
                        }
                        break;
                    }
                    PreparedQemu p = null;
                    try {
                        p = spawner.spawn(id, poolDir.resolve(Ids.random(4)));
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
                        if (keep)
                            ready.computeIfAbsent(id, k -> new ArrayDeque<>()).add(p);
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
        List<PreparedQemu> gone;
        synchronized (this) {
            marked.remove(id);
            recent.remove(id);
            var q = ready.remove(id);
            gone = q == null ? List.of() : new ArrayList<>(q);
        }
        gone.forEach(PreparedQemu::kill);
    }

    @Override
    public void close() {
        List<CompletableFuture<Void>> running;
        synchronized (this) {
            closed = true;
            running = new ArrayList<>(filled.values());
        }
        try { // a refill in flight kills what it spawns once it sees the pool closed
            CompletableFuture.allOf(running.toArray(CompletableFuture[]::new))
                    .get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.log(Level.WARNING, "warm pool: refills still running at close: {0}", e.toString());
        }
        List<PreparedQemu> gone = new ArrayList<>();
        synchronized (this) {
            ready.values().forEach(gone::addAll);
            ready.clear();
        }
        gone.forEach(PreparedQemu::kill);
        sweepLinks(Level.INFO); // a VM dir removed behind the engine's back (its VMs' own links go with them)
    }

    /** {@return whether the host's available memory is below {@link #MIN_AVAILABLE_MEMORY} of its total} */
    private static boolean memoryTight() {
        try {
            long total = 0, available = 0;
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) total = Long.parseLong(line.replaceAll("[^0-9]", ""));
                if (line.startsWith("MemAvailable:")) available = Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
            return total > 0 && available < total * MIN_AVAILABLE_MEMORY;
        } catch (IOException | NumberFormatException e) {
            return false; // no /proc/meminfo: the process count bound still holds
        }
    }

    /**
     * Removes the links of claimed entries whose VM dir is gone (a destroyed VM's, at once; any
     * other at start-up, at close and at the next claim), logging each at {@code level}. A link
     * is only needed while its VM's QEMU runs, and that VM's dir exists as long as it does.
     */
    void sweepLinks(Level level) {
        try (var s = Files.list(poolDir)) {
            for (Path p : s.filter(Files::isSymbolicLink).toList()) {
                if (Files.exists(p)) continue;
                Path target = Files.readSymbolicLink(p);
                if (Files.deleteIfExists(p)) {
                    LOG.log(level, "warm pool: removed {0}, a link to the deleted VM dir {1}", p, target);
                }
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
