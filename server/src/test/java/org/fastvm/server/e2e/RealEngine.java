package org.fastvm.server.e2e;

import java.nio.file.Path;
import org.fastvm.server.backend.EngineBackend;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;
import org.fastvm.vmm.FaultHook;

/** The real engine for end-to-end tests: images, the guest kernel and the accelerator probe in the host's shared cache. */
final class RealEngine {
    /** Built once per host (the guest kernel takes minutes), as the engine tests do. */
    static final Path CACHE = EngineConfig.sharedCacheDir();

    private RealEngine() {}

    static EngineBackend open(Path dataDir) throws InterruptedException {
        return EngineBackend.open(config(dataDir), "minimal");
    }

    /**
     * The debian image (a real root disk, so disk writes are disk writes), no launches from
     * base snapshots (their captures would pass the crash steps at start-up), and {@code faults}.
     */
    static EngineBackend openDebian(Path dataDir, FaultHook faults) throws InterruptedException {
        return EngineBackend.open(
                EngineConfig.builder()
                        .dataDir(dataDir)
                        .cacheDir(CACHE)
                        .launchFromBase(false)
                        .build(),
                "debian",
                faults);
    }

    /** Safety net after a test class: stops (by pid) and removes every VM left in {@code dataDir}. */
    static void discardAll(Path dataDir) throws InterruptedException {
        try (Engine engine = Engine.open(config(dataDir))) {
            for (String id : engine.machineIds()) engine.discard(id);
        }
    }

    private static EngineConfig config(Path dataDir) {
        return EngineConfig.builder().dataDir(dataDir).cacheDir(CACHE).build();
    }
}
