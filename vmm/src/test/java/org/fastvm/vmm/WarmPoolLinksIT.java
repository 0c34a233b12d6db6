package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.fastvm.vmm.testing.SourceTree;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.Test;

/**
 * A clone taken from the warm pool leaves a link {@code pool/<hex>} → its VM dir (its QEMU knows
 * its files by the pool paths). The link goes with the VM dir, however that is removed, so an
 * engine never leaves a link to a deleted VM behind; one left anyway (an engine that crashed)
 * is removed at the next start-up, which says so.
 */
class WarmPoolLinksIT {
    /** Held so the handler stays on it (java.util.logging keeps loggers weakly). */
    private static final Logger POOL_LOG = Logger.getLogger(WarmPool.class.getName());

    @Test
    void noLinkToADeletedVmOutlivesItAndStartUpRemovesOnesLeftBehind() throws Exception {
        EngineConfig config = EngineConfig.builder()
                .dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(SourceTree.root())
                .warmPoolSize(1)
                .warmPoolRecent(0)
                .warmPoolMax(1)
                .launchFromBase(false)
                .build();
        Path data = config.dataDir();
        Path pool = data.resolve("pool");
        List<Machine> vms = new ArrayList<>();
        List<String> logged = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(new SimpleFormatter().formatMessage(r));
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Engine engine = Engine.open(config);
        try {
            Machine source = engine.launch(
                    MachineSpec.builder().image("minimal").memoryMib(256).build());
            vms.add(source);
            engine.snapshot(source, SnapshotSpec.withId("s"));
            engine.markHot("s").get(60, TimeUnit.SECONDS);
            Machine clone = engine.restore("s", RestoreSpec.withId("clone"));
            vms.add(clone);
            assertEquals(List.of(clone.dir()), linkTargets(pool), "the claimed entry's link");

            clone.destroy();
            assertEquals(List.of(), dangling(pool), "destroying the clone removed its link");

            engine.warmRefill("s").get(60, TimeUnit.SECONDS);
            Machine other = engine.restore("s", RestoreSpec.withId("other"));
            vms.add(other);
            engine.close(); // the VM runs on, its link is still needed
            assertEquals(List.of(other.dir()), linkTargets(pool));
            assertEquals(List.of(), dangling(pool), "closing the engine leaves no link to a deleted VM");

            engine = Engine.open(config); // a restarted engine deletes a VM it only knows by id
            engine.discard("other");
            assertEquals(List.of(), dangling(pool), "discarding the clone removed its link");
            engine.close();

            Path left = Files.createSymbolicLink(
                    pool.resolve("dead"), data.resolve("vms").resolve("gone"));
            POOL_LOG.addHandler(capture);
            engine = Engine.open(config);
            assertEquals(List.of(), dangling(pool), "start-up removed the link to a deleted VM");
            assertTrue(
                    logged.stream().anyMatch(l -> l.contains(left.toString()) && l.contains("gone")),
                    logged.toString());
        } finally {
            POOL_LOG.removeHandler(capture);
            try {
                TestEngines.shutDown(engine, vms);
            } finally {
                for (ProcessHandle h : ProcessHandle.allProcesses().toList()) { // nothing of this test runs on
                    if (h.info()
                            .arguments()
                            .map(a -> String.join(" ", a).contains(data.toString()))
                            .orElse(false)) {
                        h.destroyForcibly();
                        h.onExit().join();
                    }
                }
                TestEngines.deleteDataDir(data);
            }
        }
    }

    /** {@return where the links in {@code pool} point} */
    private static List<Path> linkTargets(Path pool) throws IOException {
        List<Path> out = new ArrayList<>();
        try (var s = Files.list(pool)) {
            for (Path p : s.filter(Files::isSymbolicLink).toList()) out.add(Files.readSymbolicLink(p));
        }
        return out;
    }

    /** {@return the links in {@code pool} whose target does not exist} */
    private static List<Path> dangling(Path pool) throws IOException {
        try (var s = Files.list(pool)) {
            return s.filter(p -> Files.isSymbolicLink(p) && !Files.exists(p)).toList();
        }
    }
}
