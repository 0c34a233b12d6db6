package org.fastvm.vmm;

import java.nio.file.Path;
import java.time.Instant;

/**
 * A memory + disk snapshot of a running VM, as recorded in its {@code manifest.json}
 * (directory {@code <dataDir>/snapshots/<id>/}). Restore it any number of times with
 * {@link Engine#restore}.
 *
 * @param id          the snapshot id (directory name)
 * @param dir         the snapshot directory
 * @param sourceVmId  the VM it was taken from
 * @param imageName   the guest image the VM was launched from
 * @param imageKey    that image's input hash (a restore needs the same image)
 * @param qemuVersion the {@code qemu-system-x86_64 --version} line it was taken with
 * @param accelerator the accelerator the VM ran with
 * @param vcpus       virtual CPUs
 * @param memoryMib   guest RAM in MiB
 * @param hasRootDisk true when the VM had a root disk (the snapshot holds its qcow2 chain)
 * @param diskBytes   the root disk's virtual size (0 without one)
 * @param memBytes    bytes of guest RAM stored (allocated blocks of the sparse memory file)
 * @param pauseMillis how long the source VM was paused for this snapshot
 * @param createdAt   when the snapshot was taken
 */
public record VmSnapshot(
        String id,
        Path dir,
        String sourceVmId,
        String imageName,
        String imageKey,
        String qemuVersion,
        Accelerator accelerator,
        int vcpus,
        int memoryMib,
        boolean hasRootDisk,
        long diskBytes,
        long memBytes,
        double pauseMillis,
        Instant createdAt) {}
