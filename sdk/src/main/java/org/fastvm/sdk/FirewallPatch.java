package org.fastvm.sdk;

import java.util.List;
import java.util.Optional;
import org.fastvm.sdk.models.FirewallMode;
import org.fastvm.sdk.models.FirewallRule;

/**
 * A partial firewall change for {@link FastVM#patchFirewall(String, FirewallPatch)}: fields
 * left unset stay as they are; an empty ingress list removes every rule. Immutable; build
 * with {@link #builder()}.
 */
public final class FirewallPatch {
    private final FirewallMode mode;
    private final List<FirewallRule> ingress;

    private FirewallPatch(Builder b) {
        mode = b.mode;
        ingress = b.ingress;
    }

    /**
     * A new builder.
     *
     * @return a builder with nothing changed
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The new mode.
     *
     * @return the mode, or empty to keep the current one
     */
    public Optional<FirewallMode> mode() {
        return Optional.ofNullable(mode);
    }

    /**
     * The new rule list (replaces the current one).
     *
     * @return the rules, or empty to keep the current ones
     */
    public Optional<List<FirewallRule>> ingress() {
        return Optional.ofNullable(ingress);
    }

    /** Builds {@link FirewallPatch}. */
    public static final class Builder {
        private FirewallMode mode;
        private List<FirewallRule> ingress;

        private Builder() {}

        /**
         * Changes the mode.
         *
         * @param mode the new mode
         * @return this builder
         */
        public Builder mode(FirewallMode mode) {
            this.mode = Checks.notNull(mode, "mode");
            return this;
        }

        /**
         * Replaces the ingress rules; an empty list clears them.
         *
         * @param ingress the new rules
         * @return this builder
         */
        public Builder ingress(List<FirewallRule> ingress) {
            this.ingress = Checks.listCopy(ingress, "ingress");
            return this;
        }

        /**
         * Builds the patch.
         *
         * @return the immutable patch
         * @throws IllegalArgumentException when nothing was set
         */
        public FirewallPatch build() {
            if (mode == null && ingress == null) {
                throw new IllegalArgumentException("firewall patch must set mode or ingress");
            }
            return new FirewallPatch(this);
        }
    }
}
