package org.fastvm.vmm;

/** No snapshot with the given id exists (never taken, or deleted). */
public class NoSuchSnapshotException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message which snapshot */
    public NoSuchSnapshotException(String message) {
        super(message);
    }
}
