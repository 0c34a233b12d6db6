package org.fastvm.vmm;

import java.util.List;

/** An external program (qemu-img, the image build, ...) failed or ran out of time. */
public class ProcessFailedException extends VmmException {
    private static final long serialVersionUID = 1L;

    private final String[] argv; // an array, not a List: a serializable exception keeps serializable fields
    private final int exitCode;
    private final String stderrTail;

    /**
     * @param argv       the command line that ran
     * @param exitCode   its exit code, or -1 when it was killed for running too long
     * @param stderrTail the last part of its stderr
     * @param reason     a short description, e.g. "exited with 1" or "timed out after 30s"
     */
    public ProcessFailedException(List<String> argv, int exitCode, String stderrTail, String reason) {
        super(argv.get(0) + " " + reason + (stderrTail.isBlank() ? "" : ": " + stderrTail.strip()) + " (argv: "
                + String.join(" ", argv) + ")");
        this.argv = argv.toArray(String[]::new);
        this.exitCode = exitCode;
        this.stderrTail = stderrTail;
    }

    /** {@return the command line that ran} */
    public List<String> argv() {
        return List.of(argv);
    }

    /** {@return the exit code, or -1 when the process was killed for running too long} */
    public int exitCode() {
        return exitCode;
    }

    /** {@return the last part of the process's stderr (bounded)} */
    public String stderrTail() {
        return stderrTail;
    }
}
