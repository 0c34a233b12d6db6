package org.fastvm.sdk;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.fastvm.sdk.models.FirewallPolicy;

/**
 * Options of {@link FastVM#restore(String, RestoreOptions)}. Immutable; build with
 * {@link #builder()}. The machine type comes from the snapshot; the snapshot's firewall
 * applies unless one is given here.
 */
public final class RestoreOptions {
    private final String name;
    private final FirewallPolicy firewall;
    private final Map<String, String> metadata;
    private final Duration timeout;

    private RestoreOptions(Builder b) {
        name = b.name;
        firewall = b.firewall;
        metadata = b.metadata;
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
     * The defaults: server-chosen name, the snapshot's firewall, the client's timeout.
     *
     * @return options with every field unset
     */
    public static RestoreOptions defaults() {
        return new Builder().build();
    }

    /**
     * The new VM's name.
     *
     * @return the name, or empty for the server default
     */
    public Optional<String> name() {
        return Optional.ofNullable(name);
    }

    /**
     * The firewall policy overriding the snapshot's.
     *
     * @return the policy, or empty to keep the snapshot's
     */
    public Optional<FirewallPolicy> firewall() {
        return Optional.ofNullable(firewall);
    }

    /**
     * User metadata to attach to the new VM.
     *
     * @return the metadata, or empty for none
     */
    public Optional<Map<String, String>> metadata() {
        return Optional.ofNullable(metadata);
    }

    /**
     * How long to wait for the VM to be {@code running}, including the create request.
     *
     * @return the deadline, or empty for the client's timeout
     */
    public Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    /** Builds {@link RestoreOptions}; each setter validates its argument immediately. */
    public static final class Builder {
        private String name;
        private FirewallPolicy firewall;
        private Map<String, String> metadata;
        private Duration timeout;

        private Builder() {}

        /**
         * Sets the new VM's name.
         *
         * @param name a non-empty name
         * @return this builder
         */
        public Builder name(String name) {
            this.name = Checks.nonEmpty(name, "name");
            return this;
        }

        /**
         * Overrides the snapshot's firewall policy.
         *
         * @param firewall the policy
         * @return this builder
         */
        public Builder firewall(FirewallPolicy firewall) {
            this.firewall = Checks.notNull(firewall, "firewall");
            return this;
        }

        /**
         * Sets user metadata.
         *
         * @param metadata string keys and values
         * @return this builder
         */
        public Builder metadata(Map<String, String> metadata) {
            this.metadata = Checks.stringMap(metadata, "metadata");
            return this;
        }

        /**
         * Sets how long to wait for {@code running}.
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
        public RestoreOptions build() {
            return new RestoreOptions(this);
        }
    }
}
