package org.fastvm.vmm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import org.fastvm.vmm.process.ProcessRunner;

/** The engine's file-system helpers: removing trees, durable writes, reading the end of a log. */
final class FileOps {
    private static final System.Logger LOG = System.getLogger(FileOps.class.getName());
    /** How much of a log an error message quotes. */
    static final int LOG_TAIL_CHARS = 8000;

    private FileOps() {}

    /** Removes a directory tree without following links; a missing one is fine. */
    static void deleteTree(Path root) {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) return;
        try (var walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException | UncheckedIOException e) {
            throw new VmmException("cannot remove " + root + ": " + e.getMessage(), e);
        }
    }

    /** Like {@link #deleteTree} but only logs a failure (clean-up after another error). */
    static void deleteQuietly(Path root) {
        try {
            deleteTree(root);
        } catch (VmmException e) {
            LOG.log(Level.WARNING, "cannot remove {0}: {1}", root, e.getMessage());
        }
    }

    /** {@return the last {@link #LOG_TAIL_CHARS} bytes of a log (QEMU's, the console), for error messages} */
    static String tail(Path file) {
        try {
            byte[] b = Files.readAllBytes(file);
            int from = Math.max(0, b.length - LOG_TAIL_CHARS);
            return new String(b, from, b.length - from, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(" + file.getFileName() + " unreadable: " + e.getMessage() + ")";
        }
    }

    /** Forces a file's data to disk. */
    static void fsync(Path f) throws IOException {
        try (FileChannel c = FileChannel.open(f, StandardOpenOption.WRITE)) {
            c.force(true);
        }
    }

    /** Forces a directory's entries to disk (after a create or rename in it). */
    static void fsyncDir(Path d) throws IOException {
        try (FileChannel c = FileChannel.open(d, StandardOpenOption.READ)) {
            c.force(true);
        }
    }

    /** Blocks really allocated to a sparse file (the JDK has no st_blocks). */
    static long allocatedBytes(Path f) throws InterruptedException {
        String[] v = ProcessRunner.run(List.of("stat", "-c", "%b %B", f.toString()), Duration.ofSeconds(10))
                .lastStdoutLine()
                .split(" ", -1);
        return Long.parseLong(v[0]) * Long.parseLong(v[1]);
    }
}
