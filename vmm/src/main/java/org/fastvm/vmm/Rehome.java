package org.fastvm.vmm;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.fastvm.vmm.agent.AgentChannel;
import org.fastvm.vmm.process.ProcessRunner;
import org.fastvm.vmm.qemu.Migration;
import org.fastvm.vmm.qemu.QemuCommand;
import org.fastvm.vmm.qemu.Qmp;

/**
 * A launched VM's first snapshot, by re-homing (docs/vmm.md, "Snapshots"): its RAM is a
 * {@code share=on} file, so the VM is stopped, its device state saved ({@code x-ignore-shared}),
 * and loaded into a successor QEMU that maps the same file privately; the file, hard-linked,
 * becomes the snapshot's memory. The pause does not grow with dirtied RAM. The VM keeps its
 * id and dir, its agent channel continues on the successor's socket (in-flight execs too),
 * and the old QEMU is killed. From then on the VM runs on a private mapping.
 */
final class Rehome {
    private static final System.Logger LOG = System.getLogger(Rehome.class.getName());
    /** The VM's sockets are moved aside under this suffix while the successor takes their names. */
    private static final String OLD = ".old";

    private final FaultHook faults;

    Rehome(FaultHook faults) {
        this.faults = faults;
    }

    /**
     * Moves {@code m} into a successor whose root disk is {@code nextTop} over the frozen
     * layers, writing the state and memory link into {@code tmp}.
     *
     * @return the pause in ms, or empty when no successor could be started (nothing changed;
     *         the caller copies the RAM instead)
     */
    OptionalDouble capture(
            QemuMachine m, MachineRecord rec, QemuCommand source, Path tmp, String frozenName, Path nextTop)
            throws IOException, InterruptedException {
        Path dir = m.dir();
        List<Path> layers = new ArrayList<>(source.diskLayers());
        if (source.rootDisk() != null) layers.add(dir.resolve(frozenName));
        QemuCommand cmd = QemuCommand.restore(
                source.qemuBinary(),
                rec.accelerator(),
                rec.machineOptions(),
                rec.spec().vcpus(),
                rec.spec().memoryMib(),
                dir,
                dir.resolve(QemuCommand.MEMORY_FILE),
                source.rootDisk() == null ? null : nextTop,
                layers);
        moveSockets(dir, "", OLD); // the successor's sockets take the VM's names
        Process successor;
        try {
            successor = ProcessRunner.spawnDetached(cmd.argv(), dir.resolve("qemu.log"));
        } catch (VmmException e) {
            LOG.log(
                    Level.WARNING,
                    "machine {0}: no successor QEMU ({1}); copying the RAM instead",
                    m.id(),
                    e.getMessage());
            moveSockets(dir, OLD, "");
            return OptionalDouble.empty();
        }
        double pauseMs;
        Qmp sq;
        AgentChannel.Splice splice;
        var stopped = new AtomicBoolean();
        try (var undo = new Cleanup("re-home of " + m.id())) {
            Qmp qmp = m.qmp();
            // undone last: the VM runs again only once the successor is dead and the sockets are back
            undo.push("resume " + m.id(), () -> {
                if (stopped.get()) SnapshotCapture.resumeAfterFailure(m, qmp);
            });
            undo.push("put the VM's sockets back", () -> moveSockets(dir, OLD, ""));
            undo.kill("successor QEMU", successor);
            Files.createLink(tmp.resolve(SnapshotManifest.MEM), dir.resolve(QemuCommand.MEMORY_FILE));
            Instant deadline = Instant.now().plus(SnapshotCapture.MIGRATION_TIMEOUT);
            sq = Qmp.connect(
                    dir.resolve(QemuCommand.QMP_SOCKET),
                    Instant.now().plus(SnapshotCapture.QMP_TIMEOUT),
                    successor.onExit());
            undo.push("close the successor's QMP", sq::close);
            // connected before the successor loads the state: the guest never sees a new host,
            // and the old socket's stream continues on this one
            SocketChannel agentNext = AgentChannel.unixSocket(dir.resolve(QemuCommand.AGENT_SOCKET))
                    .connect(deadline, successor.onExit());
            undo.push("close the successor's agent socket", agentNext::close);
            Migration.capabilities(sq, Map.of("events", true, "x-ignore-shared", true));
            Migration incoming = new Migration(sq);
            incoming.listen(dir.resolve("mig.sock"));
            Migration.capabilities(
                    qmp, Map.of("events", true, "x-ignore-shared", true, "pause-before-switchover", false));
            splice = m.agent().prepareSplice(agentNext); // host writes wait from here until the successor runs
            undo.push(
                    "cancel the agent splice", splice::cancel); // runs before agentNext's close: it owns the socket now
            faults.at("migrate");
            stopped.set(true); // set first: a stop that fails half-way is still resumed
            qmp.execute("stop");
            long t0 = System.nanoTime();
            faults.at("state");
            Path state = tmp.resolve(SnapshotManifest.STATE);
            new Migration(qmp).saveTo(state, tmp.resolve("state.sock"), deadline, m.exitFuture());
            Migration.feed(dir.resolve("mig.sock"), Files.readAllBytes(state));
            incoming.await(Set.of("completed"), deadline, successor.onExit());
            incoming.close();
            Migration.cont(sq);
            pauseMs = (System.nanoTime() - t0) / 1e6;
            undo.keep();
        }
        List<String> diskLayers = new ArrayList<>(rec.diskLayers());
        if (source.rootDisk() != null) diskLayers.add(frozenName);
        var moved = new MachineRecord(
                rec.spec(),
                rec.imageName(),
                rec.imageKey(),
                rec.accelerator(),
                rec.machineOptions(),
                cmd.argv(),
                successor.pid(),
                rec.diskBytes(),
                QemuCommand.ROOT_DISK_NODE,
                diskLayers,
                rec.snapshotId(),
                source.rootDisk() != null ? nextTop.getFileName().toString() : rec.diskTop());
        try {
            m.rehome(successor, sq, moved);
        } catch (IOException | RuntimeException e) {
            splice.cancel(); // writes must not wait forever; the reader ends with the old socket
            throw e;
        }
        faults.at("rehomed"); // committed: the record names the successor; the old sockets are still there
        for (String s : List.of(QemuCommand.QMP_SOCKET, QemuCommand.AGENT_SOCKET))
            Files.deleteIfExists(dir.resolve(s + OLD));
        // the old QEMU is killed: its socket's stream ends, the reader goes on with the successor's
        splice.commit(Instant.now().plus(SnapshotCapture.QMP_TIMEOUT), m.exitFuture());
        return OptionalDouble.of(pauseMs);
    }

    /**
     * Finishes a re-home that a crash of the engine cut short; called before a VM is attached.
     * The VM's record is the commit point ({@link QemuMachine#rehome} writes it before anything
     * else): if it names the successor (its argv maps RAM privately), the predecessor is killed
     * and the moved-aside sockets removed; if it still names the predecessor (RAM {@code share=on}),
     * the successor is killed, the VM's sockets are put back and the unused new disk top removed,
     * and attach then continues the VM (it was stopped for the move). Guest disk writes the
     * successor took between its {@code cont} and the commit point (milliseconds) are lost with it.
     */
    static void recover(Path dir) throws IOException {
        Path oldQmp = dir.resolve(QemuCommand.QMP_SOCKET + OLD), oldAgent = dir.resolve(QemuCommand.AGENT_SOCKET + OLD);
        if (!Files.exists(oldQmp) && !Files.exists(oldAgent)) return;
        MachineRecord rec = MachineRecord.read(dir);
        String qmpArg = dir.resolve(QemuCommand.QMP_SOCKET).toString();
        for (ProcessHandle h : ProcessHandle.allProcesses().toList()) { // the other side of the move
            if (h.pid() == rec.pid()) continue;
            String cmdline = cmdline(h.pid());
            if (cmdline.contains("qemu") && cmdline.contains(qmpArg)) {
                LOG.log(
                        Level.WARNING,
                        "machine {0}: killing QEMU {1}, left by a re-home cut short",
                        dir.getFileName(),
                        h.pid());
                h.destroyForcibly();
                h.onExit().join();
            }
        }
        boolean successorWon = !rec.ramShared();
        if (successorWon) {
            Files.deleteIfExists(oldQmp);
            Files.deleteIfExists(oldAgent);
        } else {
            moveSockets(dir, OLD, "");
            Path unusedTop =
                    dir.resolve(MachineRecord.layerName(rec.diskLayers().size() + 1));
            if (!unusedTop.getFileName().toString().equals(rec.diskTop())) Files.deleteIfExists(unusedTop);
        }
        Files.writeString(dir.resolve("pid"), Long.toString(rec.pid()));
        LOG.log(
                Level.WARNING,
                "machine {0}: a re-home cut short by a crash was {1}",
                dir.getFileName(),
                successorWon
                        ? "completed (the successor QEMU holds the VM)"
                        : "rolled back (the VM stays in its QEMU)");
    }

    private static String cmdline(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"))
                    .replace('\0', ' ');
        } catch (IOException e) {
            return ""; // exited meanwhile, or not ours to read
        }
    }

    private static void moveSockets(Path dir, String from, String to) throws IOException {
        for (String s : List.of(QemuCommand.QMP_SOCKET, QemuCommand.AGENT_SOCKET)) {
            if (Files.exists(dir.resolve(s + from))) {
                Files.move(dir.resolve(s + from), dir.resolve(s + to), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
