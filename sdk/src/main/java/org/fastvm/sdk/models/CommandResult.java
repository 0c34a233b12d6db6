package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * The buffered outcome of a command. A non-zero exit or a timeout is a normal result, not an
 * exception. Each of stdout and stderr is capped by the server (4 MiB); the rest is dropped
 * and the matching {@code *Truncated} flag set — use {@code client.stream(..)} for more.
 *
 * @param exitCode the process's exit code
 * @param stdout standard output, decoded as UTF-8
 * @param stderr standard error, decoded as UTF-8
 * @param timedOut whether the command was killed at its {@code timeoutSec}
 * @param stdoutTruncated whether stdout exceeded the cap
 * @param stderrTruncated whether stderr exceeded the cap
 * @param durationMs wall time of the command in milliseconds
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CommandResult(
        int exitCode,
        String stdout,
        String stderr,
        boolean timedOut,
        boolean stdoutTruncated,
        boolean stderrTruncated,
        long durationMs) {

    /** Normalises absent output to empty strings. */
    public CommandResult {
        stdout = stdout == null ? "" : stdout;
        stderr = stderr == null ? "" : stderr;
    }

    /**
     * Whether the command exited 0 within its time limit.
     *
     * @return {@code exitCode == 0 && !timedOut}
     */
    public boolean succeeded() {
        return exitCode == 0 && !timedOut;
    }
}
