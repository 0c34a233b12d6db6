package org.fastvm.vmm;

/** How QEMU runs guest code: hardware KVM, or TCG (software emulation). */
public enum Accelerator {
    /** Hardware virtualisation through /dev/kvm. */
    KVM("kvm", "host"),
    /** QEMU's software emulator; works everywhere, slower. */
    TCG("tcg", "max");

    private final String qemuName;
    private final String cpuModel;

    Accelerator(String qemuName, String cpuModel) {
        this.qemuName = qemuName;
        this.cpuModel = cpuModel;
    }

    /** {@return the value for QEMU's {@code -accel}} */
    public String qemuName() {
        return qemuName;
    }

    /** {@return the value for QEMU's {@code -cpu} that suits this accelerator} */
    public String cpuModel() {
        return cpuModel;
    }
}
