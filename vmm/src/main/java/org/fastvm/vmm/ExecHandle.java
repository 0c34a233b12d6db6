package org.fastvm.vmm;

import java.util.concurrent.CompletableFuture;

/** A running streaming exec, from {@link Machine#start}. */
public interface ExecHandle {
    /** {@return completes with the result (no output) on exit, or exceptionally with a {@link VmmException}} */
    CompletableFuture<ExecResult> result();

    /** Sends {@code signal} to the command's whole process group. */
    void kill(int signal);

    /** Kills the command's whole process group with SIGKILL. */
    default void cancel() {
        kill(9);
    }

    /** Writes to the process's stdin (request built with {@code stdinOpen(true)}). */
    void writeStdin(byte[] data);

    /** Closes the process's stdin. */
    void closeStdin();
}
