package org.fastvm.server.backend;

import java.util.Optional;

/**
 * What the control plane needs from a VM engine. The real one is {@link EngineBackend};
 * unit tests of handlers and core use a double. Blocking calls: run them on virtual threads.
 */
public interface VmBackend extends AutoCloseable {
    /** Boots a fresh VM and waits until its guest agent answers. */
    BackendMachine launch(LaunchSpec spec);

    /** Starts a VM from a ready snapshot and waits until its agent answers. */
    BackendMachine restore(String snapshotId, LaunchSpec spec);

    /** Reattaches to a VM that kept running while the server was down; empty when it is gone. */
    Optional<BackendMachine> attach(String vmId);

    /** Removes whatever is left of a VM that cannot be attached (kills a stray process, deletes its files). */
    void discard(String vmId);

    /** Ends a VM's process if one still runs and keeps its files (the VM turned error; deleting it removes them). */
    void stop(String vmId);

    /** Takes a snapshot of a running VM under {@code snapshotId}; returns when it is complete. */
    void snapshot(BackendMachine machine, String snapshotId);

    /** Removes a snapshot's files (the engine keeps them while restored VMs still map them). */
    void deleteSnapshot(String snapshotId);

    /** {@return the ids of every VM that has files on this host (running or not)} */
    java.util.List<String> vmIds();

    /** {@return the ids of every complete snapshot on this host} */
    java.util.List<String> snapshotIds();

    /** {@return the accelerator VMs run on, e.g. "kvm" or "tcg"} */
    String accelerator();

    /** {@return the QEMU VMs run in, e.g. "10.0.2"} */
    String qemuVersion();

    /** {@return whether later snapshots of a VM copy its RAM while it runs (else it is stopped for the copy)} */
    boolean liveSnapshots();

    /** Releases the engine; running VMs keep running. */
    @Override
    void close();
}
