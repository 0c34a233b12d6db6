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
        ProcessRunner.run(
                List.of(
                        "qemu-img",
                        "create",
                        "-q",
                        "-f",
                        "qcow2",
                        "-F",
                        backingFormat,
                        "-b",
                        backing.toString(),
                        overlay.toString(),
                        Long.toString(sizeBytes)),
                QEMU_IMG_TIMEOUT);
    }

    /**
     * Creates a qcow2 {@code overlay} whose header names {@code backingName} (qcow2, a name
     * relative to the overlay's dir) without opening it: the backing may not exist yet or
     * be in use; the engine opens disk chains explicitly anyway.
     */
    static void createUnchecked(Path overlay, String backingName, long sizeBytes) throws InterruptedException {
        ProcessRunner.run(
                List.of(
                        "qemu-img",
                        "create",
                        "-q",
                        "-f",
                        "qcow2",
                        "-u",
                        "-F",
                        "qcow2",
                        "-b",
                        backingName,
                        overlay.toString(),
                        Long.toString(sizeBytes)),
                QEMU_IMG_TIMEOUT);
    }

    /** Creates an empty qcow2 image without backing. */
    static void createBlank(Path image, long sizeBytes) throws InterruptedException {
        ProcessRunner.run(
                List.of("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), Long.toString(sizeBytes)),
                QEMU_IMG_TIMEOUT);
    }
}
