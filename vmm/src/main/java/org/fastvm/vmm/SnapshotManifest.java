package org.fastvm.vmm;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * {@code manifest.json} of a snapshot directory: what a restore must match and what the
 * files are. The memory file is not hashed (hundreds of MiB on the hot path); its size is
 * recorded. The device state is hashed and checked on every restore.
 *
 * @param format      manifest format version
 * @param id          the snapshot id
 * @param sourceVmId  the VM it was taken from
 * @param imageName   guest image name
 * @param imageKey    guest image input hash
 * @param qemuVersion first line of {@code qemu-system-x86_64 --version}
 * @param accelerator accelerator
 * @param vcpus       vCPUs
 * @param memoryMib   RAM in MiB
 * @param shape       {@link org.fastvm.vmm.qemu.QemuCommand#shape()} of the source
 * @param sourceArgv  the source's QEMU argv (for people; paths are the source's)
 * @param hasRootDisk whether there is a disk chain
 * @param diskBytes   the disk's virtual size
 * @param diskLayers  the qcow2 chain in the snapshot dir, bottom first (the bottom one's backing is the image's raw disk)
 * @param memBytes    the memory file's size
 * @param memAllocatedBytes blocks allocated to the (sparse) memory file
 * @param stateBytes  size of the device state file
 * @param stateSha256 SHA-256 of the device state file
 * @param pauseMillis how long the source was paused
 * @param createdAt   ISO-8601 instant
 */
record SnapshotManifest(
        int format,
        String id,
        String sourceVmId,
        String imageName,
        String imageKey,
        String qemuVersion,
        Accelerator accelerator,
        int vcpus,
        int memoryMib,
        String shape,
        List<String> sourceArgv,
        boolean hasRootDisk,
        long diskBytes,
        List<String> diskLayers,
        long memBytes,
        long memAllocatedBytes,
        long stateBytes,
        String stateSha256,
        double pauseMillis,
        String createdAt) {
    static final String FILE = "manifest.json", MEM = "mem", STATE = "state", OVERLAY = "overlay.qcow2";
    static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    void write(Path dir) throws IOException {
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(FILE).toFile(), this);
    }

    /** {@return the hex SHA-256 of a device state, as {@code stateSha256} records it} */
    static String sha256(byte[] b) {
        try {
            return java.util.HexFormat.of()
                    .formatHex(
                            java.security.MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static SnapshotManifest read(Path dir) {
        try {
            return JSON.readValue(Files.readAllBytes(dir.resolve(FILE)), SnapshotManifest.class);
        } catch (IOException e) {
            throw new VmmException("cannot read " + dir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    VmSnapshot toSnapshot(Path dir) {
        return new VmSnapshot(
                id,
                dir,
                sourceVmId,
                imageName,
                imageKey,
                qemuVersion,
                accelerator,
                vcpus,
                memoryMib,
                hasRootDisk,
                diskBytes,
                memAllocatedBytes,
                pauseMillis,
                Instant.parse(createdAt));
    }
}
