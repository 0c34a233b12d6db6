package org.fastvm.server.core;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.backend.BackendMachine;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.Vm;
import org.fastvm.server.model.VmStatus;
import org.fastvm.server.store.Store;
import org.fastvm.vmm.FaultHook;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshot state machine: creating → ready | error. POST answers 201 with the row in
 * {@code creating}; the engine work runs in the background and the row converges. Any engine
 * failure (including an engine that cannot snapshot yet) becomes {@code error}, never a 5xx.
 *
 * <p>Crash safety: the {@code creating} row is the intent record; the engine publishes a
 * snapshot atomically, so at the next start {@link #recover} makes the row {@code ready} when
 * the engine has it, else {@code error} (the engine removed the partial capture when it
 * opened). A delete marks the row first and removes the files after; files whose row is gone
 * are removed by the start-up sweep. Fault steps: {@code snapshot-inserted},
 * {@code snapshot-taken}, {@code snapshot-delete-marked}.
 */
public final class Snapshots {
    private static final Logger LOG = LoggerFactory.getLogger(Snapshots.class);

    private final Store store;
    private final VmBackend backend;
    private final Vms vms;
    private final Quotas quotas;
    private final ExecutorService background;
    private final Timer snapshotTimer;
    private final FaultHook faults;

    public Snapshots(
            Store store,
            VmBackend backend,
            Vms vms,
            Quotas quotas,
            ExecutorService background,
            MeterRegistry meters,
            FaultHook faults) {
        this.faults = faults;
        this.store = store;
        this.backend = backend;
        this.vms = vms;
        this.quotas = quotas;
        this.background = background;
        this.snapshotTimer = Timer.builder("fastvm.snapshot.duration")
                .description("snapshot creation until ready")
                .register(meters);
    }

    /** Starts a snapshot of a running VM; 404 unknown VM, 409 not running, 429 over quota. */
    public Snapshot create(String orgId, String vmId, String rawName) {
        Vm vm = vms.require(orgId, vmId);
        if (vm.status() != VmStatus.RUNNING) {
            throw ServiceException.conflict(
                    "vm " + vmId + " is " + vm.status().wire() + "; snapshots need a running VM");
        }
        BackendMachine machine = vms.machine(vmId)
                .orElseThrow(() ->
                        ServiceException.conflict("vm " + vmId + " has no live process; snapshots need a running VM"));
        String id = UUID.randomUUID().toString();
        String name = Optional.ofNullable(Names.normalise(rawName)).orElse(Names.defaultName("snapshot", vmId));
        Snapshot row = new Snapshot(
                id,
                orgId,
                vmId,
                name,
                SnapshotStatus.CREATING,
                vm.machineName(),
                vm.cpu(),
                vm.memoryMiB(),
                vm.diskGiB(),
                vm.firewall(),
                Map.of(),
                Vms.now(),
                null,
                null);
        store.db().writeLockingOrg(orgId, c -> {
            quotas.reserve(c, orgId, new QuotaValues(0, 0, 0, 1));
            store.snapshots().insert(c, row);
            return null;
        });
        faults.atUnchecked("snapshot-inserted");
        background.execute(() -> take(machine, row));
        return row;
    }

    private void take(BackendMachine machine, Snapshot row) {
        long t0 = System.nanoTime();
        try {
            backend.snapshot(machine, row.id());
        } catch (RuntimeException e) {
            LOG.warn("snapshot={} vm={} failed: {}", row.id(), row.vmId(), e.toString());
            store.db()
                    .write(c -> store.snapshots()
                            .transition(
                                    c,
                                    row.id(),
                                    SnapshotStatus.CREATING,
                                    SnapshotStatus.ERROR,
                                    "snapshot failed: " + e.getMessage()));
            return;
        }
        snapshotTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
        faults.atUnchecked("snapshot-taken");
        store.db()
                .write(c ->
                        store.snapshots().transition(c, row.id(), SnapshotStatus.CREATING, SnapshotStatus.READY, null));
        boolean deletedMeanwhile = store.db()
                .read(c -> store.snapshots().find(c, row.id()))
                .map(s -> s.deletedAt() != null)
                .orElse(true);
        if (deletedMeanwhile) removeFiles(row.id());
    }

    /** {@return the org's snapshot; 404 for unknown, deleted, malformed or other orgs' ids} */
    public Snapshot require(String orgId, String id) {
        return store.db()
                .read(c -> store.snapshots().find(c, id))
                .filter(s -> s.orgId().equals(orgId) && s.deletedAt() == null)
                .orElseThrow(() -> ServiceException.notFound("snapshot", id));
    }

    /** {@return the org's live snapshots} */
    public List<Snapshot> list(String orgId) {
        return store.db().read(c -> store.snapshots().listLive(c, orgId));
    }

    /** Renames a snapshot. */
    public Snapshot rename(String orgId, String id, String rawName) {
        String name = Names.normalise(rawName);
        if (name == null) throw ServiceException.invalid("name", "required and must not be blank");
        store.db().write(c -> {
            require(orgId, id);
            store.snapshots().rename(c, id, name);
            return null;
        });
        return require(orgId, id);
    }

    /** Deletes a snapshot (releasing its quota); VMs restored from it keep running. */
    public void delete(String orgId, String id) {
        Snapshot s = require(orgId, id);
        boolean deleted = store.db().write(c -> store.snapshots().markDeleted(c, id, Vms.now()));
        if (!deleted) throw ServiceException.notFound("snapshot", id);
        faults.atUnchecked("snapshot-delete-marked");
        if (s.status() != SnapshotStatus.CREATING) removeFiles(id);
    }

    private void removeFiles(String id) {
        try {
            backend.deleteSnapshot(id);
        } catch (RuntimeException e) {
            LOG.warn("snapshot={} file removal failed: {}", id, e.toString());
        }
    }

    /** {@return the snapshots start-up must settle: those that were being taken} */
    List<Snapshot> toRecover() {
        return store.db().read(c -> store.snapshots().listByStatus(c, SnapshotStatus.CREATING));
    }

    /**
     * After a restart, settles a snapshot that was being taken: ready when the engine had
     * published it (complete), else error; a row deleted meanwhile has its files removed.
     */
    void recover(Snapshot s) {
        boolean published = backend.snapshotIds().contains(s.id());
        if (published) {
            store.db()
                    .write(c -> store.snapshots()
                            .transition(c, s.id(), SnapshotStatus.CREATING, SnapshotStatus.READY, null));
            LOG.info("snapshot={} was complete when the server stopped; ready", s.id());
        } else {
            store.db()
                    .write(c -> store.snapshots()
                            .transition(
                                    c,
                                    s.id(),
                                    SnapshotStatus.CREATING,
                                    SnapshotStatus.ERROR,
                                    "the server restarted while the snapshot was being taken"));
            LOG.warn("snapshot={} was cut short by a restart; status error", s.id());
        }
        if (s.deletedAt() != null && published) removeFiles(s.id());
    }
}
