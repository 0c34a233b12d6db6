package org.fastvm.vmm.agent;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.fastvm.vmm.AgentErrorException;
import org.fastvm.vmm.AgentProtocolException;
import org.fastvm.vmm.VmmException;

/** A control request (ping, clock, fs...): one frame out, one OK (or HELLO, or ERROR) back. */
final class ControlCall implements Pending {
    /** Control requests answer quickly; past this the agent is stuck. */
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(60);

    private final String what;
    private final CompletableFuture<Fields> future = new CompletableFuture<>();

    private ControlCall(String what) {
        this.what = what;
    }

    /**
     * Sends a control request under {@code id} and waits for its answer.
     *
     * @return the answer's fields
     * @throws AgentErrorException when the agent answers with ERROR
     * @throws VmmException        when the connection fails or the agent does not answer in time
     */
    static Fields run(AgentConnection c, int id, int type, byte[] payload) throws InterruptedException {
        return run(c, id, type, payload, CONTROL_TIMEOUT);
    }

    /** {@link #run(AgentConnection, int, int, byte[])} waiting at most {@code within}. */
    static Fields run(AgentConnection c, int id, int type, byte[] payload, Duration within)
            throws InterruptedException {
        var call = new ControlCall(FrameType.name(type));
        c.register(id, call);
        try {
            VmmException failed = c.failure();
            if (failed != null) throw failed;
            c.send(new Frame(type, id, payload));
            return call.future.get(within.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw Pending.asVmm(e.getCause(), FrameType.name(type));
        } catch (TimeoutException e) {
            throw new VmmException(
                    "the guest agent did not answer " + FrameType.name(type) + " within " + within.toMillis() + " ms");
        } finally {
            c.forget(id);
        }
    }

    @Override
    public void onFrame(Frame f) {
        switch (f.type()) {
            case FrameType.OK, FrameType.HELLO -> future.complete(f.fields());
            case FrameType.ERROR -> {
                Fields fl = f.fields();
                future.completeExceptionally(
                        new AgentErrorException(fl.string(Tag.CODE_NAME), what + ": " + fl.string(Tag.MESSAGE)));
            }
            default ->
                future.completeExceptionally(new AgentProtocolException("unexpected " + f + " in answer to " + what));
        }
    }

    @Override
    public void fail(VmmException e) {
        future.completeExceptionally(e);
    }
}
