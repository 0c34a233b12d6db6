package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** One booted minimal-image VM (real QEMU, real agent) shared by every test here. */
class MinimalMachineIT {
    private static Engine engine;
    private static Machine vm;

    @BeforeAll
    static void boot() throws Exception {
        engine = TestEngines.open();
        vm = engine.launch(MachineSpec.builder()
                .image("minimal")
                .memoryMib(512)
                .hostname("mini")
                .build());
    }

    @AfterAll
    static void tearDown() throws Exception {
        TestEngines.shutDown(engine, java.util.Collections.singletonList(vm));
    }

    private static ExecResult sh(String script) throws InterruptedException {
        return vm.exec(ExecRequest.of("sh", "-c", script));
    }

    @Test
    void vmIsUpWithItsFilesAndHostname() throws Exception {
        assertTrue(vm.isAlive());
        assertTrue(Files.exists(vm.dir().resolve("qmp.sock")));
        assertTrue(Files.exists(vm.dir().resolve("console.log")));
        assertEquals("mini", vm.agentInfo().hostname());
        assertEquals("mini\n", sh("hostname").stdoutText());
        assertEquals(vm.id(), vm.spec().id());
    }

    @Test
    void exitCodesAndStreamsKeptApart() throws Exception {
        var r = sh("echo to-out; echo to-err >&2; exit 42");
        assertEquals(42, r.exitCode());
        assertEquals("to-out\n", r.stdoutText());
        assertEquals("to-err\n", r.stderrText());
        assertEquals(0, vm.exec(ExecRequest.of("true")).exitCode());
        assertEquals(1, vm.exec(ExecRequest.of("false")).exitCode());
    }

    @Test
    void tenMibOfBinaryOutputIsByteExact() throws Exception {
        var r = sh("head -c 10485760 /dev/urandom > /tmp/blob && sha256sum /tmp/blob | cut -d' ' -f1");
        assertEquals(0, r.exitCode(), r.stderrText());
        String guestSum = r.stdoutText().strip();
        var out = vm.exec(ExecRequest.of("cat", "/tmp/blob"));
        assertEquals(10 * 1024 * 1024, out.stdout().length);
        assertEquals(
                guestSum,
                HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(out.stdout())));
        sh("rm /tmp/blob");
    }

    @Test
    void stdinIsDelivered() throws Exception {
        byte[] data = new byte[1024 * 1024 + 3];
        new Random(7).nextBytes(data);
        var r = vm.exec(ExecRequest.builder("cat").stdin(data).build());
        assertArrayEquals(data, r.stdout());
        var small = vm.exec(ExecRequest.builder("wc", "-l")
                .stdin("a\nb\nc\n".getBytes(StandardCharsets.UTF_8))
                .build());
        assertEquals("3", small.stdoutText().strip());
    }

    @Test
    void envAndCwdAreHonoured() throws Exception {
        var r = vm.exec(ExecRequest.builder("sh", "-c", "echo \"$A|$B\"; pwd")
                .env("A", "x y")
                .env("B", "2")
                .cwd("/proc")
                .build());
        assertEquals("x y|2\n/proc\n", r.stdoutText());
        var missing = vm.exec(ExecRequest.builder("true").cwd("/no/such/dir").build());
        assertEquals(127, missing.exitCode());
    }

    @Test
    void timeoutKillsTheWholeProcessTree() throws Exception {
        long t0 = System.nanoTime();
        var r = vm.exec(ExecRequest.builder("sh", "-c", "sleep 60 & echo $! > /tmp/grandchild; sleep 60")
                .timeout(Duration.ofMillis(800))
                .build());
        assertTrue(r.timedOut());
        assertEquals(9, r.signal());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "returned promptly");
        // the backgrounded grandchild shared the process group: it is gone too (bounded wait for its reaping)
        var check = sh(
                "p=$(cat /tmp/grandchild); for i in $(seq 50); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; exit 1");
        assertEquals(0, check.exitCode(), "grandchild still alive");
    }

    @Test
    void twentyConcurrentExecs() throws Exception {
        List<CompletableFuture<ExecResult>> rs = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            var f = new CompletableFuture<ExecResult>();
            rs.add(f);
            int n = i;
            Thread.ofVirtual().start(() -> {
                try {
                    f.complete(sh("sleep 0.5; echo job" + n));
                } catch (Throwable e) {
                    f.completeExceptionally(e);
                }
            });
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < 20; i++)
            assertEquals("job" + i + "\n", rs.get(i).get(60, TimeUnit.SECONDS).stdoutText());
        // they ran at once: 20 sequential half-second sleeps would take 10 s
        assertTrue(System.nanoTime() - t0 < 9_000_000_000L);
    }

    @Test
    void backgroundJobOutlivesItsExecAndDoesNotHoldThePort() throws Exception {
        // the image's nohup (busybox-static has no applet) ignores SIGHUP; DebianMachineIT runs coreutils' one
        var r = sh("nohup sh -c 'sleep 2; echo finished > /tmp/bg.out' </dev/null >/dev/null 2>&1 & echo started");
        assertEquals("started\n", r.stdoutText());
        assertTrue(r.durationMs() < 1500, "the exec did not wait for the job: " + r.durationMs() + " ms");
        // a job that keeps our stdout pipe open does not hold the exec either (agent waits ≤ 100 ms)
        var held = sh("nohup sleep 5 & echo spawned");
        assertEquals("spawned\n", held.stdoutText());
        assertTrue(held.durationMs() < 1500, "exec held by its background job: " + held.durationMs() + " ms");
        vm.reconnectAgent(); // the port is ours alone: reopening works with the jobs running
        var done = sh("for i in $(seq 100); do [ -s /tmp/bg.out ] && break; sleep 0.1; done; cat /tmp/bg.out");
        assertEquals("finished\n", done.stdoutText());
    }

    @Test
    void channelClosesAndReopensWhileProcessesSurvive() throws Exception {
        var h = vm.start(ExecRequest.of("sh", "-c", "echo $$ > /tmp/long.pid; exec sleep 60"), new ExecListener() {
            @Override
            public void onStdout(byte[] chunk) {}

            @Override
            public void onStderr(byte[] chunk) {}

            @Override
            public void onExit(ExecResult result) {}
        });
        assertEquals(
                0,
                sh("for i in $(seq 100); do [ -s /tmp/long.pid ] && exit 0; sleep 0.05; done; exit 1")
                        .exitCode());
        String bootId = vm.agentInfo().bootId();
        vm.reconnectAgent();
        var e = assertThrows(ExecutionException.class, () -> h.result().get(10, TimeUnit.SECONDS));
        assertInstanceOf(AgentDisconnectedException.class, e.getCause());
        assertEquals(bootId, vm.agentInfo().bootId(), "same guest, new connection");
        assertEquals(0, sh("kill -0 $(cat /tmp/long.pid)").exitCode(), "the process survived the reconnect");
        sh("kill -9 $(cat /tmp/long.pid)");
    }

    @Test
    void qmpRunsCommandsAndDeliversEvents() throws Exception {
        var qmp = ((QemuMachine) vm).qmp();
        assertEquals("running", qmp.execute("query-status").path("status").asText());
        var stopped = qmp.nextEvent(ev -> ev.path("event").asText().equals("STOP"));
        qmp.execute("stop");
        stopped.get(10, TimeUnit.SECONDS);
        assertEquals("paused", qmp.execute("query-status").path("status").asText());
        var resumed = qmp.nextEvent(ev -> ev.path("event").asText().equals("RESUME"));
        qmp.execute("cont");
        resumed.get(10, TimeUnit.SECONDS);
        assertEquals("back\n", vm.exec(ExecRequest.of("echo", "back")).stdoutText());
        var e = assertThrows(org.fastvm.vmm.qemu.QmpException.class, () -> qmp.execute("no-such-command"));
        assertTrue(e.getMessage().contains("CommandNotFound"), e.getMessage());
        // concurrent callers each get their own answer
        List<CompletableFuture<String>> names = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            var f = new CompletableFuture<String>();
            names.add(f);
            Thread.ofVirtual().start(() -> {
                try {
                    f.complete(qmp.execute("query-name").path("name").asText());
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
        }
        for (var f : names) assertEquals("fastvm-" + vm.id(), f.get(10, TimeUnit.SECONDS));
    }

    @Test
    void controlRequestsWork() throws Exception {
        vm.agent().ping();
        vm.agent().fsSync();
        vm.agent().addEntropy(new byte[64]);
        var t = java.time.Instant.parse("2030-01-02T03:04:05Z");
        vm.agent().setTime(t);
        long guestEpoch = Long.parseLong(sh("date +%s").stdoutText().strip());
        assertTrue(Math.abs(guestEpoch - t.getEpochSecond()) < 30, "guest clock was set: " + guestEpoch);
        vm.agent().setTime(java.time.Instant.now());
        assertFalse(vm.agent().hello().bootId().isBlank());
    }
}
