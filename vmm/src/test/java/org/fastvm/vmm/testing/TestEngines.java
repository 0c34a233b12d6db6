package org.fastvm.vmm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.Machine;

/**
 * Engines for tests: VM dirs in a fresh temp dir (removed by {@link #deleteDataDir}), images
 * and the accelerator probe in the shared cache (FASTVM_CACHE_DIR, else FASTVM_DATA_DIR, else
 * ~/.local/share/fastvm) so they are built once per host. FASTVM_ACCEL is honoured.
 */
public final class TestEngines {
    private TestEngines() {}

    /** {@return the shared image/probe cache dir} */
    public static Path sharedCache() {
        return EngineConfig.sharedCacheDir();
    }

    /** {@return a config with a new temp data dir and the shared cache} */
    public static EngineConfig config() throws IOException {
        Path data = Files.createTempDirectory("fastvm-test-");
        return EngineConfig.builder()
                .dataDir(data)
                .cacheDir(sharedCache())
                .fastvmHome(SourceTree.root())
                .build();
    }

    /** Opens an engine on {@link #config()}. */
    public static Engine open() throws IOException, InterruptedException {
        return Engine.open(config());
    }

    /**
     * A test class's teardown: destroys every VM (each one, even when another fails, so no QEMU
     * is left running), closes the engine and removes its data dir; then rethrows the first failure.
     * Null engine or VMs (a boot that failed) are skipped.
     */
    public static void shutDown(Engine engine, List<? extends Machine> vms) throws Exception {
        Exception first = null;
        for (Machine m : vms.stream().filter(Objects::nonNull).toList()) {
            try {
                m.destroy();
            } catch (Exception e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        if (engine != null) {
            try {
                engine.close();
            } finally {
                deleteDataDir(engine.config().dataDir());
            }
        }
        if (first != null) throw first;
    }

    /** Removes a test data dir (after its VMs were destroyed). */
    public static void deleteDataDir(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) return;
        try (var w = Files.walk(dir)) {
            for (Path p : w.sorted(Collections.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
