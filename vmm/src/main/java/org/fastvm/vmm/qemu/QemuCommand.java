package org.fastvm.vmm.qemu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.fastvm.vmm.Accelerator;

/**
 * Builds the QEMU argv of a microVM. The device list and its order are fixed here and
 * nowhere else (serial console, virtio-serial + agent port, root disk), because a
 * snapshot restores only into a QEMU with the identical machine shape:
 * the static factories ({@link #boot}, {@link #restore}, {@link #running}) and
 * {@link #forCapture} name every way the engine starts one.
 *
 * @param qemuBinary    the emulator binary
 * @param accelerator   KVM or TCG
 * @param machineOptions extra {@code -M microvm} options the guest image needs ("" for none; part of the shape)
 * @param vcpus         virtual CPUs
 * @param memoryMib     guest RAM in MiB
 * @param vmDir         the VM directory (sockets, console log)
 * @param memPath       the file backing guest RAM
 * @param memShared     {@code share=on} (a running VM, snapshot-able) or off (a CoW clone)
 * @param kernel        the kernel image, or null on restore (firmware load is skipped)
 * @param initrd        the initramfs, or null on restore
 * @param append        the kernel command line, or null on restore
 * @param rootDisk      the qcow2 overlay of the root disk (the writable top layer), or null for none
 * @param diskLayers    read-only qcow2 layers under {@code rootDisk}, bottom first, opened as an explicit
 *                      chain (their header backing names are not used, except the bottom layer's, which
 *                      names the image's raw root disk); empty for a fresh VM
 * @param incomingDefer true to start paused, waiting for {@code migrate-incoming}
 * @param startPaused   {@code -S}: stay paused after an incoming migration (a capture QEMU)
 */
public record QemuCommand(
        String qemuBinary,
        Accelerator accelerator,
        String machineOptions,
        int vcpus,
        int memoryMib,
        Path vmDir,
        Path memPath,
        boolean memShared,
        Path kernel,
        Path initrd,
        String append,
        Path rootDisk,
        List<Path> diskLayers,
        boolean incomingDefer,
        boolean startPaused) {
    /** Node name of the root disk's qcow2 layer (target of {@code blockdev-snapshot-sync}). */
    public static final String ROOT_DISK_NODE = "disk0";
    /** Node name of the root disk's file layer. */
    public static final String ROOT_DISK_FILE_NODE = "disk0-file";
    /** The memory backend's id. */
    public static final String MEMORY_BACKEND = "mem";
    /** Name of the virtio-serial port the guest agent listens on. */
    public static final String AGENT_PORT = "agent";
    /** Socket and log names inside the VM dir. */
    public static final String QMP_SOCKET = "qmp.sock",
            AGENT_SOCKET = "agent.sock",
            CONSOLE_LOG = "console.log",
            MEMORY_FILE = "mem";

    /** Checks the fields. */
    public QemuCommand {
        Objects.requireNonNull(qemuBinary, "qemuBinary");
        Objects.requireNonNull(accelerator, "accelerator");
        machineOptions = machineOptions == null ? "" : machineOptions;
        Objects.requireNonNull(vmDir, "vmDir");
        Objects.requireNonNull(memPath, "memPath");
        if (vcpus < 1) throw new IllegalArgumentException("vcpus: must be >= 1");
        if (memoryMib < 1) throw new IllegalArgumentException("memoryMib: must be >= 1");
        if (!incomingDefer && kernel == null) throw new IllegalArgumentException("kernel: required for a cold boot");
        diskLayers = diskLayers == null ? List.of() : List.copyOf(diskLayers);
        if (rootDisk == null && !diskLayers.isEmpty())
            throw new IllegalArgumentException("diskLayers: need a rootDisk");
    }

    /** The machine shape a snapshot records: what must match between snapshot and restore. */
    public static final String DEVICE_LIST = "serial=console;virtio-serial-device;virtserialport=agent";

    /**
     * {@return the shape of this machine without any paths: machine type, accelerator, CPU,
     * RAM, vCPUs and the device list; a snapshot restores only into a QEMU of equal shape}
     */
    public String shape() {
        return machineType() + "|" + accelerator.qemuName() + "|" + accelerator.cpuModel() + "|" + memoryMib + "M|smp="
                + vcpus + "|" + DEVICE_LIST + (rootDisk != null ? ";virtio-blk-device" : "");
    }

    private String machineType() {
        return "microvm,pit=on,pic=on,rtc=on" + (machineOptions.isEmpty() ? "" : "," + machineOptions);
    }

    /** A cold boot with RAM in {@code <vmDir>/mem}, shared (so it can be snapshotted). */
    public static QemuCommand boot(
            String qemuBinary,
            Accelerator accel,
            String machineOptions,
            int vcpus,
            int memoryMib,
            Path vmDir,
            Path kernel,
            Path initrd,
            String append,
            Path rootDisk) {
        return new QemuCommand(
                qemuBinary,
                accel,
                machineOptions,
                vcpus,
                memoryMib,
                vmDir,
                vmDir.resolve(MEMORY_FILE),
                true,
                kernel,
                initrd,
                append,
                rootDisk,
                List.of(),
                false,
                false);
    }

    /**
     * A machine restoring from a snapshot (a clone, a warm-pool entry, or the successor a VM is
     * re-homed into): RAM mapped privately (copy-on-write) from {@code mem}, root disk
     * {@code top} over the read-only {@code layers} (null and empty for none), no kernel
     * (firmware load is skipped on an incoming migration), started with {@code -incoming defer}.
     */
    public static QemuCommand restore(
            String qemuBinary,
            Accelerator accel,
            String machineOptions,
            int vcpus,
            int memoryMib,
            Path vmDir,
            Path mem,
            Path top,
            List<Path> layers) {
        return new QemuCommand(
                qemuBinary,
                accel,
                machineOptions,
                vcpus,
                memoryMib,
                vmDir,
                mem,
                false,
                null,
                null,
                null,
                top,
                layers,
                true,
                false);
    }

    /**
     * What a running VM was started as, without its boot files: the shape and disk chain a
     * snapshot of it records and a {@link #forCapture capture} copies. {@code memShared} is
     * whether its RAM file is mapped {@code share=on} (a launched VM) or privately (a clone).
     */
    public static QemuCommand running(
            String qemuBinary,
            Accelerator accel,
            String machineOptions,
            int vcpus,
            int memoryMib,
            Path vmDir,
            boolean memShared,
            Path top,
            List<Path> layers) {
        return new QemuCommand(
                qemuBinary,
                accel,
                machineOptions,
                vcpus,
                memoryMib,
                vmDir,
                vmDir.resolve(MEMORY_FILE),
                memShared,
                null,
                null,
                null,
                top,
                layers,
                true,
                false);
    }

    /**
     * A QEMU that receives a running VM by migration and keeps it paused (a snapshot's
     * capture process): RAM shared in {@code mem}, sockets in {@code dir}, root disk
     * {@code scratchDisk} (a throwaway of the same shape), no kernel, {@code -S}.
     */
    public QemuCommand forCapture(Path dir, Path mem, Path scratchDisk) {
        return new QemuCommand(
                qemuBinary,
                accelerator,
                machineOptions,
                vcpus,
                memoryMib,
                dir,
                mem,
                true,
                null,
                null,
                null,
                rootDisk == null ? null : scratchDisk,
                List.of(),
                true,
                true);
    }

    /** {@return the kernel command line for a boot: the fixed console/TCG flags, hostname, then image extras} */
    public static String kernelCmdline(Accelerator accel, String hostname, String imageExtras) {
        var sb = new StringBuilder("console=ttyS0 quiet reboot=k panic=-1");
        // TCG: without a fixed TSC frequency the early calibration often hangs (docs/qemu-notes.md §2).
        if (accel == Accelerator.TCG) sb.append(" tsc_early_khz=2500000 lpj=5000000");
        sb.append(" fastvm.hostname=").append(hostname);
        if (imageExtras != null && !imageExtras.isBlank()) sb.append(' ').append(imageExtras.strip());
        return sb.toString();
    }

    /** {@return the full argv, device order fixed} */
    public List<String> argv() {
        List<String> a = new ArrayList<>();
        a.add(qemuBinary);
        a.add("-name");
        a.add("fastvm-" + vmDir.getFileName());
        a.add("-M");
        a.add(machineType() + ",memory-backend=" + MEMORY_BACKEND);
        a.add("-accel");
        a.add(accelerator.qemuName());
        a.add("-cpu");
        a.add(accelerator.cpuModel());
        a.add("-m");
        a.add(memoryMib + "M");
        a.add("-smp");
        a.add(Integer.toString(vcpus));
        a.add("-nodefaults");
        a.add("-no-user-config");
        a.add("-no-reboot"); // a guest panic or reboot ends the process: the machine is dead, not looping
        a.add("-display");
        a.add("none");
        a.add("-object");
        a.add("memory-backend-file,id=" + MEMORY_BACKEND + ",size=" + memoryMib + "M,mem-path=" + memPath + ",share="
                + (memShared ? "on" : "off"));
        if (kernel != null) {
            a.add("-kernel");
            a.add(kernel.toString());
            if (initrd != null) {
                a.add("-initrd");
                a.add(initrd.toString());
            }
            if (append != null) {
                a.add("-append");
                a.add(append);
            }
        }
        // Devices, in the order the guest enumerates them; never reorder (snapshots depend on it).
        a.add("-chardev");
        a.add("file,id=console,path=" + vmDir.resolve(CONSOLE_LOG) + ",append=on"); // a successor QEMU appends
        a.add("-serial");
        a.add("chardev:console");
        a.add("-device");
        a.add("virtio-serial-device");
        a.add("-chardev");
        a.add("socket,id=agent,path=" + vmDir.resolve(AGENT_SOCKET) + ",server=on,wait=off");
        a.add("-device");
        a.add("virtserialport,chardev=agent,name=" + AGENT_PORT);
        if (rootDisk != null) {
            String below = null;
            for (int i = 0; i < diskLayers.size(); i++) { // read-only layers, bottom first
                String node = ROOT_DISK_NODE + "-l" + i;
                a.add("-blockdev");
                // layers are immutable and shared by many QEMUs (hard links): no image locks on them, or
                // a clone's shared lock would keep the VM that froze the layer from resuming
                a.add("driver=file,node-name=" + node + "-file,filename=" + diskLayers.get(i)
                        + ",read-only=on,locking=off");
                a.add("-blockdev");
                a.add("driver=qcow2,node-name=" + node + ",file=" + node + "-file,read-only=on"
                        + (below != null ? ",backing=" + below : ""));
                below = node;
            }
            a.add("-blockdev");
            a.add("driver=file,node-name=" + ROOT_DISK_FILE_NODE + ",filename=" + rootDisk);
            a.add("-blockdev");
            a.add("driver=qcow2,node-name=" + ROOT_DISK_NODE + ",file=" + ROOT_DISK_FILE_NODE
                    + (below != null ? ",backing=" + below : ""));
            a.add("-device");
            a.add("virtio-blk-device,drive=" + ROOT_DISK_NODE);
        }
        a.add("-qmp");
        a.add("unix:" + vmDir.resolve(QMP_SOCKET) + ",server=on,wait=off");
        if (incomingDefer) {
            a.add("-incoming");
            a.add("defer");
        }
        if (startPaused) a.add("-S");
        return a;
    }
}
