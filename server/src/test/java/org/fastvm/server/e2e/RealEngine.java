package org.fastvm.server.e2e;

import org.fastvm.server.backend.EngineBackend;
import org.fastvm.vmm.EngineConfig;

import java.nio.file.Path;

/** The real engine for end-to-end tests: images and the accelerator probe cached across test classes. */
final class RealEngine {
    /** Shared cache (images, probe result) under the module's target dir. */
    static final Path CACHE = Path.of("target", "engine-cache").toAbsolutePath();

    private RealEngine() {}

    static EngineBackend open(Path dataDir) throws InterruptedException {
        return EngineBackend.open(EngineConfig.builder().dataDir(dataDir).cacheDir(CACHE).build(), "minimal");
    }
}
