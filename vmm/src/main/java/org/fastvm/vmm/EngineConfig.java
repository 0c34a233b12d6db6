package org.fastvm.vmm;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Where the engine keeps its files and how it runs QEMU. {@link #fromEnvironment()} reads
 * {@code FASTVM_DATA_DIR}, {@code FASTVM_CACHE_DIR}, {@code FASTVM_HOME}, {@code FASTVM_QEMU},
 * {@code FASTVM_ACCEL} and the switches below; the builder overrides any of them.
 *
 * @param dataDir     VM dirs live in {@code <dataDir>/vms/<id>/}
 * @param cacheDir    guest images and the per-host accelerator probe result; default = dataDir
 * @param fastvmHome  the FastVM source tree holding {@code guest/image/build}; null = find it
 * @param accel       {@code auto} (probe), {@code kvm} or {@code tcg}
 * @param qemuBinary  the QEMU system emulator to run
 * @param bootTimeout how long a boot may take until the agent says hello
 * @param warmPoolSize   pre-spawned restore QEMUs kept per hot snapshot; 0 disables the warm pool
 * @param warmPoolRecent how many of the most recently restored snapshots count as hot
 *                       (besides those marked with {@link Engine#markHot})
 * @param warmPoolMax    bound on pre-spawned QEMUs in all (each holds ~25 MiB)
 * @param liveSnapshots  copy a VM's RAM while it runs for its later snapshots, where the QEMU
 *                       does that correctly ({@code FASTVM_LIVE_SNAPSHOTS=off} forces the stopped copy)
 * @param launchFromBase boot each image once per machine shape, snapshot it when its agent is
 *                       ready, and serve later launches of that shape as restores of that base
 *                       snapshot ({@code FASTVM_LAUNCH_FROM_BASE=off} boots every launch)
 */
public record EngineConfig(
        Path dataDir,
        Path cacheDir,
        Path fastvmHome,
        AccelMode accel,
        String qemuBinary,
        Duration bootTimeout,
        int warmPoolSize,
        int warmPoolRecent,
        int warmPoolMax,
        boolean liveSnapshots,
        boolean launchFromBase) {

    /** How the accelerator is chosen. */
    public enum AccelMode {
        /** Probe: KVM when a tiny guest really boots on it, else TCG. */
        AUTO,
        /** Always KVM. */
        KVM,
        /** Always TCG. */
        TCG;

        /** Parses {@code auto|kvm|tcg} (any case); {@code source} names the setting in the error. */
        public static AccelMode parse(String value, String source) {
            try {
                return valueOf(value.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(source + ": expected auto, kvm or tcg, got '" + value + "'");
            }
        }
    }

    /** Validates the fields, naming the bad one. */
    public EngineConfig {
        Objects.requireNonNull(dataDir, "dataDir");
        if (!dataDir.isAbsolute()) throw new IllegalArgumentException("dataDir: must be absolute, got " + dataDir);
        if (cacheDir == null) cacheDir = dataDir;
        if (!cacheDir.isAbsolute()) throw new IllegalArgumentException("cacheDir: must be absolute, got " + cacheDir);
        Objects.requireNonNull(accel, "accel");
        if (qemuBinary == null || qemuBinary.isBlank())
            throw new IllegalArgumentException("qemuBinary: must not be empty");
        if (bootTimeout == null || bootTimeout.isNegative() || bootTimeout.isZero()) {
            throw new IllegalArgumentException("bootTimeout: must be positive");
        }
        if (warmPoolSize < 0 || warmPoolSize > 16) {
            throw new IllegalArgumentException("warmPoolSize: must be 0..16, got " + warmPoolSize);
        }
        if (warmPoolRecent < 0)
            throw new IllegalArgumentException("warmPoolRecent: must be >= 0, got " + warmPoolRecent);
        if (warmPoolMax < 0) throw new IllegalArgumentException("warmPoolMax: must be >= 0, got " + warmPoolMax);
    }

    /**
     * The configuration before the warm pool settings existed (defaults: 1 per hot snapshot, 2 recent, 16 in all;
     * live snapshots where safe; launches from base snapshots).
     */
    public EngineConfig(
            Path dataDir, Path cacheDir, Path fastvmHome, AccelMode accel, String qemuBinary, Duration bootTimeout) {
        this(dataDir, cacheDir, fastvmHome, accel, qemuBinary, bootTimeout, 1, 2, 16, true, true);
    }

    /** {@return the configuration the environment asks for} */
    public static EngineConfig fromEnvironment() {
        return builder().build();
    }

    /** {@return a builder pre-filled from the environment variables} */
    public static Builder builder() {
        return new Builder(System.getenv());
    }

    /**
     * The host's shared image and probe cache, for tools and tests that run engines on throwaway
     * data dirs but should build guest images (and the guest kernel: minutes) once per host:
     * {@code FASTVM_CACHE_DIR}, else {@code FASTVM_DATA_DIR}, else {@code ~/.local/share/fastvm}.
     */
    public static Path sharedCacheDir() {
        for (String v : new String[] {"FASTVM_CACHE_DIR", "FASTVM_DATA_DIR"}) {
            String s = System.getenv(v);
            if (s != null && !s.isBlank()) return Path.of(s).toAbsolutePath();
        }
        return defaultDataDir();
    }

    private static Path defaultDataDir() {
        return Path.of(System.getProperty("user.home"), ".local", "share", "fastvm");
    }

    /** Builder; unset values come from the environment, then from the defaults. */
    public static final class Builder {
        private Path dataDir;
        private Path cacheDir;
        private Path fastvmHome;
        private AccelMode accel;
        private String qemuBinary = "qemu-system-x86_64";
        private Duration bootTimeout = Duration.ofSeconds(90);
        private int warmPoolSize = 1;
        private int warmPoolRecent = 2;
        private int warmPoolMax = 16;
        private boolean liveSnapshots = true;
        private boolean launchFromBase = true;

        Builder(Map<String, String> env) {
            String data = env.get("FASTVM_DATA_DIR");
            dataDir = data != null && !data.isBlank() ? Path.of(data) : defaultDataDir();
            String cache = env.get("FASTVM_CACHE_DIR");
            if (cache != null && !cache.isBlank()) cacheDir = Path.of(cache);
            String home = env.get("FASTVM_HOME");
            if (home != null && !home.isBlank()) fastvmHome = Path.of(home);
            String q = env.get("FASTVM_QEMU");
            if (q != null && !q.isBlank()) qemuBinary = q;
            String a = env.get("FASTVM_ACCEL");
            accel = a != null && !a.isBlank() ? AccelMode.parse(a, "FASTVM_ACCEL") : AccelMode.AUTO;
            String live = env.get("FASTVM_LIVE_SNAPSHOTS");
            if (live != null && !live.isBlank())
                liveSnapshots = parseOnOff(live, "FASTVM_LIVE_SNAPSHOTS", "auto or off");
            String base = env.get("FASTVM_LAUNCH_FROM_BASE");
            if (base != null && !base.isBlank())
                launchFromBase = parseOnOff(base, "FASTVM_LAUNCH_FROM_BASE", "on or off");
        }

        private static boolean parseOnOff(String v, String source, String expected) {
            return switch (v.trim().toLowerCase(Locale.ROOT)) {
                case "on", "auto", "true", "1" -> true;
                case "off", "false", "0" -> false;
                default -> throw new IllegalArgumentException(source + ": expected " + expected + ", got '" + v + "'");
            };
        }

        /** VM dirs go to {@code <dir>/vms/}. */
        public Builder dataDir(Path dir) {
            this.dataDir = dir.toAbsolutePath();
            return this;
        }

        /** Images and the accelerator probe result go here (shared by engines with other data dirs). */
        public Builder cacheDir(Path dir) {
            this.cacheDir = dir.toAbsolutePath();
            return this;
        }

        /** The FastVM source tree (holds {@code guest/image/build}). */
        public Builder fastvmHome(Path dir) {
            this.fastvmHome = dir.toAbsolutePath();
            return this;
        }

        /** Forces or probes the accelerator. */
        public Builder accel(AccelMode mode) {
            this.accel = mode;
            return this;
        }

        /** The QEMU binary (name on PATH or absolute path). */
        public Builder qemuBinary(String binary) {
            this.qemuBinary = binary;
            return this;
        }

        /** How long a boot may take until the agent says hello. */
        public Builder bootTimeout(Duration timeout) {
            this.bootTimeout = timeout;
            return this;
        }

        /** Pre-spawned restore QEMUs per hot snapshot (default 1); 0 disables the warm pool. */
        public Builder warmPoolSize(int n) {
            this.warmPoolSize = n;
            return this;
        }

        /** How many most recently restored snapshots are hot (default 2). */
        public Builder warmPoolRecent(int n) {
            this.warmPoolRecent = n;
            return this;
        }

        /** Bound on pre-spawned QEMUs in all (default 16). */
        public Builder warmPoolMax(int n) {
            this.warmPoolMax = n;
            return this;
        }

        /** Whether later snapshots may copy RAM live (default true; used only where the QEMU does it correctly). */
        public Builder liveSnapshots(boolean on) {
            this.liveSnapshots = on;
            return this;
        }

        /** Whether launches restore a base snapshot of their image and shape when one exists (default true). */
        public Builder launchFromBase(boolean on) {
            this.launchFromBase = on;
            return this;
        }

        /** {@return the configuration} */
        public EngineConfig build() {
            return new EngineConfig(
                    dataDir.toAbsolutePath(),
                    cacheDir == null ? null : cacheDir.toAbsolutePath(),
                    fastvmHome,
                    accel,
                    qemuBinary,
                    bootTimeout,
                    warmPoolSize,
                    warmPoolRecent,
                    warmPoolMax,
                    liveSnapshots,
                    launchFromBase);
        }
    }

    /**
     * Finds the FastVM source tree: {@link #fastvmHome()} if set, else the nearest directory
     * at or above {@code user.dir} holding {@code guest/image/build}.
     *
     * @return the source tree root
     * @throws VmmException when none is found
     */
    public Path resolveFastvmHome() {
        if (fastvmHome != null) {
            if (!Files.isRegularFile(fastvmHome.resolve("guest/image/build"))) {
                throw new VmmException("FASTVM_HOME: " + fastvmHome + " holds no guest/image/build");
            }
            return fastvmHome;
        }
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("guest/image/build"))) return p;
        }
        throw new VmmException("cannot find the FastVM source tree (guest/image/build) above "
                + System.getProperty("user.dir") + "; set FASTVM_HOME");
    }
}
