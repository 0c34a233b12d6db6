package org.fastvm.vmm;

/** The guest agent answered a request with an {@code ERROR} frame. */
public class AgentErrorException extends VmmException {
    private static final long serialVersionUID = 1L;

    private final String code;

    /**
     * @param code    the agent's error code, e.g. {@code BAD_REQUEST}
     * @param message the agent's message
     */
    public AgentErrorException(String code, String message) {
        super("guest agent error " + code + ": " + message);
        this.code = code;
    }

    /** {@return the agent's error code, e.g. {@code BAD_REQUEST} or {@code DUPLICATE_ID}} */
    public String code() {
        return code;
    }
}
