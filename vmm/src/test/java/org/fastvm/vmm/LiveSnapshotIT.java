package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live snapshots lose nothing: the check that found QEMU 7.2's TCG dirty-tracking bug
 * (thousands of lost pages per busy run), kept as a test. A guest rewrites files on its tmpfs
 * (each named after its own checksum) while 20 snapshots are taken live; for each, the
 * source's RAM at the switch-over (read from its QEMU while the guest is stopped) must equal
 * the snapshot's memory file page for page, and a clone of it must find every file intact.
 */
class LiveSnapshotIT {
    private static final int RUNS = 20;
    private static final int MEMORY_MIB = 256;
    private static final int PAGE = 4096;

    private static Engine engine;
    private static Machine source;
    private static final List<Machine> vms = new ArrayList<>();
    /** The source's RAM as the fault hook read it at the last switch-over. */
    private static volatile byte[] atSwitchover;

    @BeforeAll
    static void boot() throws Exception {
        engine = Engine.open(TestEngines.config(), step -> {
            if (step.equals("switchover")) atSwitchover = readGuestRam(source);
        });
        if (!engine.liveSnapshots()) {
            if ("true".equals(System.getenv("CI")))
                fail("CI installs QEMU >= 9: snapshots must be live, got " + engine.qemuVersion());
            Assumptions.abort(engine.qemuVersion().describe() + " copies RAM stopped; nothing live to check");
        }
        source = engine.launch(MachineSpec.builder()
                .image("minimal")
                .memoryMib(MEMORY_MIB)
                .hostname("busy")
                .build());
        vms.add(source);
        // after this one the VM runs on a private RAM mapping whatever its launch was (a boot is re-homed
        // by its first snapshot, a launch from a base is a restore): every later snapshot migrates it
        engine.snapshot(source, SnapshotSpec.withId("rehome"));
        engine.deleteSnapshot("rehome");
        // 16 files of 256 KiB, rewritten in turn; each is renamed to its own md5 once complete
        sh(
                source,
                "mkdir -p /tmp/w && sh -c 'i=0; while :; do i=$(((i+1)%16)); "
                        + "dd if=/dev/urandom of=/tmp/w/new bs=4096 count=64 2>/dev/null; "
                        + "s=$(md5sum /tmp/w/new); rm -f /tmp/w/$i.*; mv /tmp/w/new /tmp/w/$i.${s%% *}; done' "
                        + "</dev/null >/dev/null 2>&1 &");
        sh(source, "for i in $(seq 100); do [ $(ls /tmp/w | wc -l) -ge 16 ] && exit 0; sleep 0.1; done; exit 1");
    }

    @AfterAll
    static void tearDown() throws Exception {
        TestEngines.shutDown(engine, vms);
    }

    @Test
    void busyGuestsLoseNoPageAcrossLiveSnapshots() throws Exception {
        List<Double> pauses = new ArrayList<>();
        for (int run = 0; run < RUNS; run++) {
            String id = "live-" + run;
            atSwitchover = null;
            VmSnapshot s = engine.snapshot(source, SnapshotSpec.withId(id));
            byte[] ram = atSwitchover;
            assertTrue(ram != null, "the live path reached its switch-over");
            assertEquals(0, differingPages(ram, s.dir().resolve(SnapshotManifest.MEM)), "run " + run + ": lost pages");
            pauses.add(s.pauseMillis());

            Machine clone = engine.restore(id, RestoreSpec.withId("check-" + run));
            vms.add(clone);
            // every complete file (renamed into place only once written) must still match the checksum
            // in its name; the clone's copy of the workload runs on, so a file may vanish meanwhile
            var r = sh(
                    clone,
                    "n=0; for f in /tmp/w/*.*; do s=$(md5sum $f 2>/dev/null) || continue; "
                            + "[ \"${f##*.}\" = \"${s%% *}\" ] || { echo \"corrupt $f\"; exit 1; }; n=$((n+1)); done; echo $n");
            assertTrue(Integer.parseInt(r.stdoutText().strip()) >= 8, "files checked: " + r.stdoutText());
            clone.destroy();
            vms.remove(clone);
            engine.deleteSnapshot(id);
        }
        // the source ran on: its workload is still rewriting files
        sh(
                source,
                "a=$(ls /tmp/w); for i in $(seq 50); do [ \"$(ls /tmp/w)\" != \"$a\" ] && exit 0; sleep 0.1; done; exit 1");
        pauses.sort(null);
        System.out.println("live snapshot pauses (ms, sorted): " + pauses);
    }

    private static ExecResult sh(Machine m, String script) throws InterruptedException {
        ExecResult r = m.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), () -> script + ": " + r.stdoutText() + r.stderrText());
        return r;
    }

    /** The guest RAM of {@code m}'s QEMU: its private mapping of the VM's memory file, read through /proc. */
    private static byte[] readGuestRam(Machine m) throws IOException {
        String memPath = m.dir().resolve("mem").toString();
        long start = -1, end = -1;
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(m.pid()), "maps"))) {
            if (line.endsWith(" " + memPath)) {
                String[] range = line.substring(0, line.indexOf(' ')).split("-", -1);
                start = Long.parseUnsignedLong(range[0], 16);
                end = Long.parseUnsignedLong(range[1], 16);
                break;
            }
        }
        if (start < 0) throw new IOException("no mapping of " + memPath + " in QEMU " + m.pid());
        assertEquals((long) MEMORY_MIB << 20, end - start, "the whole guest RAM is one mapping");
        byte[] ram = new byte[(int) (end - start)];
        try (FileChannel c =
                FileChannel.open(Path.of("/proc", Long.toString(m.pid()), "mem"), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.wrap(ram);
            while (b.hasRemaining()) {
                if (c.read(b, start + b.position()) < 0) throw new IOException("short read of guest RAM");
            }
        }
        return ram;
    }

    private static int differingPages(byte[] ram, Path memFile) throws IOException {
        byte[] mem = Files.readAllBytes(memFile);
        assertEquals(ram.length, mem.length, "memory file size");
        int diff = 0;
        for (int off = 0; off < ram.length; off += PAGE) {
            if (!Arrays.equals(ram, off, off + PAGE, mem, off, off + PAGE)) diff++;
        }
        return diff;
    }
}
