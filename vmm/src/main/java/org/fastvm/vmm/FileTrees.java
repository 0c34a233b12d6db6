package org.fastvm.vmm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;

/** Removing directory trees (VM dirs, probe dirs). */
final class FileTrees {
    private static final System.Logger LOG = System.getLogger(FileTrees.class.getName());

    private FileTrees() {}

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
}
