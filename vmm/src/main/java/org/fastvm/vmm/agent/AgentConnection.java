package org.fastvm.vmm.agent;

import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import org.fastvm.vmm.AgentDisconnectedException;
import org.fastvm.vmm.AgentInfo;
import org.fastvm.vmm.AgentProtocolException;
import org.fastvm.vmm.VmmException;

/**
 * One connection to the agent's socket: frames are written under a lock, and a reader thread
 * routes the frames that come back to the {@link Pending} request with their id. Once it has
 * failed, a connection stays failed (the channel opens a new one).
 *
 * <p>A splice ({@link #prepareSplice}) moves the connection onto the socket of a QEMU that
 * takes the guest over (docs/vmm.md, "Agent connection"): from the commit, writes go to the new
 * socket, and the reader reads the old socket to its end, then the new one, as one byte stream.
 */
final class AgentConnection {
    // The channel's logger: one name to configure for everything the channel logs.
    private static final System.Logger LOG = System.getLogger(AgentChannel.class.getName());
    /** How long the old socket may take to end after its QEMU was killed. */
    private static final Duration OLD_EOF_TIMEOUT = Duration.ofSeconds(10);

    private final String label; // the socket path, for messages
    private final UnaryOperator<VmmException> disconnectMapper;
    private final int helloReqId;
    /** Where frames are written: the successor's socket once a splice is committed. */
    private volatile SocketChannel sc;
    /** Where the reader reads: the old socket until its end during a splice. */
    private volatile SocketChannel readSc;

    private final ReentrantLock writeLock = new ReentrantLock();
    /** Signalled when writes may go on (a splice committed or cancelled, or the connection failed). */
    private final Condition writable = writeLock.newCondition();

    private boolean holdWrites; // guarded by writeLock
    private volatile SocketSplice splice;
    private final Map<Integer, Pending> pending = new ConcurrentHashMap<>();
    private final CompletableFuture<AgentInfo> hello = new CompletableFuture<>();
    private volatile VmmException failure; // set once, by close

    private AgentConnection(
            String label, SocketChannel sc, int helloReqId, UnaryOperator<VmmException> disconnectMapper) {
        this.label = label;
        this.sc = sc;
        this.readSc = sc;
        this.helloReqId = helloReqId;
        this.disconnectMapper = disconnectMapper;
    }

    /**
     * Starts reading a freshly connected socket and sends HELLO_REQ (NEW_SESSION), without
     * waiting for the answer (see {@link #awaitHello}).
     *
     * @param helloReqId       the request id of the HELLO_REQ
     * @param newHost          whether to say NEW_HOST too: this host never saw the commands
     *                         running in the guest, so the agent kills them (nobody could ever
     *                         read their output)
     * @param disconnectMapper turns an unexpected disconnect into the error requests fail with
     * @throws VmmException when the HELLO_REQ cannot be written (the connection is closed)
     */
    static AgentConnection begin(
            String label,
            SocketChannel sc,
            int helloReqId,
            boolean newHost,
            UnaryOperator<VmmException> disconnectMapper) {
        var c = new AgentConnection(label, sc, helloReqId, disconnectMapper);
        Thread.ofVirtual().name("agent-reader " + label).start(c::readLoop);
        // The host opens every connection with HELLO_REQ (docs/agent-protocol.md): the agent
        // cannot always notice a new host (a fast reconnect, a restored clone), but it answers
        // this in every case; the answer's header is where the reader gets in step.
        try {
            FieldsWriter hello = new FieldsWriter().u8(Tag.NEW_SESSION, 1);
            if (newHost) hello.u8(Tag.NEW_HOST, 1);
            c.send(new Frame(FrameType.HELLO_REQ, helloReqId, hello.toByteArray()));
        } catch (VmmException e) {
            c.close(e);
            throw e;
        }
        return c;
    }

    /**
     * Waits for the HELLO answering this connection's HELLO_REQ; on failure the connection is
     * closed.
     *
     * @param abortOn stop waiting when this completes; may be null
     * @throws VmmException when the deadline passes, {@code abortOn} completes or the connection fails first
     */
    void awaitHello(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        CompletableFuture<?> wait = abortOn == null ? hello : CompletableFuture.anyOf(hello, abortOn);
        long ms = Math.max(1, Duration.between(Instant.now(), deadline).toMillis());
        try {
            wait.get(ms, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            close(new AgentDisconnectedException("no HELLO from the agent"));
            throw new VmmException("the guest agent did not say HELLO on " + label + " in time");
        } catch (ExecutionException e) {
            close(new AgentDisconnectedException("no HELLO from the agent"));
            throw Pending.asVmm(e.getCause(), "waiting for the agent's HELLO");
        } catch (InterruptedException e) {
            close(new AgentDisconnectedException("interrupted"));
            throw e;
        }
        if (!hello.isDone()) {
            close(new AgentDisconnectedException("aborted"));
            throw new VmmException("gave up waiting for the agent's HELLO on " + label + ": aborted");
        }
    }

    /** {@return what the agent said in its HELLO, or null before it did} */
    AgentInfo info() {
        return hello.getNow(null);
    }

    static AgentInfo helloInfo(Fields f) {
        return new AgentInfo(f.string(Tag.VERSION), f.string(Tag.BOOT_ID), f.string(Tag.NAME));
    }

    /** {@return why the connection closed, or null while it is open} */
    VmmException failure() {
        return failure;
    }

    /** Routes the frames with this id to {@code p} until {@link #forget}. */
    void register(int id, Pending p) {
        pending.put(id, p);
    }

    void forget(int id) {
        pending.remove(id);
    }

    /**
     * Writes a frame; while a splice is prepared, waits for its commit or cancel.
     *
     * @throws VmmException the error the connection failed with, or an
     *                      {@link AgentDisconnectedException} when the write fails
     */
    void send(Frame f) {
        ByteBuffer b = FrameCodec.encode(f);
        writeLock.lock();
        try {
            while (holdWrites && failure == null) writable.awaitUninterruptibly();
            if (failure != null) throw failure;
            SocketChannel out = sc;
            while (b.hasRemaining()) out.write(b);
        } catch (IOException e) {
            throw new AgentDisconnectedException("writing " + f + " to " + label + " failed: " + e.getMessage(), e);
        } finally {
            writeLock.unlock();
        }
    }

    private void readLoop() {
        VmmException why;
        try {
            var in = new FrameReader(readSc);
            // Get in step: the stream may start mid-frame (output queued for an earlier host),
            // so everything before the HELLO answering our HELLO_REQ is discarded.
            long skipped = in.skipTo(helloAnswerPrefix());
            if (skipped > 0) LOG.log(Level.DEBUG, "skipped {0} bytes before the HELLO on {1}", skipped, label);
            Frame first = in.next();
            hello.complete(helloInfo(first.fields()));
            while (true) {
                Frame f;
                try {
                    f = in.next();
                } catch (EOFException e) {
                    if (!continueOnSuccessor(in, e)) throw e;
                    continue;
                }
                dispatch(f);
            }
        } catch (EOFException e) {
            why = new AgentDisconnectedException("the agent channel " + label + " closed (EOF)");
        } catch (ClosedChannelException e) {
            why = failure != null ? failure : new AgentDisconnectedException("agent channel " + label + " closed");
        } catch (IOException e) {
            why = new AgentDisconnectedException("reading from " + label + " failed: " + e.getMessage(), e);
        } catch (AgentProtocolException e) {
            why = new AgentDisconnectedException("protocol error on " + label + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            why = new AgentDisconnectedException("agent reader on " + label + " interrupted", e);
        } catch (RuntimeException e) {
            why = new AgentDisconnectedException("agent reader failed: " + e, e);
        }
        if (failure == null) { // unexpected: let the owner say why (e.g. the VM died)
            close(disconnectMapper.apply(why));
        }
    }

    /** The first 8 header bytes (magic, version, type, id) of the HELLO answering our HELLO_REQ. */
    private byte[] helloAnswerPrefix() {
        return ByteBuffer.allocate(8)
                .putShort((short) Frame.MAGIC)
                .put((byte) Frame.VERSION)
                .put((byte) FrameType.HELLO)
                .putInt(helloReqId)
                .array();
    }

    private void dispatch(Frame f) {
        switch (f.type()) {
            case FrameType.HELLO -> {
                if (f.id() == 0) { // the agent noticed us late; we are in step already
                    LOG.log(Level.DEBUG, "unsolicited HELLO after the handshake on {0}", label);
                } else {
                    route(f);
                }
            }
            case FrameType.ERROR -> {
                if (f.id() == 0) {
                    Fields fl = f.fields();
                    LOG.log(
                            Level.WARNING,
                            "agent on {0} reported {1}: {2}",
                            label,
                            fl.string(Tag.CODE_NAME),
                            fl.string(Tag.MESSAGE));
                } else {
                    route(f);
                }
            }
            default -> route(f);
        }
    }

    private void route(Frame f) {
        Pending p = pending.get(f.id());
        if (p == null) { // e.g. EXIT of a request from an earlier connection
            LOG.log(Level.DEBUG, "ignoring {0}: no request with that id", f);
            return;
        }
        p.onFrame(f);
    }

    /** Closes the socket(s) once and fails every request still in flight with {@code why}. */
    void close(VmmException why) {
        synchronized (this) { // no I/O inside: only the once-guard
            if (failure != null) return;
            failure = why;
        }
        for (SocketChannel s : List.of(sc, readSc)) {
            try {
                s.close();
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "closing {0}: {1}", label, e);
            }
        }
        SocketSplice s = splice;
        if (s != null) s.go.complete(null);
        writeLock.lock(); // wake writers held by a splice: they fail with why
        try {
            writable.signalAll();
        } finally {
            writeLock.unlock();
        }
        hello.completeExceptionally(why);
        for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
            Pending p = it.next().getValue();
            it.remove();
            p.fail(why);
        }
    }

    // ---- splice -----------------------------------------------------------------------

    /**
     * Holds writes from now on (they would reach the old QEMU after its guest stopped and be
     * lost) until the returned splice is committed or cancelled.
     *
     * @param next the successor QEMU's agent socket, already connected
     * @throws VmmException          when the connection has failed
     * @throws IllegalStateException when a splice is already prepared
     */
    SocketSplice prepareSplice(SocketChannel next) {
        writeLock.lock();
        try {
            if (failure != null) throw failure;
            if (splice != null) throw new IllegalStateException("a splice is already prepared on " + label);
            holdWrites = true;
            SocketSplice s = new SocketSplice(next);
            splice = s;
            return s;
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * Reader side, at the end of the old socket: with a splice prepared, waits for its commit
     * and goes on reading the successor's socket. A stream that ended inside a frame cannot be
     * continued.
     *
     * @return false when there is nothing to continue on (no splice, cancelled, torn frame)
     */
    private boolean continueOnSuccessor(FrameReader in, EOFException eof) throws InterruptedException {
        SocketSplice s = splice;
        if (s == null) return false;
        if (!(eof instanceof FrameReader.CleanEofException)) {
            LOG.log(Level.WARNING, "the old agent socket {0} ended inside a frame", label);
            s.moved.complete(false);
            return false;
        }
        SocketChannel next;
        try {
            next = s.go.get();
        } catch (ExecutionException e) {
            next = null;
        }
        if (next == null) {
            s.moved.complete(false);
            return false;
        }
        SocketChannel old = readSc;
        in.continueOn(next);
        readSc = next;
        splice = null;
        try {
            old.close();
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "closing the old agent socket: {0}", e);
        }
        s.moved.complete(true);
        return true;
    }

    /** A prepared move of this connection onto a successor's socket; see {@link AgentChannel.Splice}. */
    final class SocketSplice {
        private final SocketChannel next;
        /** Completes with the successor socket on commit, with null on cancel (or a failed connection). */
        private final CompletableFuture<SocketChannel> go = new CompletableFuture<>();
        /** Completes with true once the reader continues on the successor, false when it cannot. */
        private final CompletableFuture<Boolean> moved = new CompletableFuture<>();

        private SocketSplice(SocketChannel next) {
            this.next = next;
        }

        /**
         * Lets the held writes go on to the successor, then waits until the reader has read the
         * old socket to its end and continues on the successor.
         *
         * @return false when the old stream ended inside a frame or did not end in time: the
         * connection is then closed (requests in flight fail) and so is the successor socket
         */
        boolean commit() throws InterruptedException {
            writeLock.lock();
            try {
                sc = next;
                holdWrites = false;
                writable.signalAll();
            } finally {
                writeLock.unlock();
            }
            go.complete(next);
            boolean ok;
            try {
                ok = moved.get(OLD_EOF_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                ok = false;
            }
            if (!ok) {
                LOG.log(
                        Level.WARNING,
                        "agent stream on {0} could not be spliced; reconnecting (execs in flight fail)",
                        label);
                close(new AgentDisconnectedException("the agent stream on " + label + " could not be spliced"));
                try {
                    next.close(); // the failed connection may not own it yet
                } catch (IOException e) {
                    LOG.log(Level.DEBUG, "closing the successor socket: {0}", e);
                }
            }
            return ok;
        }

        /** Gives the move up: closes the successor socket and lets the held writes go on to the old one. */
        void cancel() {
            go.complete(null);
            writeLock.lock();
            try {
                if (splice == this) splice = null;
                holdWrites = false;
                writable.signalAll();
            } finally {
                writeLock.unlock();
            }
            try {
                next.close();
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "closing the unused successor socket: {0}", e);
            }
        }
    }
}
