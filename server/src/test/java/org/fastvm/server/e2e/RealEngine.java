package org.fastvm.server.e2e;

import org.fastvm.server.backend.EngineBackend;
import org.fastvm.vmm.Engine;
import org.fastvm.vmm.EngineConfig;

import java.nio.file.Path;

/** The real engine for end-to-end tests: images and the accelerator probe cached across test classes. */
final class RealEngine {
    /** Shared cache (images, probe result) under the module's target dir. */
    static final Path CACHE = Path.of("target", "engine-cache").toAbsolutePath();

    private RealEngine() {}

    static EngineBackend open(Path dataDir) throws InterruptedException {
        return EngineBackend.open(config(dataDir), "minimal");
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
