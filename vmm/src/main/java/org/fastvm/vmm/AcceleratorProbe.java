package org.fastvm.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Chooses KVM or TCG. KVM counts only if /dev/kvm opens read-write AND the minimal image
 * really boots on it and its agent answers within {@link #PROBE_BOOT_TIMEOUT} (a nested or
 * paravirtual /dev/kvm may exist and still be unusable). The answer is cached in
 * {@code <cacheDir>/host/}, keyed by QEMU version, host kernel and CPU model.
 */
final class AcceleratorProbe {
    private static final System.Logger LOG = System.getLogger(AcceleratorProbe.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Real KVM boots the minimal image in well under a second. */
    static final Duration PROBE_BOOT_TIMEOUT = Duration.ofSeconds(5);

    private static final Path KVM_DEVICE = Path.of("/dev/kvm");

    private final Engine engine;

    AcceleratorProbe(Engine engine) {
        this.engine = engine;
    }

    Accelerator choose(EngineConfig.AccelMode mode) throws InterruptedException {
        switch (mode) {
            case TCG -> {
                return Accelerator.TCG;
            }
            case KVM -> {
                String why = kvmDeviceProblem();
                if (why != null) throw new VmmException("accel: KVM was requested but " + why);
                return Accelerator.KVM;
            }
            default -> {} // AUTO: settled below
        }
        String why = kvmDeviceProblem();
        if (why != null) {
            LOG.log(Level.INFO, "accelerator: TCG ({0})", why);
            return Accelerator.TCG;
        }
        String key = hostKey(engine.qemuVersion().describe());
        Path cache = cacheFile(engine.config().cacheDir(), key);
        if (Files.isRegularFile(cache)) {
            try {
                JsonNode n = JSON.readTree(cache.toFile());
                if (key.equals(n.path("hostKey").asText())) {
                    return Accelerator.valueOf(n.path("accelerator").asText());
                }
            } catch (IOException | IllegalArgumentException e) {
                LOG.log(Level.WARNING, "ignoring unreadable accelerator cache {0}: {1}", cache, e.getMessage());
            }
        }
        Instant t0 = Instant.now();
        String detail = bootOnKvm();
        Accelerator chosen = detail == null ? Accelerator.KVM : Accelerator.TCG;
        LOG.log(
                Level.INFO,
                "accelerator probe: {0} ({1}, {2} ms)",
                chosen,
                detail == null ? "a guest booted on KVM" : detail,
                Duration.between(t0, Instant.now()).toMillis());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("hostKey", key);
        out.put("accelerator", chosen.name());
        out.put("detail", detail == null ? "minimal image booted on KVM and its agent answered" : detail);
        out.put("probedAt", Instant.now().toString());
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = cache.resolveSibling(cache.getFileName() + ".tmp");
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), out);
            Files.move(tmp, cache, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot cache the accelerator probe in {0}: {1}", cache, e.getMessage());
        }
        return chosen;
    }

    /** {@return null when /dev/kvm opens read-write, else why not} */
    private static String kvmDeviceProblem() {
        if (!Files.exists(KVM_DEVICE)) return "/dev/kvm does not exist";
        try {
            FileChannel.open(KVM_DEVICE, StandardOpenOption.READ, StandardOpenOption.WRITE)
                    .close();
            return null;
        } catch (IOException | SecurityException e) {
            return "/dev/kvm cannot be opened read-write: " + e.getMessage();
        }
    }

    /** {@return null when the minimal image booted on KVM and answered an exec in time, else why not} */
    private String bootOnKvm() throws InterruptedException {
        Path probeDir = engine.config().dataDir().resolve("host");
        MachineSpec spec = MachineSpec.builder()
                .id("kvm-probe-" + ProcessHandle.current().pid())
                .memoryMib(256)
                .build();
        QemuMachine m = null;
        FileOps.deleteQuietly(probeDir.resolve(spec.id())); // left over by a probe that was killed
        try {
            m = engine.launch(spec, Accelerator.KVM, PROBE_BOOT_TIMEOUT, probeDir);
            ExecResult r = m.exec(
                    ExecRequest.builder("true").timeout(PROBE_BOOT_TIMEOUT).build());
            return r.exitCode() == 0 ? null : "the probe guest's exec of 'true' exited " + r.exitCode();
        } catch (VmmException | IllegalArgumentException e) {
            String msg = e.getMessage();
            int nl = msg.indexOf('\n');
            return "a guest did not boot on KVM within " + PROBE_BOOT_TIMEOUT.toSeconds() + "s: "
                    + (nl < 0 ? msg : msg.substring(0, nl));
        } finally {
            if (m != null) m.destroy();
        }
    }

    /** {@return where the probe result for {@code hostKey} is cached} */
    static Path cacheFile(Path cacheDir, String hostKey) {
        return cacheDir.resolve("host").resolve("accel-" + sha256(hostKey).substring(0, 16) + ".json");
    }

    /** QEMU version + host kernel + CPU model: what decides whether KVM works here. */
    static String hostKey(String qemu) {
        String kernel = read("/proc/sys/kernel/osrelease").strip();
        String cpu = read("/proc/cpuinfo")
                .lines()
                .filter(l -> l.startsWith("model name"))
                .findFirst()
                .map(l -> l.substring(l.indexOf(':') + 1).strip())
                .orElse("unknown cpu");
        return qemu + " | " + kernel + " | " + cpu;
    }

    private static String read(String file) {
        try {
            return Files.readString(Path.of(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
