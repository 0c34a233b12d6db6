package org.fastvm.vmm.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.fastvm.vmm.ProcessFailedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessRunnerTest {
    @Test
    void capturesStdoutAndLastLine() throws Exception {
        var r = ProcessRunner.run(
                List.of("sh", "-c", "echo progress >&2; echo one; echo /some/dir"), Duration.ofSeconds(10));
        assertEquals("one\n/some/dir\n", r.stdout());
        assertEquals("/some/dir", r.lastStdoutLine());
        assertEquals("progress\n", r.stderrTail());
    }

    @Test
    void failureCarriesExitCodeAndStderrTail() {
        var e = assertThrows(
                ProcessFailedException.class,
                () -> ProcessRunner.run(
                        List.of("sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x >&2; echo LAST-WORDS >&2; exit 3"),
                        Duration.ofSeconds(10)));
        assertEquals(3, e.exitCode());
        assertTrue(e.stderrTail().endsWith("LAST-WORDS\n"), e.stderrTail());
        assertEquals(ProcessRunner.STDERR_TAIL_BYTES, e.stderrTail().length(), "tail is bounded");
        assertTrue(e.getMessage().contains("exited with 3"), e.getMessage());
    }

    @Test
    void timeoutKillsAndReports() {
        long t0 = System.nanoTime();
        var e = assertThrows(
                ProcessFailedException.class, () -> ProcessRunner.run(List.of("sleep", "30"), Duration.ofMillis(300)));
        assertEquals(-1, e.exitCode());
        assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
    }

    @Test
    void missingProgramIsATypedFailure() {
        var e = assertThrows(
                ProcessFailedException.class,
                () -> ProcessRunner.run(List.of("/nonexistent/fastvm-tool"), Duration.ofSeconds(5)));
        assertTrue(e.getMessage().contains("could not start"), e.getMessage());
    }

    @Test
    void streamsStderrLines() throws Exception {
        List<String> lines = new ArrayList<>();
        ProcessRunner.run(List.of("sh", "-c", "echo a >&2; echo b >&2"), Duration.ofSeconds(5), lines::add);
        assertEquals(List.of("a", "b"), lines);
    }

    @Test
    void spawnDetachedRunsInItsOwnSessionWithTheSamePid(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("out.log");
        Process p = ProcessRunner.spawnDetached(
                List.of("sh", "-c", "echo sid=$(ps -o sid= -p $$ | tr -d ' ') pid=$$"), log);
        assertEquals(0, p.waitFor());
        String out = Files.readString(log).strip();
        assertEquals("sid=" + p.pid() + " pid=" + p.pid(), out);
    }
}
