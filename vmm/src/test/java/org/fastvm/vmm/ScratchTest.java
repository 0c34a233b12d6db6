package org.fastvm.vmm;

import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.Test;

class ScratchTest {
    @Test
    void twoSnapshots() throws Exception {
        Engine engine = Engine.open(EngineConfig.builder().dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache()).fastvmHome(org.fastvm.vmm.testing.SourceTree.root()).warmPoolSize(0).build());
        Machine src = engine.launch(MachineSpec.builder().image("minimal").build());
        try {
            for (int i = 0; i < 3; i++) {
                src.exec(ExecRequest.of("sh", "-c", "echo " + i + " > /tmp/n"));
                VmSnapshot s = engine.snapshot(src, SnapshotSpec.withId("s" + i));
                System.err.println("SNAP " + i + " pause " + s.pauseMillis());
                long t0 = System.nanoTime();
                Machine c = engine.restore("s" + i, RestoreSpec.withId("c" + i));
                System.err.println("RESTORE " + i + " " + (System.nanoTime() - t0) / 1e6 + " " + c.exec(ExecRequest.of("cat", "/tmp/n")).stdoutText());
                c.destroy();
            }
        } finally {
            src.destroy();
            engine.close();
        }
    }
}
