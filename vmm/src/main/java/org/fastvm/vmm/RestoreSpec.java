package org.fastvm.vmm;

import java.util.regex.Pattern;

/**
 * How to restore a snapshot into a new VM (a clone).
 *
 * @param id       the clone's VM id; null = generated {@code vm-<12 hex>}
 * @param hostname the clone's hostname; null = its id
 * @param diskGib  root disk size in GiB; 0 = the snapshot's size; may only grow it
 */
public record RestoreSpec(String id, String hostname, int diskGib) {
    private static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    private static final Pattern HOSTNAME = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?");

    /** Validates every field, naming the bad one. */
    public RestoreSpec {
        if (id != null && !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id: must match " + ID + ", got '" + id + "'");
        }
        if (hostname != null && !HOSTNAME.matcher(hostname).matches()) {
            throw new IllegalArgumentException("hostname: not a valid host name: '" + hostname + "'");
        }
        if (diskGib < 0 || diskGib > 2048)
            throw new IllegalArgumentException("diskGib: must be 0..2048, got " + diskGib);
    }

    /** {@return a spec with a generated id, hostname = id, the snapshot's disk size} */
    public static RestoreSpec defaults() {
        return new RestoreSpec(null, null, 0);
    }

    /** {@return a spec with the given id (hostname = id)} */
    public static RestoreSpec withId(String id) {
        return new RestoreSpec(id, null, 0);
    }
}
