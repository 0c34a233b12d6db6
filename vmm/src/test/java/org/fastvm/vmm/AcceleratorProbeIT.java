package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.fastvm.vmm.qemu.QemuVersion;
import org.fastvm.vmm.testing.Preconditions;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the engine settles its accelerator: forced, cached per host, or probed. */
class AcceleratorProbeIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void forcedTcgNeitherProbesNorCaches(@TempDir Path dir) throws Exception {
        var cfg = EngineConfig.builder()
                .dataDir(dir.resolve("data"))
                .cacheDir(dir.resolve("cache"))
                .accel(EngineConfig.AccelMode.TCG)
                .build();
        try (Engine e = Engine.open(cfg)) {
            assertEquals(Accelerator.TCG, e.accelerator());
        }
        assertFalse(Files.exists(dir.resolve("cache/host")));
    }

    @Test
    void autoUsesTheCachedResultForThisHost(@TempDir Path dir) throws Exception {
        // A cached verdict for this exact host key is trusted without booting anything
        // (here a KVM probe boot takes 5 s and fails, so KVM can only come from the file).
        var cfg = EngineConfig.builder()
                .dataDir(dir.resolve("data"))
                .cacheDir(dir.resolve("cache"))
                .accel(EngineConfig.AccelMode.AUTO)
                .build();
        // the key names the configured QEMU's version (FASTVM_QEMU may name another QEMU)
        String key = AcceleratorProbe.hostKey(
                QemuVersion.query(cfg.qemuBinary(), dir.resolve("q")).describe());
        Path file = AcceleratorProbe.cacheFile(dir.resolve("cache"), key);
        Files.createDirectories(file.getParent());
        Files.writeString(
                file,
                JSON.createObjectNode()
                        .put("hostKey", key)
                        .put("accelerator", "KVM")
                        .toString());
        boolean kvmOpens = Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
        try (Engine e = Engine.open(cfg)) {
            // without a usable /dev/kvm the device check wins before the cache is consulted
            assertEquals(kvmOpens ? Accelerator.KVM : Accelerator.TCG, e.accelerator());
        }
    }

    @Test
    void autoRecordsItsVerdictInTheSharedCache() throws Exception {
        var cfg = TestEngines.config();
        try (Engine e = Engine.open(
                cfg.accel() == EngineConfig.AccelMode.AUTO
                        ? cfg
                        : new EngineConfig(
                                cfg.dataDir(),
                                cfg.cacheDir(),
                                cfg.fastvmHome(),
                                EngineConfig.AccelMode.AUTO,
                                cfg.qemuBinary(),
                                cfg.bootTimeout()))) {
            Preconditions.require(
                    Files.isWritable(Path.of("/dev/kvm")),
                    "no usable /dev/kvm: the engine chose TCG without a probe, nothing to cache");
            Path file = AcceleratorProbe.cacheFile(
                    cfg.cacheDir(), AcceleratorProbe.hostKey(e.qemuVersion().describe()));
            assertTrue(Files.isRegularFile(file), file.toString());
            var n = JSON.readTree(file.toFile());
            assertEquals(e.accelerator().name(), n.path("accelerator").asText());
            assertFalse(n.path("detail").asText().isBlank());
        } finally {
            TestEngines.deleteDataDir(cfg.dataDir());
        }
    }
}
