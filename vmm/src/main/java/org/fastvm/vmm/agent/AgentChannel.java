package org.fastvm.vmm.agent;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import org.fastvm.vmm.AgentDisconnectedException;
import org.fastvm.vmm.AgentErrorException;
import org.fastvm.vmm.AgentInfo;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.VmmException;

/**
 * The host side of the guest agent protocol (docs/agent-protocol.md) over the VM's
 * virtio-serial unix socket: one reader thread demultiplexes frames by request id, so any
 * number of execs and control requests run at once. A new channel tells the agent it is a new
 * host, and the agent kills the commands earlier hosts started (nobody can read them any more).
 * {@link #reconnect} closes the socket and opens a new one; requests in flight on the old one
 * fail with {@link AgentDisconnectedException} while the guest's processes keep running.
 * {@link #prepareSplice} instead moves the channel onto a successor QEMU's socket with
 * requests in flight intact (docs/vmm.md, "Agent connection").
 *
 * <p>This class is the channel's face to the engine; the connection and its splice are in
 * {@link AgentConnection}, execs in {@link ExecCall}, control requests in {@link ControlCall}.
 */
public final class AgentChannel implements AutoCloseable {
    /** Poll interval while the socket file does not exist yet (QEMU is starting). */
    private static final long CONNECT_RETRY_MS = 3;

    private final String socket; // a label for messages: the socket path
    private final Connector connector;
    private final UnaryOperator<VmmException> disconnectMapper;
    /**
     * Request ids start at a random point: after an engine restart the agent may still run
     * execs (and send their EXIT frames) under ids the previous host chose. One sequence for
     * all of the channel's connections, so a late frame from an earlier one matches nothing.
     */
    private final AtomicInteger nextId =
            new AtomicInteger(ThreadLocalRandom.current().nextInt());

    private final ReentrantLock reconnectLock = new ReentrantLock();
    private volatile AgentConnection conn;
    /** The hostname a SET_HOSTNAME gave the guest after {@code conn}'s HELLO (a clone's new name). */
    private volatile Renamed renamed;

    private record Renamed(AgentConnection conn, String hostname) {}

    private volatile boolean closed;

    /** Produces a connected socket to the agent (a fresh one on every call). */
    @FunctionalInterface
    public interface Connector {
        /**
         * Connects to the agent's socket.
         *
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
    public static AgentChannel connect(
            Path socket, Instant deadline, CompletableFuture<?> abortOn, UnaryOperator<VmmException> disconnectMapper)
            throws InterruptedException {
        return open(socket.toString(), unixSocket(socket), deadline, abortOn, disconnectMapper);
    }

    /** Like {@link #connect} with any way of obtaining the socket (tests accept one from the agent). */
    public static AgentChannel open(
            String label,
            Connector connector,
            Instant deadline,
            CompletableFuture<?> abortOn,
            UnaryOperator<VmmException> disconnectMapper)
            throws InterruptedException {
        AgentChannel ch = new AgentChannel(label, connector, disconnectMapper);
        ch.conn = ch.open(deadline, abortOn, true);
        return ch;
    }

    /**
     * Connects to the agent's socket and sends the opening HELLO_REQ, but does not wait for
     * the answer: for a QEMU that is not running its guest yet (a restore waiting for its
     * state). Call {@link #awaitHello} once the guest runs.
     */
    public static AgentChannel connectEarly(
            Path socket, Instant deadline, CompletableFuture<?> abortOn, UnaryOperator<VmmException> disconnectMapper)
            throws InterruptedException {
        AgentChannel ch = new AgentChannel(socket.toString(), unixSocket(socket), disconnectMapper);
        ch.conn = ch.begin(deadline, abortOn, true);
        return ch;
    }

    /**
     * {@return a connector to a unix socket that retries every few milliseconds while the
     * socket does not exist or refuses (QEMU still starting), until the deadline}
     */
    public static Connector unixSocket(Path socket) {
        return (deadline, abortOn) -> {
            while (true) {
                if (abortOn != null && abortOn.isDone())
                    throw new VmmException("gave up connecting to " + socket + ": aborted");
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

    private AgentConnection open(Instant deadline, CompletableFuture<?> abortOn, boolean newHost)
            throws InterruptedException {
        AgentConnection c = begin(deadline, abortOn, newHost);
        c.awaitHello(deadline, abortOn);
        return c;
    }

    /**
     * Connects and sends HELLO_REQ (NEW_SESSION) without waiting for the answer; with NEW_HOST on a
     * channel's first connection: a new channel is a new host (an engine that attached after the
     * last one died, a restored clone), which can never read the commands running in the guest,
     * so the agent kills them. Its reconnects keep them (see {@link #reconnect}).
     */
    private AgentConnection begin(Instant deadline, CompletableFuture<?> abortOn, boolean newHost)
            throws InterruptedException {
        SocketChannel sc = connector.connect(deadline, abortOn);
        return AgentConnection.begin(socket, sc, newId(), newHost, disconnectMapper);
    }

    /** Waits for the HELLO answering this connection's HELLO_REQ (see {@link #connectEarly}). */
    public AgentInfo awaitHello(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        conn.awaitHello(deadline, abortOn);
        return info();
    }

    /**
     * {@return what the agent said when this channel last connected, with the hostname set
     *         since then (a restored clone is renamed after its HELLO)}
     */
    public AgentInfo info() {
        AgentConnection c = conn;
        AgentInfo info = c.info();
        Renamed r = renamed;
        return info != null && r != null && r.conn() == c
                ? new AgentInfo(info.version(), info.bootId(), r.hostname())
                : info;
    }

    /**
     * Closes the socket and connects again, waiting for HELLO until {@code deadline} (or until
     * {@code abortOn} completes; may be null). In-flight requests on the old connection fail
     * with {@link AgentDisconnectedException}; their processes keep running (the same host
     * reconnects: no NEW_HOST). May be retried after a failure.
     */
    public void reconnect(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        reconnectLock.lock();
        try {
            if (closed) throw new AgentDisconnectedException("agent channel " + socket + " is closed");
            conn.close(new AgentDisconnectedException("agent channel reopened"));
            conn = open(deadline, abortOn, false);
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
     *
     * @throws VmmException          when the connection has already failed
     * @throws IllegalStateException when a splice is already prepared
     */
    public Splice prepareSplice(SocketChannel next) {
        return new Splice(conn.prepareSplice(next));
    }

    /**
     * A prepared splice: the reader reads the old socket to its end (the old QEMU killed), then
     * goes on reading the successor's socket as one byte stream, so requests in flight keep
     * their ids, their output and their EXIT.
     */
    public final class Splice {
        private final AgentConnection.SocketSplice splice;

        private Splice(AgentConnection.SocketSplice splice) {
            this.splice = splice;
        }

        /**
         * The successor runs the guest and the old QEMU has been killed: writes go to the
         * successor from now on; waits until the old socket's stream has been read to its end.
         * Should that stream end inside a frame (or not end in time), falls back to
         * {@link #reconnect}: requests in flight fail with {@link AgentDisconnectedException}.
         */
        public void commit(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
            if (!splice.commit()) reconnect(deadline, abortOn);
        }

        /** The move did not happen (the old QEMU runs on): closes {@code next}, lets writes through. */
        public void cancel() {
            splice.cancel();
        }
    }

    /** {@return true while the current connection is open} */
    public boolean isConnected() {
        return !closed && conn.failure() == null;
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
     * @throws IllegalArgumentException   when the request keeps stdin open (use {@link #start})
     * @throws AgentDisconnectedException when the channel closes first (or the error the
     *                                    disconnect mapper gave, e.g. the VM died)
     * @throws AgentErrorException        when the agent refuses the request
     * @throws VmmException               when no EXIT comes well past the request's timeout
     */
    public ExecResult exec(ExecRequest req) throws InterruptedException {
        return ExecCall.buffered(req, this::start);
    }

    /**
     * Starts a command, streaming its events to {@code listener}. Failures to send (a closed
     * channel) fail the handle's result rather than throw.
     */
    public ExecHandle start(ExecRequest req, ExecListener listener) {
        return ExecCall.start(conn, newId(), req, listener);
    }

    // ---- control requests -------------------------------------------------------------

    /** Cheapest round trip: PING → OK. */
    public void ping() throws InterruptedException {
        call(FrameType.PING, new byte[0]);
    }

    /**
     * PING → OK within {@code within} (a liveness probe).
     *
     * @throws VmmException when no answer comes in time or the channel fails
     */
    public void ping(java.time.Duration within) throws InterruptedException {
        ControlCall.run(conn, newId(), FrameType.PING, new byte[0], within);
    }

    /** Asks for a HELLO and returns it. */
    public AgentInfo hello() throws InterruptedException {
        return AgentConnection.helloInfo(call(FrameType.HELLO_REQ, new byte[0]));
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
        AgentConnection c = conn;
        call(FrameType.SET_HOSTNAME, new FieldsWriter().string(Tag.NAME, name).toByteArray());
        renamed = new Renamed(c, name);
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

    /** Grows the root filesystem to its disk's size; returns the new size in bytes (-1 if the agent omits it). */
    public long growRootfs() throws InterruptedException {
        return call(FrameType.GROW_ROOTFS, new byte[0]).u64(Tag.SIZE_BYTES, -1);
    }

    /** Sends a control request and waits for its OK (or fails with the agent's ERROR). */
    private Fields call(int type, byte[] payload) throws InterruptedException {
        return ControlCall.run(conn, newId(), type, payload);
    }

    /** {@return the next request id; 0 is never one (it marks frames tied to no request)} */
    private int newId() {
        int id;
        do {
            id = nextId.incrementAndGet();
        } while (id == 0);
        return id;
    }
}
