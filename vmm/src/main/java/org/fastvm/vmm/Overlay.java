package org.fastvm.vmm;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.fastvm.vmm.process.ProcessRunner;

/** qcow2 overlays: a VM's private, copy-on-write layer over a read-only disk. */
final class Overlay {
    private static final Duration QEMU_IMG_TIMEOUT = Duration.ofSeconds(60);

    private Overlay() {}

    /**
     * Creates {@code overlay} (qcow2) over {@code backing} with virtual size {@code sizeBytes}.
     *
     * @param backingFormat {@code raw} for an image's ext4 file, {@code qcow2} for a snapshot disk
     */
    static void create(Path overlay, Path backing, String backingFormat, long sizeBytes) throws InterruptedException {
        ProcessRunner.run(List.of("qemu-img", "create", "-q", "-f", "qcow2", "-F", backingFormat,
                "-b", backing.toString(), overlay.toString(), Long.toString(sizeBytes)), QEMU_IMG_TIMEOUT);
    }
}
