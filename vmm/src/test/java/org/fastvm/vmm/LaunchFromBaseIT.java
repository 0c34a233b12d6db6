package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.testing.SourceTree;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Launches served from base snapshots (real QEMU, real agent): the first launch of an image
 * and shape boots and leaves a hidden base snapshot; later ones restore it and are
 * indistinguishable from a boot to the caller (spec, hostname, clock, entropy, disk size);
 * other shapes boot; a base that no longer restores is replaced; the setting turned off boots.
 * Every VM is destroyed at the end, also on failure.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LaunchFromBaseIT {
    private static final int MEM = 256, OTHER_MEM = 320;
    private static Engine engine;
    private static Path snapshotsDir;
    private static Machine first;
    private static String base;
    private static final List<Machine> vms = Collections.synchronizedList(new ArrayList<>());
    /** Launch call → returned, per VM id, for the log. */
    private static final Map<String, Long> launchMs = Collections.synchronizedMap(new LinkedHashMap<>());

    @BeforeAll
    static void open() throws Exception {
        engine = Engine.open(EngineConfig.builder()
                .dataDir(TestEngines.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(SourceTree.root())
                .warmPoolSize(1)
                .warmPoolRecent(0)
                .warmPoolMax(4)
                .launchFromBase(true)
                .build());
        snapshotsDir = engine.config().dataDir().resolve("snapshots");
        if (!engine.liveSnapshots()) {
            if ("true".equals(System.getenv("CI")))
                fail("CI installs QEMU >= 9: snapshots must be live, got " + engine.qemuVersion());
            Assumptions.abort(engine.qemuVersion().describe() + " copies RAM stopped: launches take no base snapshot");
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        System.out.println("launch times (ms): " + launchMs);
        TestEngines.shutDown(engine, new ArrayList<>(vms));
    }

    private static Machine launch(MachineSpec spec) throws InterruptedException {
        return launch(engine, spec);
    }

    private static Machine launch(Engine e, MachineSpec spec) throws InterruptedException {
        long t0 = System.nanoTime();
        Machine m = e.launch(spec);
        launchMs.put(m.id(), (System.nanoTime() - t0) / 1_000_000);
        vms.add(m);
        return m;
    }

    private static MachineSpec.Builder minimal(String id) {
        return MachineSpec.builder().id(id).image("minimal").memoryMib(MEM);
    }

    private static MachineRecord record(Machine m) {
        return ((QemuMachine) m).record();
    }

    /** The base snapshot a launch of {@code m}'s spec restores (whether it exists or not). */
    private static String baseId(Machine m) throws InterruptedException {
        return BaseSnapshots.id(engine.image(m.spec().image()), m.spec());
    }

    private static String sh(Machine m, String script) throws InterruptedException {
        var r = m.exec(ExecRequest.of("sh", "-c", script));
        assertEquals(0, r.exitCode(), m.id() + ": " + script + " -> " + r.stdoutText() + r.stderrText());
        return r.stdoutText();
    }

    private static List<String> snapshotDirs() throws Exception {
        try (var s = Files.list(snapshotsDir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    @Order(1)
    void firstLaunchBootsAndLeavesABaseNoCallerSees() throws Exception {
        first = launch(minimal("first").hostname("first-host").build());
        assertNull(record(first).snapshotId(), "the first launch of a shape boots");
        base = baseId(first);
        assertEquals("_base-minimal-" + engine.image("minimal").key().substring(0, 12) + "-1c-" + MEM + "m", base);
        assertEquals(List.of(base), snapshotDirs(), "the base is on disk, nothing else (no temp dir)");
        assertTrue(Files.isRegularFile(snapshotsDir.resolve(base).resolve("manifest.json")));
        assertEquals("first", SnapshotManifest.read(snapshotsDir.resolve(base)).sourceVmId());
        assertEquals(List.of(), engine.snapshots(), "base snapshots are not listed");
        assertThrows(IllegalArgumentException.class, () -> engine.findSnapshot(base));
        assertThrows(IllegalArgumentException.class, () -> engine.deleteSnapshot(base));
        assertThrows(IllegalArgumentException.class, () -> engine.markHot(base));
        assertThrows(IllegalArgumentException.class, () -> engine.restore(base, RestoreSpec.defaults()));
        assertEquals(List.of(base), snapshotDirs(), "still there");

        // the booted VM was snapshotted (re-homed onto a private mapping of its RAM file) and runs on
        assertFalse(
                record(first).argv().stream().anyMatch(a -> a.contains("share=on")),
                record(first).argv().toString());
        assertEquals("first-host\n", sh(first, "hostname"));
        assertEquals("first-host", first.agentInfo().hostname());
        sh(first, "echo after-base > /tmp/first-only && cat /tmp/first-only");
        engine.warmRefill(base).get(60, TimeUnit.SECONDS);
        assertEquals(1, engine.warmCount(base), "a QEMU waits warm for the next launch");
    }

    @Test
    @Order(2)
    void aLaunchOfTheSameShapeIsAWarmRestoreWithItsOwnIdentity() throws Exception {
        Thread.sleep(2000); // the base's guest clock and the warm QEMU's stand still meanwhile: the launch must set it
        Machine second = launch(minimal("second").hostname("second-host").build());
        MachineRecord rec = record(second);
        assertEquals(base, rec.snapshotId(), "restored from the base");
        assertTrue(Files.readString(second.dir().resolve(MachineRecord.FILE))
                .contains("\"snapshotId\" : \"" + base + "\""));
        assertTrue(
                rec.argv().stream()
                        .anyMatch(a -> a.contains(
                                engine.config().dataDir().resolve("pool").toString())),
                "a pre-spawned QEMU served it: " + rec.argv());
        assertTrue(
                launchMs.get("second") < launchMs.get("first"),
                "restore " + launchMs.get("second") + " ms, boot " + launchMs.get("first") + " ms");
        // what the caller sees is a launch of what it asked for
        assertEquals(new MachineSpec("second", "minimal", 1, MEM, 0, "second-host"), second.spec());
        assertEquals("second-host", second.agentInfo().hostname());
        assertEquals("second-host\n", sh(second, "hostname"));
        sh(second, "! test -e /tmp/first-only"); // the base holds the first VM as it was at READY
        // ... booted under a neutral name: nothing of the first launch (another org's, maybe) reaches it
        sh(
                second,
                "! grep -q first-host /proc/cmdline && ! dmesg | grep -q first-host && grep -q fastvm.hostname=fastvm /proc/cmdline");
        // its own clock: the guest's next second began within 1 s of the host's exec window
        long t0 = Instant.now().toEpochMilli();
        long tick = Long.parseLong(sh(second, "a=$(date +%s); while [ $(date +%s) = $a ]; do :; done; date +%s")
                        .strip())
                * 1000;
        long t1 = Instant.now().toEpochMilli();
        assertTrue(
                tick >= t0 - 1000 && tick <= t1 + 1000, "guest second began at " + tick + ", host " + t0 + ".." + t1);
        // its own entropy
        String rnd = "head -c 16 /dev/urandom | od -An -tx1";
        assertNotEquals(sh(first, rnd), sh(second, rnd));
        // ids stay unique on this path too
        var taken = assertThrows(
                IllegalArgumentException.class,
                () -> engine.launch(minimal("second").build()));
        assertTrue(taken.getMessage().startsWith("id: a VM named 'second' already exists"), taken.getMessage());
        assertEquals("second-host\n", sh(second, "hostname"), "the refused launch left the VM alone");

        // hostname defaults to the id; the minimal image ignores diskGib, and the spec keeps it as a boot does
        Machine third = launch(minimal("third").diskGib(3).build());
        assertEquals(base, record(third).snapshotId());
        assertEquals(new MachineSpec("third", "minimal", 1, MEM, 3, "third"), third.spec());
        assertEquals("third\n", sh(third, "hostname"));
        assertNotEquals(sh(second, rnd), sh(third, rnd));
        assertEquals(List.of(base), snapshotDirs(), "restores took no new base");
    }

    @Test
    @Order(3)
    void anotherShapeBootsAndConcurrentFirstLaunchesTakeOneBase() throws Exception {
        List<CompletableFuture<Machine>> fs = new ArrayList<>();
        for (String id : List.of("other-a", "other-b")) {
            fs.add(CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            return launch(minimal(id).memoryMib(OTHER_MEM).build());
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    },
                    Thread::startVirtualThread));
        }
        List<Machine> two = new ArrayList<>();
        for (var f : fs) two.add(f.get(180, TimeUnit.SECONDS));
        for (Machine m : two) assertNull(record(m).snapshotId(), m.id() + " booted: no base of its shape existed");
        String otherBase = baseId(two.get(0));
        assertTrue(otherBase.endsWith("-1c-" + OTHER_MEM + "m"), otherBase);
        assertEquals(List.of(base, otherBase), snapshotDirs(), "one base for the new shape, no temp dir left");
        for (Machine m : two) assertEquals(m.id() + "\n", sh(m, "hostname"));
        assertTrue(List.of("other-a", "other-b")
                .contains(SnapshotManifest.read(snapshotsDir.resolve(otherBase)).sourceVmId()));

        Machine third = launch(minimal("other-c").memoryMib(OTHER_MEM).build());
        assertEquals(otherBase, record(third).snapshotId(), "the next launch of that shape restores its base");
        assertEquals(OTHER_MEM, third.spec().memoryMib());
        for (Machine m : List.of(two.get(0), two.get(1), third)) m.destroy(); // spare the 2 cores
    }

    @Test
    @Order(4)
    void disksOfAnySizeComeFromOneBaseAtTheImagesSize() throws Exception {
        long imageBytes = engine.image("debian").rootDiskBytes();
        int gib = (int) (imageBytes >> 30) + 2;
        // the first launch asks for a bigger disk: it boots with the image's, is snapshotted, then grown
        Machine deb = launch(
                MachineSpec.builder().id("deb-1").image("debian").diskGib(gib).build());
        assertNull(record(deb).snapshotId());
        String debBase = baseId(deb);
        assertTrue(debBase.startsWith("_base-debian-"), debBase);
        assertTrue(
                Files.isRegularFile(snapshotsDir.resolve(debBase).resolve("manifest.json")),
                snapshotDirs().toString());
        assertEquals(
                imageBytes,
                SnapshotManifest.read(snapshotsDir.resolve(debBase)).diskBytes(),
                "the base has the image's disk");
        assertEquals(new MachineSpec("deb-1", "debian", 1, 512, gib, "deb-1"), deb.spec());
        assertEquals((long) gib << 30, record(deb).diskBytes());
        assertRootFs(deb, (long) gib << 30);
        sh(deb, "echo later > /root/later && sync");

        Machine plain =
                launch(MachineSpec.builder().id("deb-plain").image("debian").build());
        assertEquals(debBase, record(plain).snapshotId());
        assertEquals(new MachineSpec("deb-plain", "debian", 1, 512, 0, "deb-plain"), plain.spec());
        assertRootFs(plain, imageBytes);

        Machine big = launch(MachineSpec.builder()
                .id("deb-big")
                .image("debian")
                .diskGib(gib + 1)
                .hostname("big")
                .build());
        assertEquals(debBase, record(big).snapshotId(), "a bigger disk restores the base too");
        assertEquals(new MachineSpec("deb-big", "debian", 1, 512, gib + 1, "big"), big.spec());
        assertEquals((long) (gib + 1) << 30, record(big).diskBytes());
        assertRootFs(big, (long) (gib + 1) << 30);
        sh(big, "! test -e /root/later && echo mine > /root/mine && sync");
        sh(deb, "! test -e /root/mine && test -e /root/later");
        assertEquals("big\n", sh(big, "hostname"));
        for (Machine m : List.of(big, plain, deb)) m.destroy();
    }

    /** The root fs is on the VM's disk and (ext4 keeping a little for itself) about {@code bytes} big. */
    private static void assertRootFs(Machine m, long bytes) throws InterruptedException {
        String[] df = sh(m, "df -k / | tail -n 1").trim().split("\\s+", -1);
        assertEquals("/dev/vda", df[0]);
        long kib = Long.parseLong(df[1]);
        assertTrue(
                kib > (bytes >> 10) * 0.9 && kib <= bytes >> 10,
                m.id() + ": df / shows " + kib + " KiB, want ~" + (bytes >> 20) + " MiB");
    }

    @Test
    @Order(5)
    void aBaseThatNoLongerRestoresIsReplacedByABootAndBasesOfOtherBuildsGo() throws Exception {
        Path manifest = snapshotsDir.resolve(base).resolve(SnapshotManifest.FILE);
        String original = Files.readString(manifest);
        // a base of an earlier build of the image for the same shape (its manifest is enough to be listed)
        String key = engine.image("minimal").key().substring(0, 12);
        String earlier = base.replace(key, "0123456789ab");
        Files.createDirectory(snapshotsDir.resolve(earlier));
        Files.writeString(snapshotsDir.resolve(earlier).resolve(SnapshotManifest.FILE), original);
        // the base as if another QEMU had taken it
        Files.writeString(manifest, original.replace("QEMU emulator version", "QEMU emulator version 1.0 not"));
        Machine m = launch(minimal("after-upgrade").build());
        assertNull(record(m).snapshotId(), "the base did not restore: the launch booted");
        SnapshotManifest now = SnapshotManifest.read(snapshotsDir.resolve(base));
        assertEquals("after-upgrade", now.sourceVmId(), "a new base was taken from that boot");
        assertEquals(engine.qemuVersion().describe(), now.qemuVersion());
        assertFalse(Files.exists(snapshotsDir.resolve(earlier)), "the other build's base was deleted");
        assertFalse(
                snapshotDirs().stream().anyMatch(d -> d.startsWith(".tmp-")),
                snapshotDirs().toString());
        assertEquals("after-upgrade\n", sh(m, "hostname"));
        engine.warmRefill(base).get(60, TimeUnit.SECONDS);
        Machine next = launch(minimal("after-upgrade-2").build());
        assertEquals(base, record(next).snapshotId());
        assertEquals("after-upgrade-2\n", sh(next, "hostname"));
    }

    @Test
    @Order(6)
    void turnedOffEveryLaunchBoots() throws Exception {
        engine.warmRefill(base)
                .get(60, TimeUnit.SECONDS); // nothing in flight when the other engine sweeps the pool dir
        List<String> dirs = snapshotDirs();
        String created = SnapshotManifest.read(snapshotsDir.resolve(base)).createdAt();
        try (Engine off = Engine.open(EngineConfig.builder()
                .dataDir(engine.config().dataDir())
                .cacheDir(TestEngines.sharedCache())
                .fastvmHome(SourceTree.root())
                .warmPoolSize(0)
                .launchFromBase(false)
                .build())) {
            Machine m = launch(off, minimal("booted").build());
            assertNull(record(m).snapshotId(), "a base of this shape exists, and the launch booted");
            assertEquals("booted\n", sh(m, "hostname"));
            assertTrue(
                    record(m).argv().stream().anyMatch(a -> a.contains("share=on")),
                    "not snapshotted: " + record(m).argv());
            m.destroy();
        }
        assertEquals(dirs, snapshotDirs(), "no base taken or removed");
        assertEquals(created, SnapshotManifest.read(snapshotsDir.resolve(base)).createdAt());
        assertEquals("first-host\n", sh(first, "hostname"), "the first VM still runs");
    }
}
