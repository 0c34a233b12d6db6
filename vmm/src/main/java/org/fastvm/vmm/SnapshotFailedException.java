package org.fastvm.vmm;

/**
 * Taking a snapshot failed (e.g. the disk is full, or the capture QEMU died). Nothing of
 * the snapshot is left behind and the source VM runs on.
 */
public class SnapshotFailedException extends VmmException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message which VM and snapshot, and what failed
     * @param cause   the underlying failure
     */
    public SnapshotFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
