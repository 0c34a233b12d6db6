package org.fastvm.vmm.agent;

import java.io.ByteArrayOutputStream;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.fastvm.vmm.AgentErrorException;
import org.fastvm.vmm.AgentProtocolException;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.VmmException;

/**
 * One exec in flight: sends EXEC (and stdin), and hands STARTED, STDOUT, STDERR and EXIT to an
 * {@link ExecListener}; {@link #buffered} collects them into one {@link ExecResult} instead.
 */
final class ExecCall implements Pending, ExecHandle {
    // The channel's logger: one name to configure for everything the channel logs.
    private static final System.Logger LOG = System.getLogger(AgentChannel.class.getName());
    /** Stdin up to this size travels inside the EXEC frame; more is streamed in chunks. */
    private static final int INLINE_STDIN_BYTES = 512 * 1024;

    private static final int STDIN_CHUNK_BYTES = 64 * 1024;
    /**
     * How long past an exec's own timeout the host waits for EXIT: the agent kills the command at
     * the timeout and reports within milliseconds, so past this the guest is stuck (halted,
     * paused, hung) and the exec fails, whatever the guest does.
     */
    static final Duration EXIT_GRACE = Duration.ofSeconds(5);

    private final AgentConnection c;
    private final int id;
    private final ExecListener listener;
    private final CompletableFuture<ExecResult> result = new CompletableFuture<>();

    private ExecCall(AgentConnection c, int id, ExecListener listener) {
        this.c = c;
        this.id = id;
        this.listener = listener;
    }

    /**
     * Starts {@code req} under request id {@code id}, streaming its events to {@code listener}.
     * A connection that fails (now or later) fails the handle rather than throwing.
     *
     * @throws IllegalArgumentException when argv, env and cwd do not fit one frame
     */
    static ExecHandle start(AgentConnection c, int id, ExecRequest req, ExecListener listener) {
        var call = new ExecCall(c, id, listener);
        c.register(id, call);
        VmmException failed = c.failure();
        if (failed != null) { // closed before the register, so close() did not fail it: do it here
            c.forget(id);
            call.fail(failed);
            return call;
        }
        byte[] stdin = req.stdin();
        // inline only what fits in the frame beside argv/env/cwd (each within MAX_COMMAND_BYTES)
        boolean streamStdin = stdin != null
                && (stdin.length > INLINE_STDIN_BYTES
                        || req.commandBytes() + 5 + (long) stdin.length > ExecRequest.MAX_COMMAND_BYTES);
        var f = new FieldsWriter();
        req.argv().forEach(a -> f.string(Tag.ARG, a));
        req.env().forEach((k, v) -> f.string(Tag.ENV, k + "=" + v));
        if (req.cwd() != null) f.string(Tag.CWD, req.cwd());
        if (stdin != null && !streamStdin) f.bytes(Tag.STDIN, stdin);
        if (req.stdinOpen() || streamStdin) f.u8(Tag.STDIN_OPEN, 1);
        if (req.timeout() != null)
            f.u64(Tag.TIMEOUT_MS, Math.max(1, req.timeout().toMillis()));
        byte[] payload = f.toByteArray();
        if (payload.length > Frame.MAX_PAYLOAD) {
            c.forget(id);
            throw new IllegalArgumentException(
                    "argv/env/cwd: " + payload.length + " bytes exceed the frame limit " + Frame.MAX_PAYLOAD);
        }
        try {
            c.send(new Frame(FrameType.EXEC, id, payload));
            if (streamStdin) {
                call.sendStdin(stdin);
                if (!req.stdinOpen()) call.closeStdin();
            }
        } catch (VmmException e) {
            c.forget(id);
            call.fail(e);
        }
        if (req.timeout() != null) call.watch(req.timeout().plus(EXIT_GRACE), req);
        return call;
    }

    /** The host side of the timeout: fails the exec (and kills the command, if it can) when no EXIT came. */
    private void watch(Duration within, ExecRequest req) {
        CompletableFuture.delayedExecutor(within.toMillis(), TimeUnit.MILLISECONDS)
                .execute(() -> {
                    if (result.isDone()) return;
                    try {
                        kill(9);
                    } catch (VmmException e) {
                        // the channel is gone as well; nothing more to stop
                    }
                    c.forget(id);
                    fail(new VmmException("exec " + req.argv().get(0) + ": no EXIT from the guest within "
                            + within.toMillis() + " ms (timeout "
                            + req.timeout().toMillis() + " ms + " + EXIT_GRACE.toSeconds()
                            + " s): the guest is not answering"));
                });
    }

    /**
     * Runs {@code req} to its end through {@code start} and returns its output, buffered up to
     * the request's limit per stream.
     *
     * @throws IllegalArgumentException when the request keeps stdin open (nobody could close it)
     * @throws VmmException             when the exec fails, or no EXIT comes well past its timeout
     */
    static ExecResult buffered(ExecRequest req, BiFunction<ExecRequest, ExecListener, ExecHandle> start)
            throws InterruptedException {
        if (req.stdinOpen()) {
            throw new IllegalArgumentException(
                    "stdinOpen: only for streaming execs (start), nobody would close stdin here");
        }
        var buffer = new BufferingListener(req.outputLimitBytes());
        ExecHandle h = start.apply(req, buffer);
        ExecResult r;
        try { // a request with a timeout fails by itself if the guest stops answering (see watch)
            r = h.result().get();
        } catch (ExecutionException e) {
            throw Pending.asVmm(e.getCause(), "exec " + req.argv().get(0));
        }
        return buffer.withOutput(r);
    }

    @Override
    public void onFrame(Frame f) {
        try {
            handle(f);
        } catch (AgentProtocolException e) {
            throw e; // a broken stream: the reader closes the connection
        } catch (RuntimeException e) { // a failing listener must not take the channel down
            LOG.log(Level.WARNING, "exec listener failed on " + f, e);
        }
    }

    private void handle(Frame f) {
        switch (f.type()) {
            case FrameType.STARTED -> listener.onStarted(f.fields().u32(Tag.PID, 0));
            case FrameType.STDOUT -> listener.onStdout(f.fields().requireBytes(Tag.DATA));
            case FrameType.STDERR -> listener.onStderr(f.fields().requireBytes(Tag.DATA));
            case FrameType.EXIT -> {
                c.forget(id);
                Fields fl = f.fields();
                Integer code = fl.i32(Tag.CODE);
                Integer sig = fl.i32(Tag.SIGNAL);
                int signal = sig == null ? 0 : sig;
                int exit = code != null ? code : ExecResult.exitCodeForSignal(signal);
                var r = new ExecResult(
                        exit,
                        signal,
                        new byte[0],
                        new byte[0],
                        false,
                        false,
                        fl.u8(Tag.TIMED_OUT, 0) != 0,
                        fl.u64(Tag.DURATION_MS, 0));
                try {
                    listener.onExit(r);
                } finally {
                    result.complete(r);
                }
            }
            case FrameType.ERROR -> {
                c.forget(id);
                Fields fl = f.fields();
                fail(new AgentErrorException(fl.string(Tag.CODE_NAME), fl.string(Tag.MESSAGE)));
            }
            default -> LOG.log(Level.WARNING, "unexpected {0} for an exec", f);
        }
    }

    @Override
    public void fail(VmmException e) {
        if (result.isDone()) return;
        try {
            listener.onError(e);
        } catch (RuntimeException le) {
            LOG.log(Level.WARNING, "exec listener failed in onError", le);
        } finally {
            result.completeExceptionally(e);
        }
    }

    @Override
    public CompletableFuture<ExecResult> result() {
        return result;
    }

    @Override
    public void kill(int signal) {
        if (signal < 1 || signal > 64) throw new IllegalArgumentException("signal: must be 1..64, got " + signal);
        if (result.isDone()) return;
        c.send(new Frame(
                FrameType.KILL, id, new FieldsWriter().i32(Tag.SIGNAL, signal).toByteArray()));
    }

    @Override
    public void writeStdin(byte[] data) {
        sendStdin(data);
    }

    @Override
    public void closeStdin() {
        c.send(new Frame(FrameType.STDIN_CLOSE, id, new byte[0]));
    }

    /** Sends {@code data} as STDIN frames of at most a chunk each; empty data as one empty frame. */
    private void sendStdin(byte[] data) {
        int off = 0;
        do {
            int n = Math.min(STDIN_CHUNK_BYTES, data.length - off);
            c.send(new Frame(
                    FrameType.STDIN,
                    id,
                    new FieldsWriter()
                            .bytes(Tag.DATA, Arrays.copyOfRange(data, off, off + n))
                            .toByteArray()));
            off += n;
        } while (off < data.length);
    }

    /**
     * Collects output up to a per-stream limit for a buffered {@link ExecResult}. Called only
     * on the reader thread; {@link #withOutput} is ordered after every chunk by the result future.
     */
    private static final class BufferingListener implements ExecListener {
        private final int limit;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteArrayOutputStream err = new ByteArrayOutputStream();
        private boolean outTruncated;
        private boolean errTruncated;

        BufferingListener(int limit) {
            this.limit = limit;
        }

        @Override
        public void onStdout(byte[] chunk) {
            outTruncated |= append(out, chunk);
        }

        @Override
        public void onStderr(byte[] chunk) {
            errTruncated |= append(err, chunk);
        }

        /** {@return true when some of {@code chunk} did not fit} */
        private boolean append(ByteArrayOutputStream to, byte[] chunk) {
            int room = limit - to.size();
            to.write(chunk, 0, Math.max(0, Math.min(room, chunk.length)));
            return chunk.length > room;
        }

        @Override
        public void onExit(ExecResult result) {}

        /** {@return {@code r} with the collected output; call once the result future completed} */
        ExecResult withOutput(ExecResult r) {
            return new ExecResult(
                    r.exitCode(),
                    r.signal(),
                    out.toByteArray(),
                    err.toByteArray(),
                    outTruncated,
                    errTruncated,
                    r.timedOut(),
                    r.durationMs());
        }
    }
}
