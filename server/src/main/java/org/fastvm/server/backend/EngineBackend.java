package org.fastvm.server.backend;

import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.Machine;
import org.fastvm.vmm.MachineSpec;
import org.fastvm.vmm.VmmException;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The real backend: {@link org.fastvm.vmm.Engine}. Launch, attach, exec and destroy are the
 * engine's; snapshot and restore throw {@link BackendUnsupportedException} until the engine
 * gains them, which the control plane records as a snapshot/VM {@code error}.
 */
public final class EngineBackend implements VmBackend {
    private final Engine engine;
    private final String image;

    private EngineBackend(Engine engine, String image) {
        this.engine = engine;
        this.image = image;
    }

    /**
     * Opens the engine (probing the accelerator once per host).
     *
     * @param image the guest image VMs boot: {@code minimal} or {@code debian}
     */
    public static EngineBackend open(EngineConfig config, String image) throws InterruptedException {
        if (!MachineSpec.IMAGES.contains(image)) {
            throw new IllegalArgumentException("image: must be one of " + MachineSpec.IMAGES + ", got '" + image + "'");
        }
        return new EngineBackend(Engine.open(config), image);
    }

    @Override
    public BackendMachine launch(LaunchSpec spec) {
        MachineSpec ms = MachineSpec.builder().id(spec.vmId()).image(image).vcpus(spec.vcpus()).memoryMib(spec.memoryMiB())
                // Only images with a root disk have a disk to size; the minimal image runs from RAM.
                .diskGib(image.equals("debian") ? spec.diskGiB() : 0).build();
        try {
            return new Adapter(engine.launch(ms));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException("interrupted while booting " + spec.vmId(), e);
        }
    }

    @Override
    public BackendMachine restore(String snapshotId, LaunchSpec spec) {
        throw new BackendUnsupportedException("restore");
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
    public void snapshot(BackendMachine machine, String snapshotId) {
        throw new BackendUnsupportedException("snapshot");
    }

    @Override
    public void deleteSnapshot(String snapshotId) {
        // No snapshot files exist yet: the engine cannot create them (see snapshot()).
    }

    @Override
    public String accelerator() {
        return engine.accelerator().qemuName();
    }

    @Override
    public void close() {
        engine.close();
    }

    /** A {@link Machine} seen through {@link BackendMachine}. */
    private record Adapter(Machine m) implements BackendMachine {
        @Override public String id() { return m.id(); }
        @Override public ExecHandle start(ExecRequest request, ExecListener listener) { return m.start(request, listener); }
        @Override public boolean isAlive() { return m.isAlive(); }
        @Override public CompletableFuture<Void> onExit() { return m.onExit(); }
        @Override public void destroy() { m.destroy(); }
    }
}
