package org.fastvm.vmm;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import org.fastvm.vmm.agent.AgentChannel;

/**
 * One running microVM: a QEMU process in its own session, its QMP socket and its guest
 * agent channel. Obtained from {@link Engine#launch} or {@link Engine#attach}. Thread-safe:
 * many execs may run at once.
 */
public interface Machine {
    /** {@return the VM id (also the name of its directory)} */
    String id();

    /** {@return the VM directory {@code <data>/vms/<id>/}} */
    Path dir();

    /** {@return the QEMU process id} */
    long pid();

    /** {@return the spec the VM was launched with} */
    MachineSpec spec();

    /** {@return what the agent said when the channel last (re)connected} */
    AgentInfo agentInfo();

    /**
     * Runs a command and waits for it to end, buffering its output.
     *
     * @throws MachineDeadException       when QEMU is gone (before or during the exec)
     * @throws AgentDisconnectedException when the agent channel closed during the exec
     * @throws AgentErrorException        when the agent refused the request
     * @throws InterruptedException       when the calling thread is interrupted (the command keeps running)
     */
    ExecResult exec(ExecRequest request) throws InterruptedException;

    /**
     * Starts a command and streams its events to {@code listener}.
     *
     * @return a handle to kill it, feed stdin and await the result
     * @throws MachineDeadException when QEMU is gone
     */
    ExecHandle start(ExecRequest request, ExecListener listener);

    /** {@return the host side of the agent protocol, for control requests (clock, entropy, fs, ...)} */
    AgentChannel agent();

    /**
     * Closes the agent channel and opens a new one (in-flight requests fail with
     * {@link AgentDisconnectedException}; guest processes keep running), waiting for HELLO.
     */
    void reconnectAgent() throws InterruptedException;

    /** {@return true while the QEMU process runs} */
    boolean isAlive();

    /** {@return completes when the QEMU process has exited (for whatever reason)} */
    CompletableFuture<Void> onExit();

    /**
     * Stops the VM (QMP quit, SIGKILL by pid after a short grace) and removes its directory.
     * Safe to call more than once and on a dead machine.
     */
    void destroy();
}
