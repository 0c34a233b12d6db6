package org.fastvm.vmm;

import java.lang.System.Logger.Level;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.fastvm.vmm.image.GuestImage;

/**
 * Launch at restore speed: per image build and machine shape, a hidden base snapshot taken
 * at READY; later launches restore it (with their own hostname, clock and entropy; a bigger
 * {@code diskGib} grows the disk after the restore). A launch that finds no base boots, and
 * where later snapshots are live ({@link Engine#liveSnapshots()}) the booted VM is
 * snapshotted as the base right before it is returned (it runs on, re-homed). Concurrent
 * first launches take one base. A base that cannot be restored (another QEMU, gone, broken)
 * is deleted and the launch boots.
 */
final class BaseSnapshots {
    private static final System.Logger LOG = System.getLogger(BaseSnapshots.class.getName());
    /** Base snapshots: {@code _base-<image>-<12 chars of the image key>-<vcpus>c-<memoryMib>m} (see {@link #id}). */
    static final String PREFIX = SnapshotStore.INTERNAL_PREFIX + "base-";

    private final Engine engine;
    private final SnapshotStore store;
    private final SnapshotCapture capture;
    private final Restorer restorer;
    private final WarmPool pool;
    /**
     * The hostname a base is booted with: a base is restored into other orgs' VMs, so it must
     * hold nothing of the launch that took it (the kernel command line and boot log keep the
     * boot's hostname); that VM gets its own hostname after the base is taken.
     */
    static final String BASE_HOSTNAME = "fastvm";
    /** Base snapshots being taken now: concurrent first launches of a shape take it once. */
    private final Set<String> inProgress = ConcurrentHashMap.newKeySet();

    BaseSnapshots(Engine engine, SnapshotStore store, SnapshotCapture capture, Restorer restorer, WarmPool pool) {
        this.engine = engine;
        this.store = store;
        this.capture = capture;
        this.restorer = restorer;
        this.pool = pool;
    }

    /** Marks every base on disk hot, so the first launches after an engine opens are warm restores too. */
    @SuppressWarnings("FutureReturnValueIgnored") // each refill logs its own failures; nothing waits for them
    void markHot() {
        store.ids(PREFIX).forEach(pool::markHot);
    }

    /**
     * The id of the base snapshot for launches of {@code spec} on image build {@code img}:
     * {@code _base-<image>-<12 chars of the key>-<vcpus>c-<memoryMib>m}. The accelerator and
     * the QEMU version are not in it: a restore checks them, and a base taken on others is
     * replaced.
     */
    static String id(GuestImage img, MachineSpec spec) {
        return PREFIX + img.name() + "-"
                + img.key().substring(0, Math.min(12, img.key().length())) + "-" + spec.vcpus() + "c-"
                + spec.memoryMib() + "m";
    }

    /** Launches {@code spec} (id and hostname set) from its base, or boots it and takes the base. */
    QemuMachine launch(MachineSpec spec) throws InterruptedException {
        GuestImage img = engine.image(spec.image());
        Engine.rootDiskBytes(img, spec); // a disk smaller than the image is refused as a boot refuses it
        String baseId = id(img, spec);
        if (store.exists(baseId)) {
            QemuMachine m = launchFromBase(baseId, spec, img);
            if (m != null) return m;
        }
        // one launch per base takes it; the others (and all where a snapshot would stop the VM) just boot
        if (!engine.liveSnapshots() || !inProgress.add(baseId)) return boot(spec);
        try {
            if (store.exists(baseId)) return boot(spec); // taken meanwhile
            return bootAndTakeBase(spec, img, baseId);
        } finally {
            inProgress.remove(baseId);
        }
    }

    private QemuMachine boot(MachineSpec spec) throws InterruptedException {
        return engine.launch(spec, engine.accelerator(), engine.config().bootTimeout(), engine.vmsDir());
    }

    /**
     * Boots {@code spec} with the neutral {@link #BASE_HOSTNAME} and snapshots it as base
     * {@code baseId}; then the VM gets its own hostname. The base holds the image's own disk
     * size (launches only grow it), so a bigger disk is given to this VM after the snapshot,
     * the way a restore grows it.
     */
    private QemuMachine bootAndTakeBase(MachineSpec spec, GuestImage img, String baseId) throws InterruptedException {
        long disk = Engine.rootDiskBytes(img, spec);
        boolean grow = disk > img.rootDiskBytes();
        QemuMachine m = boot(new MachineSpec(
                spec.id(), spec.image(), spec.vcpus(), spec.memoryMib(), grow ? 0 : spec.diskGib(), BASE_HOSTNAME));
        takeBase(m, baseId, img);
        long t0 = System.nanoTime();
        try {
            m.agent().setHostname(spec.hostname());
            MachineRecord rec = m.record();
            if (grow) Restorer.growDisk(m.qmp(), rec.diskNode(), m.agent(), rec.diskBytes(), disk);
            m.updateRecord(m.record().withSpec(spec, grow ? disk : rec.diskBytes()));
        } catch (RuntimeException e) {
            m.destroy();
            throw new BootFailedException(
                    "machine " + spec.id() + ": giving it its hostname"
                            + (grow ? " and a " + (disk >> 20) + " MiB root disk" : "") + " failed: " + e.getMessage(),
                    e);
        } catch (InterruptedException | Error e) {
            m.destroy();
            throw e;
        }
        if (grow) {
            LOG.log(
                    Level.INFO,
                    "machine {0}: root disk grown to {1} MiB in {2} ms",
                    spec.id(),
                    disk >> 20,
                    (System.nanoTime() - t0) / 1_000_000);
        }
        return m;
    }

    /**
     * Launches {@code spec} as a restore of base snapshot {@code baseId}.
     *
     * @return the VM, or null when the base could not be restored (it is deleted then; the caller boots)
     */
    private QemuMachine launchFromBase(String baseId, MachineSpec spec, GuestImage img) throws InterruptedException {
        long t0 = System.nanoTime();
        QemuMachine m;
        try {
            m = restorer.restore(
                    baseId,
                    new RestoreSpec(spec.id(), spec.hostname(), img.rootDisk() == null ? 0 : spec.diskGib()),
                    spec);
        } catch (VmmException e) { // incompatible (another QEMU, accelerator), gone, or broken: boot
            LOG.log(
                    Level.WARNING,
                    "base snapshot {0} cannot be restored, deleting it; machine {1} boots: {2}",
                    baseId,
                    spec.id(),
                    e.getMessage());
            dropBase(baseId);
            return null;
        }
        engine.track(m);
        LOG.log(
                Level.INFO,
                "machine {0} up in {1} ms (restored from base snapshot {2}; pid {3}, {4})",
                spec.id(),
                (System.nanoTime() - t0) / 1_000_000,
                baseId,
                m.pid(),
                m.record().accelerator());
        return m;
    }

    /**
     * Snapshots a freshly booted VM as base {@code baseId}, replaces the bases of the image's
     * other builds for that shape, and keeps warm-pool QEMUs for it. A failure is logged and
     * leaves the VM as it was: the launch succeeds all the same.
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the pool's refill logs its own failures; the launch does not wait
    private void takeBase(QemuMachine m, String baseId, GuestImage img) {
        try {
            long t0 = System.nanoTime();
            VmSnapshot s = capture.snapshot(m, baseId);
            LOG.log(
                    Level.INFO,
                    "base snapshot {0} taken from machine {1} in {2} ms (paused {3} ms): later launches of"
                            + " this image and shape restore it",
                    baseId,
                    m.id(),
                    (System.nanoTime() - t0) / 1_000_000,
                    Math.round(s.pauseMillis()));
            String prefix = PREFIX + img.name() + "-";
            String shape = baseId.substring(baseId.indexOf('-', prefix.length())); // "-<vcpus>c-<memoryMib>m"
            for (String other : store.ids(prefix)) {
                String rest = other.substring(prefix.length()); // "<key>-<vcpus>c-<memoryMib>m"
                int dash = rest.indexOf('-');
                if (!other.equals(baseId) && dash > 0 && rest.substring(dash).equals(shape)) {
                    LOG.log(
                            Level.INFO,
                            "base snapshot {0} replaced by {1} (another build of image {2})",
                            other,
                            baseId,
                            img.name());
                    dropBase(other);
                }
            }
            pool.markHot(baseId);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.log(Level.WARNING, "base snapshot {0} of machine {1}: interrupted", baseId, m.id());
        } catch (RuntimeException e) {
            LOG.log(
                    Level.WARNING,
                    "cannot take base snapshot {0} of machine {1} (launches of this shape boot until one"
                            + " is taken): {2}",
                    baseId,
                    m.id(),
                    e.toString());
        }
    }

    /** Deletes a base snapshot and its warm pool (clones of it keep working); gone already is fine. */
    private void dropBase(String baseId) {
        pool.drain(baseId);
        try {
            store.delete(baseId);
        } catch (NoSuchSnapshotException e) {
            // deleted by a concurrent launch
        } catch (VmmException e) {
            LOG.log(Level.WARNING, "cannot delete base snapshot {0}: {1}", baseId, e.getMessage());
        }
    }
}
