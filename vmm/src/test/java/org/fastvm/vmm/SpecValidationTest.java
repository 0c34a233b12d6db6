package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SpecValidationTest {
    private static void rejects(String field, Runnable r) {
        var e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().startsWith(field), "expected the message to name " + field + ": " + e.getMessage());
    }

    @Test
    void machineSpecNamesTheBadField() {
        rejects("id", () -> MachineSpec.builder().id("Bad_Id").build());
        rejects("image", () -> MachineSpec.builder().image("ubuntu").build());
        rejects("vcpus", () -> MachineSpec.builder().vcpus(0).build());
        rejects("memoryMib", () -> MachineSpec.builder().memoryMib(32).build());
        rejects("diskGib", () -> MachineSpec.builder().diskGib(-1).build());
        rejects("hostname", () -> MachineSpec.builder().hostname("-x").build());
        var ok = MachineSpec.builder()
                .id("vm-1")
                .image("debian")
                .vcpus(2)
                .memoryMib(1024)
                .diskGib(20)
                .build();
        assertEquals(20, ok.diskGib());
    }

    @Test
    void execRequestNamesTheBadField() {
        rejects("argv", () -> ExecRequest.builder(new String[0]).build());
        rejects("argv[1]", () -> ExecRequest.builder("echo", "a\0b").build());
        rejects("env", () -> ExecRequest.builder("env").env("A=B", "x").build());
        rejects("cwd", () -> ExecRequest.builder("pwd").cwd("relative").build());
        rejects(
                "outputLimitBytes",
                () -> ExecRequest.builder("true").outputLimitBytes(-1).build());
        var r = ExecRequest.builder("sh", "-c", "x")
                .env(Map.of("K", "V"))
                .cwd("/tmp")
                .timeout(Duration.ofSeconds(3))
                .stdin(new byte[] {1})
                .build();
        assertEquals(Duration.ofSeconds(3), r.timeout());
        assertEquals("V", r.env().get("K"));
    }

    @Test
    void execRequestsStayWithinWhatTheAgentTakes() {
        String[] most = new String[ExecRequest.MAX_LIST_ENTRIES];
        java.util.Arrays.fill(most, "x");
        assertEquals(
                ExecRequest.MAX_LIST_ENTRIES * 6,
                ExecRequest.builder(most).build().commandBytes());
        String[] tooMany = java.util.Arrays.copyOf(most, most.length + 1);
        tooMany[most.length] = "x";
        var many = assertThrows(
                IllegalArgumentException.class,
                () -> ExecRequest.builder(tooMany).build());
        assertEquals("argv: at most 4096 arguments, got 4097", many.getMessage());
        var env = ExecRequest.builder("env");
        for (int i = 0; i <= ExecRequest.MAX_LIST_ENTRIES; i++) env.env("V" + i, "1");
        rejects("env: at most 4096 variables", env::build);
        // under the argument count, over the frame: 4000 arguments of 300 bytes
        String[] big = new String[4000];
        java.util.Arrays.fill(big, "a".repeat(300));
        var bytes = assertThrows(
                IllegalArgumentException.class, () -> ExecRequest.builder(big).build());
        assertTrue(bytes.getMessage().startsWith("argv: with env and cwd it takes 1220000 bytes"), bytes.getMessage());
        assertTrue(bytes.getMessage().endsWith("at most " + ExecRequest.MAX_COMMAND_BYTES), bytes.getMessage());
        // UTF-8 counts: "é" is 2 bytes, "€" 3, "𝄞" 4; env adds '='; cwd counts
        assertEquals(
                5 + 9 + 5 + 2 + 5 + 3,
                ExecRequest.builder("é€𝄞").env("K", "").cwd("/tm").build().commandBytes());
    }

    @Test
    void engineConfigParsesAccelAndNamesTheSource() {
        rejects("FASTVM_ACCEL", () -> EngineConfig.AccelMode.parse("xen", "FASTVM_ACCEL"));
        assertEquals(EngineConfig.AccelMode.TCG, EngineConfig.AccelMode.parse(" TCG ", "x"));
        // an empty environment: FASTVM_CACHE_DIR set for the test run must not decide this
        var c = new EngineConfig.Builder(Map.of())
                .dataDir(Path.of("/tmp/fvm"))
                .accel(EngineConfig.AccelMode.KVM)
                .build();
        assertEquals(Path.of("/tmp/fvm"), c.cacheDir(), "cacheDir defaults to dataDir");
        assertEquals(
                Path.of("/tmp/c"),
                new EngineConfig.Builder(Map.of("FASTVM_CACHE_DIR", "/tmp/c"))
                        .dataDir(Path.of("/tmp/fvm"))
                        .build()
                        .cacheDir(),
                "FASTVM_CACHE_DIR sets cacheDir");
        rejects(
                "bootTimeout",
                () -> EngineConfig.builder().bootTimeout(Duration.ZERO).build());
    }

    @Test
    void launchFromBaseIsOnUnlessTheEnvironmentOrTheBuilderTurnsItOff() {
        Path d = Path.of("/tmp/fvm");
        assertTrue(new EngineConfig.Builder(Map.of()).dataDir(d).build().launchFromBase());
        assertTrue(
                new EngineConfig(d, null, null, EngineConfig.AccelMode.TCG, "qemu-system-x86_64", Duration.ofSeconds(9))
                        .launchFromBase());
        assertEquals(
                false,
                new EngineConfig.Builder(Map.of("FASTVM_LAUNCH_FROM_BASE", "off"))
                        .dataDir(d)
                        .build()
                        .launchFromBase());
        assertTrue(new EngineConfig.Builder(Map.of("FASTVM_LAUNCH_FROM_BASE", " On "))
                .dataDir(d)
                .build()
                .launchFromBase());
        assertEquals(
                false,
                new EngineConfig.Builder(Map.of())
                        .dataDir(d)
                        .launchFromBase(false)
                        .build()
                        .launchFromBase());
        rejects("FASTVM_LAUNCH_FROM_BASE", () -> new EngineConfig.Builder(Map.of("FASTVM_LAUNCH_FROM_BASE", "maybe")));
    }

    @Test
    void aDiskSmallerThanTheImageIsRefusedNamingDiskGib(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        // the one check a boot and a launch from a base snapshot share: a 1.5 GiB (sparse) root disk
        Path disk = dir.resolve("rootfs.ext4");
        try (var f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(3L << 29);
        }
        var img = new org.fastvm.vmm.image.GuestImage("debian", "k", dir, disk, disk, disk, "", "");
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> Engine.rootDiskBytes(
                        img, MachineSpec.builder().image("debian").diskGib(1).build()));
        assertEquals("diskGib: 1 GiB is smaller than the debian image's root disk (1536 MiB)", e.getMessage());
        assertEquals(
                3L << 29,
                Engine.rootDiskBytes(img, MachineSpec.builder().image("debian").build()));
        assertEquals(
                2L << 30,
                Engine.rootDiskBytes(
                        img, MachineSpec.builder().image("debian").diskGib(2).build()));
    }

    @Test
    void signalledExitFollowsTheShellConvention() {
        assertEquals(137, ExecResult.exitCodeForSignal(9));
    }
}
