package org.fastvm.vmm;

/** A VM did not come up: QEMU exited early, or the agent did not say hello in time. */
public class BootFailedException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message what happened, with the tail of the VM's console log */
    public BootFailedException(String message) {
        super(message);
    }

    /**
     * @param message what happened, with the tail of the VM's console log
     * @param cause   the underlying failure
     */
    public BootFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
