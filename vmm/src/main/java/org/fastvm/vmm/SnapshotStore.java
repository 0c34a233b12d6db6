package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The snapshots on disk: {@code <dataDir>/snapshots/<id>/} holding {@code manifest.json},
 * the memory file, the device state and the root disk's layers. A snapshot is written in a
 * {@code .tmp-*} directory and appears by one atomic rename; deleting renames it away first.
 * Files are shared by hard links (snapshot ↔ VM dirs): the file system counts the references,
 * so deleting a snapshot never pulls files from under a clone, also across engine restarts.
 */
final class SnapshotStore {
    private static final System.Logger LOG = System.getLogger(SnapshotStore.class.getName());
    static final String TMP_PREFIX = ".tmp-";
    /**
     * Ids the engine keeps for itself (base snapshots, see {@link BaseSnapshots}) start with this;
     * no user id can ({@code [a-z0-9][a-z0-9-]{0,62}}), and {@link #list()} leaves them out.
     */
    static final String INTERNAL_PREFIX = "_";

    private final Engine engine;
    private final Path dir;
    /** Restores read a snapshot dir (link its files); deletion removes it. */
    private final ReentrantReadWriteLock dirLock = new ReentrantReadWriteLock();

    /** Opens the store in {@code dir}, removing temp dirs (and their capture QEMUs) of snapshots cut short by a crash. */
    SnapshotStore(Engine engine, Path dir) {
        this.engine = engine;
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            try (var s = Files.list(dir)) {
                for (Path p : s.filter(p -> p.getFileName().toString().startsWith(TMP_PREFIX))
                        .toList()) {
                    killCaptureIn(p);
                    FileOps.deleteQuietly(p);
                }
            }
        } catch (IOException e) {
            throw new VmmException("cannot prepare " + dir + ": " + e.getMessage(), e);
        }
    }

    /** {@return the snapshot, if it exists} */
    Optional<VmSnapshot> find(String id) {
        Path d = dir.resolve(id);
        if (!Files.isRegularFile(d.resolve(SnapshotManifest.FILE))) return Optional.empty();
        return Optional.of(SnapshotManifest.read(d).toSnapshot(d));
    }

    /** {@return every complete snapshot of the users (not the engine's own), by id} */
    List<VmSnapshot> list() {
        List<VmSnapshot> out = new ArrayList<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith(TMP_PREFIX) || name.startsWith(INTERNAL_PREFIX)) continue;
                if (Files.isRegularFile(p.resolve(SnapshotManifest.FILE)))
                    out.add(SnapshotManifest.read(p).toSnapshot(p));
            }
        } catch (IOException e) {
            throw new VmmException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** {@return the ids of the complete snapshots whose id starts with {@code prefix}, sorted} */
    List<String> ids(String prefix) {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix))
                    .filter(p -> Files.isRegularFile(p.resolve(SnapshotManifest.FILE)))
                    .map(p -> p.getFileName().toString())
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new VmmException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /** {@return whether a snapshot (complete or being deleted) has this id} */
    boolean exists(String id) {
        return Files.exists(dir.resolve(id));
    }

    /**
     * Removes a snapshot: renamed away first (it disappears atomically), then its names are
     * removed. Clones keep their own hard links to its files.
     */
    void delete(String id) {
        Path d = dir.resolve(id);
        if (!Files.isDirectory(d)) throw new NoSuchSnapshotException("snapshot '" + id + "' does not exist");
        dirLock.writeLock().lock();
        try {
            Path gone = dir.resolve(TMP_PREFIX + "del-" + Ids.random(4));
            Files.move(d, gone, StandardCopyOption.ATOMIC_MOVE);
            FileOps.deleteTree(gone);
        } catch (IOException e) {
            throw new VmmException("cannot delete snapshot " + id + ": " + e.getMessage(), e);
        } finally {
            dirLock.writeLock().unlock();
        }
    }

    /** {@return a new temp dir for a snapshot being written} */
    Path newTempDir() throws IOException {
        return Files.createDirectory(dir.resolve(TMP_PREFIX + Ids.random(4)));
    }

    /** Publishes a complete temp dir (files fsync'ed) as snapshot {@code id}. */
    Path publish(Path tmp, String id) throws IOException {
        Path d = dir.resolve(id);
        Files.move(tmp, d, StandardCopyOption.ATOMIC_MOVE);
        FileOps.fsyncDir(dir);
        return d;
    }

    /** {@return " (N MiB free in DIR)", for the message of a failed snapshot} */
    String freeSpace() {
        try {
            return " (" + (Files.getFileStore(dir).getUsableSpace() >> 20) + " MiB free in " + dir + ")";
        } catch (IOException e) {
            return "";
        }
    }

    /** Checks a snapshot against this engine; throws {@link SnapshotIncompatibleException} naming the difference. */
    SnapshotManifest compatible(String id) throws InterruptedException {
        Path d = dir.resolve(id);
        if (!Files.isRegularFile(d.resolve(SnapshotManifest.FILE))) {
            throw new NoSuchSnapshotException("snapshot '" + id + "' does not exist");
        }
        SnapshotManifest man = SnapshotManifest.read(d);
        if (man.format() != SnapshotManifest.FORMAT) {
            throw new SnapshotIncompatibleException("snapshot " + id + ": manifest format " + man.format()
                    + ", this engine reads " + SnapshotManifest.FORMAT);
        }
        String qemu = engine.qemuVersion().describe();
        if (!man.qemuVersion().equals(qemu)) {
            throw new SnapshotIncompatibleException(
                    "snapshot " + id + " was taken with '" + man.qemuVersion() + "', this engine runs '" + qemu + "'");
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

    /** {@return the snapshot's device state, checked against the manifest's checksum} */
    byte[] readState(SnapshotManifest man) {
        Path f = dir.resolve(man.id()).resolve(SnapshotManifest.STATE);
        try {
            byte[] b = Files.readAllBytes(f);
            if (!SnapshotManifest.sha256(b).equals(man.stateSha256())) {
                throw new SnapshotIncompatibleException(
                        "snapshot " + man.id() + ": state file checksum mismatch (corrupt)");
            }
            return b;
        } catch (NoSuchFileException e) {
            throw new NoSuchSnapshotException("snapshot '" + man.id() + "' does not exist");
        } catch (IOException e) {
            throw new VmmException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    /**
     * Gives a new VM dir the snapshot's files: its memory file and disk layers as hard links,
     * and a copy of its top overlay (the clone's writable layer, at the snapshot's size).
     */
    void linkInto(SnapshotManifest man, Path vmDir) throws IOException {
        Path snap = dir.resolve(man.id());
        dirLock.readLock().lock();
        try {
            Files.createLink(
                    vmDir.resolve(org.fastvm.vmm.qemu.QemuCommand.MEMORY_FILE), snap.resolve(SnapshotManifest.MEM));
            for (String l : man.diskLayers()) Files.createLink(vmDir.resolve(l), snap.resolve(l));
            if (man.hasRootDisk()) {
                Files.copy(
                        snap.resolve(SnapshotManifest.OVERLAY),
                        vmDir.resolve(MachineRecord.layerName(man.diskLayers().size())));
            }
        } catch (NoSuchFileException e) {
            throw new NoSuchSnapshotException("snapshot '" + man.id() + "' was deleted during the restore");
        } finally {
            dirLock.readLock().unlock();
        }
    }

    /** Kills the capture QEMU a crashed snapshot left in its temp dir (its pid file names it). */
    private static void killCaptureIn(Path tmp) {
        Path pid = tmp.resolve(SnapshotCapture.CAPTURE_DIR).resolve("pid");
        try {
            if (!Files.isRegularFile(pid)) return;
            long p = Long.parseLong(Files.readString(pid).strip());
            ProcessHandle.of(p)
                    .filter(h -> h.info().command().orElse("").contains("qemu"))
                    .ifPresent(h -> {
                        h.destroyForcibly();
                        h.onExit().join();
                    });
        } catch (IOException | NumberFormatException e) {
            LOG.log(Level.DEBUG, "stale capture pid in {0}: {1}", tmp, e.toString());
        }
    }
}
