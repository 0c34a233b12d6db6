package org.fastvm.server.core;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.regex.Pattern;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.Vm;
import org.fastvm.server.model.VmStatus;
import org.fastvm.server.store.Store;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the rows and the host's files in agreement.
 *
 * <p>At start-up ({@link #recover}): settles every row a stopped server left mid-operation —
 * each VM on its own virtual thread, so one stuck VM delays only itself, never the listener —
 * then removes files no live row owns (a delete cut short between its row and its files).
 *
 * <p>While serving ({@link #audit}, periodically): compares what holds disk quota with what
 * is on disk and logs every difference (and counts them in {@code fastvm.reconcile.differences}).
 * It only reports: rows in the middle of an operation are skipped, and fixing is start-up's job.
 */
public final class Reconciler {
    private static final Logger LOG = LoggerFactory.getLogger(Reconciler.class);
    /** The ids this server mints ({@link java.util.UUID}); the engine's own VMs and snapshots (bases) look different. */
    private static final Pattern SERVER_ID =
            Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private final Store store;
    private final VmBackend backend;
    private final Vms vms;
    private final Snapshots snapshots;
    private final ExecutorService background;
    private volatile int differences;

    public Reconciler(
            Store store,
            VmBackend backend,
            Vms vms,
            Snapshots snapshots,
            ExecutorService background,
            MeterRegistry meters) {
        this.store = store;
        this.backend = backend;
        this.vms = vms;
        this.snapshots = snapshots;
        this.background = background;
        Gauge.builder("fastvm.reconcile.differences", () -> differences)
                .description("rows and files that disagreed at the last audit (see the log)")
                .register(meters);
    }

    /**
     * Marks the rows to settle (so calls on those VMs answer 503 until they are) and settles
     * them in the background.
     *
     * @return completes when every row is settled and the sweep has run
     */
    public CompletableFuture<Void> recover() {
        List<Vm> vmRows = vms.toRecover();
        List<Snapshot> snapRows = snapshots.toRecover();
        List<CompletableFuture<Void>> settling = new ArrayList<>();
        for (Vm vm : vmRows) settling.add(CompletableFuture.runAsync(() -> vms.recover(vm), background));
        // VMs first: a snapshot cut short in a re-home is finished by its VM's attach
        return CompletableFuture.allOf(settling.toArray(CompletableFuture[]::new))
                .thenRunAsync(
                        () -> {
                            snapRows.forEach(snapshots::recover);
                            sweep();
                            LOG.info(
                                    "start-up recovery done: {} VMs and {} snapshots settled",
                                    vmRows.size(),
                                    snapRows.size());
                        },
                        background);
    }

    /** Removes VM and snapshot files that no live row owns. Files are listed before rows are read: a row always precedes its files. */
    void sweep() {
        for (String id : orphanVms(backend.vmIds())) {
            LOG.warn("vm={} files without a live row (a delete cut short): removed", id);
            try {
                backend.discard(id);
            } catch (RuntimeException e) {
                LOG.warn("vm={} removing orphan files failed: {}", id, e.toString());
            }
        }
        for (String id : orphanSnapshots(backend.snapshotIds())) {
            LOG.warn("snapshot={} files without a live row (a delete cut short): removed", id);
            try {
                backend.deleteSnapshot(id);
            } catch (RuntimeException e) {
                LOG.warn("snapshot={} removing orphan files failed: {}", id, e.toString());
            }
        }
    }

    /** {@return the server's VM ids among {@code dirs} whose row is gone or deleted} */
    private List<String> orphanVms(java.util.Collection<String> dirs) {
        return dirs.stream()
                .filter(id -> SERVER_ID.matcher(id).matches())
                .filter(id -> {
                    Optional<Vm> row = store.db().read(c -> store.vms().find(c, id));
                    return row.isEmpty() || row.get().status() == VmStatus.DELETED;
                })
                .toList();
    }

    /** {@return the server's snapshot ids among {@code dirs} whose row is gone or deleted} */
    private List<String> orphanSnapshots(java.util.Collection<String> dirs) {
        return dirs.stream()
                .filter(id -> SERVER_ID.matcher(id).matches())
                .filter(id -> {
                    Optional<Snapshot> row =
                            store.db().read(c -> store.snapshots().find(c, id));
                    return row.isEmpty() || row.get().deletedAt() != null;
                })
                .toList();
    }

    /**
     * Compares, for every settled row, whether it holds disk quota with whether its files are
     * on disk, and looks for files no live row owns; logs each difference.
     *
     * @return the differences found (each a sentence naming the row or files)
     */
    public List<String> audit() {
        Set<String> vmDirs = new HashSet<>(backend.vmIds());
        Set<String> snapDirs = new HashSet<>(backend.snapshotIds());
        List<Vm> settled = store.db()
                .read(c -> store.vms().listByStatus(c, List.of(VmStatus.RUNNING, VmStatus.STOPPED, VmStatus.ERROR)));
        Set<String> holders = store.db().read(c -> store.vms().diskHolding(c));
        List<String> found = new ArrayList<>();
        for (Vm vm : settled) {
            boolean holds = holders.contains(vm.id());
            boolean onDisk = vmDirs.contains(vm.id());
            if (holds && !onDisk)
                found.add("vm=" + vm.id() + " (org " + vm.orgId() + ", "
                        + vm.status().wire() + ") holds " + vm.diskGiB() + " GiB of disk quota but has no files");
            if (!holds && onDisk)
                found.add("vm=" + vm.id() + " (org " + vm.orgId() + ", "
                        + vm.status().wire() + ") has files but holds no disk quota");
        }
        for (Snapshot s : store.db().read(c -> store.snapshots().listByStatus(c, SnapshotStatus.READY))) {
            if (s.deletedAt() == null && !snapDirs.contains(s.id())) {
                found.add("snapshot=" + s.id() + " (org " + s.orgId() + ") is ready but has no files");
            }
        }
        // files a delete removed meanwhile (gone from the second listing) are not orphans
        Set<String> vmDirsNow = new HashSet<>(backend.vmIds());
        orphanVms(vmDirs).stream()
                .filter(vmDirsNow::contains)
                .forEach(id -> found.add("vm=" + id + " has files but no live row"));
        Set<String> snapDirsNow = new HashSet<>(backend.snapshotIds());
        orphanSnapshots(snapDirs).stream()
                .filter(snapDirsNow::contains)
                .forEach(id -> found.add("snapshot=" + id + " has files but no live row"));
        found.forEach(f -> LOG.warn("reconcile: {}", f));
        differences = found.size();
        return found;
    }
}
