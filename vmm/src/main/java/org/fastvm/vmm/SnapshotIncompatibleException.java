package org.fastvm.vmm;

/**
 * A snapshot cannot be restored by this engine: it was taken with another QEMU version,
 * guest image, accelerator or machine shape, or QEMU refused its device state.
 */
public class SnapshotIncompatibleException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message which snapshot, and what differs (recorded vs. current) */
    public SnapshotIncompatibleException(String message) {
        super(message);
    }

    /**
     * @param message which snapshot, and what QEMU said
     * @param cause   the underlying failure
     */
    public SnapshotIncompatibleException(String message, Throwable cause) {
        super(message, cause);
    }
}
