package org.fastvm.server.backend;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.FaultHook;
import org.fastvm.vmm.Machine;
import org.fastvm.vmm.MachineSpec;
import org.fastvm.vmm.NoSuchSnapshotException;
import org.fastvm.vmm.RestoreSpec;
import org.fastvm.vmm.SnapshotSpec;
import org.fastvm.vmm.VmmException;

/**
 * The real backend: {@link org.fastvm.vmm.Engine}. VM and snapshot ids are the control
 * plane's UUIDs, used as the engine's ids too, so rows and engine directories match.
 */
public final class EngineBackend implements VmBackend {
    private final Engine engine;
    private final String image;

    private EngineBackend(Engine engine, String image) {
        this.engine = engine;
        this.image = image;
    }

    /**
     * Opens the engine (probing the accelerator once per host) and builds the guest image now,
     * so that the first launch does not wait for it (a first build takes minutes).
     *
     * @param image the guest image VMs boot: {@code minimal} or {@code debian}
     */
    public static EngineBackend open(EngineConfig config, String image) throws InterruptedException {
        return open(config, image, FaultHook.NONE);
    }

    /** {@link #open(EngineConfig, String)} with an engine whose named steps call {@code faults} (crash tests). */
    public static EngineBackend open(EngineConfig config, String image, FaultHook faults) throws InterruptedException {
        if (!MachineSpec.IMAGES.contains(image)) {
            throw new IllegalArgumentException("image: must be one of " + MachineSpec.IMAGES + ", got '" + image + "'");
        }
        Engine engine = Engine.open(config, faults);
        try {
            engine.image(image);
        } catch (RuntimeException | InterruptedException e) {
            engine.close();
            throw e;
        }
        return new EngineBackend(engine, image);
    }

    @Override
    public BackendMachine launch(LaunchSpec spec) {
        MachineSpec ms = MachineSpec.builder()
                .id(spec.vmId())
                .image(image)
                .vcpus(spec.vcpus())
                .memoryMib(spec.memoryMiB())
                // Only images with a root disk have a disk to size; the minimal image runs from RAM.
                .diskGib(image.equals("debian") ? spec.diskGiB() : 0)
                .build();
        try {
            return new Adapter(engine.launch(ms));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while booting " + spec.vmId(), e);
        }
    }

    @Override
    public BackendMachine restore(String snapshotId, LaunchSpec spec) {
        // Same rule as launch: only images with a root disk have a disk to grow.
        RestoreSpec rs = new RestoreSpec(spec.vmId(), null, image.equals("debian") ? spec.diskGiB() : 0);
        try {
            return new Adapter(engine.restore(snapshotId, rs));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while restoring " + spec.vmId() + " from " + snapshotId, e);
        }
    }

    @Override
    public Optional<BackendMachine> attach(String vmId) {
        try {
            return engine.attach(vmId).map(Adapter::new);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while attaching " + vmId, e);
        }
    }

    @Override
    public void discard(String vmId) {
        engine.discard(vmId);
    }

    @Override
    public void stop(String vmId) {
        engine.stop(vmId);
    }

    @Override
    public void snapshot(BackendMachine machine, String snapshotId) {
        if (!(machine instanceof Adapter a)) throw new IllegalArgumentException("machine: not from this backend");
        try {
            engine.snapshot(a.m(), SnapshotSpec.withId(snapshotId));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while snapshotting " + machine.id(), e);
        }
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        try {
            engine.deleteSnapshot(snapshotId);
        } catch (NoSuchSnapshotException e) {
            // A snapshot that failed (or never finished) left no files: nothing to remove.
        }
    }

    @Override
    public java.util.List<String> vmIds() {
        return engine.machineIds();
    }

    @Override
    public java.util.List<String> snapshotIds() {
        return engine.snapshots().stream().map(org.fastvm.vmm.VmSnapshot::id).toList();
    }

    @Override
    public String accelerator() {
        return engine.accelerator().qemuName();
    }

    @Override
    public String qemuVersion() {
        return engine.qemuVersion().number();
    }

    @Override
    public boolean liveSnapshots() {
        return engine.liveSnapshots();
    }

    @Override
    public void close() {
        engine.close();
    }

    /** A {@link Machine} seen through {@link BackendMachine}. */
    private record Adapter(Machine m) implements BackendMachine {
        @Override
        public String id() {
            return m.id();
        }

        @Override
        public ExecHandle start(ExecRequest request, ExecListener listener) {
            return m.start(request, listener);
        }

        @Override
        public boolean isAlive() {
            return m.isAlive();
        }

        @Override
        public CompletableFuture<Void> onExit() {
            return m.onExit();
        }

        @Override
        public void destroy() {
            m.destroy();
        }
    }
}
