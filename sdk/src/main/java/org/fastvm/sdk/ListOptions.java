package org.fastvm.sdk;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.fastvm.sdk.models.VMStatus;

/**
 * Filters of {@link FastVM#list(ListOptions)}: by status ({@code ?status=}) and by metadata
 * equality ({@code ?metadata.<key>=<value>}, all must match). Immutable; build with
 * {@link #builder()}.
 */
public final class ListOptions {
    private final VMStatus status;
    private final Map<String, String> metadata;

    private ListOptions(Builder b) {
        status = b.status;
        metadata = Map.copyOf(b.metadata);
    }

    /**
     * A new builder.
     *
     * @return a builder with no filter
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The status filter.
     *
     * @return the status, or empty for any
     */
    public Optional<VMStatus> status() {
        return Optional.ofNullable(status);
    }

    /**
     * The metadata equality filters.
     *
     * @return key to required value; empty for none
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The query string these filters make, with a leading {@code ?}, or empty. */
    String query() {
        StringBuilder q = new StringBuilder();
        if (status != null) q.append("status=").append(HttpCore.segment(status.asString()));
        metadata.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            if (q.length() > 0) q.append('&');
            q.append(HttpCore.segment("metadata." + e.getKey())).append('=').append(HttpCore.segment(e.getValue()));
        });
        return q.length() == 0 ? "" : "?" + q;
    }

    /** Builds {@link ListOptions}. */
    public static final class Builder {
        private VMStatus status;
        private final Map<String, String> metadata = new LinkedHashMap<>();

        private Builder() {}

        /**
         * Only VMs in this status.
         *
         * @param status the status
         * @return this builder
         */
        public Builder status(VMStatus status) {
            this.status = Checks.notNull(status, "status");
            return this;
        }

        /**
         * Only VMs whose metadata has this key with this value; may be repeated for more keys.
         *
         * @param key a non-empty metadata key
         * @param value the required value
         * @return this builder
         */
        public Builder metadata(String key, String value) {
            Checks.nonEmpty(key, "metadata key");
            metadata.put(key, Checks.notNull(value, "metadata value"));
            return this;
        }

        /**
         * Builds the filters.
         *
         * @return the immutable filters
         */
        public ListOptions build() {
            return new ListOptions(this);
        }
    }
}
