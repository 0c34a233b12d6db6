package org.fastvm.vmm.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.fastvm.vmm.VmmException;

/**
 * QEMU migration over QMP as snapshots use it: capabilities, MIGRATION events (waited
 * for, never polled), device state streamed to and from unix sockets served by this JVM
 * (the JDK cannot pass file descriptors, so no {@code getfd}; no {@code exec:cat} fork).
 */
public final class Migration implements AutoCloseable {
    private static final Set<String> FAILED = Set.of("failed", "cancelled");
    /** Slice of the event wait in which QEMU's exit is noticed. */
    private static final long EXIT_CHECK_MS = 50;

    private final Qmp qmp;
    private final LinkedBlockingQueue<String> statuses = new LinkedBlockingQueue<>();
    private final Consumer<JsonNode> listener;

    /** Starts collecting MIGRATION events of {@code qmp}; register before the command that migrates. */
    public Migration(Qmp qmp) {
        this.qmp = qmp;
        this.listener = ev -> {
            if ("MIGRATION".equals(ev.path("event").asText()))
                statuses.add(ev.path("data").path("status").asText());
        };
        qmp.addEventListener(listener);
    }

    /** Sets migration capabilities (all others keep their value). */
    public static void capabilities(Qmp qmp, Map<String, Boolean> caps) throws InterruptedException {
        List<Map<String, Object>> list = caps.entrySet().stream()
                .map(e -> Map.<String, Object>of("capability", e.getKey(), "state", e.getValue()))
                .toList();
        qmp.execute("migrate-set-capabilities", Map.of("capabilities", list));
    }

    /**
     * Waits for one of {@code wanted}; a failed or cancelled migration, QEMU's exit or the
     * deadline throw.
     *
     * @return the status reached
     */
    public String await(Set<String> wanted, Instant deadline, CompletableFuture<?> exit) throws InterruptedException {
        String s = awaitUntil(wanted, deadline, exit);
        if (s == null) throw new QmpException("migration did not reach " + wanted + " in time");
        return s;
    }

    /**
     * Like {@link #await} but returns null when {@code until} passes first (the migration goes on).
     *
     * @return the status reached, or null
     */
    public String awaitUntil(Set<String> wanted, Instant until, CompletableFuture<?> exit) throws InterruptedException {
        while (true) {
            String s = statuses.poll(EXIT_CHECK_MS, TimeUnit.MILLISECONDS);
            if (s != null) {
                if (wanted.contains(s)) return s;
                if (FAILED.contains(s)) throw new QmpException("migration " + s);
                continue;
            }
            if (exit != null && exit.isDone()) throw new QmpException("QEMU exited during the migration");
            if (qmp.closed().isDone()) throw new QmpException("QMP closed during the migration");
            if (Instant.now().isAfter(until)) return null;
        }
    }

    /**
     * Saves the device state (or the whole VM, depending on the capabilities) into
     * {@code file}: QEMU connects to a unix socket this method listens on.
     *
     * @return bytes written
     */
    // ss is closed early on purpose (it unblocks an accept that never came); the resource's own close is then a no-op
    @SuppressWarnings("try")
    public long saveTo(Path file, Path socket, Instant deadline, CompletableFuture<?> exit)
            throws InterruptedException {
        try (ServerSocketChannel ss = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            java.nio.file.Files.deleteIfExists(socket);
            ss.bind(UnixDomainSocketAddress.of(socket));
            var copied = new CompletableFuture<Long>();
            Thread copier = Thread.ofVirtual().start(() -> {
                try (SocketChannel in = ss.accept();
                        FileChannel out =
                                FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    long n = 0;
                    ByteBuffer buf = ByteBuffer.allocate(256 * 1024);
                    while (in.read(buf) >= 0) {
                        buf.flip();
                        while (buf.hasRemaining()) n += out.write(buf);
                        buf.clear();
                    }
                    copied.complete(n);
                } catch (IOException | RuntimeException e) {
                    copied.completeExceptionally(e);
                }
            });
            try {
                qmp.execute("migrate", Map.of("uri", "unix:" + socket));
                await(Set.of("completed"), deadline, exit);
                return copied.get(
                        Math.max(1, Duration.between(Instant.now(), deadline).toMillis()), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable c = e.getCause();
                throw new VmmException("writing " + file + " failed: " + c.getMessage(), c);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new QmpException("saving " + file + " did not finish in time");
            } finally {
                ss.close(); // unblocks an accept that never happened
                copier.join(1000);
                java.nio.file.Files.deleteIfExists(socket);
            }
        } catch (IOException e) {
            throw new VmmException("cannot serve " + socket + " for the migration: " + e.getMessage(), e);
        }
    }

    /**
     * Starts listening for an incoming migration on {@code socket} ({@code migrate-incoming});
     * then {@link #feed} sends the state.
     */
    public void listen(Path socket) throws InterruptedException {
        qmp.execute("migrate-incoming", Map.of("uri", "unix:" + socket));
    }

    /** Writes {@code state} into the socket QEMU listens on after {@link #listen}. */
    public static void feed(Path socket, byte[] state) {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer b = ByteBuffer.wrap(state);
            while (b.hasRemaining()) c.write(b);
        } catch (IOException e) {
            throw new QmpException("cannot send the snapshot state to " + socket + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code cont}, retried while QEMU says the migration is not finalized yet (the
     * {@code completed} event precedes the end of {@code finish-migrate}).
     */
    public static void cont(Qmp qmp) throws InterruptedException {
        cont(qmp, CONT_RETRY);
    }

    /** How long {@link #cont(Qmp)} retries a {@code cont} that QEMU refuses as "not finalized". */
    public static final Duration CONT_RETRY = Duration.ofSeconds(5);

    /** {@link #cont(Qmp)}, retrying for at most {@code within}. */
    public static void cont(Qmp qmp, Duration within) throws InterruptedException {
        long end = System.nanoTime() + within.toNanos();
        while (true) {
            try {
                qmp.execute("cont");
                return;
            } catch (QmpException e) {
                if (!e.getMessage().contains("not finalized") || System.nanoTime() > end) throw e;
                Thread.sleep(Duration.ofNanos(200_000));
            }
        }
    }

    @Override
    public void close() {
        qmp.removeEventListener(listener);
    }
}
