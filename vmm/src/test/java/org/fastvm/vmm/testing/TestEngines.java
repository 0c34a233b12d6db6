package org.fastvm.vmm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;

import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;

/**
 * Engines for tests: VM dirs in a fresh temp dir (removed by {@link #deleteDataDir}), images
 * and the accelerator probe in the shared cache (FASTVM_CACHE_DIR, else FASTVM_DATA_DIR, else
 * ~/.local/share/fastvm) so they are built once per host. FASTVM_ACCEL is honoured.
 */
public final class TestEngines {
    private TestEngines() {}

    /** @return the shared image/probe cache dir */
    public static Path sharedCache() {
        for (String v : new String[] {"FASTVM_CACHE_DIR", "FASTVM_DATA_DIR"}) {
            String s = System.getenv(v);
            if (s != null && !s.isBlank()) return Path.of(s).toAbsolutePath();
        }
        return Path.of(System.getProperty("user.home"), ".local", "share", "fastvm");
    }

    /** @return a config with a new temp data dir and the shared cache */
    public static EngineConfig config() throws IOException {
        Path data = Files.createTempDirectory("fastvm-test-");
        return EngineConfig.builder().dataDir(data).cacheDir(sharedCache()).fastvmHome(SourceTree.root()).build();
    }

    /** Opens an engine on {@link #config()}. */
    public static Engine open() throws IOException, InterruptedException {
        return Engine.open(config());
    }

    /** Removes a test data dir (after its VMs were destroyed). */
    public static void deleteDataDir(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) return;
        try (var w = Files.walk(dir)) {
            for (Path p : w.sorted(Collections.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
