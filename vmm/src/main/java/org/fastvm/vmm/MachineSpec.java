package org.fastvm.vmm;

import java.util.regex.Pattern;

/**
 * What to launch. Build with {@link #builder()}; {@link Builder#build()} rejects bad values
 * with a message naming the field.
 *
 * @param id        the VM id (directory name; {@code [a-z0-9][a-z0-9-]{0,62}}); null = generated
 * @param image     the guest image: {@code minimal} (initramfs only) or {@code debian} (root disk)
 * @param vcpus     virtual CPUs, 1–16
 * @param memoryMib guest RAM in MiB, 64–65536
 * @param diskGib   root disk size in GiB (images with a root disk only); 0 = the image's size
 * @param hostname  the guest's hostname; null = the id
 */
public record MachineSpec(String id, String image, int vcpus, int memoryMib, int diskGib, String hostname) {
    /** The image names the engine knows. */
    public static final java.util.List<String> IMAGES = java.util.List.of("minimal", "debian");

    private static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    private static final Pattern HOSTNAME = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?");

    /** Validates every field. */
    public MachineSpec {
        if (id != null && !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("id: must match " + ID + ", got '" + id + "'");
        }
        if (image == null || !IMAGES.contains(image)) {
            throw new IllegalArgumentException("image: must be one of " + IMAGES + ", got '" + image + "'");
        }
        if (vcpus < 1 || vcpus > 16) throw new IllegalArgumentException("vcpus: must be 1..16, got " + vcpus);
        if (memoryMib < 64 || memoryMib > 65536) {
            throw new IllegalArgumentException("memoryMib: must be 64..65536, got " + memoryMib);
        }
        if (diskGib < 0 || diskGib > 2048)
            throw new IllegalArgumentException("diskGib: must be 0..2048, got " + diskGib);
        if (hostname != null && !HOSTNAME.matcher(hostname).matches()) {
            throw new IllegalArgumentException("hostname: not a valid host name: '" + hostname + "'");
        }
    }

    /** {@return a builder with defaults: image minimal, 1 vCPU, 512 MiB, disk = image size} */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder for {@link MachineSpec}. */
    public static final class Builder {
        private String id;
        private String image = "minimal";
        private int vcpus = 1;
        private int memoryMib = 512;
        private int diskGib;
        private String hostname;

        /** VM id; default generated. */
        public Builder id(String id) {
            this.id = id;
            return this;
        }
        /** {@code minimal} or {@code debian}. */
        public Builder image(String image) {
            this.image = image;
            return this;
        }
        /** Virtual CPUs. */
        public Builder vcpus(int vcpus) {
            this.vcpus = vcpus;
            return this;
        }
        /** Guest RAM in MiB. */
        public Builder memoryMib(int mib) {
            this.memoryMib = mib;
            return this;
        }
        /** Root disk size in GiB; 0 = the image's own size. */
        public Builder diskGib(int gib) {
            this.diskGib = gib;
            return this;
        }
        /** Guest hostname; default the id. */
        public Builder hostname(String hostname) {
            this.hostname = hostname;
            return this;
        }

        /** {@return the validated spec} */
        public MachineSpec build() {
            return new MachineSpec(id, image, vcpus, memoryMib, diskGib, hostname);
        }
    }
}
