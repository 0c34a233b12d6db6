package org.fastvm.sdk;

import java.time.Duration;
import java.util.Optional;

/**
 * Options of {@link FastVM#snapshot(String, SnapshotOptions)}. Immutable; build with
 * {@link #builder()}.
 */
public final class SnapshotOptions {
    private final String name;
    private final Duration timeout;

    private SnapshotOptions(Builder b) {
        name = b.name;
        timeout = b.timeout;
    }

    /**
     * A new builder.
     *
     * @return a builder with every field unset
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The defaults: server-chosen name, the client's timeout.
     *
     * @return options with every field unset
     */
    public static SnapshotOptions defaults() {
        return new Builder().build();
    }

    /**
     * The snapshot name.
     *
     * @return the name, or empty for the server default
     */
    public Optional<String> name() {
        return Optional.ofNullable(name);
    }

    /**
     * How long to wait for the snapshot to be {@code ready}, including the create request.
     *
     * @return the deadline, or empty for the client's timeout
     */
    public Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    /** Builds {@link SnapshotOptions}; each setter validates its argument immediately. */
    public static final class Builder {
        private String name;
        private Duration timeout;

        private Builder() {}

        /**
         * Sets the snapshot name.
         *
         * @param name a non-empty name
         * @return this builder
         */
        public Builder name(String name) {
            this.name = Checks.nonEmpty(name, "name");
            return this;
        }

        /**
         * Sets how long to wait for {@code ready}.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Checks.positive(timeout, "timeout");
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the immutable options
         */
        public SnapshotOptions build() {
            return new SnapshotOptions(this);
        }
    }
}
