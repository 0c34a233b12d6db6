package org.fastvm.vmm;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * What the engine writes into a VM dir ({@code machine.json}) so that a later process
 * can reattach to the VM, and a later snapshot can record the exact machine shape.
 *
 * @param spec        the launch spec (id and hostname filled in)
 * @param imageName   the guest image's name
 * @param imageKey    the guest image's input hash
 * @param accelerator the accelerator QEMU runs with
 * @param machineOptions the image's extra {@code -M} options ("" for none; older records have none)
 * @param argv        the QEMU argv, without the {@code setsid} prefix
 * @param pid         the QEMU process id
 * @param diskBytes   the root disk's virtual size (0 without one)
 * @param diskNode    the QMP node name of the root disk's writable top layer (changes with each snapshot)
 * @param diskLayers  the read-only qcow2 layers under {@code root.qcow2} in the VM dir, bottom first
 *                    (hard links shared with snapshots: the file system counts the references)
 * @param snapshotId  the snapshot this VM was restored from, or null for a booted VM
 * @param diskTop     file name of the writable top layer in the VM dir
 */
record MachineRecord(
        MachineSpec spec,
        String imageName,
        String imageKey,
        Accelerator accelerator,
        String machineOptions,
        List<String> argv,
        long pid,
        long diskBytes,
        String diskNode,
        List<String> diskLayers,
        String snapshotId,
        String diskTop) {
    /** Defaults for records written before snapshots existed. */
    MachineRecord {
        if (machineOptions == null) machineOptions = "";
        if (diskNode == null) diskNode = org.fastvm.vmm.qemu.QemuCommand.ROOT_DISK_NODE;
        diskLayers = diskLayers == null ? List.of() : List.copyOf(diskLayers);
        if (diskTop == null) diskTop = layerName(diskLayers.size());
    }

    /**
     * The file name of disk layer {@code i} (0 = the overlay made at launch). A layer keeps
     * its name for life: QEMU reopens images by the path it was given (e.g. read-only when a
     * snapshot freezes them), so a file QEMU has open is never renamed.
     */
    static String layerName(int i) {
        return i == 0 ? "root.qcow2" : "layer-" + i + ".qcow2";
    }

    /** A record after a snapshot moved the disk to a new top layer. */
    MachineRecord withDisk(String node, List<String> layers, String top) {
        return new MachineRecord(
                spec,
                imageName,
                imageKey,
                accelerator,
                machineOptions,
                argv,
                pid,
                diskBytes,
                node,
                layers,
                snapshotId,
                top);
    }

    /** A record after the VM's disk was grown to {@code bytes} for {@code spec} (a launch that took a base snapshot first). */
    MachineRecord withSpec(MachineSpec spec, long bytes) {
        return new MachineRecord(
                spec,
                imageName,
                imageKey,
                accelerator,
                machineOptions,
                argv,
                pid,
                bytes,
                diskNode,
                diskLayers,
                snapshotId,
                diskTop);
    }

    /**
     * {@return whether the VM's RAM is its {@code mem} file mapped {@code share=on} (a booted VM,
     *         not yet re-homed) rather than a private copy-on-write mapping (a clone, a re-homed VM)}
     */
    boolean ramShared() {
        return argv.stream().anyMatch(a -> a.startsWith("memory-backend-file,") && a.contains(",share=on"));
    }

    /** {@return the {@code -qmp} socket path QEMU was started with (its cmdline names it)} */
    String qmpArg() {
        int i = argv.indexOf("-qmp");
        return i >= 0 && i + 1 < argv.size() ? argv.get(i + 1) : "";
    }

    static final String FILE = "machine.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Writes {@code <dir>/machine.json} atomically. */
    void write(Path dir) {
        Path tmp = dir.resolve(FILE + ".tmp");
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
            Files.move(tmp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new VmmException("cannot write " + dir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    /** Reads {@code <dir>/machine.json}. */
    static MachineRecord read(Path dir) {
        Path f = dir.resolve(FILE);
        try {
            return JSON.readValue(f.toFile(), MachineRecord.class);
        } catch (IOException e) {
            throw new VmmException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }
}
