package org.fastvm.vmm;

/**
 * The host's connection to the guest agent closed while a request was in flight (the
 * channel was reopened, or the socket broke). The guest's processes keep running.
 */
public class AgentDisconnectedException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message what was in flight when the channel closed */
    public AgentDisconnectedException(String message) {
        super(message);
    }

    /**
     * @param message what was in flight when the channel closed
     * @param cause   the I/O failure, if any
     */
    public AgentDisconnectedException(String message, Throwable cause) {
        super(message, cause);
    }
}
