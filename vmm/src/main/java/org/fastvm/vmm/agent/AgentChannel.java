package org.fastvm.vmm.agent;

import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;

import org.fastvm.vmm.AgentDisconnectedException;
import org.fastvm.vmm.AgentErrorException;
import org.fastvm.vmm.AgentInfo;
import org.fastvm.vmm.AgentProtocolException;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.VmmException;

/**
 * The host side of the guest agent protocol (docs/agent-protocol.md) over the VM's
 * virtio-serial unix socket: one reader thread demultiplexes frames by request id, so any
 * number of execs and control requests run at once. {@link #reconnect} closes the socket
 * and opens a new one; requests in flight on the old one fail with
 * {@link AgentDisconnectedException} while the guest's processes keep running.
 * {@link #prepareSplice} instead moves the channel onto a successor QEMU's socket with
 * requests in flight intact (docs/vmm.md, "Agent connection").
 */
public final class AgentChannel implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(AgentChannel.class.getName());
    /** Poll interval while the socket file does not exist yet (QEMU is starting). */
    private static final long CONNECT_RETRY_MS = 3;
    /** Stdin up to this size travels inside the EXEC frame; more is streamed in chunks. */
    private static final int INLINE_STDIN_BYTES = 512 * 1024;
    private static final int STDIN_CHUNK_BYTES = 64 * 1024;
    /** Control requests (ping, clock, fs...) answer quickly; past this the agent is stuck. */
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(60);
    /** How long past an exec's own timeout the host waits for EXIT before calling the agent stuck. */
    private static final Duration EXIT_GRACE = Duration.ofSeconds(30);

    private final String socket; // a label for messages: the socket path
    private final Connector connector;
    private final UnaryOperator<VmmException> disconnectMapper;
    /**
     * Request ids start at a random point: after an engine restart the agent may still run
     * execs (and send their EXIT frames) under ids the previous host chose.
     */
    private final AtomicInteger nextId = new AtomicInteger(java.util.concurrent.ThreadLocalRandom.current().nextInt());
    private final ReentrantLock reconnectLock = new ReentrantLock();
    private volatile Connection conn;
    private volatile boolean closed;

    /** Produces a connected socket to the agent (a fresh one on every call). */
    @FunctionalInterface
    public interface Connector {
        /**
         * @param deadline give up after this instant
         * @param abortOn  give up when this completes (may be null)
         * @return a connected, blocking socket channel
         * @throws VmmException when no connection is possible before the deadline
         */
        SocketChannel connect(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException;
    }

    private AgentChannel(String label, Connector connector, UnaryOperator<VmmException> disconnectMapper) {
        this.socket = label;
        this.connector = connector;
        this.disconnectMapper = disconnectMapper == null ? e -> e : disconnectMapper;
    }

    /**
     * Connects to the agent's unix socket and waits for its HELLO.
     *
     * @param socket           the VM's {@code agent.sock}
     * @param deadline         give up (a {@link VmmException}) after this instant
     * @param abortOn          stop waiting when this completes (e.g. QEMU exited); may be null
     * @param disconnectMapper turns an unexpected disconnect into the error in-flight
     *                         requests fail with (e.g. MachineDeadException when QEMU died);
     *                         called on the reader thread after the socket broke, may block briefly
     * @throws VmmException when the deadline passes or {@code abortOn} completes first
     */
    public static AgentChannel connect(Path socket, Instant deadline, CompletableFuture<?> abortOn,
                                       UnaryOperator<VmmException> disconnectMapper) throws InterruptedException {
        return open(socket.toString(), unixSocket(socket), deadline, abortOn, disconnectMapper);
    }

    /** Like {@link #connect} with any way of obtaining the socket (tests accept one from the agent). */
    public static AgentChannel open(String label, Connector connector, Instant deadline, CompletableFuture<?> abortOn,
                                    UnaryOperator<VmmException> disconnectMapper) throws InterruptedException {
        AgentChannel ch = new AgentChannel(label, connector, disconnectMapper);
        ch.conn = ch.open(deadline, abortOn);
        return ch;
    }

    /**
     * @return a connector to a unix socket that retries every few milliseconds while the
     * socket does not exist or refuses (QEMU still starting) — a bounded wait for the file
     */
    public static Connector unixSocket(Path socket) {
        return (deadline, abortOn) -> {
            while (true) {
                if (abortOn != null && abortOn.isDone()) throw new VmmException("gave up connecting to " + socket + ": aborted");
                SocketChannel c = null;
                try {
                    c = SocketChannel.open(StandardProtocolFamily.UNIX);
                    c.connect(UnixDomainSocketAddress.of(socket));
                    return c;
                } catch (IOException e) {
                    if (c != null) {
                        try {
                            c.close();
                        } catch (IOException ignored) {
                            // a socket that never connected
                        }
                    }
                    if (Instant.now().isAfter(deadline)) {
                        throw new VmmException("cannot connect to agent socket " + socket + ": " + e.getMessage(), e);
                    }
                    Thread.sleep(CONNECT_RETRY_MS);
                }
            }
        };
    }

    private Connection open(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        Connection c = begin(deadline, abortOn);
        awaitHello(c, deadline, abortOn);
        return c;
    }

    /** Connects and sends HELLO_REQ (NEW_SESSION) without waiting for the answer. */
    private Connection begin(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        SocketChannel sc = connector.connect(deadline, abortOn);
        Connection c = new Connection(sc, newId());
        c.reader = Thread.ofVirtual().name("agent-reader " + socket).start(c::readLoop);
        // The host opens every connection with HELLO_REQ (docs/agent-protocol.md): the agent
        // cannot always notice a new host (a fast reconnect, a restored clone), but it answers
        // this in every case; the answer's header is where the reader gets in step.
        try {
            c.send(new Frame(FrameType.HELLO_REQ, c.helloReqId, new FieldsWriter().u8(Tag.NEW_SESSION, 1).toByteArray()));
        } catch (VmmException e) {
            c.close(e);
            throw e;
        }
        return c;
    }

    private void awaitHello(Connection c, Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        CompletableFuture<?> wait = abortOn == null ? c.hello : CompletableFuture.anyOf(c.hello, abortOn);
        long ms = Math.max(1, Duration.between(Instant.now(), deadline).toMillis());
        try {
            wait.get(ms, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            c.close(new AgentDisconnectedException("no HELLO from the agent"));
            throw new VmmException("the guest agent did not say HELLO on " + socket + " in time");
        } catch (ExecutionException e) {
            c.close(new AgentDisconnectedException("no HELLO from the agent"));
            throw asVmm(e.getCause(), "waiting for the agent's HELLO");
        } catch (InterruptedException e) {
            c.close(new AgentDisconnectedException("interrupted"));
            throw e;
        }
        if (!c.hello.isDone()) {
            c.close(new AgentDisconnectedException("aborted"));
            throw new VmmException("gave up waiting for the agent's HELLO on " + socket + ": aborted");
        }
    }

    /**
     * Connects to the agent's socket and sends the opening HELLO_REQ, but does not wait for
     * the answer: for a QEMU that is not running its guest yet (a restore waiting for its
     * state). Call {@link #awaitHello} once the guest runs.
     */
    public static AgentChannel connectEarly(Path socket, Instant deadline, CompletableFuture<?> abortOn,
                                            UnaryOperator<VmmException> disconnectMapper) throws InterruptedException {
        AgentChannel ch = new AgentChannel(socket.toString(), unixSocket(socket), disconnectMapper);
        ch.conn = ch.begin(deadline, abortOn);
        return ch;
    }

    /** Waits for the HELLO answering this connection's HELLO_REQ (see {@link #connectEarly}). */
    public AgentInfo awaitHello(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        awaitHello(conn, deadline, abortOn);
        return info();
    }

    /** @return what the agent said when this channel last connected */
    public AgentInfo info() {
        return conn.hello.getNow(null);
    }

    /**
     * Closes the socket and connects again, waiting for HELLO until {@code deadline} (or until
     * {@code abortOn} completes; may be null). In-flight requests on the old connection fail
     * with {@link AgentDisconnectedException}. May be retried after a failure.
     */
    public void reconnect(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        reconnectLock.lock();
        try {
            if (closed) throw new AgentDisconnectedException("agent channel " + socket + " is closed");
            conn.close(new AgentDisconnectedException("agent channel reopened"));
            conn = open(deadline, abortOn);
        } finally {
            reconnectLock.unlock();
        }
    }

    /**
     * Prepares moving this channel onto the agent socket of a QEMU that takes the guest over
     * (re-homing): {@code next} must be connected before that QEMU loads the device state, so
     * the guest never sees a new host. From now on writes wait (they would reach the old QEMU
     * after its guest stopped and be lost) until {@link Splice#commit} or {@link Splice#cancel}.
     * Call before the old QEMU's guest is stopped.
     */
    public Splice prepareSplice(SocketChannel next) {
        Connection c = conn;
        c.writeLock.lock();
        try {
            if (c.failure != null) throw c.failure;
            if (c.splice != null) throw new IllegalStateException("a splice is already prepared on " + socket);
            c.holdWrites = true;
            Splice s = new Splice(c, next);
            c.splice = s;
            return s;
        } finally {
            c.writeLock.unlock();
        }
    }

    /**
     * A prepared splice: the reader reads the old socket to its end (the old QEMU killed), then
     * goes on reading the successor's socket as one byte stream (spike report §5), so requests
     * in flight keep their ids, their output and their EXIT.
     */
    public final class Splice {
        /** How long the old socket may take to end after its QEMU was killed. */
        private static final Duration OLD_EOF_TIMEOUT = Duration.ofSeconds(10);
        private final Connection c;
        private final SocketChannel next;
        /** Completes with the successor socket on commit, with null on cancel. */
        final CompletableFuture<SocketChannel> go = new CompletableFuture<>();
        /** Completes with true once the reader continues on the successor, false when it cannot. */
        final CompletableFuture<Boolean> moved = new CompletableFuture<>();

        private Splice(Connection c, SocketChannel next) {
            this.c = c;
            this.next = next;
        }

        /**
         * The successor runs the guest and the old QEMU has been killed: writes go to the
         * successor from now on; waits until the old socket's stream has been read to its end.
         * Should that stream end inside a frame (or not end in time), falls back to
         * {@link #reconnect}: requests in flight fail with {@link AgentDisconnectedException}.
         */
        public void commit(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
            c.writeLock.lock();
            try {
                c.sc = next;
                c.holdWrites = false;
                c.writable.signalAll();
            } finally {
                c.writeLock.unlock();
            }
            go.complete(next);
            boolean ok;
            try {
                ok = moved.get(OLD_EOF_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                ok = false;
            }
            if (!ok) {
                LOG.log(Level.WARNING, "agent stream on {0} could not be spliced; reconnecting (execs in flight fail)", socket);
                c.close(new AgentDisconnectedException("the agent stream on " + socket + " could not be spliced"));
                try {
                    next.close(); // the failed connection may not own it yet
                } catch (IOException e) {
                    LOG.log(Level.DEBUG, "closing the successor socket: {0}", e);
                }
                reconnect(deadline, abortOn);
            }
        }

        /** The move did not happen (the old QEMU runs on): closes {@code next}, lets writes through. */
        public void cancel() {
            go.complete(null);
            c.writeLock.lock();
            try {
                if (c.splice == this) c.splice = null;
                c.holdWrites = false;
                c.writable.signalAll();
            } finally {
                c.writeLock.unlock();
            }
            try {
                next.close();
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "closing the unused successor socket: {0}", e);
            }
        }
    }

    /** @return true while the current connection is open */
    public boolean isConnected() {
        return !closed && conn.failure == null;
    }

    @Override
    public void close() {
        close(new AgentDisconnectedException("agent channel " + socket + " closed"));
    }

    /** Closes the channel; requests in flight fail with {@code why}. */
    public void close(VmmException why) {
        closed = true;
        conn.close(why);
    }

    // ---- exec -------------------------------------------------------------------------

    /**
     * Runs a command and buffers its output (up to the request's output limit per stream).
     *
     * @throws AgentDisconnectedException when the channel closes first
     * @throws AgentErrorException        when the agent refuses the request
     */
    public ExecResult exec(ExecRequest req) throws InterruptedException {
        if (req.stdinOpen()) {
            throw new IllegalArgumentException("stdinOpen: only for streaming execs (start), nobody would close stdin here");
        }
        var buffer = new BufferingListener(req.outputLimitBytes());
        ExecHandle h = start(req, buffer);
        ExecResult r;
        try {
            if (req.timeout() == null) {
                r = h.result().get();
            } else { // the agent enforces the timeout; this only guards against a stuck agent
                r = h.result().get(req.timeout().plus(EXIT_GRACE).toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (ExecutionException e) {
            throw asVmm(e.getCause(), "exec " + req.argv().get(0));
        } catch (TimeoutException e) {
            try {
                h.cancel();
            } catch (VmmException ignored) {
                // the channel is gone as well; nothing more to stop
            }
            throw new VmmException("exec " + req.argv().get(0) + ": no EXIT from the agent within "
                    + req.timeout().plus(EXIT_GRACE).toSeconds() + "s of a " + req.timeout().toMillis() + " ms timeout");
        }
        return buffer.withOutput(r);
    }

    /** Starts a command, streaming its events to {@code listener}. */
    public ExecHandle start(ExecRequest req, ExecListener listener) {
        Connection c = conn;
        int id = newId();
        var call = new ExecCall(c, id, listener);
        c.pending.put(id, call);
        if (c.failure != null) { // closed between read and put: fail the way the reader would
            c.pending.remove(id);
            call.fail(c.failure);
            return call;
        }
        byte[] stdin = req.stdin();
        boolean streamStdin = stdin != null && stdin.length > INLINE_STDIN_BYTES;
        var f = new FieldsWriter();
        req.argv().forEach(a -> f.string(Tag.ARG, a));
        req.env().forEach((k, v) -> f.string(Tag.ENV, k + "=" + v));
        if (req.cwd() != null) f.string(Tag.CWD, req.cwd());
        if (stdin != null && !streamStdin) f.bytes(Tag.STDIN, stdin);
        if (req.stdinOpen() || streamStdin) f.u8(Tag.STDIN_OPEN, 1);
        if (req.timeout() != null) f.u64(Tag.TIMEOUT_MS, Math.max(1, req.timeout().toMillis()));
        byte[] payload = f.toByteArray();
        if (payload.length > Frame.MAX_PAYLOAD) {
            c.pending.remove(id);
            throw new IllegalArgumentException("argv/env/cwd: " + payload.length + " bytes exceed the frame limit "
                    + Frame.MAX_PAYLOAD);
        }
        try {
            c.send(new Frame(FrameType.EXEC, id, payload));
            if (streamStdin) {
                for (int off = 0; off < stdin.length; off += STDIN_CHUNK_BYTES) {
                    int n = Math.min(STDIN_CHUNK_BYTES, stdin.length - off);
                    c.send(new Frame(FrameType.STDIN, id, new FieldsWriter()
                            .bytes(Tag.DATA, java.util.Arrays.copyOfRange(stdin, off, off + n)).toByteArray()));
                }
                if (!req.stdinOpen()) c.send(new Frame(FrameType.STDIN_CLOSE, id, new byte[0]));
            }
        } catch (VmmException e) {
            c.pending.remove(id);
            call.fail(e);
        }
        return call;
    }

    // ---- control requests -------------------------------------------------------------

    /** Cheapest round trip: PING → OK. */
    public void ping() throws InterruptedException {
        call(FrameType.PING, new byte[0]);
    }

    /** Asks for a HELLO and returns it. */
    public AgentInfo hello() throws InterruptedException {
        return helloInfo(call(FrameType.HELLO_REQ, new byte[0]));
    }

    /** Sets the guest's wall clock. */
    public void setTime(Instant time) throws InterruptedException {
        long ns = Math.addExact(Math.multiplyExact(time.getEpochSecond(), 1_000_000_000L), time.getNano());
        call(FrameType.SET_TIME, new FieldsWriter().u64(Tag.TIME_NS, ns).toByteArray());
    }

    /** Credits 1–4096 random bytes to the guest kernel's entropy pool. */
    public void addEntropy(byte[] data) throws InterruptedException {
        if (data.length < 1 || data.length > 4096) throw new IllegalArgumentException("entropy: must be 1..4096 bytes");
        call(FrameType.ADD_ENTROPY, new FieldsWriter().bytes(Tag.DATA, data).toByteArray());
    }

    /** Sets the guest's hostname. */
    public void setHostname(String name) throws InterruptedException {
        call(FrameType.SET_HOSTNAME, new FieldsWriter().string(Tag.NAME, name).toByteArray());
    }

    /** Flushes the guest's filesystems ({@code sync()}). */
    public void fsSync() throws InterruptedException {
        call(FrameType.FS_SYNC, new byte[0]);
    }

    /** Freezes the root filesystem (no-op without a root disk). */
    public void fsFreeze() throws InterruptedException {
        call(FrameType.FS_FREEZE, new byte[0]);
    }

    /** Thaws the root filesystem (no-op when not frozen). */
    public void fsThaw() throws InterruptedException {
        call(FrameType.FS_THAW, new byte[0]);
    }

    /** Configures a guest interface: MAC (optional), addresses in CIDR form, gateway (optional). */
    public void netConfig(String ifname, String mac, List<String> addrs, String gateway) throws InterruptedException {
        var f = new FieldsWriter().string(Tag.IFNAME, ifname);
        if (mac != null) f.string(Tag.MAC, mac);
        addrs.forEach(a -> f.string(Tag.ADDR, a));
        if (gateway != null) f.string(Tag.GATEWAY, gateway);
        call(FrameType.NET_CONFIG, f.toByteArray());
    }

    /** Grows the root filesystem to its disk's size; returns the new size in bytes. */
    public long growRootfs() throws InterruptedException {
        return call(FrameType.GROW_ROOTFS, new byte[0]).u64(Tag.SIZE_BYTES, -1);
    }

    /** Sends a control request and waits for its OK (or fails with the agent's ERROR). */
    private Fields call(int type, byte[] payload) throws InterruptedException {
        Connection c = conn;
        int id = newId();
        var call = new ControlCall(FrameType.name(type));
        c.pending.put(id, call);
        try {
            if (c.failure != null) throw c.failure;
            c.send(new Frame(type, id, payload));
            return call.future.get(CONTROL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw asVmm(e.getCause(), FrameType.name(type));
        } catch (TimeoutException e) {
            throw new VmmException("the guest agent did not answer " + FrameType.name(type) + " within "
                    + CONTROL_TIMEOUT.toSeconds() + "s");
        } finally {
            c.pending.remove(id);
        }
    }

    private int newId() {
        int id;
        do {
            id = nextId.incrementAndGet();
        } while (id == 0);
        return id;
    }

    private static AgentInfo helloInfo(Fields f) {
        return new AgentInfo(f.string(Tag.VERSION), f.string(Tag.BOOT_ID), f.string(Tag.NAME));
    }

    private static VmmException asVmm(Throwable t, String what) {
        if (t instanceof VmmException v) {
            // rethrow a fresh copy of the same type would lose the caller's stack; wrap only unknowns
            return v;
        }
        return new VmmException(what + " failed: " + t, t);
    }

    // ---- one socket connection --------------------------------------------------------

    private sealed interface Pending permits ExecCall, ControlCall {
        void onFrame(Frame f);

        void fail(VmmException e);
    }

    private final class Connection {
        /** Where frames are written: the successor's socket once a splice is committed. */
        volatile SocketChannel sc;
        /** Where the reader reads: the old socket until its end during a splice. */
        volatile SocketChannel readSc;
        final ReentrantLock writeLock = new ReentrantLock();
        /** Signalled when writes may go on (a splice committed or cancelled, or the connection failed). */
        final java.util.concurrent.locks.Condition writable = writeLock.newCondition();
        boolean holdWrites; // guarded by writeLock
        volatile Splice splice;
        final Map<Integer, Pending> pending = new ConcurrentHashMap<>();
        final CompletableFuture<AgentInfo> hello = new CompletableFuture<>();
        final int helloReqId;
        volatile VmmException failure;
        Thread reader;

        Connection(SocketChannel sc, int helloReqId) {
            this.sc = sc;
            this.readSc = sc;
            this.helloReqId = helloReqId;
        }

        void send(Frame f) {
            ByteBuffer b = FrameCodec.encode(f);
            writeLock.lock();
            try {
                while (holdWrites && failure == null) writable.awaitUninterruptibly();
                if (failure != null) throw failure;
                SocketChannel out = sc;
                while (b.hasRemaining()) out.write(b);
            } catch (IOException e) {
                throw new AgentDisconnectedException("writing " + f + " to " + socket + " failed: " + e.getMessage(), e);
            } finally {
                writeLock.unlock();
            }
        }

        void readLoop() {
            VmmException why;
            try {
                var in = new FrameReader(readSc);
                // Get in step: the stream may start mid-frame (output queued for an earlier host),
                // so everything before the HELLO answering our HELLO_REQ is discarded.
                long skipped = in.skipTo(helloAnswerPrefix());
                if (skipped > 0) LOG.log(Level.DEBUG, "skipped {0} bytes before the HELLO on {1}", skipped, socket);
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
                why = new AgentDisconnectedException("the agent channel " + socket + " closed (EOF)");
            } catch (ClosedChannelException e) {
                why = failure != null ? failure : new AgentDisconnectedException("agent channel " + socket + " closed");
            } catch (IOException e) {
                why = new AgentDisconnectedException("reading from " + socket + " failed: " + e.getMessage(), e);
            } catch (AgentProtocolException e) {
                why = new AgentDisconnectedException("protocol error on " + socket + ": " + e.getMessage(), e);
            } catch (InterruptedException e) {
                why = new AgentDisconnectedException("agent reader on " + socket + " interrupted", e);
            } catch (RuntimeException e) {
                why = new AgentDisconnectedException("agent reader failed: " + e, e);
            }
            if (failure == null) { // unexpected: let the owner say why (e.g. the VM died)
                VmmException mapped = disconnectMapper.apply(why);
                close(mapped);
            }
        }

        /**
         * At the end of the old socket during a splice: waits for the commit and goes on reading
         * the successor's socket. A stream that ended inside a frame cannot be continued.
         *
         * @return false when there is nothing to continue on (no splice, cancelled, torn frame)
         */
        boolean continueOnSuccessor(FrameReader in, EOFException eof) throws InterruptedException {
            Splice s = splice;
            if (s == null) return false;
            if (!(eof instanceof FrameReader.CleanEofException)) {
                LOG.log(Level.WARNING, "the old agent socket {0} ended inside a frame", socket);
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

        /** The first 8 header bytes of the HELLO answering this connection's HELLO_REQ. */
        byte[] helloAnswerPrefix() {
            return ByteBuffer.allocate(8).putShort((short) Frame.MAGIC).put((byte) Frame.VERSION)
                    .put((byte) FrameType.HELLO).putInt(helloReqId).array();
        }

        void dispatch(Frame f) {
            switch (f.type()) {
                case FrameType.HELLO -> {
                    if (f.id() == 0) { // the agent noticed us late; we are in step already
                        LOG.log(Level.DEBUG, "unsolicited HELLO after the handshake on {0}", socket);
                    } else {
                        route(f);
                    }
                }
                case FrameType.ERROR -> {
                    if (f.id() == 0) {
                        Fields fl = f.fields();
                        LOG.log(Level.WARNING, "agent on {0} reported {1}: {2}", socket,
                                fl.string(Tag.CODE_NAME), fl.string(Tag.MESSAGE));
                    } else {
                        route(f);
                    }
                }
                default -> route(f);
            }
        }

        void route(Frame f) {
            Pending p = pending.get(f.id());
            if (p == null) { // e.g. EXIT of a request from an earlier connection
                LOG.log(Level.DEBUG, "ignoring {0}: no request with that id", f);
                return;
            }
            p.onFrame(f);
        }

        /** Closes the socket once and fails every request still in flight with {@code why}. */
        void close(VmmException why) {
            synchronized (this) { // no I/O inside: only the once-guard
                if (failure != null) return;
                failure = why;
            }
            for (SocketChannel s : List.of(sc, readSc)) {
                try {
                    s.close();
                } catch (IOException e) {
                    LOG.log(Level.DEBUG, "closing {0}: {1}", socket, e);
                }
            }
            Splice s = splice;
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
    }

    private final class ControlCall implements Pending {
        final String what;
        final CompletableFuture<Fields> future = new CompletableFuture<>();

        ControlCall(String what) {
            this.what = what;
        }

        @Override
        public void onFrame(Frame f) {
            switch (f.type()) {
                case FrameType.OK, FrameType.HELLO -> future.complete(f.fields());
                case FrameType.ERROR -> {
                    Fields fl = f.fields();
                    future.completeExceptionally(new AgentErrorException(fl.string(Tag.CODE_NAME),
                            what + ": " + fl.string(Tag.MESSAGE)));
                }
                default -> future.completeExceptionally(
                        new AgentProtocolException("unexpected " + f + " in answer to " + what));
            }
        }

        @Override
        public void fail(VmmException e) {
            future.completeExceptionally(e);
        }
    }

    private final class ExecCall implements Pending, ExecHandle {
        final Connection c;
        final int id;
        final ExecListener listener;
        final CompletableFuture<ExecResult> result = new CompletableFuture<>();

        ExecCall(Connection c, int id, ExecListener listener) {
            this.c = c;
            this.id = id;
            this.listener = listener;
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
                    c.pending.remove(id);
                    Fields fl = f.fields();
                    Integer code = fl.i32(Tag.CODE);
                    Integer sig = fl.i32(Tag.SIGNAL);
                    int signal = sig == null ? 0 : sig;
                    int exit = code != null ? code : ExecResult.exitCodeForSignal(signal);
                    var r = new ExecResult(exit, signal, new byte[0], new byte[0], false, false,
                            fl.u8(Tag.TIMED_OUT, 0) != 0, fl.u64(Tag.DURATION_MS, 0));
                    try {
                        listener.onExit(r);
                    } finally {
                        result.complete(r);
                    }
                }
                case FrameType.ERROR -> {
                    c.pending.remove(id);
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
            c.send(new Frame(FrameType.KILL, id, new FieldsWriter().i32(Tag.SIGNAL, signal).toByteArray()));
        }

        @Override
        public void writeStdin(byte[] data) {
            for (int off = 0; off < data.length || off == 0; off += STDIN_CHUNK_BYTES) {
                int n = Math.min(STDIN_CHUNK_BYTES, data.length - off);
                c.send(new Frame(FrameType.STDIN, id, new FieldsWriter()
                        .bytes(Tag.DATA, java.util.Arrays.copyOfRange(data, off, off + n)).toByteArray()));
                if (data.length == 0) break;
            }
        }

        @Override
        public void closeStdin() {
            c.send(new Frame(FrameType.STDIN_CLOSE, id, new byte[0]));
        }
    }

    /** Collects output up to a per-stream limit for a buffered {@link ExecResult}. */
    private static final class BufferingListener implements ExecListener {
        private final int limit;
        private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        private final java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
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

        private boolean append(java.io.ByteArrayOutputStream to, byte[] chunk) {
            int room = limit - to.size();
            to.write(chunk, 0, Math.max(0, Math.min(room, chunk.length)));
            return chunk.length > room;
        }

        @Override
        public void onExit(ExecResult result) {}

        /** Called after the result future completed, which orders it after every chunk. */
        ExecResult withOutput(ExecResult r) {
            return new ExecResult(r.exitCode(), r.signal(), out.toByteArray(), err.toByteArray(), outTruncated,
                    errTruncated, r.timedOut(), r.durationMs());
        }
    }
}
