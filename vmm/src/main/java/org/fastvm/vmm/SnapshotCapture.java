package org.fastvm.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.qemu.Migration;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.Qmp;
import org.fastvm.vmm.qemu.QmpException;

/**
 * Takes a snapshot of a running VM: RAM, device state and root disk, written in a temp dir
 * of the {@link SnapshotStore} and published by rename. Three ways to capture the RAM,
 * chosen per VM:
 * <ul>
 *   <li>a launched VM (RAM in a {@code share=on} file) is {@link Rehome re-homed}: paused for
 *       milliseconds, whatever it dirtied;</li>
 *   <li>a VM on a private mapping (a clone, or a VM re-homed before) is migrated into a
 *       capture QEMU whose RAM is a shared file in the snapshot: <b>live</b> (precopy while
 *       the guest runs, paused only for the switch-over) where {@link
 *       org.fastvm.vmm.qemu.QemuVersion#livePrecopySafe} allows it, else stopped for the copy;</li>
 *   <li>if no successor QEMU can be started for a re-home, the shared file is copied while
 *       the VM is stopped.</li>
 * </ul>
 * The root disk gets a new top layer at the instant the RAM is captured ({@link DiskFreeze}).
 * On any failure the VM runs on and nothing is left behind.
 */
final class SnapshotCapture {
    private static final System.Logger LOG = System.getLogger(SnapshotCapture.class.getName());
    /** The capture QEMU's dir inside a snapshot's temp dir (its pid file lets start-up kill it after a crash). */
    static final String CAPTURE_DIR = "c";

    static final Duration QMP_TIMEOUT = Duration.ofSeconds(15);
    /** A stopped copy of a big guest under TCG takes seconds; past this we give up and resume the VM. */
    static final Duration MIGRATION_TIMEOUT = Duration.ofMinutes(3);
    /**
     * How long a live precopy may run: a guest that dirties RAM faster than it is copied never
     * converges, so past this the VM is stopped and the rest is copied stopped.
     */
    static final Duration LIVE_PRECOPY_LIMIT = Duration.ofSeconds(3);
    /** The switch-over QEMU aims for: the last dirty pages are copied while the guest is stopped. */
    static final int DOWNTIME_LIMIT_MS = 20;

    private final Engine engine;
    private final SnapshotStore store;
    private final FaultHook faults;
    private final Rehome rehome;
    private final boolean livePrecopy;

    /** @param livePrecopy whether migrations into a capture QEMU run live (decided once, by the engine) */
    SnapshotCapture(Engine engine, SnapshotStore store, FaultHook faults, boolean livePrecopy) {
        this.engine = engine;
        this.store = store;
        this.faults = faults;
        this.rehome = new Rehome(faults);
        this.livePrecopy = livePrecopy;
    }

    boolean livePrecopy() {
        return livePrecopy;
    }

    /** Snapshots {@code m} as {@code spec.id()} (or a new id); one snapshot at a time per VM. */
    VmSnapshot snapshot(QemuMachine m, SnapshotSpec spec) throws InterruptedException {
        return snapshot(m, spec.id() != null ? spec.id() : "snap-" + Ids.random(6));
    }

    /**
     * Snapshots {@code m} as {@code id}, which is not checked against the users' id pattern:
     * the engine's own snapshots (base snapshots) use ids no user can create.
     */
    VmSnapshot snapshot(QemuMachine m, String id) throws InterruptedException {
        m.snapshotLock.lock();
        try {
            if (!m.isAlive())
                throw new MachineDeadException("machine " + m.id() + " is not running; cannot snapshot it");
            if (store.exists(id))
                throw new IllegalArgumentException("id: a snapshot named '" + id + "' already exists");
            Path tmp;
            try {
                tmp = store.newTempDir();
            } catch (IOException e) {
                throw new SnapshotFailedException(
                        "snapshot " + id + " of " + m.id() + ": cannot create its temp dir: " + e.getMessage(), e);
            }
            try (var undo = new Cleanup("snapshot " + id)) {
                undo.push("remove " + tmp, () -> FileOps.deleteQuietly(tmp));
                SnapshotManifest man = capture(m, id, tmp);
                faults.at("publish");
                Path dir = store.publish(tmp, id);
                undo.keep();
                LOG.log(
                        Level.INFO,
                        "snapshot {0} of {1}: paused {2} ms, {3} MiB of RAM",
                        id,
                        m.id(),
                        man.pauseMillis(),
                        man.memAllocatedBytes() >> 20);
                return man.toSnapshot(dir);
            } catch (IOException e) {
                throw new SnapshotFailedException(
                        "snapshot " + id + " of " + m.id() + " failed: " + e.getMessage() + store.freeSpace(), e);
            } catch (MachineDeadException | IllegalArgumentException e) {
                throw e;
            } catch (RuntimeException | InterruptedException | Error e) {
                if (!m.isAlive())
                    throw new MachineDeadException("machine " + m.id() + " died during snapshot " + id, e);
                if (e instanceof VmmException v) {
                    throw new SnapshotFailedException(
                            "snapshot " + id + " of " + m.id() + " failed: " + v.getMessage() + store.freeSpace(), v);
                }
                throw e;
            }
        } finally {
            m.snapshotLock.unlock();
        }
    }

    /** Captures RAM, state and disk of {@code m} into {@code tmp} and writes the manifest there (fsync'ed). */
    private SnapshotManifest capture(QemuMachine m, String id, Path tmp) throws IOException, InterruptedException {
        MachineRecord rec = m.record();
        QemuCommand source = sourceCommand(m, rec);
        boolean disk = source.rootDisk() != null;
        m.agent().fsSync(); // quiesce: the disk layer alone is consistent too

        int k = rec.diskLayers().size();
        String frozenName = rec.diskTop();
        String nextTopName = MachineRecord.layerName(k + 1);
        Path vmDir = m.dir();
        Path nextTop = vmDir.resolve(nextTopName);
        var freeze =
                new DiskFreeze(disk, m.qmp(), rec.diskNode(), QemuCommand.ROOT_DISK_NODE + "-s" + (k + 1), nextTop);
        double pauseMs;
        try (var undo = new Cleanup("capture of " + m.id())) {
            if (disk) {
                Overlay.createUnchecked(nextTop, frozenName, rec.diskBytes());
                undo.push("remove " + nextTop, () -> Files.deleteIfExists(nextTop));
            }
            OptionalDouble rehomed = source.memShared()
                    ? rehome.capture(m, rec, source, tmp, frozenName, nextTop)
                    : OptionalDouble.empty();
            if (rehomed.isPresent()) {
                pauseMs = rehomed.getAsDouble(); // the successor's record already names the new top
            } else if (source.memShared()) {
                pauseMs = captureByCopy(m, tmp, freeze);
            } else {
                pauseMs = captureByMigration(m, source, tmp, freeze);
            }
            undo.keep();
        }
        if (freeze.switched()) { // the VM now writes to the new top; the old one is a layer for good
            List<String> layers = new ArrayList<>(rec.diskLayers());
            layers.add(frozenName);
            m.updateRecord(rec.withDisk(freeze.newNode(), layers, nextTopName));
        }

        List<String> layers = List.of();
        if (disk) {
            layers = m.record().diskLayers();
            for (String l : layers) Files.createLink(tmp.resolve(l), vmDir.resolve(l));
            Overlay.createUnchecked(tmp.resolve(SnapshotManifest.OVERLAY), frozenName, rec.diskBytes());
        }
        Path mem = tmp.resolve(SnapshotManifest.MEM);
        byte[] stateBytes = Files.readAllBytes(tmp.resolve(SnapshotManifest.STATE));
        faults.at("manifest");
        var man = new SnapshotManifest(
                SnapshotManifest.FORMAT,
                id,
                m.id(),
                rec.imageName(),
                rec.imageKey(),
                engine.qemuVersion().describe(),
                rec.accelerator(),
                rec.spec().vcpus(),
                rec.spec().memoryMib(),
                source.shape(),
                rec.argv(),
                disk,
                rec.diskBytes(),
                layers,
                Files.size(mem),
                FileOps.allocatedBytes(mem),
                stateBytes.length,
                SnapshotManifest.sha256(stateBytes),
                pauseMs,
                Instant.now().toString());
        man.write(tmp);
        for (String f : List.of(SnapshotManifest.MEM, SnapshotManifest.STATE, SnapshotManifest.FILE)) {
            FileOps.fsync(tmp.resolve(f));
        }
        if (disk) FileOps.fsync(tmp.resolve(SnapshotManifest.OVERLAY));
        FileOps.fsyncDir(tmp);
        return man;
    }

    /**
     * A VM whose RAM is a shared file but that could not be re-homed: stop, freeze the disk,
     * save the device state only ({@code x-ignore-shared}), copy the RAM file sparsely, resume.
     *
     * @return the pause in ms
     */
    private double captureByCopy(QemuMachine m, Path tmp, DiskFreeze freeze) throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        Instant deadline = Instant.now().plus(MIGRATION_TIMEOUT);
        Migration.capabilities(qmp, Map.of("events", true, "x-ignore-shared", true, "pause-before-switchover", false));
        return whileStopped(m, freeze, () -> {
            faults.at("state");
            new Migration(qmp)
                    .saveTo(tmp.resolve(SnapshotManifest.STATE), tmp.resolve("state.sock"), deadline, m.exitFuture());
            ProcessRunner.run(
                    List.of(
                            "cp",
                            "--sparse=always",
                            "--reflink=auto",
                            m.dir().resolve(QemuCommand.MEMORY_FILE).toString(),
                            tmp.resolve(SnapshotManifest.MEM).toString()),
                    MIGRATION_TIMEOUT);
        });
    }

    /** What is copied while the VM is stopped. */
    @FunctionalInterface
    private interface StoppedCopy {
        void run() throws IOException, InterruptedException;
    }

    /**
     * Stops the VM, freezes its disk, runs {@code copy}, resumes it; on failure the new disk top
     * is dropped and the VM resumed.
     *
     * @return the pause in ms
     */
    private double whileStopped(QemuMachine m, DiskFreeze freeze, StoppedCopy copy)
            throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        try (var undo = new Cleanup("stopped copy of " + m.id())) {
            undo.push("drop the new disk top", freeze::undo);
            freeze.prepare();
            undo.push("resume " + m.id(), () -> resumeAfterFailure(m, qmp));
            faults.at("migrate");
            qmp.execute("stop");
            long t0 = System.nanoTime();
            freeze.freeze();
            copy.run();
            Migration.cont(qmp);
            undo.keep();
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    /**
     * A VM on a private RAM mapping: migrate it into a capture QEMU whose RAM is a shared file
     * in the snapshot, then save the capture's device state. Live or stopped: see the class comment.
     *
     * @return the pause in ms
     */
    private double captureByMigration(QemuMachine m, QemuCommand source, Path tmp, DiskFreeze freeze)
            throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        Path capDir = Files.createDirectory(tmp.resolve(CAPTURE_DIR));
        Path scratch = capDir.resolve("scratch.qcow2");
        if (freeze.hasDisk()) Overlay.createBlank(scratch, m.record().diskBytes());
        QemuCommand capCmd = source.forCapture(capDir, tmp.resolve(SnapshotManifest.MEM), scratch);
        // the capture QEMU and its dir go away in every case, success included
        try (var always = new Cleanup("capture QEMU of " + m.id())) {
            always.push("remove " + capDir, () -> FileOps.deleteQuietly(capDir));
            Process cap = ProcessRunner.spawnDetached(capCmd.argv(), capDir.resolve("qemu.log"));
            always.kill("capture QEMU", cap);
            Files.writeString(capDir.resolve("pid"), Long.toString(cap.pid()));
            try (Qmp capQmp = Qmp.connect(
                    capDir.resolve(QemuCommand.QMP_SOCKET), Instant.now().plus(QMP_TIMEOUT), cap.onExit())) {
                Instant deadline = Instant.now().plus(MIGRATION_TIMEOUT);
                Migration.capabilities(capQmp, Map.of("events", true, "x-ignore-shared", false));
                Migration incoming = new Migration(capQmp);
                incoming.listen(capDir.resolve("mig.sock"));
                Migration.capabilities(
                        qmp, Map.of("events", true, "x-ignore-shared", false, "pause-before-switchover", livePrecopy));
                qmp.execute(
                        "migrate-set-parameters",
                        Map.of("max-bandwidth", 8L << 30, "downtime-limit", DOWNTIME_LIMIT_MS));
                String uri = "unix:" + capDir.resolve("mig.sock");
                double pauseMs =
                        livePrecopy ? migrateLive(m, uri, freeze, deadline) : migrateStopped(m, uri, freeze, deadline);
                incoming.await(Set.of("completed"), deadline, cap.onExit());
                incoming.close();
                Migration.capabilities(capQmp, Map.of("x-ignore-shared", true));
                faults.at("state");
                new Migration(capQmp)
                        .saveTo(
                                tmp.resolve(SnapshotManifest.STATE),
                                capDir.resolve("state.sock"),
                                deadline,
                                cap.onExit());
                return pauseMs;
            } catch (QmpException e) {
                if (!cap.isAlive()) {
                    throw new SnapshotFailedException(
                            "the capture QEMU died (exit " + cap.exitValue() + "): "
                                    + FileOps.tail(capDir.resolve("qemu.log")),
                            e);
                }
                throw e;
            }
        }
    }

    /** Stops the VM, freezes the disk, migrates it, resumes it: the pause is the whole copy. */
    private double migrateStopped(QemuMachine m, String uri, DiskFreeze freeze, Instant deadline)
            throws IOException, InterruptedException {
        try (Migration out = new Migration(m.qmp())) {
            return whileStopped(m, freeze, () -> {
                m.qmp().execute("migrate", Map.of("uri", uri));
                out.await(Set.of("completed"), deadline, m.exitFuture());
            });
        }
    }

    /**
     * Live precopy: the guest runs while its RAM is copied; QEMU stops it once the rest fits
     * in {@link #DOWNTIME_LIMIT_MS} (or we stop it after {@link #LIVE_PRECOPY_LIMIT}) and waits
     * in {@code pre-switchover}, where the disk is frozen at the same instant as the RAM; then
     * the last pages go and the VM resumes. The pause runs from QEMU's STOP event to {@code cont}.
     */
    private double migrateLive(QemuMachine m, String uri, DiskFreeze freeze, Instant deadline)
            throws IOException, InterruptedException {
        Qmp qmp = m.qmp();
        CompletableFuture<JsonNode> stopEvent =
                qmp.nextEvent(ev -> "STOP".equals(ev.path("event").asText()));
        try (Migration out = new Migration(qmp);
                var undo = new Cleanup("live migration of " + m.id())) {
            undo.push("drop the new disk top", freeze::undo);
            freeze.prepare();
            undo.push("resume " + m.id(), () -> resumeAfterFailure(m, qmp));
            faults.at("migrate");
            qmp.execute("migrate", Map.of("uri", uri));
            Instant bound = Instant.now().plus(LIVE_PRECOPY_LIMIT);
            if (out.awaitUntil(Set.of("pre-switchover"), bound, m.exitFuture()) == null) {
                LOG.log(
                        Level.INFO,
                        "machine {0}: live precopy did not converge in {1} ms; stopping it for the rest",
                        m.id(),
                        LIVE_PRECOPY_LIMIT.toMillis());
                qmp.execute("stop");
                out.await(Set.of("pre-switchover"), deadline, m.exitFuture());
            }
            long switchover = System.currentTimeMillis();
            faults.at("switchover"); // the guest is stopped, its RAM final: what the snapshot must hold
            freeze.freeze();
            qmp.execute("migrate-continue", Map.of("state", "pre-switchover"));
            out.await(Set.of("completed"), deadline, m.exitFuture());
            Migration.cont(qmp);
            long resumed = System.currentTimeMillis();
            undo.keep();
            JsonNode stop = stopEvent.getNow(null);
            long stoppedAt = stop == null ? switchover : eventMillis(stop);
            return Math.max(0, resumed - Math.min(stoppedAt, switchover));
        } finally {
            stopEvent.cancel(false);
        }
    }

    /** {@return a QMP event's timestamp in ms since the epoch (QEMU stamps events with the host's wall clock)} */
    private static long eventMillis(JsonNode ev) {
        JsonNode ts = ev.path("timestamp");
        return ts.path("seconds").asLong() * 1000 + ts.path("microseconds").asLong() / 1000;
    }

    /** After a failed migration: cancel it and let the source run again, whatever state it is in. */
    static void resumeAfterFailure(QemuMachine m, Qmp qmp) {
        try {
            qmp.execute("migrate_cancel");
            String status = qmp.execute("query-status").path("status").asText();
            if (!"running".equals(status)) Migration.cont(qmp);
        } catch (RuntimeException | InterruptedException e) {
            LOG.log(Level.WARNING, "machine {0}: could not resume after a failed snapshot: {1}", m.id(), e.toString());
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        }
    }

    /** What the running VM was started as, with the paths of its current disk chain. */
    private QemuCommand sourceCommand(QemuMachine m, MachineRecord rec) {
        Path dir = m.dir();
        boolean hasDisk = rec.diskBytes() > 0 || Files.exists(dir.resolve(rec.diskTop()));
        return QemuCommand.running(
                engine.config().qemuBinary(),
                rec.accelerator(),
                rec.machineOptions(),
                rec.spec().vcpus(),
                rec.spec().memoryMib(),
                dir,
                rec.ramShared(),
                hasDisk ? dir.resolve(rec.diskTop()) : null,
                rec.diskLayers().stream().map(dir::resolve).toList());
    }
}
