package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.image.GuestImage;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Fork correctness on the minimal image (real QEMU, real agent): one booted source VM, a
 * snapshot of it taken once, clones restored from it. Every VM, pool QEMU and dir is
 * removed at the end, also on failure.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SnapshotForkIT {
    private static Engine engine;
    /** The engine's fault hook: each test that injects a failure sets it, and resets it after. */
    private static volatile FaultHook faults = FaultHook.NONE;

    private static Machine source;
    private static VmSnapshot base;
    private static final List<Machine> clones = new ArrayList<>();
    /** Lines a streaming exec prints across the first snapshot (one every ~20 ms). */
    private static final int STREAMED_LINES = 150;

    private static ExecHandle inFlight;
    private static final java.io.ByteArrayOutputStream inFlightOut = new java.io.ByteArrayOutputStream();

    @BeforeAll
    static void bootAndSnapshot() throws Exception {
        engine = Engine.open(
                EngineConfig.builder()
                        .dataDir(TestEngines.config().dataDir())
                        .cacheDir(TestEngines.sharedCache())
                        .fastvmHome(org.fastvm.vmm.testing.SourceTree.root())
                        // a booted source whose first snapshot is the re-home checked here, and no base snapshots
                        // in the listings, link counts and pool counts below
                        .warmPoolSize(1)
                        .warmPoolRecent(0)
                        .warmPoolMax(2)
                        .launchFromBase(false)
                        .build(),
                step -> faults.at(step));
        source = engine.launch(MachineSpec.builder()
                .image("minimal")
                .memoryMib(512)
                .hostname("src")
                .build());
        // a counter that keeps counting, a file, then the snapshot, then a write the clones must not see
        sh(
                source,
                "sh -c 'i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/counter; sleep 0.1; done' </dev/null >/dev/null 2>&1 &");
        sh(
                source,
                "echo before > /tmp/before; for i in $(seq 50); do [ -s /tmp/counter ] && exit 0; sleep 0.1; done; exit 1");
        var firstLine = new CompletableFuture<Void>();
        inFlight = source.start(
                ExecRequest.of(
                        "sh",
                        "-c",
                        "i=0; while [ $i -lt " + STREAMED_LINES + " ]; do i=$((i+1)); echo $i; sleep 0.02; done"),
                new ExecListener() {
                    @Override
                    public void onStdout(byte[] chunk) {
                        synchronized (inFlightOut) {
                            inFlightOut.writeBytes(chunk);
                        }
                        firstLine.complete(null);
                    }

                    @Override
                    public void onStderr(byte[] chunk) {}

                    @Override
                    public void onExit(ExecResult result) {}
                });
        firstLine.get(30, TimeUnit.SECONDS);
        assertFalse(inFlight.result().isDone(), "the exec is still streaming when the snapshot starts");
        base = engine.snapshot(source, SnapshotSpec.withId("base"));
        sh(source, "echo after > /tmp/after");
    }

    @AfterAll
    static void tearDown() throws Exception {
        List<Machine> all = new ArrayList<>(clones);
        all.add(source);
        TestEngines.shutDown(engine, all);
    }

    private static ExecResult sh(Machine m, String script) throws InterruptedException {
        var r = m.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), m.id() + ": " + script + " -> " + r.stderrText());
        return r;
    }

    private static Machine restore(String id) throws InterruptedException {
        Machine m = engine.restore("base", new RestoreSpec(id, "host-" + id, 0));
        clones.add(m);
        return m;
    }

    @Test
    @Order(1)
    void snapshotIsCompleteAndListed() throws Exception {
        assertEquals("base", base.id());
        assertEquals(512, base.memoryMib());
        assertEquals(1, base.vcpus());
        assertEquals("minimal", base.imageName());
        assertFalse(base.hasRootDisk());
        assertTrue(base.qemuVersion().startsWith("QEMU emulator version"), base.qemuVersion());
        assertTrue(base.pauseMillis() >= 0 && base.pauseMillis() < 5000, "pause " + base.pauseMillis());
        for (String f : List.of("manifest.json", "state", "mem"))
            assertTrue(Files.isRegularFile(base.dir().resolve(f)), f);
        assertEquals(
                List.of("base"), engine.snapshots().stream().map(VmSnapshot::id).toList());
        assertEquals(base, engine.findSnapshot("base").orElseThrow());
        try (var s = Files.list(base.dir().getParent())) {
            assertEquals(List.of("base"), s.map(p -> p.getFileName().toString()).toList(), "no temp dirs left");
        }
        assertThrows(IllegalArgumentException.class, () -> engine.snapshot(source, SnapshotSpec.withId("base")));
        assertEquals("after\n", sh(source, "cat /tmp/after").stdoutText(), "the source runs on after the snapshot");
        // the first snapshot moved the VM to a new QEMU: the exec in flight streamed on across the
        // swap, every line exactly once and in order, and its EXIT arrived
        assertEquals(0, inFlight.result().get(60, TimeUnit.SECONDS).exitCode());
        var want = new StringBuilder();
        for (int i = 1; i <= STREAMED_LINES; i++) want.append(i).append('\n');
        synchronized (inFlightOut) {
            assertEquals(want.toString(), inFlightOut.toString(java.nio.charset.StandardCharsets.US_ASCII));
        }
    }

    @Test
    @Order(2)
    void tenConcurrentClonesAreForksWithTheirOwnIdentity() throws Exception {
        List<CompletableFuture<Machine>> fs = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            String id = "c" + i;
            fs.add(CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            return restore(id);
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    Thread::startVirtualThread));
        }
        List<Machine> ten = new ArrayList<>();
        for (var f : fs) ten.add(f.get(120, TimeUnit.SECONDS));
        // clocks right after the restores, all at once (under TCG on a loaded host guest clocks drift later)
        List<CompletableFuture<String>> clocks = new ArrayList<>();
        for (Machine c : ten) {
            clocks.add(CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            // busybox date has whole seconds: wait in the guest for the next second to begin; that
                            // instant happened during the exec, so it must lie within 1 s of the host's exec window
                            long before = Instant.now().toEpochMilli();
                            long tick = Long.parseLong(
                                            sh(c, "a=$(date +%s); while [ $(date +%s) = $a ]; do :; done; date +%s")
                                                    .stdoutText()
                                                    .strip())
                                    * 1000;
                            long after = Instant.now().toEpochMilli();
                            return tick >= before - 1000 && tick <= after + 1000
                                    ? ""
                                    : c.id() + " clock: second began at " + tick + ", host exec window " + before + ".."
                                            + after;
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    Thread::startVirtualThread));
        }
        for (var f : clocks) assertEquals("", f.get(60, TimeUnit.SECONDS));
        Set<String> randoms = new HashSet<>();
        for (Machine c : ten) {
            // the counter started before the snapshot still counts
            sh(c, "a=$(cat /tmp/counter); sleep 0.5; b=$(cat /tmp/counter); [ \"$b\" -gt \"$a\" ]");
            assertEquals("before\n", sh(c, "cat /tmp/before").stdoutText());
            assertEquals(
                    1, c.exec(ExecRequest.of("test", "-e", "/tmp/after")).exitCode(), "source's later write is absent");
            assertEquals("host-" + c.id() + "\n", sh(c, "hostname").stdoutText());
            sh(c, "echo " + c.id() + " > /tmp/mine");
            randoms.add(sh(c, "head -c 16 /dev/urandom | od -An -tx1").stdoutText());
        }
        assertEquals(10, randoms.size(), "every clone reads different bytes from /dev/urandom: " + randoms);
        for (Machine c : ten)
            assertEquals(c.id() + "\n", sh(c, "cat /tmp/mine").stdoutText(), "each clone's writes are its own");
        assertEquals(1, source.exec(ExecRequest.of("test", "-e", "/tmp/mine")).exitCode());
        assertNotEquals(ten.get(0).agentInfo().bootId(), "", "agent answered");
        for (Machine c : ten) { // keep two for the reference test
            if (!c.id().equals("c0") && !c.id().equals("c1")) {
                c.destroy();
                clones.remove(c);
            }
        }
    }

    @Test
    @Order(3)
    void secondAndThirdSnapshotsOfTheSourceAndAChainThroughAClone() throws Exception {
        sh(source, "echo two > /tmp/two");
        VmSnapshot s2 = engine.snapshot(source, SnapshotSpec.withId("second"));
        sh(source, "echo three > /tmp/three");
        VmSnapshot s3 = engine.snapshot(source, SnapshotSpec.withId("third"));
        assertEquals("three\n", sh(source, "cat /tmp/three").stdoutText());
        Machine r2 = engine.restore("second", RestoreSpec.withId("r2"));
        clones.add(r2);
        sh(r2, "test -e /tmp/two && ! test -e /tmp/three");
        Machine r3 = engine.restore("third", RestoreSpec.withId("r3"));
        clones.add(r3);
        sh(r3, "test -e /tmp/two && test -e /tmp/three");
        // a snapshot of a clone (private RAM mapping) restores too
        Machine c0 =
                clones.stream().filter(m -> m.id().equals("c0")).findFirst().orElseThrow();
        sh(c0, "echo chained > /tmp/chain");
        engine.snapshot(c0, SnapshotSpec.withId("of-clone"));
        sh(c0, "echo later > /tmp/later");
        Machine cc = engine.restore("of-clone", RestoreSpec.withId("cc"));
        clones.add(cc);
        assertEquals("chained\nc0\n", sh(cc, "cat /tmp/chain /tmp/mine").stdoutText());
        sh(cc, "! test -e /tmp/later && a=$(cat /tmp/counter); sleep 0.3; [ $(cat /tmp/counter) -gt $a ]");
        for (String id : List.of("second", "third", "of-clone")) engine.deleteSnapshot(id);
        for (Machine m : List.of(r2, r3, cc)) {
            m.destroy();
            clones.remove(m);
        }
        assertTrue(s2.pauseMillis() >= 0 && s3.pauseMillis() >= 0);
    }

    @Test
    @Order(4)
    void warmPoolIsUsedAndDrained() throws Exception {
        engine.snapshot(source, SnapshotSpec.withId("hot"));
        engine.markHot("hot").get(60, TimeUnit.SECONDS);
        assertEquals(1, engine.warmCount("hot"));
        Path poolDir = engine.config().dataDir().resolve("pool");
        Machine w = engine.restore("hot", RestoreSpec.withId("warm1"));
        clones.add(w);
        String argv = Files.readString(w.dir().resolve("machine.json"));
        assertTrue(argv.contains(poolDir.toString()), "the restore took the pre-spawned QEMU");
        assertEquals("after\n", sh(w, "cat /tmp/after").stdoutText());
        assertEquals("warm1\n", sh(w, "hostname").stdoutText(), "hostname defaults to the clone's id");
        engine.warmRefill("hot").get(60, TimeUnit.SECONDS);
        assertEquals(1, engine.warmCount("hot"), "refilled in the background");
        // a pooled QEMU has run its guest once and stopped it; the clone it becomes is renewed all the same
        Thread.sleep(1500); // time passes while the entry waits in the pool (its guest clock stands still)
        Machine w2 = engine.restore("hot", RestoreSpec.withId("warm2"));
        clones.add(w2);
        assertEquals("warm2\n", sh(w2, "hostname").stdoutText());
        long before = Instant.now().getEpochSecond();
        long guest = Long.parseLong(sh(w2, "date +%s").stdoutText().strip());
        assertTrue(Math.abs(guest - before) <= 1, "clock set on claim: guest " + guest + ", host " + before);
        assertNotEquals(
                sh(w, "head -c 16 /dev/urandom | od -An -tx1").stdoutText(),
                sh(w2, "head -c 16 /dev/urandom | od -An -tx1").stdoutText(),
                "entropy renewed on claim");
        sh(w2, "a=$(cat /tmp/counter); sleep 0.3; [ $(cat /tmp/counter) -gt $a ]"); // the snapshot's processes run on
        engine.warmRefill("hot").get(60, TimeUnit.SECONDS);
        assertEquals(1, engine.warmCount("hot"));
        long pooledPid;
        try (var s = Files.list(poolDir)) {
            Path p = s.filter(d -> !Files.isSymbolicLink(d)).findFirst().orElseThrow();
            pooledPid = Long.parseLong(Files.readString(p.resolve("pid")).strip());
        }
        engine.deleteSnapshot("hot");
        assertEquals(0, engine.warmCount("hot"));
        assertFalse(ProcessHandle.of(pooledPid).map(ProcessHandle::isAlive).orElse(false), "drained: pool QEMU killed");
        try (var s = Files.list(poolDir)) {
            assertEquals(0, s.filter(d -> !Files.isSymbolicLink(d)).count(), "only the claimed clone's link is left");
        }
        assertEquals("after\n", sh(w, "cat /tmp/after").stdoutText(), "the clone outlives its snapshot");
    }

    @Test
    @Order(5)
    void deletingASnapshotLeavesItsClonesWorkingAndFreesFilesWithTheLastClone() throws Exception {
        Machine c0 =
                clones.stream().filter(m -> m.id().equals("c0")).findFirst().orElseThrow();
        Machine c1 =
                clones.stream().filter(m -> m.id().equals("c1")).findFirst().orElseThrow();
        Path mem0 = c0.dir().resolve("mem");
        // the source was re-homed onto the snapshot's memory file by its first snapshot: it maps it too
        assertEquals(4, (int) Files.getAttribute(mem0, "unix:nlink"), "snapshot, source and two clones share the file");
        engine.deleteSnapshot("base");
        assertTrue(engine.findSnapshot("base").isEmpty());
        assertFalse(Files.exists(base.dir()));
        assertThrows(NoSuchSnapshotException.class, () -> engine.restore("base", RestoreSpec.defaults()));
        assertEquals(3, (int) Files.getAttribute(mem0, "unix:nlink"));
        assertEquals("c0\n", sh(c0, "cat /tmp/mine").stdoutText());
        c1.destroy();
        clones.remove(c1);
        assertEquals(2, (int) Files.getAttribute(mem0, "unix:nlink"), "the file lives as long as a VM maps it");
        assertEquals("c0\n", sh(c0, "cat /tmp/mine").stdoutText());
        assertEquals("after\n", sh(source, "cat /tmp/after").stdoutText());
        c0.destroy();
        clones.remove(c0);
        assertEquals(
                1,
                (int) Files.getAttribute(source.dir().resolve("mem"), "unix:nlink"),
                "only the source's link is left");
        assertFalse(Files.exists(mem0));
    }

    @Test
    @Order(6)
    void faults() throws Exception {
        assertThrows(NoSuchSnapshotException.class, () -> engine.restore("nope", RestoreSpec.defaults()));
        assertThrows(IllegalArgumentException.class, () -> engine.restore("Bad Id", RestoreSpec.defaults()));
        var iae = assertThrows(IllegalArgumentException.class, () -> new RestoreSpec(null, "bad host!", 0));
        assertTrue(iae.getMessage().startsWith("hostname"), iae.getMessage());
        // snapshot of a dead VM
        Machine doomed = engine.launch(
                MachineSpec.builder().image("minimal").memoryMib(256).build());
        try {
            assertTrue(ProcessHandle.of(doomed.pid()).orElseThrow().destroyForcibly());
            doomed.onExit().get(10, TimeUnit.SECONDS);
            assertThrows(MachineDeadException.class, () -> engine.snapshot(doomed, SnapshotSpec.withId("dead")));
            assertTrue(engine.findSnapshot("dead").isEmpty());
        } finally {
            doomed.destroy();
        }
    }

    @Test
    @Order(7)
    void aFailedSnapshotLeavesNothingAndTheSourceRunsOn() throws Exception {
        faults = step -> {
            if (step.equals("state")) throw new java.io.IOException("No space left on device");
        };
        try {
            var e = assertThrows(
                    SnapshotFailedException.class, () -> engine.snapshot(source, SnapshotSpec.withId("full")));
            assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        } finally {
            faults = FaultHook.NONE;
        }
        assertTrue(engine.findSnapshot("full").isEmpty());
        try (var s = Files.list(engine.config().dataDir().resolve("snapshots"))) {
            assertEquals(0, s.count(), "no partial snapshot, no temp dir");
        }
        assertEquals("after\n", sh(source, "cat /tmp/after").stdoutText());
        sh(source, "a=$(cat /tmp/counter); sleep 0.3; [ $(cat /tmp/counter) -gt $a ]");
    }

    @Test
    @Order(8)
    void incompatibleSnapshotsAreRefusedNeverHung() throws Exception {
        VmSnapshot s = engine.snapshot(source, SnapshotSpec.withId("tampered"));
        List<String> vmsBefore = engine.machineIds();
        Path man = s.dir().resolve("manifest.json");
        String original = Files.readString(man);
        Files.writeString(man, original.replace("QEMU emulator version", "QEMU emulator version 1.0 not"));
        var e = assertThrows(
                SnapshotIncompatibleException.class, () -> engine.restore("tampered", RestoreSpec.defaults()));
        assertTrue(e.getMessage().contains("taken with"), e.getMessage());
        assertEquals(vmsBefore, engine.machineIds(), "refused before a clone dir or QEMU was made");

        // a state QEMU cannot load (checksum made to match): the incoming migration fails fast
        byte[] garbage = new byte[60_000];
        new java.util.Random(1).nextBytes(garbage);
        Files.write(s.dir().resolve("state"), garbage);
        String sha = java.util.HexFormat.of()
                .formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(garbage));
        Files.writeString(
                man, original.replaceAll("\"stateSha256\" : \"[0-9a-f]+\"", "\"stateSha256\" : \"" + sha + "\""));
        long t0 = System.nanoTime();
        var refused = assertThrows(
                SnapshotIncompatibleException.class, () -> engine.restore("tampered", RestoreSpec.withId("junk")));
        assertTrue(refused.getMessage().contains("QEMU refused"), refused.getMessage());
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "failed fast");
        assertEquals(vmsBefore, engine.machineIds(), "the failed clone's dir is removed");
        engine.deleteSnapshot("tampered");
    }

    @Test
    @Order(9)
    void aSnapshotOfAnEarlierImageBuildRestoresWhileThatBuildIsCached() throws Exception {
        // An upgrade changes the image's inputs, so snapshots name an earlier build: fake that with a
        // snapshot that names another key, then give that key a build dir (the current files, hard-linked).
        GuestImage current = engine.image("minimal");
        String oldKey = "00000000" + current.key().substring(8);
        Path oldDir = current.dir().resolveSibling("minimal-" + oldKey);
        VmSnapshot s = engine.snapshot(source, SnapshotSpec.withId("earlier-build"));
        Path man = s.dir().resolve("manifest.json");
        Files.writeString(
                man,
                Files.readString(man)
                        .replace("\"imageKey\" : \"" + current.key() + "\"", "\"imageKey\" : \"" + oldKey + "\""));
        List<String> vmsBefore = engine.machineIds();
        try {
            var gone = assertThrows(
                    SnapshotIncompatibleException.class, () -> engine.restore("earlier-build", RestoreSpec.defaults()));
            assertTrue(
                    gone.getMessage().contains(oldKey) && gone.getMessage().contains("no longer in the image cache"),
                    gone.getMessage());
            assertEquals(vmsBefore, engine.machineIds(), "refused before a clone dir or QEMU was made");

            Files.createDirectory(oldDir);
            try (var files = Files.list(current.dir())) {
                for (Path f : files.toList()) {
                    if (!f.getFileName().toString().equals("image.json"))
                        Files.createLink(oldDir.resolve(f.getFileName()), f);
                }
            }
            Files.writeString(
                    oldDir.resolve("image.json"),
                    Files.readString(current.dir().resolve("image.json")).replace(current.key(), oldKey));
            Machine c = engine.restore("earlier-build", RestoreSpec.withId("on-earlier-build"));
            clones.add(c);
            assertEquals("before\n", sh(c, "cat /tmp/before").stdoutText());
        } finally {
            FileOps.deleteQuietly(oldDir);
            engine.deleteSnapshot("earlier-build");
        }
    }

    @Test
    @Order(10)
    void closingTheEngineKillsItsPreSpawnedQemusButNotItsVms() throws Exception {
        engine.snapshot(source, SnapshotSpec.withId("last"));
        Engine other = Engine.open(engine.config()); // a restarted engine on the same data dir
        long pooled;
        try {
            assertEquals(
                    List.of("last"),
                    other.snapshots().stream().map(VmSnapshot::id).toList());
            other.markHot("last").get(60, TimeUnit.SECONDS);
            assertEquals(1, other.warmCount("last"));
            try (var s = Files.list(engine.config().dataDir().resolve("pool"))) {
                Path p = s.filter(d -> !Files.isSymbolicLink(d)).findFirst().orElseThrow();
                pooled = Long.parseLong(Files.readString(p.resolve("pid")).strip());
            }
            assertTrue(ProcessHandle.of(pooled).map(ProcessHandle::isAlive).orElse(false));
        } finally {
            other.close();
        }
        assertFalse(ProcessHandle.of(pooled).map(ProcessHandle::isAlive).orElse(false), "pool QEMU killed by close()");
        assertTrue(source.isAlive(), "running VMs are not the engine's to stop");
        engine.deleteSnapshot("last");
    }

    @Test
    @Order(11)
    void deletingASnapshotWhileItsPoolWarmsUpLeavesNoQemuBehind() throws Exception {
        engine.snapshot(source, SnapshotSpec.withId("fleeting"));
        // the snapshot is deleted after its pool QEMU started, before the warm-up reads the state
        faults = step -> {
            if (step.equals("warm-up")) engine.deleteSnapshot("fleeting");
        };
        try {
            engine.markHot("fleeting").get(60, TimeUnit.SECONDS);
        } finally {
            faults = FaultHook.NONE;
        }
        assertFalse(engine.findSnapshot("fleeting").isPresent());
        assertEquals(0, engine.warmCount("fleeting"));
        Path poolDir = engine.config().dataDir().resolve("pool");
        // claimed entries became VMs (their pool dir is a link); a live QEMU on a real pool dir is a leak
        List<ProcessHandle> leaked = ProcessHandle.allProcesses()
                .filter(h -> {
                    String a = String.join(" ", h.info().arguments().orElse(new String[0]));
                    if (!h.isAlive() || !a.contains("-incoming defer") || !a.contains(poolDir.toString())) return false;
                    int i = a.indexOf(poolDir.toString()) + poolDir.toString().length() + 1;
                    return !Files.isSymbolicLink(poolDir.resolve(a.substring(i, a.indexOf('/', i))));
                })
                .toList();
        leaked.forEach(ProcessHandle::destroyForcibly); // a failing run leaves nothing behind either
        assertEquals(List.of(), leaked.stream().map(ProcessHandle::pid).toList(), "pool QEMUs left running");
    }
}
