package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import org.fastvm.vmm.image.GuestImage;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.QemuVersion;

/**
 * The microVM engine's facade: launches VMs from guest images, reattaches to VMs started
 * by an earlier process, and reports the accelerator in use. VMs live in
 * {@code <dataDir>/vms/<id>/} and run in their own session, so they outlive this engine:
 * {@link #close()} disconnects without stopping them.
 */
public final class Engine implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Engine.class.getName());
    private static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    /** QMP is up milliseconds after QEMU starts; this only bounds a QEMU stuck in start-up. */
    private static final Duration QMP_CONNECT_TIMEOUT = Duration.ofSeconds(15);
    /** An attached VM's agent answers HELLO right away (it is already running). */
    private static final Duration ATTACH_HELLO_TIMEOUT = Duration.ofSeconds(15);

    private static final String PID_FILE = "pid", QEMU_LOG = "qemu.log";

    private final EngineConfig config;
    private final Path vmsDir;
    private final Map<String, GuestImage> images = new ConcurrentHashMap<>();
    private final ReentrantLock imageLock = new ReentrantLock();
    private final Map<String, QemuMachine> machines = new ConcurrentHashMap<>();
    private volatile Accelerator accelerator;
    private QemuVersion qemuVersion;
    private SnapshotStore store;
    private SnapshotCapture capture;
    private WarmPool pool;
    private Restorer restorer;
    private BaseSnapshots bases;

    private Engine(EngineConfig config) {
        this.config = config;
        this.vmsDir = config.dataDir().resolve("vms");
    }

    /**
     * Opens an engine: creates the data dirs and settles the accelerator (forced by the
     * config, cached for this host, or probed — a probe boots a tiny VM on KVM once).
     */
    public static Engine open(EngineConfig config) throws InterruptedException {
        return open(config, FaultHook.NONE);
    }

    /** Opens an engine whose snapshot, re-home, restore and warm-up steps call {@code faults} (tests inject failures). */
    public static Engine open(EngineConfig config, FaultHook faults) throws InterruptedException {
        if (config.dataDir().toString().contains(",")) {
            throw new IllegalArgumentException(
                    "dataDir: must not contain ',' (QEMU option syntax): " + config.dataDir());
        }
        try {
            Files.createDirectories(config.dataDir().resolve("vms"));
            Files.createDirectories(config.cacheDir());
        } catch (IOException e) {
            throw new VmmException("cannot create data dir " + config.dataDir() + ": " + e.getMessage(), e);
        }
        Engine engine = new Engine(config);
        try {
            engine.qemuVersion =
                    QemuVersion.query(config.qemuBinary(), config.dataDir().resolve("qemu-version"));
        } catch (VmmException e) { // the engine still opens: launches then fail with QEMU's own words
            LOG.log(Level.WARNING, "cannot read the version of {0}: {1}", config.qemuBinary(), e.getMessage());
            engine.qemuVersion = QemuVersion.UNKNOWN;
        }
        engine.accelerator = new AcceleratorProbe(engine).choose(config.accel());
        boolean live = config.liveSnapshots() && engine.qemuVersion.livePrecopySafe(engine.accelerator);
        engine.store = new SnapshotStore(engine, config.dataDir().resolve("snapshots"));
        engine.capture = new SnapshotCapture(engine, engine.store, faults, live);
        engine.pool = new WarmPool(
                (id, dir) -> engine.restorer.prepareWarm(id, dir),
                config.dataDir().resolve("pool"),
                config);
        engine.restorer = new Restorer(engine, engine.store, engine.pool, faults);
        engine.bases = new BaseSnapshots(engine, engine.store, engine.capture, engine.restorer, engine.pool);
        if (config.launchFromBase()) engine.bases.markHot();
        LOG.log(
                Level.INFO,
                "FastVM engine: data {0}, {1}, accelerator {2}, later snapshots {3}",
                config.dataDir(),
                engine.qemuVersion.describe(),
                engine.accelerator,
                live
                        ? "live (precopy)"
                        : "stopped for the copy"
                                + (config.liveSnapshots()
                                        ? " (this QEMU loses TCG writes" + " during a live copy before "
                                                + QemuVersion.TCG_DIRTY_TRACKING_FIXED.number() + ")"
                                        : " (configured)"));
        return engine;
    }

    /** {@return the accelerator VMs run with} */
    public Accelerator accelerator() {
        return accelerator;
    }

    /** {@return the QEMU this engine runs (asked with QMP {@code query-version} at open)} */
    public QemuVersion qemuVersion() {
        return qemuVersion;
    }

    /** {@return whether later snapshots of a VM copy its RAM while it runs (see {@link QemuVersion#livePrecopySafe})} */
    public boolean liveSnapshots() {
        return capture.livePrecopy();
    }

    /** {@return where VM dirs live} */
    Path vmsDir() {
        return vmsDir;
    }

    /** {@return the configuration this engine was opened with} */
    public EngineConfig config() {
        return config;
    }

    /**
     * The exact build {@code key} of image {@code name}: the current one, or an earlier build
     * still in the cache. Snapshots and their clones need the build they were taken on (the
     * root disk's bottom layer is that build's {@code rootfs.ext4}, the machine options come
     * from its {@code image.json}), so an upgrade that changes the image keeps old snapshots
     * restorable as long as their build's directory is kept.
     *
     * @return the image, or empty when that build is no longer in the cache
     */
    Optional<GuestImage> imageBuild(String name, String key) throws InterruptedException {
        GuestImage current = image(name);
        if (current.key().equals(key)) return Optional.of(current);
        // guest/image/build publishes every build as <data>/images/<name>-<key>
        Path dir = config.cacheDir().resolve("images").resolve(name + "-" + key);
        if (!Files.isRegularFile(dir.resolve("image.json"))) return Optional.empty();
        GuestImage old = GuestImage.load(dir);
        return old.key().equals(key) && old.name().equals(name) ? Optional.of(old) : Optional.empty();
    }

    /**
     * Builds (or finds in the cache) a guest image; the first call for a name may take a
     * while (the debian image runs debootstrap once per host).
     */
    public GuestImage image(String name) throws InterruptedException {
        GuestImage img = images.get(name);
        if (img != null) return img;
        imageLock.lock();
        try {
            img = images.get(name);
            if (img == null) {
                img = GuestImage.build(config.resolveFastvmHome(), name, config.cacheDir());
                images.put(name, img);
            }
            return img;
        } finally {
            imageLock.unlock();
        }
    }

    /**
     * Boots a VM and waits until its agent says HELLO; grows the root filesystem to
     * {@code diskGib} and sets the hostname.
     * <p>
     * With {@link EngineConfig#launchFromBase()}, each image build is booted once per machine
     * shape (vCPUs, memory): when a <i>base snapshot</i> of that build and shape exists, the
     * launch restores it instead (the VM gets its own hostname, clock and entropy; a bigger
     * {@code diskGib} grows the disk after the restore), in milliseconds instead of a boot. A
     * launch that finds no base boots and, where later snapshots are live ({@link
     * #liveSnapshots()}), leaves the base. See {@link BaseSnapshots}.
     *
     * @throws IllegalArgumentException when the id is taken or the disk is smaller than the image
     * @throws BootFailedException      when QEMU exits early or the agent does not answer in time
     */
    public Machine launch(MachineSpec spec) throws InterruptedException {
        String id = spec.id() != null ? spec.id() : "vm-" + Ids.random(6);
        MachineSpec full = new MachineSpec(
                id,
                spec.image(),
                spec.vcpus(),
                spec.memoryMib(),
                spec.diskGib(),
                spec.hostname() != null ? spec.hostname() : id);
        return config.launchFromBase() ? bases.launch(full) : launch(full, accelerator, config.bootTimeout(), vmsDir);
    }

    /**
     * {@return the root disk a launch of {@code spec} gets (0 without one)}
     * @throws IllegalArgumentException when {@code diskGib} is smaller than the image's root disk
     */
    static long rootDiskBytes(GuestImage img, MachineSpec spec) {
        if (img.rootDisk() == null) return 0;
        long imageBytes = img.rootDiskBytes();
        long want = spec.diskGib() == 0 ? imageBytes : (long) spec.diskGib() << 30;
        if (want < imageBytes) {
            throw new IllegalArgumentException("diskGib: " + spec.diskGib() + " GiB is smaller than the " + img.name()
                    + " image's root disk (" + (imageBytes >> 20) + " MiB)");
        }
        return want;
    }

    /** Launches with an explicit accelerator, boot timeout and parent dir (the probe uses this too). */
    QemuMachine launch(MachineSpec spec, Accelerator accel, Duration bootTimeout, Path parent)
            throws InterruptedException {
        String id = spec.id() != null ? spec.id() : "vm-" + Ids.random(6);
        MachineSpec full = new MachineSpec(
                id,
                spec.image(),
                spec.vcpus(),
                spec.memoryMib(),
                spec.diskGib(),
                spec.hostname() != null ? spec.hostname() : id);
        GuestImage img = image(full.image());
        Path dir = parent.resolve(id);
        try {
            Files.createDirectories(parent);
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException("id: a VM named '" + id + "' already exists in " + parent);
        } catch (IOException e) {
            throw new VmmException("cannot create VM dir " + dir + ": " + e.getMessage(), e);
        }
        Instant started = Instant.now();
        Process proc = null;
        QemuMachine m = null;
        try {
            Path disk = null;
            long diskBytes = 0;
            if (img.rootDisk() != null) {
                long want = rootDiskBytes(img, full);
                disk = dir.resolve("root.qcow2");
                Overlay.create(disk, img.rootDisk(), "raw", want);
                diskBytes = want;
            }
            String append = QemuCommand.kernelCmdline(accel, full.hostname(), img.kernelCmdline());
            QemuCommand cmd = QemuCommand.boot(
                    config.qemuBinary(),
                    accel,
                    img.machineOptions(),
                    full.vcpus(),
                    full.memoryMib(),
                    dir,
                    img.kernel(),
                    img.initrd(),
                    append,
                    disk);
            long prepMs = Duration.between(started, Instant.now()).toMillis();
            proc = ProcessRunner.spawnDetached(cmd.argv(), dir.resolve(QEMU_LOG));
            Files.writeString(dir.resolve(PID_FILE), Long.toString(proc.pid()));
            var record = new MachineRecord(
                    full,
                    img.name(),
                    img.key(),
                    accel,
                    img.machineOptions(),
                    cmd.argv(),
                    proc.pid(),
                    diskBytes,
                    null,
                    List.of(),
                    null,
                    null);
            record.write(dir);
            m = new QemuMachine(dir, record, proc.toHandle(), proc.onExit());
            m.connect(Instant.now().plus(QMP_CONNECT_TIMEOUT), started.plus(bootTimeout));
            if (disk != null && full.diskGib() != 0) m.agent().growRootfs();
            AgentInfo hello = m.agentInfo();
            if (!full.hostname().equals(hello.hostname())) m.agent().setHostname(full.hostname());
            LOG.log(
                    Level.INFO,
                    "machine {0} up in {1} ms (prepare {2} ms, QMP {3} ms, HELLO {4} ms; pid {5}, {6}, {7})",
                    id,
                    Duration.between(started, Instant.now()).toMillis(),
                    prepMs,
                    m.qmpReadyMs(),
                    m.helloMs(),
                    proc.pid(),
                    accel,
                    hello.version());
            if (parent.equals(vmsDir)) track(m);
            return m;
        } catch (IOException e) {
            throw cleanUp(m, proc, dir, new VmmException("cannot write to " + dir + ": " + e.getMessage(), e));
        } catch (InterruptedException e) {
            throw cleanUp(m, proc, dir, e);
        } catch (IllegalArgumentException | ProcessFailedException e) {
            throw cleanUp(m, proc, dir, e);
        } catch (VmmException e) {
            String why = proc != null && !proc.isAlive() ? "QEMU exited with " + proc.exitValue() : e.getMessage();
            BootFailedException b = new BootFailedException(
                    "machine " + id + " did not boot: " + why
                            + "\n--- qemu.log ---\n" + FileOps.tail(dir.resolve(QEMU_LOG)) + "\n--- console.log ---\n"
                            + FileOps.tail(dir.resolve(QemuCommand.CONSOLE_LOG)),
                    e);
            throw cleanUp(m, proc, dir, b);
        } catch (RuntimeException e) { // never leave a QEMU behind, whatever broke
            throw cleanUp(m, proc, dir, e);
        } catch (Error e) {
            throw cleanUp(m, proc, dir, e);
        }
    }

    private static <T extends Throwable> T cleanUp(QemuMachine m, Process proc, Path dir, T error) {
        if (m != null) {
            m.stopProcess();
        } else if (proc != null) {
            proc.destroyForcibly();
            try {
                proc.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        FileOps.deleteQuietly(dir);
        return error;
    }

    /**
     * Reattaches to a VM that an earlier engine process launched (e.g. after a server
     * restart): reads its pid, checks the process is that VM's QEMU, connects QMP and the
     * agent (which says HELLO on every connect).
     *
     * @return the machine, or empty when there is no such VM or its QEMU is gone
     */
    public Optional<Machine> attach(String id) throws InterruptedException {
        requireId(id);
        QemuMachine known = machines.get(id);
        if (known != null && known.isAlive()) return Optional.of(known);
        Path dir = vmsDir.resolve(id);
        try {
            if (Files.isRegularFile(dir.resolve(MachineRecord.FILE))) Rehome.recover(dir);
        } catch (IOException e) {
            throw new VmmException("machine " + id + ": cannot finish an interrupted re-home: " + e.getMessage(), e);
        }
        // No record: a launch or restore that never finished (its engine died); not a VM to attach.
        if (!Files.isRegularFile(dir.resolve(MachineRecord.FILE))) return Optional.empty();
        Optional<ProcessHandle> proc = liveQemu(dir);
        if (proc.isEmpty()) return Optional.empty();
        MachineRecord record = MachineRecord.read(dir);
        var m = new QemuMachine(dir, record, proc.get(), proc.get().onExit());
        Instant now = Instant.now();
        try {
            m.connect(now.plus(QMP_CONNECT_TIMEOUT), now.plus(ATTACH_HELLO_TIMEOUT), true);
        } catch (VmmException e) {
            m.detach();
            if (!proc.get().isAlive()) return Optional.empty();
            throw e;
        }
        track(m);
        return Optional.of(m);
    }

    /** {@return the ids of every VM dir under {@code <dataDir>/vms/} (running or not)} */
    public List<String> machineIds() {
        List<String> ids = new ArrayList<>();
        try (var s = Files.list(vmsDir)) {
            s.filter(Files::isDirectory)
                    .map(p -> p.getFileName().toString())
                    .filter(n -> ID.matcher(n).matches())
                    .sorted()
                    .forEach(ids::add);
        } catch (IOException e) {
            throw new VmmException("cannot list " + vmsDir + ": " + e.getMessage(), e);
        }
        return ids;
    }

    /**
     * Removes a VM that may not be attached (e.g. its QEMU died while no engine ran):
     * SIGKILLs its QEMU if it still runs (checked to be that VM's process), removes its dir.
     */
    public void discard(String id) {
        requireId(id);
        QemuMachine known = machines.remove(id);
        if (known != null) {
            known.destroy();
            return;
        }
        Path dir = vmsDir.resolve(id);
        killLiveQemu(dir);
        FileOps.deleteTree(dir);
        pool.sweepLinks(Level.DEBUG); // a clone from the warm pool leaves a link to its dir there
    }

    /**
     * Ends a VM's QEMU (if one runs, checked to be that VM's process) and keeps its dir: for a VM
     * that cannot be attached but whose files (disk writes, RAM) are its owner's until deleted.
     */
    public void stop(String id) {
        requireId(id);
        QemuMachine known = machines.remove(id);
        if (known != null) {
            known.stopProcess();
            return;
        }
        killLiveQemu(vmsDir.resolve(id));
    }

    private static void killLiveQemu(Path dir) {
        liveQemu(dir).ifPresent(p -> {
            p.destroyForcibly();
            p.onExit().join();
        });
    }

    /** The QEMU process of {@code dir}, if its pid file names a live process whose argv mentions the dir. */
    private static Optional<ProcessHandle> liveQemu(Path dir) {
        Path pidFile = dir.resolve(PID_FILE);
        if (!Files.isRegularFile(pidFile)) return Optional.empty();
        long pid;
        try {
            pid = Long.parseLong(Files.readString(pidFile).strip());
        } catch (IOException | NumberFormatException e) {
            throw new VmmException("unreadable pid file " + pidFile + ": " + e.getMessage(), e);
        }
        Optional<ProcessHandle> p = ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        if (p.isEmpty()) return p;
        // The pid may have been reused by another program: only trust a QEMU started for this dir.
        try {
            String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"), StandardCharsets.UTF_8);
            // a clone from the warm pool was started in a pool dir: its record names that socket, and
            // before the record exists the pool dir is a link to this dir
            String qmpArg = Files.isRegularFile(dir.resolve(MachineRecord.FILE))
                    ? MachineRecord.read(dir).qmpArg()
                    : "";
            boolean ours = cmdline.contains(dir.resolve("qmp.sock").toString())
                    || (!qmpArg.isEmpty() && cmdline.contains(qmpArg))
                    || qmpDirIs(cmdline, dir);
            return ours ? p : Optional.empty();
        } catch (IOException e) {
            return Optional.empty(); // exited meanwhile
        }
    }

    /** Whether the {@code -qmp unix:PATH,...} socket in a NUL-separated cmdline lives in {@code dir}, through links. */
    private static boolean qmpDirIs(String cmdline, Path dir) {
        List<String> args = List.of(cmdline.split("\0"));
        int i = args.indexOf("-qmp");
        if (i < 0 || i + 1 >= args.size() || !args.get(i + 1).startsWith("unix:")) return false;
        String path = args.get(i + 1).substring("unix:".length()).split(",", 2)[0];
        try {
            return Path.of(path).getParent().toRealPath().equals(dir.toRealPath());
        } catch (IOException | RuntimeException e) {
            return false; // the link or the dir is gone
        }
    }

    private static void requireId(String id) {
        if (id == null || !ID.matcher(id).matches())
            throw new IllegalArgumentException("id: not a VM id: '" + id + "'");
    }

    // ---- snapshots --------------------------------------------------------------------

    /**
     * Snapshots a running VM: memory, device state and root disk, into
     * {@code <dataDir>/snapshots/<id>/}, which appears atomically once complete. A launched
     * VM's first snapshot pauses it for milliseconds (re-homing); later ones copy its RAM live
     * where the QEMU allows it ({@link #liveSnapshots()}), else with the VM stopped. The VM
     * then runs on (its in-flight execs too). See {@link SnapshotCapture}.
     *
     * @throws MachineDeadException     when the VM is not running
     * @throws SnapshotFailedException  when it failed (e.g. disk full); nothing is left, the VM runs on
     * @throws IllegalArgumentException when the id is taken or {@code machine} is not this engine's
     */
    public VmSnapshot snapshot(Machine machine, SnapshotSpec spec) throws InterruptedException {
        if (!(machine instanceof QemuMachine m)) throw new IllegalArgumentException("machine: not from this engine");
        return capture.snapshot(m, spec == null ? SnapshotSpec.defaults() : spec);
    }

    /**
     * Restores a snapshot into a new VM (a clone): its own copy-on-write disk overlay, RAM
     * mapped privately from the snapshot, then a new clock, entropy and hostname. Uses a
     * pre-spawned QEMU from the warm pool when one waits.
     *
     * @throws NoSuchSnapshotException        when there is no such snapshot
     * @throws SnapshotIncompatibleException  when QEMU version, image, accelerator or machine shape differ
     * @throws IllegalArgumentException       when the id is taken or the disk would shrink
     */
    public Machine restore(String snapshotId, RestoreSpec spec) throws InterruptedException {
        requireSnapshotId(snapshotId);
        QemuMachine m = restorer.restore(snapshotId, spec == null ? RestoreSpec.defaults() : spec);
        track(m);
        return m;
    }

    /** {@return the snapshot, if it exists} */
    public Optional<VmSnapshot> findSnapshot(String id) {
        requireSnapshotId(id);
        return store.find(id);
    }

    /** {@return every snapshot, by id} */
    public List<VmSnapshot> snapshots() {
        return store.list();
    }

    /**
     * Deletes a snapshot (and its warm pool). Clones restored from it keep working: they hold
     * their own hard links to its files, whose blocks are freed when the last clone is destroyed.
     *
     * @throws NoSuchSnapshotException when there is no such snapshot
     */
    public void deleteSnapshot(String id) {
        requireSnapshotId(id);
        pool.drain(id);
        store.delete(id);
    }

    /**
     * Keeps {@link EngineConfig#warmPoolSize()} QEMUs pre-spawned for this snapshot until it
     * is deleted or the engine closes.
     *
     * @return completes when the pool for it is filled (or could not be)
     */
    public CompletableFuture<Void> markHot(String snapshotId) {
        requireSnapshotId(snapshotId);
        if (store.find(snapshotId).isEmpty())
            throw new NoSuchSnapshotException("snapshot '" + snapshotId + "' does not exist");
        return pool.markHot(snapshotId);
    }

    /** {@return how many pre-spawned QEMUs wait for this snapshot right now} */
    public int warmCount(String snapshotId) {
        return pool.readyCount(snapshotId);
    }

    /** {@return completes when the background refill of this snapshot's warm pool (if any) has ended} */
    public CompletableFuture<Void> warmRefill(String snapshotId) {
        return pool.refill(snapshotId);
    }

    private static void requireSnapshotId(String id) {
        if (id == null || !ID.matcher(id).matches())
            throw new IllegalArgumentException("snapshotId: not a snapshot id: '" + id + "'");
    }

    /**
     * Disconnects from every VM this engine knows, leaving them running, and kills the
     * warm pool's pre-spawned QEMUs (those are the engine's own).
     */
    @Override
    public void close() {
        if (pool != null) pool.close();
        machines.values().forEach(QemuMachine::detach);
        machines.clear();
    }

    /** Remembers a live machine until its QEMU exits (destroyed or died). */
    @SuppressWarnings("FutureReturnValueIgnored") // the exit callback only removes a map entry; it cannot fail
    void track(QemuMachine m) {
        machines.put(m.id(), m);
        m.afterDestroy(() -> pool.sweepLinks(Level.DEBUG)); // a clone from the warm pool leaves a link to its dir there
        m.onExit().whenComplete((v, t) -> machines.remove(m.id(), m));
    }
}
