package org.fastvm.vmm;

import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import org.fastvm.vmm.agent.AgentChannel;
import org.fastvm.vmm.qemu.Qmp;

/** A {@link Machine} backed by one QEMU process, its QMP socket and its agent channel. */
final class QemuMachine implements Machine {
    private static final System.Logger LOG = System.getLogger(QemuMachine.class.getName());
    /** After the agent channel breaks, how long to wait for QEMU's exit to call the VM dead. */
    private static final Duration DEATH_CONFIRM = Duration.ofSeconds(2);
    /** QMP quit normally ends QEMU in milliseconds; then SIGKILL. */
    private static final Duration QUIT_GRACE = Duration.ofSeconds(2);

    private static final Duration RECONNECT_TIMEOUT = Duration.ofSeconds(30);

    private final Path dir;
    private volatile MachineRecord record;
    /** One snapshot at a time per VM. */
    final ReentrantLock snapshotLock = new ReentrantLock();

    private volatile ProcessHandle process;
    /** Completes when the QEMU this machine currently runs in exits (not a predecessor it was moved from). */
    private final CompletableFuture<Void> exit = new CompletableFuture<>();

    private final ReentrantLock destroyLock = new ReentrantLock();
    private volatile Qmp qmp;
    private volatile AgentChannel agent;
    private volatile boolean destroyed;
    private volatile GuestWatch watch;
    /** Runs once the VM dir is deleted (the engine removes the warm pool's link to it). */
    private volatile Runnable afterDestroy = () -> {};

    private long qmpReadyMs;
    private long helloMs;

    QemuMachine(Path dir, MachineRecord record, ProcessHandle process, CompletableFuture<?> processExit) {
        this.dir = dir;
        this.record = record;
        this.process = process;
        watch(process, processExit);
    }

    @SuppressWarnings("FutureReturnValueIgnored") // the callback only completes `exit`, which callers hold
    private void watch(ProcessHandle p, CompletableFuture<?> onExit) {
        onExit.whenComplete((v, t) -> {
            if (p.equals(process)) exit.complete(null);
        });
    }

    /**
     * Moves this machine into a successor QEMU that has taken over the guest (re-homing for
     * a snapshot): same id and dir, new process and QMP; the predecessor is killed by pid.
     * The caller reconnects the agent. The record naming the successor is written first: it is
     * the move's commit point for {@link Rehome#recover} after a crash.
     */
    void rehome(Process successor, Qmp successorQmp, MachineRecord rec) throws java.io.IOException {
        ProcessHandle old = process;
        Qmp oldQmp = qmp;
        process = successor.toHandle();
        watch(process, successor.onExit());
        qmp = successorQmp;
        updateRecord(rec);
        java.nio.file.Files.writeString(dir.resolve("pid"), Long.toString(successor.pid()));
        if (oldQmp != null) oldQmp.close();
        old.destroyForcibly();
    }

    /** Connects QMP, then the agent (waiting for HELLO until {@code agentDeadline}). */
    void connect(Instant qmpDeadline, Instant agentDeadline) throws InterruptedException {
        connect(qmpDeadline, agentDeadline, false);
    }

    /**
     * Connects QMP, then the agent. With {@code resumeStopped} (reattaching), a VM that the
     * previous engine left stopped or migrating (it ended in the middle of a snapshot) has its
     * migration cancelled and is continued first, so its guest can answer: nothing else stops a
     * VM (there is no user pause yet; one must be recorded so that this step leaves it alone).
     */
    void connect(Instant qmpDeadline, Instant agentDeadline, boolean resumeStopped) throws InterruptedException {
        long t0 = System.nanoTime();
        qmp = Qmp.connect(dir.resolve("qmp.sock"), qmpDeadline, exit);
        qmpReadyMs = (System.nanoTime() - t0) / 1_000_000;
        if (resumeStopped) resumeInterrupted();
        agent = AgentChannel.connect(dir.resolve("agent.sock"), agentDeadline, exit, this::explainDisconnect);
        helloMs = (System.nanoTime() - t0) / 1_000_000;
        watch = GuestWatch.start(this);
    }

    private void resumeInterrupted() throws InterruptedException {
        String status = qmp.execute("query-status").path("status").asText();
        qmp.execute("migrate_cancel"); // a precopy the previous engine started (no-op when none runs)
        if (status.equals("running") || status.equals("inmigrate")) return; // an unloaded restore cannot resume
        LOG.log(
                Level.WARNING,
                "machine {0} was left {1} by an engine that ended mid-snapshot; continuing it",
                id(),
                status);
        org.fastvm.vmm.qemu.Migration.cont(qmp);
    }

    /** Takes over connections made while restoring (QMP negotiated, agent said HELLO). */
    void adopt(Qmp qmp, AgentChannel agent) {
        this.qmp = qmp;
        this.agent = agent;
        watch = GuestWatch.start(this);
    }

    /** Records a new disk top after a snapshot, in memory and in {@code machine.json}. */
    void updateRecord(MachineRecord r) {
        r.write(dir);
        this.record = r;
    }

    /** The exit future of this machine's QEMU, for connections made before the machine object. */
    CompletableFuture<Void> exitFuture() {
        return exit;
    }

    /** {@return ms from {@link #connect} to QMP negotiated (for logs)} */
    long qmpReadyMs() {
        return qmpReadyMs;
    }

    /** {@return ms from {@link #connect} to the agent's HELLO (for logs)} */
    long helloMs() {
        return helloMs;
    }

    /** Turns an unexpected agent disconnect into MachineDeadException when QEMU has exited. */
    private VmmException explainDisconnect(VmmException e) {
        return deathMapper("machine " + id(), pid(), exit).apply(e);
    }

    /** Maps an agent disconnect to MachineDeadException when {@code exit} completes within a short grace. */
    static java.util.function.UnaryOperator<VmmException> deathMapper(
            String what, long pid, CompletableFuture<?> exit) {
        return e -> {
            try {
                exit.get(DEATH_CONFIRM.toMillis(), TimeUnit.MILLISECONDS);
                return new MachineDeadException(what + ": QEMU (pid " + pid + ") exited", e);
            } catch (TimeoutException | ExecutionException ex) {
                return e;
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return e;
            }
        };
    }

    @Override
    public String id() {
        return record.spec().id();
    }

    @Override
    public Path dir() {
        return dir;
    }

    @Override
    public long pid() {
        return process.pid();
    }

    @Override
    public MachineSpec spec() {
        return record.spec();
    }

    MachineRecord record() {
        return record;
    }

    Qmp qmp() {
        return qmp;
    }

    @Override
    public AgentInfo agentInfo() {
        return agent.info();
    }

    private void requireAlive(String what) {
        if (destroyed) throw new MachineDeadException("machine " + id() + " was destroyed; cannot " + what);
        if (exit.isDone())
            throw new MachineDeadException("machine " + id() + ": QEMU (pid " + pid() + ") has exited; cannot " + what);
    }

    @Override
    public ExecResult exec(ExecRequest request) throws InterruptedException {
        requireAlive("exec");
        return agent.exec(request);
    }

    @Override
    public ExecHandle start(ExecRequest request, ExecListener listener) {
        requireAlive("exec");
        return agent.start(request, listener);
    }

    @Override
    public AgentChannel agent() {
        return agent;
    }

    @Override
    public void reconnectAgent() throws InterruptedException {
        requireAlive("reconnect the agent");
        agent.reconnect(Instant.now().plus(RECONNECT_TIMEOUT), exit);
    }

    @Override
    public boolean isAlive() {
        return !destroyed && !exit.isDone();
    }

    @Override
    public CompletableFuture<Void> onExit() {
        return exit.copy();
    }

    @Override
    public void destroy() {
        destroyLock.lock();
        try {
            if (destroyed) return;
            destroyed = true;
            stopProcess();
            FileOps.deleteTree(dir);
            afterDestroy.run();
        } finally {
            destroyLock.unlock();
        }
    }

    /** Sets what {@link #destroy} runs after removing the VM dir. */
    void afterDestroy(Runnable r) {
        afterDestroy = r;
    }

    /**
     * Ends a VM whose guest stopped answering (see {@link GuestWatch}): requests in flight fail
     * with {@code why}, then its QEMU is killed by pid. The VM dir stays for its owner to remove.
     */
    void killUnresponsive(String why) {
        if (agent != null) agent.close(new MachineDeadException("machine " + id() + ": " + why));
        process.destroyForcibly();
    }

    /** Closes the channels and ends QEMU: QMP quit, then SIGKILL after a short grace. */
    void stopProcess() {
        if (watch != null) watch.stop();
        if (agent != null) agent.close(new MachineDeadException("machine " + id() + " is being destroyed"));
        if (!exit.isDone() && qmp != null) {
            try {
                qmp.execute("quit");
            } catch (VmmException e) {
                LOG.log(Level.DEBUG, "QMP quit on {0}: {1}", id(), e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (qmp != null) qmp.close();
        try {
            exit.get(QUIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            LOG.log(Level.INFO, "machine {0}: QEMU pid {1} still running after quit; SIGKILL", id(), pid());
            process.destroyForcibly();
            try {
                exit.get(10, TimeUnit.SECONDS);
            } catch (Exception ex) {
                LOG.log(Level.WARNING, "machine {0}: QEMU pid {1} did not exit after SIGKILL", id(), pid());
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    /** Closes this process's connections to the VM without stopping it (engine shutdown). */
    void detach() {
        if (watch != null) watch.stop();
        if (agent != null) agent.close();
        if (qmp != null) qmp.close();
    }

    @Override
    public String toString() {
        return "Machine[" + id() + ", pid " + pid() + (isAlive() ? "" : ", dead") + "]";
    }
}
