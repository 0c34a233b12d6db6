package org.fastvm.vmm;

/** The VM's QEMU process has exited (or was killed); nothing more can run in it. */
public class MachineDeadException extends VmmException {
    private static final long serialVersionUID = 1L;

    /** @param message which machine, and what was being attempted */
    public MachineDeadException(String message) {
        super(message);
    }

    /**
     * @param message which machine, and what was being attempted
     * @param cause   the failure that revealed it (usually the agent channel closing)
     */
    public MachineDeadException(String message, Throwable cause) {
        super(message, cause);
    }
}
