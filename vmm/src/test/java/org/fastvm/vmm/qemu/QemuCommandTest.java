package org.fastvm.vmm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.fastvm.vmm.Accelerator;
import org.junit.jupiter.api.Test;

class QemuCommandTest {
    private static final Path VM = Path.of("/data/vms/vm-1");

    private static QemuCommand boot(Accelerator a, Path disk) {
        return QemuCommand.boot(
                "qemu-system-x86_64",
                a,
                "",
                2,
                512,
                VM,
                Path.of("/img/vmlinuz"),
                Path.of("/img/initrd.img"),
                QemuCommand.kernelCmdline(a, "box", "fastvm.root=/dev/vda"),
                disk);
    }

    private static String after(List<String> argv, String flag) {
        int i = argv.indexOf(flag);
        assertTrue(i >= 0 && i + 1 < argv.size(), flag + " missing in " + argv);
        return argv.get(i + 1);
    }

    @Test
    void tcgBootWithRootDiskHasTheFullArgvInFixedOrder() {
        List<String> argv = boot(Accelerator.TCG, VM.resolve("root.qcow2")).argv();
        assertEquals(
                List.of(
                        "qemu-system-x86_64",
                        "-name",
                        "fastvm-vm-1",
                        "-M",
                        "microvm,pit=on,pic=on,rtc=on,memory-backend=mem",
                        "-accel",
                        "tcg",
                        "-cpu",
                        "max",
                        "-m",
                        "512M",
                        "-smp",
                        "2",
                        "-nodefaults",
                        "-no-user-config",
                        "-no-reboot",
                        "-display",
                        "none",
                        "-object",
                        "memory-backend-file,id=mem,size=512M,mem-path=/data/vms/vm-1/mem,share=on",
                        "-kernel",
                        "/img/vmlinuz",
                        "-initrd",
                        "/img/initrd.img",
                        "-append",
                        "console=ttyS0 quiet reboot=k panic=-1 tsc_early_khz=2500000 lpj=5000000 "
                                + "fastvm.hostname=box fastvm.root=/dev/vda",
                        "-chardev",
                        "file,id=console,path=/data/vms/vm-1/console.log,append=on",
                        "-serial",
                        "chardev:console",
                        "-device",
                        "virtio-serial-device",
                        "-chardev",
                        "socket,id=agent,path=/data/vms/vm-1/agent.sock,server=on,wait=off",
                        "-device",
                        "virtserialport,chardev=agent,name=agent",
                        "-blockdev",
                        "driver=file,node-name=disk0-file,filename=/data/vms/vm-1/root.qcow2",
                        "-blockdev",
                        "driver=qcow2,node-name=disk0,file=disk0-file",
                        "-device",
                        "virtio-blk-device,drive=disk0",
                        "-qmp",
                        "unix:/data/vms/vm-1/qmp.sock,server=on,wait=off"),
                argv);
    }

    @Test
    void kvmUsesHostCpuAndNoTscOverride() {
        List<String> argv = boot(Accelerator.KVM, null).argv();
        assertEquals("kvm", after(argv, "-accel"));
        assertEquals("host", after(argv, "-cpu"));
        assertFalse(after(argv, "-append").contains("tsc_early_khz"));
        assertFalse(argv.contains("-blockdev"), "no disk, no blockdev");
        assertFalse(argv.contains("-incoming"));
    }

    @Test
    void restoreKeepsTheDeviceOrderAndMapsSnapshotMemoryPrivately() {
        QemuCommand b = boot(Accelerator.TCG, VM.resolve("root.qcow2"));
        QemuCommand r = QemuCommand.restore(
                b.qemuBinary(),
                b.accelerator(),
                b.machineOptions(),
                b.vcpus(),
                b.memoryMib(),
                b.vmDir(),
                Path.of("/data/snapshots/s1/mem"),
                b.rootDisk(),
                b.diskLayers());
        List<String> ba = b.argv(), ra = r.argv();
        assertEquals(
                "memory-backend-file,id=mem,size=512M,mem-path=/data/snapshots/s1/mem,share=off", after(ra, "-object"));
        assertEquals(List.of("-incoming", "defer"), ra.subList(ra.size() - 2, ra.size()));
        assertEquals(devices(ba), devices(ra));
    }

    @Test
    void cloneInAnotherDirMovesSocketsAndDisk() {
        QemuCommand c = QemuCommand.restore(
                "q",
                Accelerator.TCG,
                "",
                1,
                512,
                Path.of("/data/vms/vm-2"),
                Path.of("/data/vms/vm-2/mem"),
                Path.of("/data/vms/vm-2/root.qcow2"),
                List.of());
        String all = String.join(" ", c.argv());
        assertFalse(all.contains("/vm-1/"), all);
        assertTrue(all.contains("mem-path=/data/vms/vm-2/mem"), all);
    }

    private static List<String> devices(List<String> argv) {
        var out = new java.util.ArrayList<String>();
        for (int i = 0; i < argv.size() - 1; i++) {
            if (argv.get(i).equals("-device") || argv.get(i).equals("-blockdev")) {
                out.add(argv.get(i + 1).replaceAll("/[^,]*/", "/"));
            }
        }
        return out;
    }

    @Test
    void coldBootNeedsAKernel() {
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> QemuCommand.boot("q", Accelerator.TCG, "", 1, 64, VM, null, null, null, null));
        assertTrue(e.getMessage().startsWith("kernel:"), e.getMessage());
    }

    @Test
    void diskLayersAreAnExplicitReadOnlyUnlockedChainUnderTheTop() {
        QemuCommand c = QemuCommand.restore(
                "q",
                Accelerator.TCG,
                "",
                1,
                512,
                VM,
                VM.resolve("mem"),
                VM.resolve("layer-2.qcow2"),
                List.of(VM.resolve("root.qcow2"), VM.resolve("layer-1.qcow2")));
        List<String> bd = new java.util.ArrayList<>();
        List<String> a = c.argv();
        for (int i = 0; i < a.size() - 1; i++) if (a.get(i).equals("-blockdev")) bd.add(a.get(i + 1));
        assertEquals(
                List.of(
                        "driver=file,node-name=disk0-l0-file,filename=/data/vms/vm-1/root.qcow2,read-only=on,locking=off",
                        "driver=qcow2,node-name=disk0-l0,file=disk0-l0-file,read-only=on",
                        "driver=file,node-name=disk0-l1-file,filename=/data/vms/vm-1/layer-1.qcow2,read-only=on,locking=off",
                        "driver=qcow2,node-name=disk0-l1,file=disk0-l1-file,read-only=on,backing=disk0-l0",
                        "driver=file,node-name=disk0-file,filename=/data/vms/vm-1/layer-2.qcow2",
                        "driver=qcow2,node-name=disk0,file=disk0-file,backing=disk0-l1"),
                bd);
        assertEquals(1, java.util.Collections.frequency(a, "-device") - 2, "one disk device");
    }

    @Test
    void captureQemuStaysPausedWithSharedRamAndAScratchDisk() {
        QemuCommand b = boot(Accelerator.TCG, VM.resolve("root.qcow2"));
        List<String> a = b.forCapture(
                        Path.of("/data/snapshots/.tmp-1/c"),
                        Path.of("/data/snapshots/.tmp-1/mem"),
                        Path.of("/data/snapshots/.tmp-1/c/scratch.qcow2"))
                .argv();
        assertEquals(
                "memory-backend-file,id=mem,size=512M,mem-path=/data/snapshots/.tmp-1/mem,share=on",
                after(a, "-object"));
        assertEquals(List.of("-incoming", "defer", "-S"), a.subList(a.size() - 3, a.size()));
        assertFalse(a.contains("-kernel"));
        assertTrue(String.join(" ", a).contains("filename=/data/snapshots/.tmp-1/c/scratch.qcow2"));
    }

    @Test
    void shapeIgnoresPathsButNotTheMachine() {
        QemuCommand b = boot(Accelerator.TCG, VM.resolve("root.qcow2"));
        assertEquals(
                b.shape(),
                QemuCommand.restore(
                                "q",
                                Accelerator.TCG,
                                "",
                                2,
                                512,
                                Path.of("/data/vms/other"),
                                Path.of("/x/mem"),
                                Path.of("/o.qcow2"),
                                List.of())
                        .shape());
        assertFalse(b.shape().equals(boot(Accelerator.TCG, null).shape()), "a root disk is part of the shape");
        assertFalse(
                b.shape()
                        .equals(QemuCommand.boot(
                                        "q",
                                        Accelerator.TCG,
                                        "",
                                        1,
                                        512,
                                        VM,
                                        Path.of("/k"),
                                        null,
                                        null,
                                        VM.resolve("root.qcow2"))
                                .shape()),
                "vCPUs are part of the shape");
        assertFalse(
                b.shape()
                        .equals(QemuCommand.boot(
                                        "q",
                                        Accelerator.TCG,
                                        "acpi=off",
                                        2,
                                        512,
                                        VM,
                                        Path.of("/k"),
                                        null,
                                        null,
                                        VM.resolve("root.qcow2"))
                                .shape()),
                "machine options are part of the shape");
    }

    @Test
    void imageMachineOptionsJoinTheMachineType() {
        List<String> a = QemuCommand.restore(
                        "q", Accelerator.TCG, "acpi=off", 1, 64, VM, VM.resolve("mem"), null, List.of())
                .argv();
        assertEquals("microvm,pit=on,pic=on,rtc=on,acpi=off,memory-backend=mem", after(a, "-M"));
    }
}
