package org.fastvm.vmm.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.fastvm.vmm.VmmException;
import org.fastvm.vmm.process.ProcessRunner;

/**
 * A built guest image: kernel, initramfs, optional root disk and the kernel command line
 * extras it needs, as described by its {@code image.json}. {@link #build} runs
 * {@code guest/image/build}, which reuses a cached image when its inputs are unchanged.
 *
 * @param name          {@code minimal} or {@code debian}
 * @param key           hash of the image's inputs (identifies the exact image)
 * @param dir           the image directory
 * @param kernel        the kernel (bzImage)
 * @param initrd        the initramfs
 * @param rootDisk      the raw ext4 root disk, or null
 * @param kernelCmdline extra kernel command line arguments (e.g. {@code fastvm.root=/dev/vda})
 * @param machineOptions extra {@code -M microvm} options the kernel needs (e.g. {@code acpi=off} for the
 *                      FastVM kernel, which has no ACPI and finds its devices on the command line), or ""
 */
public record GuestImage(
        String name,
        String key,
        Path dir,
        Path kernel,
        Path initrd,
        Path rootDisk,
        String kernelCmdline,
        String machineOptions) {
    private static final System.Logger LOG = System.getLogger(GuestImage.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A first debian build runs debootstrap: minutes. A cached one answers at once. */
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(30);

    /**
     * Builds (or finds in the cache) image {@code name} with {@code <fastvmHome>/guest/image/build}.
     *
     * @param cacheDir the build script's {@code --data-dir}
     */
    public static GuestImage build(Path fastvmHome, String name, Path cacheDir) throws InterruptedException {
        Path script = fastvmHome.resolve("guest/image/build");
        var r = ProcessRunner.run(
                List.of(script.toString(), name, "--data-dir", cacheDir.toString()),
                BUILD_TIMEOUT,
                // progress lines: a first build (kernel, debootstrap) takes minutes, so operators see them
                line -> LOG.log(Level.INFO, "{0}", line));
        String last = r.lastStdoutLine();
        if (last.isEmpty()) throw new VmmException(script + " " + name + " printed no image directory");
        return load(Path.of(last));
    }

    /** Reads {@code <dir>/image.json}. */
    public static GuestImage load(Path dir) {
        Path json = dir.resolve("image.json");
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(json));
        } catch (IOException e) {
            throw new VmmException("cannot read guest image description " + json + ": " + e.getMessage(), e);
        }
        JsonNode files = n.path("files");
        Path kernel = file(dir, json, files, "kernel", true);
        Path initrd = file(dir, json, files, "initrd", true);
        Path rootDisk = file(dir, json, files, "rootDisk", false);
        return new GuestImage(
                text(n, json, "name"),
                text(n, json, "key"),
                dir,
                kernel,
                initrd,
                rootDisk,
                n.path("kernelCmdline").asText(""),
                machineOptions(n, json));
    }

    /** Options go into QEMU's {@code -M} list: a comma or a space would change other options. */
    private static String machineOptions(JsonNode n, Path json) {
        String v = n.path("qemuMachineOptions").asText("").strip();
        if (!v.matches("([a-z0-9-]+=[a-z0-9-]+)?(,[a-z0-9-]+=[a-z0-9-]+)*")) {
            throw new VmmException(
                    json + ": qemuMachineOptions must be name=value pairs joined by commas, got '" + v + "'");
        }
        return v;
    }

    private static String text(JsonNode n, Path json, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new VmmException(json + ": missing string field '" + field + "'");
        }
        return v.asText();
    }

    private static Path file(Path dir, Path json, JsonNode files, String field, boolean required) {
        JsonNode v = files.get(field);
        if (v == null || v.isNull()) {
            if (required) throw new VmmException(json + ": missing files." + field);
            return null;
        }
        Path p = dir.resolve(v.asText());
        if (!Files.isRegularFile(p)) throw new VmmException(json + ": files." + field + " = " + p + " does not exist");
        return p;
    }

    /** {@return the root disk's size in bytes (0 without one)} */
    public long rootDiskBytes() {
        try {
            return rootDisk == null ? 0 : Files.size(rootDisk);
        } catch (IOException e) {
            throw new VmmException("cannot stat " + rootDisk + ": " + e.getMessage(), e);
        }
    }
}
