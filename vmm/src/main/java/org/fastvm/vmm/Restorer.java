package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import org.fastvm.vmm.agent.AgentChannel;
import org.fastvm.vmm.image.GuestImage;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.qemu.Migration;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.Qmp;
import org.fastvm.vmm.qemu.QmpException;

/**
 * Restores snapshots into new VMs (clones): {@link #prepare} starts a QEMU with the
 * snapshot's restore argv in the clone's dir (RAM mapped privately from the snapshot's
 * memory file, a copy-on-write disk overlay); {@link #restore} loads the state, resumes the
 * guest and gives it a new clock, entropy and hostname. A warm-pool entry was prepared and
 * {@link #warmUp warmed up} ahead of time, so its restore is {@code cont} plus the new identity.
 */
final class Restorer {
    private static final System.Logger LOG = System.getLogger(Restorer.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration QMP_TIMEOUT = Duration.ofSeconds(15);
    private static final Duration RESTORE_HELLO_TIMEOUT = Duration.ofSeconds(30);
    /** How long the guest may take to notice a resized disk (a config interrupt, handled asynchronously). */
    private static final Duration RESIZE_NOTICE = Duration.ofSeconds(10);

    private final Engine engine;
    private final SnapshotStore store;
    private final WarmPool pool;
    private final FaultHook faults;

    Restorer(Engine engine, SnapshotStore store, WarmPool pool, FaultHook faults) {
        this.engine = engine;
        this.store = store;
        this.pool = pool;
        this.faults = faults;
    }

    /** Restores snapshot {@code id} into a new VM, from the warm pool when an entry waits. */
    QemuMachine restore(String id, RestoreSpec spec) throws InterruptedException {
        return restore(id, spec, null);
    }

    /**
     * Restores snapshot {@code id} into a new VM whose record keeps {@code as} as its spec
     * (a launch served from a base snapshot: the spec the caller launched with, id and hostname
     * the same as in {@code spec}); null = the spec a restore makes from the snapshot.
     */
    QemuMachine restore(String id, RestoreSpec spec, MachineSpec as) throws InterruptedException {
        SnapshotManifest man = store.compatible(id);
        String vmId = spec.id() != null ? spec.id() : "vm-" + Ids.random(6);
        String hostname = spec.hostname() != null ? spec.hostname() : vmId;
        long wantDisk = spec.diskGib() == 0 ? man.diskBytes() : (long) spec.diskGib() << 30;
        if (man.hasRootDisk() && wantDisk < man.diskBytes()) {
            throw new IllegalArgumentException("diskGib: " + spec.diskGib() + " GiB is smaller than snapshot " + id
                    + "'s disk (" + (man.diskBytes() >> 20) + " MiB); disks only grow");
        }
        Path dir = engine.vmsDir().resolve(vmId);
        if (Files.exists(dir)) {
            throw new IllegalArgumentException("id: a VM named '" + vmId + "' already exists in " + engine.vmsDir());
        }
        pool.restoreStarted(id);
        try {
            return restore(man, id, vmId, hostname, wantDisk, dir, as);
        } finally {
            pool.restoreEnded(id);
        }
    }

    private QemuMachine restore(
            SnapshotManifest man, String id, String vmId, String hostname, long wantDisk, Path dir, MachineSpec as)
            throws InterruptedException {
        PreparedQemu p = pool.claim(id, dir); // pool entries are warmed up
        byte[] state = null;
        if (p == null) {
            state = store.readState(man); // before a QEMU starts: a corrupt state is refused at once
            p = prepare(man, dir);
        }
        QemuMachine m = null;
        try {
            var mspec = as != null
                    ? as
                    : new MachineSpec(
                            vmId,
                            man.imageName(),
                            man.vcpus(),
                            man.memoryMib(),
                            man.hasRootDisk() ? (int) (wantDisk >> 30) : 0,
                            hostname);
            var rec = new MachineRecord(
                    mspec,
                    man.imageName(),
                    man.imageKey(),
                    man.accelerator(),
                    p.command().machineOptions(),
                    p.command().argv(),
                    p.process().pid(),
                    man.hasRootDisk() ? wantDisk : 0,
                    QemuCommand.ROOT_DISK_NODE,
                    man.diskLayers(),
                    id,
                    null);
            m = new QemuMachine(dir, rec, p.process().toHandle(), p.process().onExit());
            faults.atUnchecked("restore-spawned"); // a QEMU runs in the VM dir; no record yet: not a VM
            AgentChannel agent;
            String how;
            long t0 = System.nanoTime(), tLoaded, tCont, tHello;
            CompletableFuture<Void> identity;
            if (p.warm()) { // state loaded and the guest's code translated in the pool: resume, renew identity
                how = "warmed up";
                agent = p.agent();
                p.label().set("machine " + vmId);
                m.adopt(p.qmp(), agent);
                tLoaded = System.nanoTime();
                Migration.cont(p.qmp());
                tCont = tHello = System.nanoTime();
                identity = reidentify(agent, hostname);
            } else {
                how = "cold";
                Instant deadline = Instant.now().plus(RESTORE_HELLO_TIMEOUT);
                agent = AgentChannel.connectEarly(
                        dir.resolve(QemuCommand.AGENT_SOCKET),
                        deadline,
                        m.exitFuture(),
                        QemuMachine.deathMapper("machine " + vmId, p.process().pid(), m.exitFuture()));
                m.adopt(p.qmp(), agent);
                loadState(p, state, deadline, m.exitFuture(), id);
                tLoaded = System.nanoTime();
                Migration.cont(p.qmp());
                tCont = System.nanoTime();
                // sent right away: the agent answers them after the HELLO for our HELLO_REQ, one round trip saved
                identity = reidentify(agent, hostname);
                try {
                    agent.awaitHello(deadline, m.exitFuture());
                } catch (VmmException e) {
                    throw new VmmException(
                            "clone " + vmId + " of " + id + ": " + e.getMessage() + "; status "
                                    + p.qmp()
                                            .execute("query-status")
                                            .path("status")
                                            .asText() + "\n--- qemu.log ---\n"
                                    + FileOps.tail(dir.resolve("qemu.log")) + "\n--- console.log ---\n"
                                    + FileOps.tail(dir.resolve(QemuCommand.CONSOLE_LOG)),
                            e);
                }
                tHello = System.nanoTime();
            }
            faults.atUnchecked("restore-resumed"); // the guest runs, still with the snapshot's identity
            join(identity);
            long tIdent = System.nanoTime();
            if (man.hasRootDisk() && wantDisk > man.diskBytes()) {
                growDisk(p.qmp(), QemuCommand.ROOT_DISK_NODE, agent, man.diskBytes(), wantDisk);
            }
            faults.atUnchecked("restore-identified");
            rec.write(dir); // the commit point: from here on the dir is a VM an engine attaches
            LOG.log(
                    Level.INFO,
                    "restored {0} from {1} ({2}, pid {3}): state loaded {4} ms, cont {5} ms, HELLO {6} ms,"
                            + " re-identified {7} ms",
                    vmId,
                    id,
                    how,
                    p.process().pid(),
                    (tLoaded - t0) / 1_000_000,
                    (tCont - tLoaded) / 1_000_000,
                    (tHello - tCont) / 1_000_000,
                    (tIdent - tHello) / 1_000_000);
            return m;
        } catch (RuntimeException | InterruptedException | Error e) {
            if (m != null) m.stopProcess();
            p.kill();
            pool.sweepLinks(Level.DEBUG); // a claimed entry's link to the dir just removed
            throw e;
        }
    }

    private static void loadState(PreparedQemu p, byte[] state, Instant deadline, CompletableFuture<?> exit, String id)
            throws InterruptedException {
        Migration.feed(p.dir().resolve("mig.sock"), state);
        try {
            p.incoming().await(Set.of("completed"), deadline, exit);
        } catch (QmpException e) {
            throw new SnapshotIncompatibleException(
                    "QEMU refused the state of snapshot " + id + ": " + e.getMessage() + "\n--- qemu.log ---\n"
                            + FileOps.tail(p.dir().resolve("qemu.log")),
                    e);
        } finally {
            p.incoming().close();
        }
    }

    /**
     * A warm-pool entry for snapshot {@code id} in {@code dir}: {@link #prepare prepared}, then
     * {@link #warmUp warmed up}.
     */
    PreparedQemu prepareWarm(String id, Path dir) throws InterruptedException {
        SnapshotManifest man = store.compatible(id);
        return warmUp(prepare(man, dir), man);
    }

    /** Starts a restore QEMU for snapshot {@code man} in {@code dir} (created here). */
    PreparedQemu prepare(SnapshotManifest man, Path dir) throws InterruptedException {
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException(
                    "id: a VM named '" + dir.getFileName() + "' already exists in " + dir.getParent());
        } catch (IOException e) {
            throw new VmmException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        try (var undo = new Cleanup("restore QEMU in " + dir)) {
            undo.push("remove " + dir, () -> FileOps.deleteQuietly(dir));
            store.linkInto(man, dir);
            GuestImage img = engine.imageBuild(man.imageName(), man.imageKey())
                    .orElseThrow(() -> new SnapshotIncompatibleException(
                            "snapshot " + man.id() + ": its image build " + man.imageKey() + " left the image cache"));
            QemuCommand cmd = QemuCommand.restore(
                    engine.config().qemuBinary(),
                    man.accelerator(),
                    img.machineOptions(),
                    man.vcpus(),
                    man.memoryMib(),
                    dir,
                    dir.resolve(QemuCommand.MEMORY_FILE),
                    man.hasRootDisk()
                            ? dir.resolve(
                                    MachineRecord.layerName(man.diskLayers().size()))
                            : null,
                    man.diskLayers().stream().map(dir::resolve).toList());
            if (!cmd.shape().equals(man.shape())) {
                throw new SnapshotIncompatibleException("snapshot " + man.id() + " has machine shape '" + man.shape()
                        + "', this engine builds '" + cmd.shape() + "'");
            }
            Process proc = ProcessRunner.spawnDetached(cmd.argv(), dir.resolve("qemu.log"));
            undo.kill("restore QEMU", proc);
            Files.writeString(dir.resolve("pid"), Long.toString(proc.pid()));
            Qmp qmp = Qmp.connect(
                    dir.resolve(QemuCommand.QMP_SOCKET), Instant.now().plus(QMP_TIMEOUT), proc.onExit());
            undo.push("close QMP", qmp::close);
            Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", true));
            Migration incoming = new Migration(qmp);
            incoming.listen(dir.resolve("mig.sock"));
            undo.keep();
            return new PreparedQemu(man.id(), dir, proc, cmd, qmp, incoming);
        } catch (IOException e) {
            throw new VmmException("cannot prepare a restore of " + man.id() + " in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Readies a prepared QEMU for a near-instant restore: loads the snapshot's state, runs
     * the guest until its agent has answered HELLO and one exec, then stops it. Under TCG a
     * restored guest's first exec costs ~80 ms of code translation (7 ms later on); paid here,
     * in the background, the claimed clone only needs {@code cont} and its new identity. The
     * guest ran for a moment, as any restored VM does before its first command; its clock,
     * entropy and hostname are renewed when it is claimed.
     */
    PreparedQemu warmUp(PreparedQemu p, SnapshotManifest man) throws InterruptedException {
        AgentChannel agent = null;
        try { // any failure kills the QEMU: e.g. the snapshot deleted meanwhile (its state is gone)
            faults.atUnchecked("warm-up");
            byte[] state = store.readState(man);
            Instant deadline = Instant.now().plus(RESTORE_HELLO_TIMEOUT);
            var label = new AtomicReference<>("pre-spawned clone of " + man.id());
            long pid = p.process().pid();
            CompletableFuture<Process> exit = p.process().onExit();
            agent = AgentChannel.connectEarly(
                    p.dir().resolve(QemuCommand.AGENT_SOCKET),
                    deadline,
                    exit,
                    e -> QemuMachine.deathMapper(label.get(), pid, exit).apply(e));
            loadState(p, state, deadline, exit, man.id());
            Migration.cont(p.qmp());
            agent.awaitHello(deadline, exit);
            ExecResult r = agent.exec(ExecRequest.of("true"));
            if (r.exitCode() != 0) throw new VmmException("warm-up exec of 'true' exited " + r.exitCode());
            p.qmp().execute("stop");
            return new PreparedQemu(
                    p.snapshotId(), p.dir(), p.process(), p.command(), p.qmp(), p.incoming(), agent, label);
        } catch (RuntimeException | InterruptedException e) {
            if (agent != null) agent.close();
            p.kill();
            throw e;
        }
    }

    /**
     * Grows a running VM's disk (a clone's, or a launch's after its base snapshot): {@code
     * block_resize} of its top layer {@code node} (the guest gets a config-change interrupt),
     * then GROW_ROOTFS until the guest sees the new size (it offers no event for it).
     */
    static void growDisk(Qmp qmp, String node, AgentChannel agent, long from, long bytes) throws InterruptedException {
        qmp.execute("block_resize", Map.of("node-name", node, "size", bytes));
        long end = System.nanoTime() + RESIZE_NOTICE.toNanos();
        long size;
        while ((size = agent.growRootfs()) < from + (bytes - from) / 2) { // grown (ext4 keeps some for itself)
            if (System.nanoTime() > end) {
                throw new VmmException("the guest did not see its disk grown to " + (bytes >> 20) + " MiB (root fs "
                        + (size >> 20) + " MiB)");
            }
            Thread.sleep(20);
        }
    }

    /** A clone must not share its source's clock, RNG state or name: the three go out at once. */
    private static CompletableFuture<Void> reidentify(AgentChannel agent, String hostname) {
        byte[] entropy = new byte[64];
        RANDOM.nextBytes(entropy);
        var time =
                CompletableFuture.runAsync(() -> call(() -> agent.setTime(Instant.now())), Thread::startVirtualThread);
        var rng = CompletableFuture.runAsync(() -> call(() -> agent.addEntropy(entropy)), Thread::startVirtualThread);
        var name =
                CompletableFuture.runAsync(() -> call(() -> agent.setHostname(hostname)), Thread::startVirtualThread);
        return CompletableFuture.allOf(time, rng, name);
    }

    private static void join(CompletableFuture<Void> f) throws InterruptedException {
        try {
            f.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof VmmException v
                    ? v
                    : new VmmException("re-identifying the clone failed", e.getCause());
        }
    }

    private interface AgentCall {
        void run() throws InterruptedException;
    }

    private static void call(AgentCall c) {
        try {
            c.run();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted", e);
        }
    }
}
