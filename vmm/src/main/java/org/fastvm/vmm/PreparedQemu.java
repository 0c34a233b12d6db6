package org.fastvm.vmm;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.fastvm.vmm.agent.AgentChannel;
import org.fastvm.vmm.qemu.Migration;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.Qmp;

/**
 * A QEMU started with a snapshot's restore argv, QMP negotiated, listening for the state; or,
 * once {@link Restorer#warmUp warmed up}, with the state loaded, the guest run once and
 * stopped again, and its agent channel open ({@code agent} and {@code label} are null until then).
 *
 * @param label what the agent channel calls this machine in errors (a pool entry, then the clone)
 */
record PreparedQemu(
        String snapshotId,
        Path dir,
        Process process,
        QemuCommand command,
        Qmp qmp,
        Migration incoming,
        AgentChannel agent,
        AtomicReference<String> label) {
    PreparedQemu(String snapshotId, Path dir, Process process, QemuCommand command, Qmp qmp, Migration incoming) {
        this(snapshotId, dir, process, command, qmp, incoming, null, null);
    }

    /** {@return whether the state is loaded and the guest ran once (a warm-pool entry)} */
    boolean warm() {
        return agent != null;
    }

    /** {@return the same QEMU, known by another dir (a pool entry moved to its VM dir)} */
    PreparedQemu movedTo(Path newDir) {
        return new PreparedQemu(snapshotId, newDir, process, command, qmp, incoming, agent, label);
    }

    /** Closes the channels, kills the QEMU and removes its dir. */
    void kill() {
        if (agent != null) agent.close();
        qmp.close();
        process.destroyForcibly();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        FileOps.deleteQuietly(dir);
    }
}
