package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import org.fastvm.vmm.agent.AgentChannel;
import org.fastvm.vmm.image.GuestImage;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.qemu.Migration;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.Qmp;
import org.fastvm.vmm.qemu.QmpException;

/**
 * Snapshots, restores and the warm pool (docs/vmm.md, "Snapshots").
 *
 * <p>A snapshot live-migrates the VM into a paused "capture" QEMU whose RAM is a
 * {@code share=on} file in the snapshot's temp dir; the source is paused only for the
 * switch-over (the root disk gets a new top layer in that instant), then continues. The
 * capture QEMU's device state is saved, the directory fsync'ed and renamed into place.
 * Files are shared by hard links (snapshot ↔ VM dirs): the file system counts the
 * references, so deleting a snapshot never pulls files from under a clone, also across
 * engine restarts.
 */
final class Snapshots implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Snapshots.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration QMP_TIMEOUT = Duration.ofSeconds(15);
    /** Precopy of a busy guest under TCG takes seconds; past this we give up and resume the source. */
    private static final Duration MIGRATION_TIMEOUT = Duration.ofSeconds(180);
    private static final Duration RESTORE_HELLO_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration CONT_RETRY = Duration.ofSeconds(5);
    private static final String TMP_PREFIX = ".tmp-";

    /** Test hook: called at named steps of a snapshot; may throw to inject a failure. */
    interface FaultHook {
        void at(String step) throws IOException;
    }

    static volatile FaultHook faultHook = step -> { };

    private final Engine engine;
    private final Path snapshotsDir;
    private final Path vmsDir;
    final WarmPool pool;
    /** Restores read a snapshot dir (link its files); deletion removes it. */
    private final ReentrantReadWriteLock dirLock = new ReentrantReadWriteLock();

    Snapshots(Engine engine, Path snapshotsDir, Path poolDir, Path vmsDir) {
        this.engine = engine;
        this.snapshotsDir = snapshotsDir;
        this.vmsDir = vmsDir;
        this.pool = new WarmPool(this, poolDir, engine.config());
        try {
            Files.createDirectories(snapshotsDir);
            try (var s = Files.list(snapshotsDir)) { // temp dirs of snapshots cut short by a crash
                for (Path p : s.filter(p -> p.getFileName().toString().startsWith(TMP_PREFIX)).toList()) {
                    killCaptureIn(p);
                    FileTrees.deleteQuietly(p);
                }
            }
        } catch (IOException e) {
            throw new VmmException("cannot prepare " + snapshotsDir + ": " + e.getMessage(), e);
        }
    }

    // ---- listing ----------------------------------------------------------------------

    Optional<VmSnapshot> find(String id) {
        Path dir = snapshotsDir.resolve(id);
        if (!Files.isRegularFile(dir.resolve(SnapshotManifest.FILE))) return Optional.empty();
        return Optional.of(SnapshotManifest.read(dir).toSnapshot(dir));
    }

    List<VmSnapshot> list() {
        List<VmSnapshot> out = new ArrayList<>();
        try (var s = Files.list(snapshotsDir)) {
            for (Path p : s.sorted().toList()) {
                if (p.getFileName().toString().startsWith(TMP_PREFIX)) continue;
                if (Files.isRegularFile(p.resolve(SnapshotManifest.FILE))) out.add(SnapshotManifest.read(p).toSnapshot(p));
            }
        } catch (IOException e) {
            throw new VmmException("cannot list " + snapshotsDir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * Deletes a snapshot: drains its warm pool and removes its directory. Clones keep their
     * own hard links to its memory file and disk layers; those blocks are freed when the
     * last clone is destroyed.
     */
    void delete(String id) {
        Path dir = snapshotsDir.resolve(id);
        if (!Files.isDirectory(dir)) throw new NoSuchSnapshotException("snapshot '" + id + "' does not exist");
        pool.drain(id);
        dirLock.writeLock().lock();
        try {
            // rename first: the snapshot disappears atomically, then its names are removed
            Path gone = snapshotsDir.resolve(TMP_PREFIX + "del-" + hex(4));
            Files.move(dir, gone, StandardCopyOption.ATOMIC_MOVE);
            FileTrees.deleteTree(gone);
        } catch (IOException e) {
            throw new VmmException("cannot delete snapshot " + id + ": " + e.getMessage(), e);
        } finally {
            dirLock.writeLock().unlock();
        }
    }

    // ---- snapshot ---------------------------------------------------------------------

    VmSnapshot snapshot(QemuMachine m, SnapshotSpec spec) throws InterruptedException {
        String id = spec.id() != null ? spec.id() : "snap-" + hex(6);
        m.snapshotLock.lock();
        try {
            if (!m.isAlive()) throw new MachineDeadException("machine " + m.id() + " is not running; cannot snapshot it");
            Path dir = snapshotsDir.resolve(id);
            if (Files.exists(dir)) throw new IllegalArgumentException("id: a snapshot named '" + id + "' already exists");
            Path tmp = snapshotsDir.resolve(TMP_PREFIX + hex(4));
            try {
                Files.createDirectory(tmp);
            } catch (IOException e) {
                throw new SnapshotFailedException("snapshot " + id + " of " + m.id() + ": cannot create " + tmp + ": "
                        + e.getMessage(), e);
            }
            try {
                SnapshotManifest man = capture(m, id, tmp);
                faultHook.at("publish");
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                fsyncDir(snapshotsDir);
                LOG.log(Level.INFO, "snapshot {0} of {1}: paused {2} ms, {3} MiB of RAM", id, m.id(),
                        man.pauseMillis(), man.memAllocatedBytes() >> 20);
                return man.toSnapshot(dir);
            } catch (IOException e) {
                FileTrees.deleteQuietly(tmp);
                throw new SnapshotFailedException("snapshot " + id + " of " + m.id() + " failed: " + e.getMessage()
                        + freeSpace(), e);
            } catch (RuntimeException | InterruptedException | Error e) {
                FileTrees.deleteQuietly(tmp);
                if (e instanceof MachineDeadException || e instanceof IllegalArgumentException) throw e;
                if (!m.isAlive()) {
                    throw new MachineDeadException("machine " + m.id() + " died during snapshot " + id, e);
                }
                if (e instanceof VmmException v) {
                    throw new SnapshotFailedException("snapshot " + id + " of " + m.id() + " failed: " + v.getMessage()
                            + freeSpace(), v);
                }
                throw e;
            }
        } finally {
            m.snapshotLock.unlock();
        }
    }

    private String freeSpace() {
        try {
            long free = Files.getFileStore(snapshotsDir).getUsableSpace();
            return " (" + (free >> 20) + " MiB free in " + snapshotsDir + ")";
        } catch (IOException e) {
            return "";
        }
    }

    /** Live-migrates {@code m} into a capture QEMU in {@code tmp}, resumes {@code m}, writes the snapshot files. */
    private SnapshotManifest capture(QemuMachine m, String id, Path tmp) throws IOException, InterruptedException {
        MachineRecord rec = m.record();
        QemuCommand source = sourceCommand(m, rec);
        boolean disk = source.rootDisk() != null;
        Qmp qmp = m.qmp();
        m.agent().fsSync(); // quiesce: the disk layer alone is consistent too

        int k = rec.diskLayers().size();
        String frozenName = rec.diskTop();
        String nextTopName = MachineRecord.layerName(k + 1);
        Path vmDir = m.dir();
        Path nextTop = vmDir.resolve(nextTopName);
        if (disk) Overlay.createUnchecked(nextTop, frozenName, rec.diskBytes());
        String newNode = QemuCommand.ROOT_DISK_NODE + "-s" + (k + 1);
        Path mem = tmp.resolve(SnapshotManifest.MEM);
        var freeze = new DiskFreeze(disk, qmp, rec.diskNode(), newNode, nextTop);
        double pauseMs;
        boolean rehomed = false;
        try {
            if (rec.argv().stream().anyMatch(a -> a.contains(",share=on"))) {
                Successor successor = spawnSuccessor(m, rec, source, frozenName, nextTop);
                if (successor != null) {
                    pauseMs = captureByRehome(m, rec, tmp, successor, frozenName, nextTopName);
                    rehomed = true;
                } else {
                    pauseMs = captureByCopy(m, tmp, freeze);
                }
            } else {
                pauseMs = captureByMigration(m, source, tmp, freeze);
            }
        } finally {
            if (!freeze.switched && !rehomed) Files.deleteIfExists(nextTop);
        }
        if (freeze.switched) { // the VM now writes to the new top; the old one is a layer for good
            List<String> layers = new ArrayList<>(rec.diskLayers());
            layers.add(frozenName);
            m.updateRecord(rec.withDisk(newNode, layers, nextTopName));
        }

        List<String> layers = List.of();
        if (disk) {
            layers = m.record().diskLayers();
            for (String l : layers) Files.createLink(tmp.resolve(l), vmDir.resolve(l));
            Overlay.createUnchecked(tmp.resolve(SnapshotManifest.OVERLAY), frozenName, rec.diskBytes());
        }
        Path state = tmp.resolve(SnapshotManifest.STATE);
        byte[] stateBytes = Files.readAllBytes(state);
        faultHook.at("manifest");
        var man = new SnapshotManifest(SnapshotManifest.FORMAT, id, m.id(), rec.imageName(), rec.imageKey(),
                engine.qemuVersion(), rec.accelerator(), rec.spec().vcpus(), rec.spec().memoryMib(), source.shape(),
                rec.argv(), disk, rec.diskBytes(), layers, Files.size(mem), allocatedBytes(mem), stateBytes.length,
                sha256(stateBytes), pauseMs, Instant.now().toString());
        man.write(tmp);
        for (String f : List.of(SnapshotManifest.MEM, SnapshotManifest.STATE, SnapshotManifest.FILE)) fsync(tmp.resolve(f));
        if (disk) fsync(tmp.resolve(SnapshotManifest.OVERLAY));
        fsyncDir(tmp);
        return man;
    }

    private static final String OLD = ".old";

    /**
     * Starts the QEMU a launched VM moves into for its first snapshot (field notes §7): restore
     * argv, RAM = the VM's memory file mapped privately (that file becomes the snapshot's),
     * disk = the current top as a read-only layer plus a new top (an incoming QEMU opens images
     * inactive, so the running VM's top can be opened now). The VM's sockets are moved aside for it.
     *
     * @return the successor, or null when it could not start (the VM's sockets are back in place)
     */
    private record Successor(Process process, List<String> argv) {}

    private Successor spawnSuccessor(QemuMachine m, MachineRecord rec, QemuCommand source, String frozenName, Path nextTop)
            throws IOException {
        Path dir = m.dir();
        List<Path> layers = new ArrayList<>(source.diskLayers());
        if (source.rootDisk() != null) layers.add(dir.resolve(frozenName));
        QemuCommand cmd = new QemuCommand(source.qemuBinary(), rec.accelerator(), rec.machineOptions(), rec.spec().vcpus(),
                rec.spec().memoryMib(), dir, dir.resolve(QemuCommand.MEMORY_FILE), false, null, null, null,
                source.rootDisk() == null ? null : nextTop, layers, true, false);
        moveSockets(dir, "", OLD);
        try {
            return new Successor(ProcessRunner.spawnDetached(cmd.argv(), dir.resolve("qemu.log")), cmd.argv());
        } catch (VmmException e) {
            LOG.log(Level.WARNING, "machine {0}: no successor QEMU ({1}); copying the RAM instead", m.id(), e.getMessage());
            moveSockets(dir, OLD, "");
            return null;
        }
    }

    private static void moveSockets(Path dir, String from, String to) throws IOException {
        for (String s : List.of(QemuCommand.QMP_SOCKET, QemuCommand.AGENT_SOCKET)) {
            if (Files.exists(dir.resolve(s + from))) {
                Files.move(dir.resolve(s + from), dir.resolve(s + to), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /**
     * Re-homing: stop the VM, save its device state ({@code x-ignore-shared}: its RAM is the
     * shared file), load it into the successor, which runs on the same file mapped privately;
     * the file is hard-linked as the snapshot's memory. The pause does not grow with dirtied RAM.
     *
     * @return the pause in ms
     */
    private double captureByRehome(QemuMachine m, MachineRecord rec, Path tmp, Successor succ, String frozenName,
                                   String nextTopName) throws IOException, InterruptedException {
        Process successor = succ.process();
        Path dir = m.dir();
        Qmp qmp = m.qmp();
        Qmp sq = null;
        java.nio.channels.SocketChannel agentNext = null;
        AgentChannel.Splice splice = null;
        boolean stopped = false;
        double pauseMs;
        try {
            Files.createLink(tmp.resolve(SnapshotManifest.MEM), dir.resolve(QemuCommand.MEMORY_FILE));
            Instant deadline = Instant.now().plus(MIGRATION_TIMEOUT);
            sq = Qmp.connect(dir.resolve(QemuCommand.QMP_SOCKET), Instant.now().plus(QMP_TIMEOUT), successor.onExit());
            // connected before the successor loads the state: the guest never sees a new host,
            // and the old socket's stream continues on this one (spike report §5)
            agentNext = AgentChannel.unixSocket(dir.resolve(QemuCommand.AGENT_SOCKET)).connect(deadline, successor.onExit());
            Migration.capabilities(sq, Map.of("events", true, "x-ignore-shared", true));
            Migration incoming = new Migration(sq);
            incoming.listen(dir.resolve("mig.sock"));
            Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", true, "pause-before-switchover", false));
            splice = m.agent().prepareSplice(agentNext); // host writes wait from here until the successor runs
            faultHook.at("migrate");
            qmp.execute("stop");
            stopped = true;
            long t0 = System.nanoTime();
            faultHook.at("state");
            Path state = tmp.resolve(SnapshotManifest.STATE);
            new Migration(qmp).saveTo(state, tmp.resolve("state.sock"), deadline, m.exitFuture());
            Migration.feed(dir.resolve("mig.sock"), Files.readAllBytes(state));
            incoming.await(Set.of("completed"), deadline, successor.onExit());
            incoming.close();
            Migration.cont(sq, CONT_RETRY);
            pauseMs = (System.nanoTime() - t0) / 1e6;
        } catch (RuntimeException | InterruptedException | IOException e) {
            if (splice != null) {
                splice.cancel();
            } else if (agentNext != null) {
                agentNext.close();
            }
            if (sq != null) sq.close();
            successor.destroyForcibly();
            successor.waitFor();
            moveSockets(dir, OLD, "");
            if (stopped) resumeAfterFailure(m, qmp);
            throw e;
        }
        List<String> layers = new ArrayList<>(rec.diskLayers());
        if (rec.diskBytes() > 0 || Files.exists(dir.resolve(rec.diskTop()))) layers.add(frozenName);
        var moved = new MachineRecord(rec.spec(), rec.imageName(), rec.imageKey(), rec.accelerator(),
                rec.machineOptions(), succ.argv(), successor.pid(), rec.diskBytes(), QemuCommand.ROOT_DISK_NODE, layers,
                rec.snapshotId(), layers.size() > rec.diskLayers().size() ? nextTopName : rec.diskTop());
        try {
            m.rehome(successor, sq, moved);
        } catch (IOException | RuntimeException e) {
            splice.cancel(); // writes must not wait forever; the reader ends with the old socket
            throw e;
        }
        for (String s : List.of(QemuCommand.QMP_SOCKET, QemuCommand.AGENT_SOCKET)) Files.deleteIfExists(dir.resolve(s + OLD));
        // the old QEMU is killed: its socket's stream ends, the reader goes on with the successor's
        splice.commit(Instant.now().plus(QMP_TIMEOUT), m.exitFuture());
        return pauseMs;
    }

    /** Puts a new top layer over the root disk while the VM is stopped (the old top becomes immutable). */
    private static final class DiskFreeze {
        final boolean disk;
        final Qmp qmp;
        final String node, newNode;
        final Path nextTop;
        boolean added, switched;

        DiskFreeze(boolean disk, Qmp qmp, String node, String newNode, Path nextTop) {
            this.disk = disk;
            this.qmp = qmp;
            this.node = node;
            this.newNode = newNode;
            this.nextTop = nextTop;
        }

        /** Opens the new top while the VM still runs, so the pause only swaps it in. */
        void prepare() throws InterruptedException {
            if (!disk) return;
            qmp.execute("blockdev-add", Map.of("driver", "qcow2", "node-name", newNode,
                    "file", Map.of("driver", "file", "filename", nextTop.toString()), "backing", NULL));
            added = true;
        }

        /** Call with the VM stopped. */
        void freeze() throws InterruptedException {
            if (!disk) return;
            qmp.execute("blockdev-snapshot", Map.of("node", node, "overlay", newNode));
            switched = true;
        }

        void undo() {
            if (added && !switched) dropNode(qmp, newNode);
        }
    }

    /**
     * A VM whose RAM is a shared file (a launched VM): stop, freeze the disk, save the
     * device state only ({@code x-ignore-shared}), copy the RAM file sparsely, resume.
     *
     * @return the pause in ms
     */
    private double captureByCopy(QemuMachine m, Path tmp, DiskFreeze freeze) throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        Instant deadline = Instant.now().plus(MIGRATION_TIMEOUT);
        Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", true, "pause-before-switchover", false));
        freeze.prepare();
        long t0 = 0;
        try {
            faultHook.at("migrate");
            qmp.execute("stop");
            t0 = System.nanoTime();
            freeze.freeze();
            faultHook.at("state");
            new Migration(qmp).saveTo(tmp.resolve(SnapshotManifest.STATE), tmp.resolve("state.sock"), deadline,
                    m.exitFuture());
            ProcessRunner.run(List.of("cp", "--sparse=always", "--reflink=auto",
                    m.dir().resolve(QemuCommand.MEMORY_FILE).toString(), tmp.resolve(SnapshotManifest.MEM).toString()),
                    MIGRATION_TIMEOUT);
            Migration.cont(qmp, CONT_RETRY);
            return (System.nanoTime() - t0) / 1e6;
        } catch (RuntimeException | InterruptedException | IOException e) {
            resumeAfterFailure(m, qmp);
            freeze.undo();
            throw e;
        }
    }

    /**
     * A VM on a private RAM mapping (a clone): migrate it, stopped, into a capture QEMU whose
     * RAM is a shared file in the snapshot, save the capture's device state, resume the VM.
     * (A live precopy would pause ~15–20 ms, but QEMU 7.2's TCG dirty tracking loses guest
     * writes during it — fixed upstream in QEMU 9.0, commit 03bfc2188f; docs/vmm.md — so the
     * VM is stopped for the copy.)
     *
     * @return the pause in ms
     */
    private double captureByMigration(QemuMachine m, QemuCommand source, Path tmp, DiskFreeze freeze)
            throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        Path capDir = tmp.resolve("c");
        Files.createDirectory(capDir);
        Path scratch = capDir.resolve("scratch.qcow2");
        if (freeze.disk) Overlay.createBlank(scratch, m.record().diskBytes());
        QemuCommand capCmd = source.forCapture(capDir, tmp.resolve(SnapshotManifest.MEM), scratch);
        Process cap = ProcessRunner.spawnDetached(capCmd.argv(), capDir.resolve("qemu.log"));
        Files.writeString(capDir.resolve("pid"), Long.toString(cap.pid()));
        double pauseMs;
        try (Qmp capQmp = Qmp.connect(capDir.resolve(QemuCommand.QMP_SOCKET), Instant.now().plus(QMP_TIMEOUT), cap.onExit())) {
            Instant deadline = Instant.now().plus(MIGRATION_TIMEOUT);
            Migration.capabilities(capQmp, Map.of("events", true, "x-ignore-shared", false));
            Migration incoming = new Migration(capQmp);
            incoming.listen(capDir.resolve("mig.sock"));
            Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", false,
                    "pause-before-switchover", false));
            qmp.execute("migrate-set-parameters", Map.of("max-bandwidth", 8L << 30, "downtime-limit", 20));
            Migration out = new Migration(qmp);
            freeze.prepare();
            try {
                faultHook.at("migrate");
                qmp.execute("stop");
                long t0 = System.nanoTime();
                freeze.freeze();
                qmp.execute("migrate", Map.of("uri", "unix:" + capDir.resolve("mig.sock")));
                out.await(Set.of("completed"), deadline, m.exitFuture());
                Migration.cont(qmp, CONT_RETRY);
                pauseMs = (System.nanoTime() - t0) / 1e6;
            } catch (RuntimeException | InterruptedException | IOException e) {
                resumeAfterFailure(m, qmp);
                freeze.undo();
                throw e;
            } finally {
                out.close();
            }
            incoming.await(Set.of("completed"), deadline, cap.onExit());
            incoming.close();
            Migration.capabilities(capQmp, Map.of("x-ignore-shared", true));
            faultHook.at("state");
            new Migration(capQmp).saveTo(tmp.resolve(SnapshotManifest.STATE), capDir.resolve("state.sock"), deadline,
                    cap.onExit());
            return pauseMs;
        } catch (QmpException e) {
            if (!cap.isAlive()) {
                throw new SnapshotFailedException("the capture QEMU died (exit " + cap.exitValue() + "): "
                        + tail(capDir.resolve("qemu.log")), e);
            }
            throw e;
        } finally {
            cap.destroyForcibly();
            cap.waitFor();
            FileTrees.deleteQuietly(capDir);
        }
    }

    private static final Object NULL = com.fasterxml.jackson.databind.node.NullNode.getInstance();

    /** After a failed migration: cancel it and let the source run again, whatever state it is in. */
    private static void resumeAfterFailure(QemuMachine m, Qmp qmp) {
        try {
            qmp.execute("migrate_cancel");
            String status = qmp.execute("query-status").path("status").asText();
            if (!"running".equals(status)) Migration.cont(qmp, CONT_RETRY);
        } catch (RuntimeException | InterruptedException e) {
            LOG.log(Level.WARNING, "machine {0}: could not resume after a failed snapshot: {1}", m.id(), e.toString());
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        }
    }

    private static void dropNode(Qmp qmp, String node) {
        try {
            qmp.execute("blockdev-del", Map.of("node-name", node));
        } catch (RuntimeException | InterruptedException e) {
            LOG.log(Level.WARNING, "cannot remove block node {0}: {1}", node, e.toString());
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        }
    }

    /** The command describing the running VM (paths of its current disk chain). */
    private QemuCommand sourceCommand(QemuMachine m, MachineRecord rec) {
        Path dir = m.dir();
        boolean hasDisk = rec.diskBytes() > 0 || Files.exists(dir.resolve(rec.diskTop()));
        List<Path> layers = rec.diskLayers().stream().map(dir::resolve).toList();
        return new QemuCommand(engine.config().qemuBinary(), rec.accelerator(), rec.machineOptions(), rec.spec().vcpus(),
                rec.spec().memoryMib(), dir, dir.resolve(QemuCommand.MEMORY_FILE), true, null, null, null,
                hasDisk ? dir.resolve(rec.diskTop()) : null, layers, true, false);
    }

    // ---- restore ----------------------------------------------------------------------

    /**
     * A QEMU started with a snapshot's restore argv, QMP negotiated, listening for the state; or,
     * once {@link #warmUp warmed up}, with the state loaded, the guest run once and stopped again,
     * and its agent channel open ({@code agent} and {@code label} are null until then).
     *
     * @param label what the agent channel calls this machine in errors (a pool entry, then the clone)
     */
    record Prepared(String snapshotId, Path dir, Process process, QemuCommand command, Qmp qmp, Migration incoming,
                    AgentChannel agent, AtomicReference<String> label) {
        Prepared(String snapshotId, Path dir, Process process, QemuCommand command, Qmp qmp, Migration incoming) {
            this(snapshotId, dir, process, command, qmp, incoming, null, null);
        }

        boolean warm() {
            return agent != null;
        }

        void kill() {
            if (agent != null) agent.close();
            qmp.close();
            process.destroyForcibly();
            try {
                process.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            FileTrees.deleteQuietly(dir);
        }
    }

    /** Checks a snapshot against this engine; throws {@link SnapshotIncompatibleException} naming the difference. */
    SnapshotManifest compatible(String id) throws InterruptedException {
        Path dir = snapshotsDir.resolve(id);
        if (!Files.isRegularFile(dir.resolve(SnapshotManifest.FILE))) {
            throw new NoSuchSnapshotException("snapshot '" + id + "' does not exist");
        }
        SnapshotManifest man = SnapshotManifest.read(dir);
        if (man.format() != SnapshotManifest.FORMAT) {
            throw new SnapshotIncompatibleException("snapshot " + id + ": manifest format " + man.format()
                    + ", this engine reads " + SnapshotManifest.FORMAT);
        }
        if (!man.qemuVersion().equals(engine.qemuVersion())) {
            throw new SnapshotIncompatibleException("snapshot " + id + " was taken with '" + man.qemuVersion()
                    + "', this engine runs '" + engine.qemuVersion() + "'");
        }
        if (man.accelerator() != engine.accelerator()) {
            throw new SnapshotIncompatibleException("snapshot " + id + " was taken on " + man.accelerator()
                    + ", this engine runs " + engine.accelerator());
        }
        if (engine.imageBuild(man.imageName(), man.imageKey()).isEmpty()) {
            throw new SnapshotIncompatibleException("snapshot " + id + " needs build " + man.imageKey() + " of image "
                    + man.imageName() + ", which is no longer in the image cache; this engine builds "
                    + engine.image(man.imageName()).key());
        }
        return man;
    }

    /** Starts a restore QEMU for snapshot {@code man} in {@code dir} (created here). */
    Prepared prepare(SnapshotManifest man, Path dir, long diskBytes) throws InterruptedException {
        Path snap = snapshotsDir.resolve(man.id());
        Process proc = null;
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException("id: a VM named '" + dir.getFileName() + "' already exists in " + dir.getParent());
        } catch (IOException e) {
            throw new VmmException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        try {
            dirLock.readLock().lock();
            try {
                Files.createLink(dir.resolve(QemuCommand.MEMORY_FILE), snap.resolve(SnapshotManifest.MEM));
                for (String l : man.diskLayers()) Files.createLink(dir.resolve(l), snap.resolve(l));
                if (man.hasRootDisk()) {
                    // the snapshot's size: the guest's device state has it; a bigger disk is a block_resize after cont
                    Files.copy(snap.resolve(SnapshotManifest.OVERLAY), dir.resolve(MachineRecord.layerName(man.diskLayers().size())));
                }
            } catch (NoSuchFileException e) {
                throw new NoSuchSnapshotException("snapshot '" + man.id() + "' was deleted during the restore");
            } finally {
                dirLock.readLock().unlock();
            }
            GuestImage img = engine.imageBuild(man.imageName(), man.imageKey()).orElseThrow(
                    () -> new SnapshotIncompatibleException("snapshot " + man.id() + ": its image build "
                            + man.imageKey() + " left the image cache"));
            QemuCommand cmd = new QemuCommand(engine.config().qemuBinary(), man.accelerator(), img.machineOptions(),
                    man.vcpus(),
                    man.memoryMib(), dir, dir.resolve(QemuCommand.MEMORY_FILE), false, null, null, null,
                    man.hasRootDisk() ? dir.resolve(MachineRecord.layerName(man.diskLayers().size())) : null,
                    man.diskLayers().stream().map(dir::resolve).toList(), true, false);
            if (!cmd.shape().equals(man.shape())) {
                throw new SnapshotIncompatibleException("snapshot " + man.id() + " has machine shape '" + man.shape()
                        + "', this engine builds '" + cmd.shape() + "'");
            }
            proc = ProcessRunner.spawnDetached(cmd.argv(), dir.resolve("qemu.log"));
            Files.writeString(dir.resolve("pid"), Long.toString(proc.pid()));
            Qmp qmp = Qmp.connect(dir.resolve(QemuCommand.QMP_SOCKET), Instant.now().plus(QMP_TIMEOUT), proc.onExit());
            Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", true));
            Migration incoming = new Migration(qmp);
            incoming.listen(dir.resolve("mig.sock"));
            return new Prepared(man.id(), dir, proc, cmd, qmp, incoming);
        } catch (IOException e) {
            kill(proc);
            FileTrees.deleteQuietly(dir);
            throw new VmmException("cannot prepare a restore of " + man.id() + " in " + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException | InterruptedException e) {
            kill(proc);
            FileTrees.deleteQuietly(dir);
            throw e;
        }
    }

    /**
     * Readies a pre-spawned QEMU for a near-instant restore: loads the snapshot's state, runs
     * the guest until its agent has answered HELLO and one exec, then stops it. Under TCG a
     * restored guest's first exec costs ~80 ms of code translation (7 ms later on); paid here,
     * in the background, the claimed clone only needs {@code cont} and its new identity. The
     * guest ran for a moment, as any restored VM does before its first command; its clock,
     * entropy and hostname are renewed when it is claimed.
     */
    Prepared warmUp(Prepared p, SnapshotManifest man) throws InterruptedException {
        AgentChannel agent = null;
        try { // any failure kills the QEMU: e.g. the snapshot deleted meanwhile (its state is gone)
            hook("warm-up");
            byte[] state = readState(man);
            Instant deadline = Instant.now().plus(RESTORE_HELLO_TIMEOUT);
            var label = new AtomicReference<>("pre-spawned clone of " + man.id());
            long pid = p.process().pid();
            CompletableFuture<Process> exit = p.process().onExit();
            agent = AgentChannel.connectEarly(p.dir().resolve(QemuCommand.AGENT_SOCKET), deadline, exit,
                    e -> QemuMachine.deathMapper(label.get(), pid, exit).apply(e));
            Migration.feed(p.dir().resolve("mig.sock"), state);
            p.incoming().await(Set.of("completed"), deadline, exit);
            p.incoming().close();
            Migration.cont(p.qmp(), CONT_RETRY);
            agent.awaitHello(deadline, exit);
            ExecResult r = agent.exec(ExecRequest.of("true"));
            if (r.exitCode() != 0) throw new VmmException("warm-up exec of 'true' exited " + r.exitCode());
            p.qmp().execute("stop");
            return new Prepared(p.snapshotId(), p.dir(), p.process(), p.command(), p.qmp(), p.incoming(), agent, label);
        } catch (RuntimeException | InterruptedException e) {
            if (agent != null) agent.close();
            p.kill();
            throw e;
        }
    }

    /** {@link #faultHook} where only unchecked failures can leave. */
    private static void hook(String step) {
        try {
            faultHook.at(step);
        } catch (IOException e) {
            throw new VmmException(step + ": " + e.getMessage(), e);
        }
    }

    private static void kill(Process p) {
        if (p == null) return;
        p.destroyForcibly();
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    QemuMachine restore(String id, RestoreSpec spec) throws InterruptedException {
        SnapshotManifest man = compatible(id);
        String vmId = spec.id() != null ? spec.id() : "vm-" + hex(6);
        String hostname = spec.hostname() != null ? spec.hostname() : vmId;
        long wantDisk = spec.diskGib() == 0 ? man.diskBytes() : (long) spec.diskGib() << 30;
        if (man.hasRootDisk() && wantDisk < man.diskBytes()) {
            throw new IllegalArgumentException("diskGib: " + spec.diskGib() + " GiB is smaller than snapshot " + id
                    + "'s disk (" + (man.diskBytes() >> 20) + " MiB); disks only grow");
        }
        Path dir = vmsDir.resolve(vmId);
        if (Files.exists(dir)) throw new IllegalArgumentException("id: a VM named '" + vmId + "' already exists in " + vmsDir);
        Prepared p = wantDisk == man.diskBytes() ? pool.claim(id, dir) : null; // pool entries are warmed up
        byte[] state = null;
        if (p == null) {
            state = readState(man); // before a QEMU starts: a corrupt state is refused at once
            p = prepare(man, dir, wantDisk);
        }
        QemuMachine m = null;
        try {
            var mspec = new MachineSpec(vmId, man.imageName(), man.vcpus(), man.memoryMib(),
                    man.hasRootDisk() ? (int) (wantDisk >> 30) : 0, hostname);
            var rec = new MachineRecord(mspec, man.imageName(), man.imageKey(), man.accelerator(),
                    p.command().machineOptions(), p.command().argv(),
                    p.process().pid(), man.hasRootDisk() ? wantDisk : 0, QemuCommand.ROOT_DISK_NODE,
                    man.diskLayers(), id, null);
            m = new QemuMachine(dir, rec, p.process().toHandle(), p.process().onExit());
            if (p.warm()) { // state loaded and the guest's code translated in the pool: resume, renew identity
                p.label().set("machine " + vmId);
                m.adopt(p.qmp(), p.agent());
                long t0 = System.nanoTime();
                Migration.cont(p.qmp(), CONT_RETRY);
                long tCont = System.nanoTime();
                join(reidentify(p.agent(), hostname));
                rec.write(dir);
                LOG.log(Level.INFO, "restored {0} from {1} (warmed up, pid {2}): cont {3} ms, re-identified {4} ms",
                        vmId, id, p.process().pid(), (tCont - t0) / 1_000_000, (System.nanoTime() - tCont) / 1_000_000);
                pool.restored(id);
                return m;
            }
            Instant deadline = Instant.now().plus(RESTORE_HELLO_TIMEOUT);
            AgentChannel agent = AgentChannel.connectEarly(dir.resolve(QemuCommand.AGENT_SOCKET), deadline,
                    m.exitFuture(), QemuMachine.deathMapper("machine " + vmId, p.process().pid(), m.exitFuture()));
            m.adopt(p.qmp(), agent);
            long t0 = System.nanoTime();
            Migration.feed(dir.resolve("mig.sock"), state);
            try {
                p.incoming().await(Set.of("completed"), deadline, m.exitFuture());
            } catch (QmpException e) {
                throw new SnapshotIncompatibleException("QEMU refused the state of snapshot " + id + ": "
                        + e.getMessage() + "\n--- qemu.log ---\n" + tail(dir.resolve("qemu.log")), e);
            } finally {
                p.incoming().close();
            }
            long tLoaded = System.nanoTime();
            Migration.cont(p.qmp(), CONT_RETRY);
            long tCont = System.nanoTime();
            // sent right away: the agent answers them after the HELLO for our HELLO_REQ, one round trip saved
            CompletableFuture<Void> identity = reidentify(agent, hostname);
            try {
                agent.awaitHello(deadline, m.exitFuture());
            } catch (VmmException e) {
                throw new VmmException("clone " + vmId + " of " + id + ": " + e.getMessage() + "; status "
                        + p.qmp().execute("query-status").path("status").asText() + "\n--- qemu.log ---\n"
                        + tail(dir.resolve("qemu.log")) + "\n--- console.log ---\n" + tail(dir.resolve(QemuCommand.CONSOLE_LOG)), e);
            }
            long tHello = System.nanoTime();
            join(identity);
            long tIdent = System.nanoTime();
            if (man.hasRootDisk() && wantDisk > man.diskBytes()) growDisk(p.qmp(), agent, man.diskBytes(), wantDisk);
            rec.write(dir);
            LOG.log(Level.INFO, "restored {0} from {1} ({2}, pid {3}): state loaded {4} ms, cont {5} ms, HELLO {6} ms,"
                    + " re-identified {7} ms", vmId, id, "cold", p.process().pid(),
                    (tLoaded - t0) / 1_000_000, (tCont - tLoaded) / 1_000_000, (tHello - tCont) / 1_000_000,
                    (tIdent - tHello) / 1_000_000);
            pool.restored(id); // refill after, not during, this restore: both want the CPU
            return m;
        } catch (RuntimeException | InterruptedException | Error e) {
            cleanUp(m, p);
            throw e;
        }
    }

    private static void cleanUp(QemuMachine m, Prepared p) {
        if (m != null) m.stopProcess();
        p.kill();
    }

    /** How long the guest may take to notice a resized disk (a config interrupt, handled asynchronously). */
    private static final Duration RESIZE_NOTICE = Duration.ofSeconds(10);

    /**
     * Grows a clone's disk: {@code block_resize} (the guest gets a config-change interrupt),
     * then GROW_ROOTFS until the guest sees the new size (it offers no event for it).
     */
    private static void growDisk(Qmp qmp, AgentChannel agent, long from, long bytes) throws InterruptedException {
        qmp.execute("block_resize", Map.of("node-name", QemuCommand.ROOT_DISK_NODE, "size", bytes));
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
        var time = CompletableFuture.runAsync(() -> call(() -> agent.setTime(Instant.now())), Thread::startVirtualThread);
        var rng = CompletableFuture.runAsync(() -> call(() -> agent.addEntropy(entropy)), Thread::startVirtualThread);
        var name = CompletableFuture.runAsync(() -> call(() -> agent.setHostname(hostname)), Thread::startVirtualThread);
        return CompletableFuture.allOf(time, rng, name);
    }

    private static void join(CompletableFuture<Void> f) throws InterruptedException {
        try {
            f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof VmmException v ? v : new VmmException("re-identifying the clone failed", e.getCause());
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

    private byte[] readState(SnapshotManifest man) {
        Path f = snapshotsDir.resolve(man.id()).resolve(SnapshotManifest.STATE);
        try {
            byte[] b = Files.readAllBytes(f);
            if (!sha256(b).equals(man.stateSha256())) {
                throw new SnapshotIncompatibleException("snapshot " + man.id() + ": state file checksum mismatch (corrupt)");
            }
            return b;
        } catch (NoSuchFileException e) {
            throw new NoSuchSnapshotException("snapshot '" + man.id() + "' does not exist");
        } catch (IOException e) {
            throw new VmmException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    // ---- helpers ----------------------------------------------------------------------

    Path snapshotDir(String id) {
        return snapshotsDir.resolve(id);
    }

    private static void killCaptureIn(Path tmp) {
        Path pid = tmp.resolve("c").resolve("pid");
        try {
            if (!Files.isRegularFile(pid)) return;
            long p = Long.parseLong(Files.readString(pid).strip());
            ProcessHandle.of(p).filter(h -> h.info().command().orElse("").contains("qemu")).ifPresent(h -> {
                h.destroyForcibly();
                h.onExit().join();
            });
        } catch (IOException | NumberFormatException e) {
            LOG.log(Level.DEBUG, "stale capture pid in {0}: {1}", tmp, e.toString());
        }
    }

    static String tail(Path file) {
        try {
            byte[] b = Files.readAllBytes(file);
            int from = Math.max(0, b.length - 8000);
            return new String(b, from, b.length - from, java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(" + file.getFileName() + " unreadable)";
        }
    }

    static String hex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Blocks really allocated to a sparse file (the JDK has no st_blocks). */
    private static long allocatedBytes(Path f) throws InterruptedException {
        String[] v = ProcessRunner.run(List.of("stat", "-c", "%b %B", f.toString()), Duration.ofSeconds(10))
                .lastStdoutLine().split(" ");
        return Long.parseLong(v[0]) * Long.parseLong(v[1]);
    }

    private static void fsync(Path f) throws IOException {
        try (FileChannel c = FileChannel.open(f, StandardOpenOption.WRITE)) {
            c.force(true);
        }
    }

    private static void fsyncDir(Path d) throws IOException {
        try (FileChannel c = FileChannel.open(d, StandardOpenOption.READ)) {
            c.force(true);
        }
    }

    @Override
    public void close() {
        pool.close();
    }

    /** For the pool: a copy of the manifest map so warm entries are spawned with what restores check. */
    Map<String, SnapshotManifest> manifests() {
        Map<String, SnapshotManifest> out = new LinkedHashMap<>();
        for (VmSnapshot s : list()) out.put(s.id(), SnapshotManifest.read(s.dir()));
        return out;
    }
}
