package org.fastvm.vmm;

/**
 * How a command ended, with its buffered output.
 *
 * @param exitCode        the exit code; when killed by a signal, 128 + signal (shell convention)
 * @param signal          the signal that killed it, or 0
 * @param stdout          stdout bytes (at most the request's output limit)
 * @param stderr          stderr bytes (at most the request's output limit)
 * @param stdoutTruncated true when stdout exceeded the limit and the rest was dropped
 * @param stderrTruncated true when stderr exceeded the limit and the rest was dropped
 * @param timedOut        true when the timeout killed the process group
 * @param durationMs      run time measured by the agent, in milliseconds
 */
// The output is handed over without a copy (it can be megabytes); results are read, never compared.
@SuppressWarnings("ArrayRecordComponent")
public record ExecResult(
        int exitCode,
        int signal,
        byte[] stdout,
        byte[] stderr,
        boolean stdoutTruncated,
        boolean stderrTruncated,
        boolean timedOut,
        long durationMs) {

    /** The exit code the shell reports for a process killed by {@code signal}. */
    public static int exitCodeForSignal(int signal) {
        return 128 + signal;
    }

    /** {@return stdout decoded as UTF-8 (malformed bytes replaced)} */
    public String stdoutText() {
        return new String(stdout, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** {@return stderr decoded as UTF-8 (malformed bytes replaced)} */
    public String stderrText() {
        return new String(stderr, java.nio.charset.StandardCharsets.UTF_8);
    }
}
