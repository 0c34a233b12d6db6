package org.fastvm.vmm.qemu;

import org.fastvm.vmm.VmmException;

/** QEMU answered a QMP command with an error, or the QMP connection failed. */
public class QmpException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message the command and QEMU's error class and description */
    public QmpException(String message) {
        super(message);
    }

    /**
     * @param message what failed
     * @param cause   the I/O failure
     */
    public QmpException(String message, Throwable cause) {
        super(message, cause);
    }
}
