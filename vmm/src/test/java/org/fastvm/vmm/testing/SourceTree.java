package org.fastvm.vmm.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.fastvm.vmm.ProcessFailedException;
import org.fastvm.vmm.process.ProcessRunner;

/** Finds the FastVM source tree and builds the guest agent for host-mode tests. */
public final class SourceTree {
    private SourceTree() {}

    /** {@return the directory at or above user.dir holding guest/agent/Makefile} */
    public static Path root() {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("guest/agent/Makefile"))) return p;
        }
        throw new IllegalStateException(
                "no FastVM source tree (guest/agent/Makefile) above " + System.getProperty("user.dir"));
    }

    /**
     * Builds guest/agent with make.
     *
     * @return the agent binary
     * @throws ProcessFailedException when it does not build
     */
    public static Path buildAgent() throws InterruptedException {
        Path root = root();
        ProcessRunner.run(
                List.of("make", "-s", "-C", root.resolve("guest/agent").toString()), Duration.ofMinutes(3));
        return root.resolve("guest/agent/build/fastvm-agent");
    }
}
