package org.fastvm.vmm.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A QMP client on QEMU's unix socket: negotiates capabilities, runs commands (each with
 * its own id, so several threads may call {@link #execute} at once) and hands
 * asynchronous events (MIGRATION, SHUTDOWN, ...) to listeners on the reader thread.
 */
public final class Qmp implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Qmp.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long CONNECT_RETRY_MS = 3;
    /** QMP commands we issue answer in milliseconds; past this QEMU is wedged. */
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);

    private final Path socket;
    private final SocketChannel sc;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final AtomicLong nextId = new AtomicLong();
    private final Map<String, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Consumer<JsonNode>> listeners = new CopyOnWriteArrayList<>();
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final CompletableFuture<Void> closedFuture = new CompletableFuture<>();
    private volatile QmpException failure;

    private Qmp(Path socket, SocketChannel sc) {
        this.socket = socket;
        this.sc = sc;
    }

    /**
     * Connects (retrying while the socket does not exist yet), reads the greeting and
     * negotiates capabilities.
     *
     * @param abortOn stop retrying when this completes (e.g. QEMU exited)
     * @throws QmpException when the socket does not accept before {@code deadline}
     */
    public static Qmp connect(Path socket, Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
        SocketChannel sc = null;
        while (sc == null) {
            if (abortOn != null && abortOn.isDone())
                throw new QmpException("gave up connecting to " + socket + ": aborted");
            SocketChannel c = null;
            try {
                c = SocketChannel.open(StandardProtocolFamily.UNIX);
                c.connect(UnixDomainSocketAddress.of(socket));
                sc = c;
            } catch (IOException e) { // the socket appears once QEMU has parsed its argv
                closeQuietly(c);
                if (Instant.now().isAfter(deadline)) {
                    throw new QmpException("cannot connect to QMP socket " + socket + ": " + e.getMessage(), e);
                }
                Thread.sleep(CONNECT_RETRY_MS);
            }
        }
        Qmp q = new Qmp(socket, sc);
        Thread.ofVirtual().name("qmp-reader " + socket).start(q::readLoop);
        try {
            q.greeting.get(Math.max(1, Duration.between(Instant.now(), deadline).toMillis()), TimeUnit.MILLISECONDS);
            q.execute("qmp_capabilities", null);
        } catch (TimeoutException | ExecutionException | RuntimeException e) {
            q.close();
            throw e instanceof QmpException qe
                    ? qe
                    : new QmpException("QMP handshake on " + socket + " failed: " + e, e);
        }
        return q;
    }

    /** Runs a command without arguments; see {@link #execute(String, Map)}. */
    public JsonNode execute(String command) throws InterruptedException {
        return execute(command, null);
    }

    /**
     * Runs a command and waits for its answer.
     *
     * @param args the command's arguments, or null
     * @return the {@code return} value
     * @throws QmpException with QEMU's error class and description, or on I/O failure
     */
    public JsonNode execute(String command, Map<String, ?> args) throws InterruptedException {
        String id = "c" + nextId.incrementAndGet();
        ObjectNode msg = JSON.createObjectNode().put("execute", command).put("id", id);
        if (args != null) msg.set("arguments", JSON.valueToTree(args));
        var answer = new CompletableFuture<JsonNode>();
        pending.put(id, answer);
        try {
            if (failure != null) throw failure;
            send(msg);
            JsonNode r = answer.get(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (r.has("error")) {
                JsonNode e = r.get("error");
                throw new QmpException("QMP " + command + " failed: "
                        + e.path("class").asText() + ": " + e.path("desc").asText());
            }
            return r.path("return");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof QmpException q
                    ? q
                    : new QmpException("QMP " + command + ": " + e.getCause(), e);
        } catch (TimeoutException e) {
            throw new QmpException("QMP " + command + " got no answer within " + COMMAND_TIMEOUT.toSeconds() + "s");
        } finally {
            pending.remove(id);
        }
    }

    /** Adds a listener for asynchronous events (the whole event object: event, data, timestamp). */
    public void addEventListener(Consumer<JsonNode> listener) {
        listeners.add(listener);
    }

    /** Removes an event listener. */
    public void removeEventListener(Consumer<JsonNode> listener) {
        listeners.remove(listener);
    }

    /**
     * {@return a future completing with the first event (registered now, before any command
     * you send next) that matches {@code filter}}
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the close callback only fails `f`, which the caller holds
    public CompletableFuture<JsonNode> nextEvent(Predicate<JsonNode> filter) {
        var f = new CompletableFuture<JsonNode>();
        Consumer<JsonNode> l = new Consumer<>() {
            @Override
            public void accept(JsonNode ev) {
                if (filter.test(ev) && f.complete(ev)) removeEventListener(this);
            }
        };
        addEventListener(l);
        closedFuture.whenComplete(
                (v, t) -> f.completeExceptionally(new QmpException("QMP connection " + socket + " closed")));
        return f;
    }

    /** {@return completes when the connection closes (QEMU exited or {@link #close()})} */
    public CompletableFuture<Void> closed() {
        return closedFuture;
    }

    @Override
    public void close() {
        fail(new QmpException("QMP connection " + socket + " closed"));
    }

    private void send(JsonNode msg) {
        ByteBuffer b = ByteBuffer.wrap((msg.toString() + "\n").getBytes(StandardCharsets.UTF_8));
        writeLock.lock();
        try {
            while (b.hasRemaining()) sc.write(b);
        } catch (IOException e) {
            throw new QmpException("writing to QMP " + socket + " failed: " + e.getMessage(), e);
        } finally {
            writeLock.unlock();
        }
    }

    private void readLoop() {
        ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
        var line = new ByteArrayOutputStream();
        try {
            while (sc.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    byte c = buf.get();
                    if (c == '\n') {
                        handle(line.toString(StandardCharsets.UTF_8).strip());
                        line.reset();
                    } else {
                        line.write(c);
                    }
                }
                buf.clear();
            }
            fail(new QmpException("QMP connection " + socket + " closed by QEMU"));
        } catch (IOException e) {
            fail(new QmpException("QMP connection " + socket + " failed: " + e.getMessage(), e));
        }
    }

    private void handle(String text) {
        if (text.isEmpty()) return;
        JsonNode msg;
        try {
            msg = JSON.readTree(text);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "unparseable QMP message on {0}: {1}", socket, text);
            return;
        }
        if (msg.has("QMP")) {
            greeting.complete(msg);
        } else if (msg.has("event")) {
            for (var l : listeners) {
                try {
                    l.accept(msg);
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "QMP event listener failed", e);
                }
            }
        } else if (msg.has("id")) {
            var f = pending.get(msg.get("id").asText());
            if (f != null) f.complete(msg);
        }
    }

    private void fail(QmpException why) {
        synchronized (this) { // once-guard only, no I/O
            if (failure != null) return;
            failure = why;
        }
        closeQuietly(sc);
        greeting.completeExceptionally(why);
        pending.values().forEach(f -> f.completeExceptionally(why));
        closedFuture.complete(null);
    }

    private static void closeQuietly(SocketChannel c) {
        if (c == null) return;
        try {
            c.close();
        } catch (IOException ignored) {
            // closing a socket we are abandoning; nothing to do
        }
    }
}
