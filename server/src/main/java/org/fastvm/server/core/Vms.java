package org.fastvm.server.core;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.fastvm.server.backend.BackendMachine;
import org.fastvm.server.backend.LaunchSpec;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.model.FirewallPolicy;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.Vm;
import org.fastvm.server.model.VmStatus;
import org.fastvm.server.store.Store;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.FaultHook;
import org.fastvm.vmm.VmmException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VM state machine: provisioning → running → deleting → deleted; provisioning → error;
 * running → error when the VM's process dies. Rows are the truth; {@code machines} maps
 * ids to the live engine handles. Every transition is a compare-and-set on the row.
 *
 * <p>Crash safety: the row is the intent record of every multi-step operation. It is written
 * before the engine is asked (provisioning, deleting) and moved on after the engine is done, so
 * a server that dies in between leaves a row that {@link #recover} finishes (delete) or rolls
 * back (a boot: nothing ran in the VM yet) at the next start. Fault steps: {@code vm-inserted},
 * {@code vm-booted}, {@code vm-delete-marked}, {@code vm-delete-destroyed}.
 */
public final class Vms implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Vms.class);

    private final Store store;
    private final VmBackend backend;
    private final Quotas quotas;
    private final Duration launchWait;
    private final ExecutorService background;
    private final Timer bootTimer;
    private final Timer restoreTimer;
    private final Map<String, BackendMachine> machines = new ConcurrentHashMap<>();
    /** VMs whose rows start-up has not settled yet: calls that need their engine handle wait (503). */
    private final java.util.Set<String> recovering = ConcurrentHashMap.newKeySet();

    private final FaultHook faults;
    private volatile boolean closed;

    /**
     * The outcome of POST /v1/vms.
     *
     * @param vm      the row as it is when the handler answers
     * @param running true when the VM was running within the bounded wait (201), else 202
     */
    public record LaunchResult(Vm vm, boolean running) {}

    /**
     * @param launchWait how long POST /v1/vms waits for the VM to run before answering 202
     * @param background where boots and other slow work run (virtual threads)
     */
    public Vms(
            Store store,
            VmBackend backend,
            Quotas quotas,
            Duration launchWait,
            ExecutorService background,
            MeterRegistry meters,
            FaultHook faults) {
        this.faults = faults;
        this.store = store;
        this.backend = backend;
        this.quotas = quotas;
        this.launchWait = launchWait;
        this.background = background;
        this.bootTimer = Timer.builder("fastvm.vm.boot.duration")
                .description("fresh VM boot until the agent answers")
                .register(meters);
        this.restoreTimer = Timer.builder("fastvm.vm.restore.duration")
                .description("restore from snapshot until the agent answers")
                .register(meters);
    }

    /**
     * Launches (or restores) a VM: reserves quota and inserts the row in one transaction, then
     * boots, waiting for it at most the configured launch wait or {@code waitCap}, whichever is
     * shorter.
     *
     * @param waitCap the longest this caller can wait for an answer (its client times out and
     *                retries after that, which would launch again), or null for no cap
     */
    public LaunchResult launch(String orgId, LaunchRequest req, Duration waitCap) {
        String id = UUID.randomUUID().toString();
        Snapshot source = null;
        int cpu, mem, baseDisk;
        String machineName;
        FirewallPolicy firewall = req.firewall();
        if (req.snapshotId() != null) {
            source = store.db()
                    .read(c -> store.snapshots().find(c, req.snapshotId()))
                    .filter(s -> s.orgId().equals(orgId) && s.deletedAt() == null)
                    .orElseThrow(() -> ServiceException.notFound("snapshot", req.snapshotId()));
            if (source.status() != SnapshotStatus.READY) {
                throw ServiceException.conflict("snapshot " + source.id() + " is "
                        + source.status().wire() + "; restore needs a ready snapshot");
            }
            cpu = source.cpu();
            mem = source.memoryMiB();
            baseDisk = source.diskGiB();
            machineName = source.machineName();
            if (firewall == null) firewall = source.firewall();
        } else {
            if (req.machineType() == null)
                throw ServiceException.invalid("machineType", "required when snapshotId is absent");
            MachineType type = MachineType.parse("machineType", req.machineType());
            cpu = type.vcpus();
            mem = type.memoryMiB();
            baseDisk = MachineType.DEFAULT_DISK_GIB;
            machineName = type.wireName();
        }
        int disk = req.diskGiB() != null ? req.diskGiB() : baseDisk;
        if (disk < baseDisk) {
            throw ServiceException.invalid("diskGiB", "disks only grow: must be ≥ " + baseDisk + " GiB, got " + disk);
        }
        String name = Optional.ofNullable(Names.normalise(req.name())).orElse(Names.defaultName("vm", id));
        Vm row = new Vm(
                id,
                orgId,
                name,
                machineName,
                cpu,
                mem,
                disk,
                VmStatus.PROVISIONING,
                now(),
                source != null ? source.name() : null,
                source != null ? source.id() : null,
                firewall != null ? firewall : FirewallPolicy.DEFAULT,
                req.metadata() != null ? req.metadata() : Map.of(),
                null,
                null);
        store.db().writeLockingOrg(orgId, c -> {
            quotas.reserve(c, orgId, new QuotaValues(cpu, mem, disk, 0));
            store.vms().insert(c, row);
            return null;
        });
        faults.atUnchecked("vm-inserted");
        Snapshot from = source;
        CompletableFuture<Void> boot = CompletableFuture.runAsync(() -> boot(row, from), background);
        Duration wait = waitCap != null && waitCap.compareTo(launchWait) < 0 ? waitCap : launchWait;
        boolean done = awaitQuietly(boot, wait);
        Vm now = require(orgId, id);
        return new LaunchResult(now, done && now.status() == VmStatus.RUNNING);
    }

    private void boot(Vm row, Snapshot source) {
        LaunchSpec spec = new LaunchSpec(row.id(), row.cpu(), row.memoryMiB(), row.diskGiB());
        BackendMachine m;
        long t0 = System.nanoTime();
        try {
            m = source == null ? backend.launch(spec) : backend.restore(source.id(), spec);
        } catch (RuntimeException e) {
            LOG.warn("vm={} boot failed: {}", row.id(), e.toString());
            String why = (source == null ? "boot failed: " : "restore failed: ") + e.getMessage();
            discardQuietly(row.id()); // the engine cleans up after itself; this makes "no files" certain
            boolean toError = store.db().write(c -> store.vms().fail(c, row.id(), VmStatus.PROVISIONING, why, false));
            if (!toError) finishDelete(row.id());
            return;
        }
        (source == null ? bootTimer : restoreTimer).record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
        faults.atUnchecked("vm-booted");
        machines.put(row.id(), m);
        boolean running = store.db()
                .write(c -> store.vms().transition(c, row.id(), VmStatus.PROVISIONING, VmStatus.RUNNING, null));
        if (!running) { // deleted while booting
            finishDelete(row.id());
            return;
        }
        watch(m);
        LOG.info("vm={} running ({} ms)", row.id(), (System.nanoTime() - t0) / 1_000_000);
    }

    /** Turns the row to error within moments of the VM's process exiting on its own. */
    @SuppressWarnings("FutureReturnValueIgnored") // the exit callback logs its own failure
    private void watch(BackendMachine m) {
        m.onExit().whenComplete((v, t) -> {
            if (closed) return; // shutting down (the database may be closed): the next start reconciles it
            try {
                boolean changed = store.db()
                        .write(c -> store.vms()
                                .fail(
                                        c,
                                        m.id(),
                                        VmStatus.RUNNING,
                                        "the VM's process exited unexpectedly; its files are kept until it is deleted",
                                        true));
                if (changed) LOG.warn("vm={} process exited; status error", m.id());
            } catch (RuntimeException e) { // the row stays running until the next start's reconciliation
                LOG.warn("vm={} process exited; cannot record it: {}", m.id(), e.toString());
            }
        });
    }

    /** {@return the org's VM; 404 for unknown, deleted, malformed or other orgs' ids} */
    public Vm require(String orgId, String id) {
        return store.db()
                .read(c -> store.vms().find(c, id))
                .filter(v -> v.orgId().equals(orgId) && v.status() != VmStatus.DELETED)
                .orElseThrow(() -> ServiceException.notFound("vm", id));
    }

    /** {@return the org's live VMs, optionally of one status, matching every metadata filter} */
    public List<Vm> list(String orgId, VmStatus status, Map<String, String> metadataFilters) {
        return store.db().read(c -> store.vms().listLive(c, orgId, status)).stream()
                .filter(v -> metadataFilters.entrySet().stream()
                        .allMatch(f -> f.getValue().equals(v.metadata().get(f.getKey()))))
                .toList();
    }

    /** Renames and/or replaces metadata (null = unchanged). */
    public Vm update(String orgId, String id, String rawName, Map<String, String> metadata) {
        String name = null;
        if (rawName != null) {
            name = Names.normalise(rawName);
            if (name == null) throw ServiceException.invalid("name", "must not be blank");
        }
        String n = name;
        store.db().write(c -> {
            Vm vm = requireIn(c, orgId, id);
            if (vm.status() == VmStatus.DELETING) throw ServiceException.conflict("vm " + id + " is being deleted");
            store.vms().update(c, id, n, metadata);
            return null;
        });
        return require(orgId, id);
    }

    /** Stores a new firewall policy computed from the current one. */
    public Vm updateFirewall(String orgId, String id, java.util.function.UnaryOperator<FirewallPolicy> change) {
        store.db().write(c -> {
            Vm vm = requireIn(c, orgId, id);
            if (vm.status() == VmStatus.DELETING) throw ServiceException.conflict("vm " + id + " is being deleted");
            store.vms().updateFirewall(c, id, change.apply(vm.firewall()));
            return null;
        });
        return require(orgId, id);
    }

    /** Deletes the VM: stops its process, releases its quota. A VM still booting is deleted when the boot ends. */
    public void delete(String orgId, String id) {
        requireSettled(id);
        VmStatus from = store.db().write(c -> {
            Vm vm = requireIn(c, orgId, id);
            if (vm.status() == VmStatus.DELETING) return VmStatus.DELETING;
            if (!store.vms().transition(c, id, vm.status(), VmStatus.DELETING, null)) {
                throw ServiceException.conflict("vm " + id + " changed state during delete; retry");
            }
            return vm.status();
        });
        faults.atUnchecked("vm-delete-marked");
        // A booting VM is finished by its boot thread, which sees the row is no longer provisioning.
        if (from != VmStatus.PROVISIONING && from != VmStatus.DELETING) finishDelete(id);
    }

    private void finishDelete(String id) {
        BackendMachine m = machines.remove(id);
        if (m != null) {
            try {
                m.destroy();
            } catch (RuntimeException e) {
                LOG.warn("vm={} destroy failed: {}", id, e.toString());
            }
        } else {
            discardQuietly(id); // e.g. a boot that failed or a VM lost across a restart
        }
        faults.atUnchecked("vm-delete-destroyed");
        store.db().write(c -> store.vms().markDeleted(c, id, VmStatus.DELETING, now()));
    }

    /**
     * Starts a command in a running VM. Throws 409 when the VM is not running and 502 when the
     * command provably did not start (so the client may retry).
     */
    public ExecHandle startExec(String orgId, String id, ExecRequest request, ExecListener listener) {
        Vm vm = require(orgId, id);
        if (vm.status() != VmStatus.RUNNING) {
            throw ServiceException.conflict("vm " + id + " is " + vm.status().wire() + "; exec needs a running VM");
        }
        requireSettled(id);
        BackendMachine m = machines.get(id);
        if (m == null || !m.isAlive()) {
            throw new ServiceException(
                    ErrorKind.UNREACHABLE, "vm " + id + " is not reachable; the command was not started");
        }
        try {
            return m.start(request, listener);
        } catch (VmmException e) {
            throw new ServiceException(
                    ErrorKind.UNREACHABLE,
                    "vm " + id + " is not reachable; the command was not started: " + e.getMessage(),
                    e);
        }
    }

    /** {@return the live engine handle of a running VM (for snapshots); 503 while start-up is still reattaching it} */
    Optional<BackendMachine> machine(String id) {
        requireSettled(id);
        return Optional.ofNullable(machines.get(id));
    }

    /** Calls that act on a VM's process wait until start-up has reattached (or given up on) it. */
    private void requireSettled(String id) {
        if (recovering.contains(id)) {
            throw new ServiceException(
                    ErrorKind.UNAVAILABLE, "vm " + id + " is being reattached after a server restart; retry");
        }
    }

    /** {@return VM counts by status, for metrics} */
    public Map<VmStatus, Long> countByStatus() {
        return store.db().read(c -> store.vms().countByStatus(c));
    }

    /** {@return the rows start-up must settle: every VM that was mid-operation or running; marked as recovering} */
    List<Vm> toRecover() {
        List<Vm> rows = store.db()
                .read(c -> store.vms()
                        .listByStatus(c, List.of(VmStatus.RUNNING, VmStatus.PROVISIONING, VmStatus.DELETING)));
        rows.forEach(v -> recovering.add(v.id()));
        return rows;
    }

    /**
     * After a restart, settles one row {@link #toRecover} returned: reattaches a running VM (or,
     * when it is gone, turns it error keeping its files and their disk quota), rolls back a boot
     * that was cut short (nothing ran in it yet: its files go, it turns error holding nothing),
     * and finishes a delete.
     */
    void recover(Vm vm) {
        try {
            switch (vm.status()) {
                case RUNNING -> {
                    Optional<BackendMachine> attached = attachQuietly(vm.id());
                    if (attached.isPresent() && attached.get().isAlive()) {
                        machines.put(vm.id(), attached.get());
                        watch(attached.get());
                        LOG.info("vm={} reattached", vm.id());
                    } else {
                        if (closed || Thread.currentThread().isInterrupted())
                            return; // shutting down: the next start decides
                        stopQuietly(vm.id()); // its disk writes are its owner's: kept until the VM is deleted
                        boolean kept = backend.vmIds().contains(vm.id());
                        store.db()
                                .write(c -> store.vms()
                                        .fail(
                                                c,
                                                vm.id(),
                                                VmStatus.RUNNING,
                                                "the VM was gone when the server" + " restarted"
                                                        + (kept ? "; its files are kept until it is deleted" : ""),
                                                kept));
                        LOG.warn("vm={} gone after restart; status error", vm.id());
                    }
                }
                case PROVISIONING -> {
                    discardQuietly(vm.id());
                    store.db()
                            .write(c -> store.vms()
                                    .fail(
                                            c,
                                            vm.id(),
                                            VmStatus.PROVISIONING,
                                            "the server restarted while the VM was booting; nothing of it was kept",
                                            false));
                    LOG.warn("vm={} was booting when the server stopped; rolled back, status error", vm.id());
                }
                default -> {
                    attachQuietly(vm.id()).ifPresent(m -> machines.put(vm.id(), m));
                    finishDelete(vm.id());
                    LOG.info("vm={} delete finished after restart", vm.id());
                }
            }
        } finally {
            recovering.remove(vm.id());
        }
    }

    private Optional<BackendMachine> attachQuietly(String id) {
        try {
            return backend.attach(id);
        } catch (RuntimeException e) {
            LOG.warn("vm={} attach failed: {}", id, e.toString());
            return Optional.empty();
        }
    }

    private void stopQuietly(String id) {
        try {
            backend.stop(id);
        } catch (RuntimeException e) {
            LOG.warn("vm={} stop failed: {}", id, e.toString());
        }
    }

    private void discardQuietly(String id) {
        try {
            backend.discard(id);
        } catch (RuntimeException e) {
            LOG.warn("vm={} discard failed: {}", id, e.toString());
        }
    }

    private Vm requireIn(java.sql.Connection c, String orgId, String id) throws java.sql.SQLException {
        return store.vms()
                .find(c, id)
                .filter(v -> v.orgId().equals(orgId) && v.status() != VmStatus.DELETED)
                .orElseThrow(() -> ServiceException.notFound("vm", id));
    }

    private static boolean awaitQuietly(CompletableFuture<?> f, Duration wait) {
        try {
            f.get(wait.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static Instant now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS);
    }

    /**
     * Forgets the engine handles and stops recording VM exits; VMs keep running (they are
     * reattached on the next start, which also notes the ones that died meanwhile).
     */
    @Override
    public void close() {
        closed = true;
        machines.clear();
    }
}
