package org.fastvm.sdk;

import java.time.Duration;
import java.util.Optional;

/**
 * Options of {@link FastVM#run(String, String, RunOptions)} and
 * {@link FastVM#stream(String, String, RunOptions)}. Immutable; build with {@link #builder()}.
 */
public final class RunOptions {
    private final Integer timeoutSec;
    private final Duration timeout;
    private final int transientRetries;
    private final byte[] stdin;

    private RunOptions(Builder b) {
        timeoutSec = b.timeoutSec;
        timeout = b.timeout;
        transientRetries = b.transientRetries;
        stdin = b.stdin;
    }

    /**
     * A new builder.
     *
     * @return a builder with every field at its default
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The defaults: no command time limit, the client's transport timeout, 3 transient retries.
     *
     * @return default options
     */
    public static RunOptions defaults() {
        return new Builder().build();
    }

    /**
     * The time limit the server enforces on the command (it is killed, {@code timedOut} set).
     *
     * @return seconds, or empty for none
     */
    public Optional<Integer> timeoutSec() {
        return Optional.ofNullable(timeoutSec);
    }

    /**
     * The transport timeout of this call: how long to wait for the server's answer.
     *
     * @return the timeout, or empty for the client's (extended to cover {@code timeoutSec})
     */
    public Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    /**
     * How often a 502/503 answer marked {@code x-should-retry: true} is retried (the server's word
     * that the command never started; nothing else is retried).
     *
     * @return retries, default 3
     */
    public int transientRetries() {
        return transientRetries;
    }

    /**
     * Bytes written to the command's standard input, which is then closed.
     *
     * @return a copy of the bytes, or empty for no input
     */
    public Optional<byte[]> stdin() {
        return Optional.ofNullable(stdin).map(byte[]::clone);
    }

    /** Builds {@link RunOptions}; each setter validates its argument immediately. */
    public static final class Builder {
        private Integer timeoutSec;
        private Duration timeout;
        private int transientRetries = TransientRetry.DEFAULT_RETRIES;
        private byte[] stdin;

        private Builder() {}

        /**
         * Sets the server-side time limit of the command.
         *
         * @param timeoutSec seconds, at least 1
         * @return this builder
         */
        public Builder timeoutSec(int timeoutSec) {
            this.timeoutSec = Checks.atLeast(timeoutSec, 1, "timeoutSec");
            return this;
        }

        /**
         * Sets the transport timeout of this call.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Checks.positive(timeout, "timeout");
            return this;
        }

        /**
         * Sets how often a 502/503 answer marked {@code x-should-retry: true} is retried.
         *
         * @param transientRetries 0 or more
         * @return this builder
         */
        public Builder transientRetries(int transientRetries) {
            this.transientRetries = Checks.atLeast(transientRetries, 0, "transientRetries");
            return this;
        }

        /**
         * Sets the command's standard input.
         *
         * @param stdin the bytes (copied)
         * @return this builder
         */
        public Builder stdin(byte[] stdin) {
            this.stdin = Checks.notNull(stdin, "stdin").clone();
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the immutable options
         */
        public RunOptions build() {
            return new RunOptions(this);
        }
    }
}
