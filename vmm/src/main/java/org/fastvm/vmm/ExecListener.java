package org.fastvm.vmm;

/**
 * Receives a streaming exec's events in order, on the agent channel's reader thread:
 * keep the callbacks short (hand work off if it blocks).
 */
public interface ExecListener {
    /** The process started in the guest with this pid. */
    default void onStarted(long pid) {}

    /** A chunk of stdout (at most 64 KiB), as it arrived. */
    void onStdout(byte[] chunk);

    /** A chunk of stderr (at most 64 KiB), as it arrived. */
    void onStderr(byte[] chunk);

    /** The process ended; {@code result} carries no output (it was streamed). */
    void onExit(ExecResult result);

    /** The exec failed without an exit (could not start, channel lost, VM died). */
    default void onError(VmmException error) {}
}
