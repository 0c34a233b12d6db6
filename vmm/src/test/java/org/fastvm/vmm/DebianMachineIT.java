package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** One booted debian-image VM (root disk on a qcow2 overlay, grown to 4 GiB) shared by the tests here. */
class DebianMachineIT {
    private static final int DISK_GIB = 4;
    private static Engine engine;
    private static Machine vm;

    @BeforeAll
    static void boot() throws Exception {
        engine = TestEngines.open();
        vm = engine.launch(MachineSpec.builder()
                .image("debian")
                .diskGib(DISK_GIB)
                .hostname("deb")
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
    void python3Runs() throws Exception {
        var r = vm.exec(ExecRequest.of("python3", "--version"));
        assertEquals(0, r.exitCode(), r.stderrText());
        assertTrue(r.stdoutText().matches("Python 3\\.\\d+\\.\\d+\\n"), r.stdoutText());
        var calc = vm.exec(
                ExecRequest.builder("python3", "-c", "import sys; print(sum(map(int, sys.stdin.read().split())))")
                        .stdin("1 2 3 4".getBytes(StandardCharsets.UTF_8))
                        .build());
        assertEquals("10\n", calc.stdoutText());
    }

    @Test
    void tmuxSessionOutlivesItsExec() throws Exception {
        var start = vm.exec(ExecRequest.of("tmux", "new-session", "-d", "-s", "work", "sleep 600"));
        assertEquals(0, start.exitCode(), start.stderrText());
        assertTrue(start.durationMs() < 5000, "tmux new-session -d returned: " + start.durationMs() + " ms");
        var ls = vm.exec(ExecRequest.of("tmux", "ls"));
        assertEquals(0, ls.exitCode(), ls.stderrText());
        assertTrue(ls.stdoutText().startsWith("work: 1 windows"), ls.stdoutText());
        vm.exec(ExecRequest.of("tmux", "kill-server"));
    }

    @Test
    void nohupJobOutlivesItsExec() throws Exception {
        var r = sh("nohup sh -c 'sleep 1; echo finished > /root/bg.out' >/dev/null 2>&1 & echo started");
        assertEquals("started\n", r.stdoutText());
        assertTrue(r.durationMs() < 1000, "the exec waited for its background job: " + r.durationMs() + " ms");
        var done = sh("for i in $(seq 100); do [ -s /root/bg.out ] && break; sleep 0.1; done; cat /root/bg.out");
        assertEquals("finished\n", done.stdoutText());
    }

    @Test
    void rootFilesystemFreezesAndThaws() throws Exception {
        vm.agent().fsSync();
        vm.agent().fsFreeze();
        vm.agent().fsThaw();
        vm.agent().fsThaw(); // thawing a thawed fs is a no-op, not an error
        var r = sh("echo written > /root/after-thaw && cat /root/after-thaw");
        assertEquals("written\n", r.stdoutText(), r.stderrText());
    }

    @Test
    void rootFilesystemIsTheOverlayGrownToDiskGib() throws Exception {
        assertTrue(Files.isRegularFile(vm.dir().resolve("root.qcow2")));
        var df = sh("df -k / | tail -n 1");
        String[] cols = df.stdoutText().trim().split("\\s+", -1);
        assertEquals("/dev/vda", cols[0], df.stdoutText());
        long kib = Long.parseLong(cols[1]);
        long gib4 = (long) DISK_GIB << 20;
        assertTrue(kib > gib4 * 0.9 && kib <= gib4, "df / shows " + kib + " KiB, want ~" + DISK_GIB + " GiB");
        long bytes = vm.agent().growRootfs(); // idempotent: already grown at launch
        assertTrue(bytes > ((long) DISK_GIB << 30) * 0.95 && bytes <= (long) DISK_GIB << 30, "size " + bytes);
        assertEquals("deb\n", sh("hostname").stdoutText());
    }
}
