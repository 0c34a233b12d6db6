package org.fastvm.vmm;

import java.util.regex.Pattern;

/**
 * How to take a snapshot.
 *
 * @param id the snapshot id ({@code [a-z0-9][a-z0-9-]{0,62}}); null = generated {@code snap-<12 hex>}
 */
public record SnapshotSpec(String id) {
    private static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");

    /** Validates the id. */
    public SnapshotSpec {
        if (id != null && !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id: must match " + ID + ", got '" + id + "'");
        }
    }

    /** {@return a spec with a generated id} */
    public static SnapshotSpec defaults() {
        return new SnapshotSpec(null);
    }

    /** {@return a spec with the given id} */
    public static SnapshotSpec withId(String id) {
        return new SnapshotSpec(id);
    }
}
