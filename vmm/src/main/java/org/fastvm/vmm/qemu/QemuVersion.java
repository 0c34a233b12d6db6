package org.fastvm.vmm.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.fastvm.vmm.Accelerator;
import org.fastvm.vmm.VmmException;
import org.fastvm.vmm.process.ProcessRunner;

/**
 * The QEMU the engine runs, as QMP {@code query-version} reports it, and what that version
 * can do safely.
 *
 * @param major    e.g. 10
 * @param minor    e.g. 0
 * @param micro    e.g. 2
 * @param packaging the distribution's build string, e.g. {@code "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"} ("" for none)
 */
public record QemuVersion(int major, int minor, int micro, String packaging) {
    /**
     * The first release whose TCG dirty tracking sees every guest store during a live
     * migration (upstream commit 03bfc2188f, "physmem: Fix migration dirty bitmap coherency
     * with TCG memory access"). Before it, a live precopy under TCG loses guest writes
     * (measured here on 7.2: thousands of pages per busy run; docs/vmm.md).
     */
    public static final QemuVersion TCG_DIRTY_TRACKING_FIXED = new QemuVersion(9, 0, 0, "");

    /** A QEMU that did not say its version: nothing version-dependent is used with it. */
    public static final QemuVersion UNKNOWN = new QemuVersion(0, 0, 0, "unknown");

    private static final Duration QUERY_TIMEOUT = Duration.ofSeconds(15);

    /** Checks the fields. */
    public QemuVersion {
        if (major < 0 || minor < 0 || micro < 0) throw new IllegalArgumentException("version numbers must be >= 0");
        packaging = packaging == null ? "" : packaging;
    }

    /**
     * Whether a snapshot may copy a VM's RAM while it runs (live precopy) on this QEMU: on
     * KVM always (the kernel's dirty log tracks writes), on TCG only from
     * {@link #TCG_DIRTY_TRACKING_FIXED} on. Otherwise a snapshot stops the VM for the copy.
     */
    public boolean livePrecopySafe(Accelerator accel) {
        if (equals(UNKNOWN)) return false;
        return accel == Accelerator.KVM || atLeast(TCG_DIRTY_TRACKING_FIXED);
    }

    /** {@return whether this version is {@code other} or newer (packaging ignored)} */
    public boolean atLeast(QemuVersion other) {
        if (major != other.major) return major > other.major;
        if (minor != other.minor) return minor > other.minor;
        return micro >= other.micro;
    }

    /** {@return "10.0.2"} */
    public String number() {
        return major + "." + minor + "." + micro;
    }

    /**
     * {@return the line {@code qemu-system-x86_64 --version} prints first, e.g.
     * {@code QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)}; snapshots
     * record it (earlier engines took it from {@code --version}, so it must stay the same text)
     * and restore only on the same one}
     */
    public String describe() {
        return "QEMU emulator version " + number() + (packaging.isEmpty() ? "" : " (" + packaging + ")");
    }

    /** Parses a QMP {@code query-version} result. */
    public static QemuVersion fromQmp(JsonNode r) {
        JsonNode q = r.path("qemu");
        if (!q.path("major").isInt()
                || !q.path("minor").isInt()
                || !q.path("micro").isInt()) {
            throw new VmmException("query-version: unexpected answer " + r);
        }
        return new QemuVersion(
                q.path("major").asInt(),
                q.path("minor").asInt(),
                q.path("micro").asInt(),
                r.path("package").asText(""));
    }

    /** Attempts at {@link #query}: one QEMU that did not answer (seen once, on a loaded host) must not cost an engine its version. */
    private static final int QUERY_ATTEMPTS = 3;

    /**
     * Starts {@code binary} without a machine ({@code -M none}), asks QMP {@code query-version}
     * and quits it; tries again with a new QEMU when one does not answer in time.
     *
     * @param scratch a directory for its QMP socket and log (created, then removed)
     */
    public static QemuVersion query(String binary, Path scratch) throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                return queryOnce(binary, scratch);
            } catch (QmpException e) {
                if (attempt == QUERY_ATTEMPTS) throw e;
                System.getLogger(QemuVersion.class.getName())
                        .log(
                                System.Logger.Level.WARNING,
                                "asking {0} its version, attempt {1} of {2}: {3}",
                                binary,
                                attempt,
                                QUERY_ATTEMPTS,
                                e.getMessage());
            }
        }
    }

    private static QemuVersion queryOnce(String binary, Path scratch) throws InterruptedException {
        Process p = null;
        try {
            Files.createDirectories(scratch);
            Path sock = scratch.resolve("qmp.sock");
            p = ProcessRunner.spawnDetached(
                    List.of(
                            binary,
                            "-M",
                            "none",
                            "-nodefaults",
                            "-no-user-config",
                            "-display",
                            "none",
                            "-qmp",
                            "unix:" + sock + ",server=on,wait=off"),
                    scratch.resolve("qemu.log"));
            try (Qmp qmp = Qmp.connect(sock, Instant.now().plus(QUERY_TIMEOUT), p.onExit())) {
                return fromQmp(qmp.execute("query-version"));
            }
        } catch (IOException e) {
            throw new VmmException("cannot ask " + binary + " its version: " + e.getMessage(), e);
        } finally {
            if (p != null) {
                p.destroyForcibly();
                p.waitFor();
            }
            try (var s = Files.list(scratch)) {
                for (Path f : s.toList()) Files.deleteIfExists(f);
                Files.deleteIfExists(scratch);
            } catch (IOException e) {
                // a leftover scratch dir is harmless; the next query reuses it
            }
        }
    }
}
