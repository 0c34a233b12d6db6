package org.fastvm.vmm.process;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.fastvm.vmm.ProcessFailedException;
import org.fastvm.vmm.VmmException;

/**
 * The one way the engine starts external programs. Short-lived tools ({@link #run}) get
 * their argv logged, stdout captured, stderr's tail kept, a time bound, and failures
 * turned into {@link ProcessFailedException}. Long-lived daemons such as QEMU
 * ({@link #spawnDetached}) are started in their own session so they outlive the JVM.
 */
public final class ProcessRunner {
    private static final System.Logger LOG = System.getLogger(ProcessRunner.class.getName());
    /** How much of stderr a failure report keeps. */
    static final int STDERR_TAIL_BYTES = 8 * 1024;
    /** Captured stdout beyond this is an error: tools we run print little on stdout. */
    static final int STDOUT_LIMIT_BYTES = 4 << 20;

    /** What a finished program printed. */
    public record Result(String stdout, String stderrTail) {
        /** {@return the last non-empty stdout line, or ""} */
        public String lastStdoutLine() {
            String[] lines = stdout.strip().split("\n", -1);
            return lines.length == 0 ? "" : lines[lines.length - 1].strip();
        }
    }

    private ProcessRunner() {}

    /** Runs {@code argv} to completion within {@code timeout}; see {@link #run(List, Duration, Consumer)}. */
    public static Result run(List<String> argv, Duration timeout) throws InterruptedException {
        return run(argv, timeout, null);
    }

    /**
     * Runs {@code argv} to completion.
     *
     * @param argv        program and arguments (no shell)
     * @param timeout     the process is killed (SIGKILL) when it runs longer
     * @param stderrLines if non-null, receives every stderr line as it comes (progress output)
     * @return its stdout and stderr tail
     * @throws ProcessFailedException on a non-zero exit, a timeout, or when it cannot start
     */
    public static Result run(List<String> argv, Duration timeout, Consumer<String> stderrLines)
            throws InterruptedException {
        LOG.log(Level.DEBUG, "run: {0}", String.join(" ", argv));
        Process p;
        try {
            p = new ProcessBuilder(argv)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new ProcessFailedException(argv, -1, "", "could not start: " + e.getMessage());
        }
        var stdout = new BoundedCapture(STDOUT_LIMIT_BYTES, false);
        var stderr = new BoundedCapture(STDERR_TAIL_BYTES, true);
        Thread outReader = Thread.ofVirtual().start(() -> stdout.drain(p.getInputStream(), null));
        Thread errReader = Thread.ofVirtual().start(() -> stderr.drain(p.getErrorStream(), stderrLines));
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor();
                errReader.join(1000);
                throw new ProcessFailedException(
                        argv, -1, stderr.text(), "timed out after " + timeout.toSeconds() + "s");
            }
            outReader.join();
            errReader.join();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            throw e;
        }
        if (p.exitValue() != 0) {
            throw new ProcessFailedException(argv, p.exitValue(), stderr.text(), "exited with " + p.exitValue());
        }
        if (stdout.overflowed()) {
            throw new ProcessFailedException(
                    argv, 0, stderr.text(), "printed more than " + STDOUT_LIMIT_BYTES + " bytes");
        }
        return new Result(stdout.text(), stderr.text());
    }

    /**
     * Starts a long-lived program in its own session ({@code setsid}: the child is not a
     * group leader, so it keeps the pid we see) with stdin from /dev/null and stdout and
     * stderr appended to {@code logFile}. It survives the JVM exiting.
     *
     * @return the started process (a child of this JVM)
     * @throws VmmException when it cannot be started
     */
    public static Process spawnDetached(List<String> argv, Path logFile) {
        List<String> full = new ArrayList<>(argv.size() + 1);
        full.add("setsid");
        full.addAll(argv);
        LOG.log(Level.INFO, "spawn: {0}", String.join(" ", full));
        try {
            return new ProcessBuilder(full)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            throw new VmmException("could not start " + argv.get(0) + ": " + e.getMessage(), e);
        }
    }

    /** Keeps the head (stdout) or the tail (stderr) of a stream within a byte bound. */
    private static final class BoundedCapture {
        private final int limit;
        private final boolean keepTail;
        private final java.io.ByteArrayOutputStream head = new java.io.ByteArrayOutputStream();
        private final byte[] ring;
        private long total;

        BoundedCapture(int limit, boolean keepTail) {
            this.limit = limit;
            this.keepTail = keepTail;
            this.ring = keepTail ? new byte[limit] : null;
        }

        void drain(InputStream in, Consumer<String> lines) {
            var line = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            try (in) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (this) { // no I/O under this lock: just copying bytes
                        for (int i = 0; i < n; i++) {
                            if (keepTail) ring[(int) (total % limit)] = buf[i];
                            else if (total < limit) head.write(buf[i]);
                            total++;
                        }
                    }
                    if (lines != null) {
                        for (int i = 0; i < n; i++) {
                            if (buf[i] == '\n') {
                                lines.accept(line.toString(StandardCharsets.UTF_8));
                                line.reset();
                            } else {
                                line.write(buf[i]);
                            }
                        }
                    }
                }
                if (lines != null && line.size() > 0) lines.accept(line.toString(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        synchronized boolean overflowed() {
            return total > limit;
        }

        synchronized String text() {
            if (!keepTail) return head.toString(StandardCharsets.UTF_8);
            int n = (int) Math.min(total, limit);
            byte[] out = new byte[n];
            long start = total - n;
            for (int i = 0; i < n; i++) out[i] = ring[(int) ((start + i) % limit)];
            return new String(out, StandardCharsets.UTF_8);
        }
    }
}
