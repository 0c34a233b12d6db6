package org.fastvm.sdk;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.MachineType;

/**
 * Options of {@link FastVM#launch(LaunchOptions)}. Immutable; build with {@link #builder()}.
 * Every field is optional: the machine defaults to {@code c1m2}, the name to a random UUID,
 * the timeout to the client's.
 */
public final class LaunchOptions {
    private final MachineType machine;
    private final String name;
    private final Integer diskGib;
    private final FirewallPolicy firewall;
    private final Map<String, String> metadata;
    private final Duration timeout;

    private LaunchOptions(Builder b) {
        machine = b.machine;
        name = b.name;
        diskGib = b.diskGib;
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
     * The defaults: {@code c1m2}, generated name, server-default disk and firewall.
     *
     * @return options with every field unset
     */
    public static LaunchOptions defaults() {
        return new Builder().build();
    }

    /**
     * The machine type.
     *
     * @return the machine, {@code c1m2} when unset
     */
    public MachineType machine() {
        return machine == null ? MachineType.C1M2 : machine;
    }

    /**
     * The VM name.
     *
     * @return the name, or empty to have the client generate a UUID
     */
    public Optional<String> name() {
        return Optional.ofNullable(name);
    }

    /**
     * The disk size in GiB (grow-only over the server's default).
     *
     * @return the size, or empty for the server default
     */
    public Optional<Integer> diskGib() {
        return Optional.ofNullable(diskGib);
    }

    /**
     * The initial firewall policy.
     *
     * @return the policy, or empty for the server default ({@code restricted}, no rules)
     */
    public Optional<FirewallPolicy> firewall() {
        return Optional.ofNullable(firewall);
    }

    /**
     * User metadata to attach.
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

    /** Builds {@link LaunchOptions}; each setter validates its argument immediately. */
    public static final class Builder {
        private MachineType machine;
        private String name;
        private Integer diskGib;
        private FirewallPolicy firewall;
        private Map<String, String> metadata;
        private Duration timeout;

        private Builder() {}

        /**
         * Sets the machine type by name.
         *
         * @param machine {@code c<vCPUs>m<GiB>}, e.g. {@code c2m4}
         * @return this builder
         * @throws IllegalArgumentException when the name is not of that form
         */
        public Builder machine(String machine) {
            this.machine = MachineType.parse(machine);
            return this;
        }

        /**
         * Sets the machine type.
         *
         * @param machine the machine type
         * @return this builder
         */
        public Builder machine(MachineType machine) {
            this.machine = Checks.notNull(machine, "machine");
            return this;
        }

        /**
         * Sets the VM name (the server trims it and truncates it to 64 characters).
         *
         * @param name a non-empty name
         * @return this builder
         */
        public Builder name(String name) {
            this.name = Checks.nonEmpty(name, "name");
            return this;
        }

        /**
         * Sets the disk size.
         *
         * @param diskGib size in GiB, at least 1 (the server may require more)
         * @return this builder
         */
        public Builder diskGib(int diskGib) {
            this.diskGib = Checks.atLeast(diskGib, 1, "diskGib");
            return this;
        }

        /**
         * Sets the initial firewall policy.
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
        public LaunchOptions build() {
            return new LaunchOptions(this);
        }
    }
}
