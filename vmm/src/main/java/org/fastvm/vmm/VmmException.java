package org.fastvm.vmm;

/**
 * Base of every failure the engine reports. Unchecked, so callers on virtual threads can
 * let it travel; each subclass names one kind of failure a caller may want to handle.
 */
public class VmmException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param message what failed, naming the VM, file or field involved */
    public VmmException(String message) {
        super(message);
    }

    /**
     * @param message what failed
     * @param cause   the underlying failure
     */
    public VmmException(String message, Throwable cause) {
        super(message, cause);
    }
}
