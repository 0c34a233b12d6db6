package org.fastvm.vmm;

/** The agent sent bytes that do not follow the agent protocol (bad magic, bad TLV, ...). */
public class AgentProtocolException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message what was wrong, naming the frame type or field */
    public AgentProtocolException(String message) {
        super(message);
    }
}
