package org.fastvm.vmm;

import com.fasterxml.jackson.databind.node.NullNode;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.Map;
import org.fastvm.vmm.qemu.Qmp;

/**
 * Puts a new top layer over a running VM's root disk at the instant its RAM is captured, so
 * the old top becomes an immutable layer of the snapshot: {@link #prepare} opens the new
 * layer while the VM still runs, {@link #freeze} swaps it in while the VM is stopped.
 * Without a root disk every step does nothing.
 */
final class DiskFreeze {
    private static final System.Logger LOG = System.getLogger(DiskFreeze.class.getName());

    private final boolean disk;
    private final Qmp qmp;
    private final String node, newNode;
    private final Path nextTop;
    private boolean added, switched;

    DiskFreeze(boolean disk, Qmp qmp, String node, String newNode, Path nextTop) {
        this.disk = disk;
        this.qmp = qmp;
        this.node = node;
        this.newNode = newNode;
        this.nextTop = nextTop;
    }

    boolean hasDisk() {
        return disk;
    }

    /** {@return the block node of the new top} */
    String newNode() {
        return newNode;
    }

    /** {@return whether the VM now writes to the new top (the old one is a layer for good)} */
    boolean switched() {
        return switched;
    }

    /** Opens the new top while the VM still runs, so the pause only swaps it in. */
    void prepare() throws InterruptedException {
        if (!disk) return;
        qmp.execute(
                "blockdev-add",
                Map.of(
                        "driver",
                        "qcow2",
                        "node-name",
                        newNode,
                        "file",
                        Map.of("driver", "file", "filename", nextTop.toString()),
                        "backing",
                        NullNode.getInstance()));
        added = true;
    }

    /** Swaps the new top in. Call with the VM stopped. */
    void freeze() throws InterruptedException {
        if (!disk) return;
        qmp.execute("blockdev-snapshot", Map.of("node", node, "overlay", newNode));
        switched = true;
    }

    /** Removes a new top that was opened but never swapped in. */
    void undo() {
        if (!added || switched) return;
        try {
            qmp.execute("blockdev-del", Map.of("node-name", newNode));
        } catch (RuntimeException | InterruptedException e) {
            LOG.log(Level.WARNING, "cannot remove block node {0}: {1}", newNode, e.toString());
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        }
    }
}
