package org.fastvm.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** Deletes temp trees that tests made outside JUnit's @TempDir. */
public final class FileTreesForTests {
    private FileTreesForTests() {}

    /** Deletes {@code dir} and everything under it. */
    public static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
