package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Snapshots of a VM with a root disk (debian image): the disk chain is frozen at the
 * snapshot instant, clones see exactly the files written before it, and chains of
 * snapshots (source again, a clone of a clone) keep their disks apart.
 */
class DebianSnapshotIT {
    private static Engine engine;
    private static Machine source;
    private static final List<Machine> vms = new ArrayList<>();

    @BeforeAll
    static void boot() throws Exception {
        engine = Engine.open(EngineConfig.builder()
                .dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(org.fastvm.vmm.testing.SourceTree.root())
                .warmPoolSize(0)
                .build());
        source = engine.launch(
                MachineSpec.builder().image("debian").hostname("deb-src").build());
        vms.add(source);
    }

    @AfterAll
    static void tearDown() throws Exception {
        TestEngines.shutDown(engine, vms);
    }

    private static String sh(Machine m, String script) throws InterruptedException {
        var r = m.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), m.id() + ": " + script + " -> " + r.stderrText());
        return r.stdoutText();
    }

    private static Machine restore(String snap, RestoreSpec spec) throws InterruptedException {
        Machine m = engine.restore(snap, spec);
        vms.add(m);
        return m;
    }

    @Test
    void diskContentsFollowTheSnapshotsThroughChains() throws Exception {
        sh(source, "echo one > /root/one");
        VmSnapshot s1 = engine.snapshot(source, SnapshotSpec.withId("d1"));
        assertTrue(s1.hasRootDisk());
        assertTrue(Files.isRegularFile(s1.dir().resolve("root.qcow2")));
        sh(source, "echo two > /root/two && sync");

        Machine c1 = restore("d1", RestoreSpec.withId("dc1"));
        assertEquals("one\n", sh(c1, "cat /root/one"));
        sh(c1, "! test -e /root/two");
        sh(c1, "echo mine > /root/mine && sync");
        sh(source, "! test -e /root/mine");
        assertEquals("deb-src\n", sh(source, "hostname"));
        assertEquals("dc1\n", sh(c1, "hostname"));

        // the source again (its disk is now a chain of two layers)
        VmSnapshot s2 = engine.snapshot(source, SnapshotSpec.withId("d2"));
        sh(source, "echo three > /root/three && sync");
        Machine c2 = restore("d2", RestoreSpec.withId("dc2"));
        assertEquals("one\ntwo\n", sh(c2, "cat /root/one /root/two"));
        sh(c2, "! test -e /root/three && ! test -e /root/mine");
        assertEquals("one\ntwo\nthree\n", sh(source, "cat /root/one /root/two /root/three"));

        // a clone's snapshot, restored with a bigger disk
        VmSnapshot s3 = engine.snapshot(c1, SnapshotSpec.withId("d3"));
        sh(c1, "echo later > /root/later && sync");
        long bigger = (s3.diskBytes() >> 30) + 2;
        Machine c3 = restore("d3", new RestoreSpec("dc3", null, (int) bigger));
        assertEquals("one\nmine\n", sh(c3, "cat /root/one /root/mine"));
        sh(c3, "! test -e /root/later && ! test -e /root/two");
        long kib = Long.parseLong(sh(c3, "df -k / | tail -n 1").trim().split("\\s+", -1)[1]);
        assertTrue(kib > (bigger << 20) * 0.9, "root fs grown to ~" + bigger + " GiB: " + kib + " KiB");

        // deleting the snapshots leaves every VM on its disk chain
        for (String id : List.of("d1", "d2", "d3")) engine.deleteSnapshot(id);
        assertEquals("one\nmine\n", sh(c3, "cat /root/one /root/mine"));
        assertEquals("one\ntwo\n", sh(c2, "cat /root/one /root/two"));
        sh(c2, "echo ok > /root/ok && sync && cat /root/ok");
        assertTrue(s2.pauseMillis() >= 0);
    }
}
