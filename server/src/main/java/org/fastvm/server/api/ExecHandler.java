package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.core.ServiceException;
import org.fastvm.server.core.Vms;
import org.fastvm.server.model.ModelJson;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.VmmException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * POST /v1/vms/{id}/exec: buffered ExecResult (4 MiB per stream, truncation flagged) or an
 * NDJSON stream flushed per event. Either way the command is bound to the connection: when
 * the client goes away, its process group is killed.
 *
 * <p>A command runs at most once per request. Only failures before it is dispatched to the guest
 * may invite a retry (Vms.startExec's 502/503, 503 while shutting down); once dispatched, every
 * failure — the VM dying, the handler interrupted, the server shutting down — is a 500 with
 * {@code x-should-retry: false} (buffered) or a stream broken off without its exit event (NDJSON).
 */
final class ExecHandler {
    /** Cap per stream in a buffered result. */
    static final int BUFFERED_CAP_BYTES = 4 * 1024 * 1024;

    private static final Logger LOG = LoggerFactory.getLogger(ExecHandler.class);
    private static final String NDJSON = "application/x-ndjson";
    /** How often a quiet exec checks that its HTTP/1 client is still connected. */
    private static final long LIVENESS_POLL_MS = 250;
    /** Queued to a stream's events when the server shuts down. */
    private static final Object STOP = new Object();

    private final Vms vms;
    /** Execs being served, from just before dispatch until answered: {@link #close} stops them. */
    private final Set<InFlight> inFlight = ConcurrentHashMap.newKeySet();

    private volatile boolean closing;

    ExecHandler(Vms vms) {
        this.vms = vms;
    }

    void exec(Exchange ex) {
        String id = ex.segment(2);
        vms.require(ex.orgId(), id);
        ExecRequest request = parse(ex.jsonBody());
        String accept = ex.header("Accept");
        InFlight f = new InFlight();
        inFlight.add(f);
        try {
            // after the add: close() either sees this exec or this exec sees closing
            if (closing)
                throw new ServiceException(
                        ErrorKind.UNAVAILABLE, "the server is shutting down; the command was not started");
            if (accept != null && accept.toLowerCase(java.util.Locale.ROOT).contains(NDJSON))
                stream(ex, id, request, f.stop);
            else buffered(ex, id, request, f.stop);
        } finally {
            inFlight.remove(f);
            f.answered.complete(null);
        }
    }

    /**
     * Shutdown, before the listener closes its connections: no further command starts (503, not
     * started), and each running one is killed and answered — 500 without retry (buffered) or a
     * broken-off stream (NDJSON) — so that its client learns it ended instead of losing the
     * connection, and does not send it again. Waits up to {@code grace} for those answers.
     */
    void close(Duration grace) {
        closing = true;
        List<CompletableFuture<Void>> answers = new ArrayList<>();
        for (InFlight f : inFlight) {
            f.stop.complete(null);
            answers.add(f.answered);
        }
        if (answers.isEmpty()) return;
        LOG.info("shutting down: stopping {} running exec(s)", answers.size());
        try {
            CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new))
                    .get(grace.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.warn("{} s into shutdown some stopped execs have not answered yet", grace.toSeconds());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e); // answered futures only ever complete normally
        }
    }

    /** Validates {command, timeoutSec?, stdin?}, naming the bad field. */
    static ExecRequest parse(JsonNode body) {
        JsonNode cmd = body.get("command");
        if (cmd == null || cmd.isNull())
            throw ServiceException.invalid("command", "required: a non-empty array of strings");
        if (!cmd.isArray() || cmd.isEmpty())
            throw ServiceException.invalid("command", "must be a non-empty array of strings");
        List<String> argv = new ArrayList<>();
        for (int i = 0; i < cmd.size(); i++) {
            JsonNode a = cmd.get(i);
            if (!a.isTextual()) throw ServiceException.invalid("command[" + i + "]", "must be a string");
            if (a.asText().indexOf('\0') >= 0)
                throw ServiceException.invalid("command[" + i + "]", "must not contain NUL");
            argv.add(a.asText());
        }
        if (argv.get(0).isEmpty()) throw ServiceException.invalid("command[0]", "must not be empty");
        ExecRequest.Builder b = ExecRequest.builder(argv);
        JsonNode t = body.get("timeoutSec");
        if (t != null && !t.isNull()) {
            if (!t.isIntegralNumber() || !t.canConvertToLong() || t.asLong() <= 0) {
                throw ServiceException.invalid("timeoutSec", "must be an integer > 0, got " + t);
            }
            b.timeout(
                    Duration.ofSeconds(Math.min(t.asLong(), Duration.ofDays(365).toSeconds())));
        }
        JsonNode in = body.get("stdin");
        if (in != null && !in.isNull()) {
            if (!in.isTextual()) throw ServiceException.invalid("stdin", "must be a base64 string");
            try {
                b.stdin(Base64.getDecoder().decode(in.asText()));
            } catch (IllegalArgumentException e) {
                throw ServiceException.invalid("stdin", "not valid base64: " + e.getMessage());
            }
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) { // the engine names its argv "argv": this API calls it "command"
            String m = e.getMessage();
            if (m.startsWith("argv: ")) throw ServiceException.invalid("command", m.substring("argv: ".length()));
            throw ServiceException.invalid("command", m);
        }
    }

    private void buffered(Exchange ex, String id, ExecRequest request, CompletableFuture<Void> stop) {
        Collector c = new Collector();
        ExecHandle handle = vms.startExec(ex.orgId(), id, request, c);
        // Dispatched: from here on the command may have run, so no answer may invite a retry.
        Departure departure = new Departure(ex, handle, id);
        ex.request.addFailureListener(departure::fromFailure);
        ClientLiveness liveness = ClientLiveness.of(ex.request);
        // Both SDKs' timeouts run until the response headers arrive, which here means until the end.
        long deadline = ClientTimeout.of(ex)
                .map(t -> System.nanoTime() + t.timeout().toNanos())
                .orElse(Long.MAX_VALUE);
        CompletableFuture<Object> exitOrStop = CompletableFuture.anyOf(c.exit, stop);
        ExecResult r;
        try {
            while (true) {
                if (departure.happened()) return;
                try {
                    exitOrStop.get(pollMillis(deadline), TimeUnit.MILLISECONDS);
                    if (!c.exit.isDone()) {
                        stopped(ex, handle, id, "the server is shutting down");
                        return;
                    }
                    r = c.exit.get();
                    break;
                } catch (TimeoutException e) {
                    if (liveness != null && liveness.gone()) {
                        departure.now("HTTP/1 connection closed by the client");
                        return;
                    }
                    if (System.nanoTime() - deadline >= 0) {
                        departure.now("the client's announced timeout passed");
                        return;
                    }
                }
            }
        } catch (ExecutionException e) {
            if (departure.happened()) return;
            // The command had started: a 5xx here must not invite a retry that would run it twice.
            throw new ServiceException(
                    ErrorKind.INTERNAL,
                    "the VM failed while the command ran: " + e.getCause().getMessage());
        } catch (InterruptedException e) {
            if (!departure.happened()) stopped(ex, handle, id, "the server interrupted the exec (shutting down)");
            else handle.cancel();
            Thread.currentThread().interrupt();
            return;
        }
        if (departure.happened()) return; // killed because the client left: nobody to answer
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("exitCode", r.exitCode());
        n.put("stdout", c.out.toString(StandardCharsets.UTF_8));
        n.put("stderr", c.err.toString(StandardCharsets.UTF_8));
        n.put("timedOut", r.timedOut());
        n.put("stdoutTruncated", c.outTruncated);
        n.put("stderrTruncated", c.errTruncated);
        n.put("durationMs", r.durationMs());
        ex.json(200, n);
    }

    private void stream(Exchange ex, String id, ExecRequest request, CompletableFuture<Void> stop) {
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        // The listener runs on the engine's channel reader: it only queues; this thread writes.
        ExecListener listener = new ExecListener() {
            @Override
            public void onStdout(byte[] chunk) {
                events.add(event("o", chunk));
            }

            @Override
            public void onStderr(byte[] chunk) {
                events.add(event("e", chunk));
            }

            @Override
            public void onExit(ExecResult result) {
                events.add(result);
            }

            @Override
            public void onError(VmmException error) {
                events.add(error);
            }
        };
        ExecHandle handle = vms.startExec(ex.orgId(), id, request, listener);
        // Dispatched: from here on the command may have run; a failure breaks the stream off.
        queueOnStop(stop, events);
        Departure departure = new Departure(ex, handle, id);
        ex.request.addFailureListener(departure::fromFailure);
        ClientLiveness liveness = ClientLiveness.of(ex.request);
        // Once the headers are out only Python's read timeout still runs: it bounds each silence
        // between our writes. TypeScript's fetch timeout ends with the headers.
        Duration silence = ClientTimeout.of(ex)
                .filter(t -> t.kind() == ClientTimeout.Kind.READ)
                .map(ClientTimeout.Announced::timeout)
                .orElse(null);
        ex.startStream(NDJSON);
        try {
            ex.writeAndFlush(new byte[0]); // send the headers now: the client knows the command started
            long deadline = silence == null ? Long.MAX_VALUE : System.nanoTime() + silence.toNanos();
            while (true) {
                if (departure.happened()) return;
                Object ev = events.poll(pollMillis(deadline), TimeUnit.MILLISECONDS);
                if (ev == null) {
                    if (liveness != null && liveness.gone())
                        throw new IOException("HTTP/1 connection closed by the client");
                    if (System.nanoTime() - deadline >= 0) {
                        departure.now("the client's read timeout passed with no output");
                        return;
                    }
                } else if (ev instanceof byte[] line) {
                    ex.writeAndFlush(line);
                    if (silence != null) deadline = System.nanoTime() + silence.toNanos();
                } else if (ev instanceof ExecResult r) {
                    ObjectNode x = ModelJson.MAPPER.createObjectNode();
                    x.put("t", "x");
                    if (r.exitCode() != 0) x.put("c", r.exitCode());
                    if (r.timedOut()) x.put("to", true);
                    x.put("ms", r.durationMs());
                    ex.writeAndFlush((ModelJson.write(x) + "\n").getBytes(StandardCharsets.UTF_8));
                    ex.endStream();
                    return;
                } else if (ev == STOP) {
                    LOG.info(
                            "exec vm={}: the server is shutting down; killing the command and breaking off its stream",
                            id);
                    cancelQuietly(handle, id);
                    ex.abortStream(new ServiceException(ErrorKind.INTERNAL, "the server is shutting down"));
                    return;
                } else {
                    LOG.warn("exec vm={} failed mid-stream: {}", id, ev);
                    ex.abortStream((Throwable) ev);
                    return;
                }
            }
        } catch (IOException e) {
            departure.now(e.toString());
        } catch (InterruptedException e) {
            cancelQuietly(handle, id);
            if (!departure.happened()) ex.abortStream(e);
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Kills a dispatched command that the server ends (shutdown, interrupt) and answers 500 with
     * {@code x-should-retry: false}: it may have had effects, so it must not be sent again.
     */
    private static void stopped(Exchange ex, ExecHandle handle, String id, String why) {
        LOG.info("exec vm={}: {}; killing the command", id, why);
        cancelQuietly(handle, id);
        ex.error(
                ErrorKind.INTERNAL,
                why + ": the command had started and was killed; it may have had effects,"
                        + " so it is not to be retried as if it never ran");
    }

    /** Queues {@link #STOP} for the stream's writer once the server asks the exec to end. */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback only adds to an unbounded queue: it cannot fail
    private static void queueOnStop(CompletableFuture<Void> stop, LinkedBlockingQueue<Object> events) {
        stop.thenRun(() -> events.add(STOP));
    }

    private static void cancelQuietly(ExecHandle handle, String id) {
        try {
            handle.cancel();
        } catch (RuntimeException e) {
            LOG.debug("exec vm={}: kill failed: {}", id, e.toString());
        }
    }

    /** An exec being served: {@code stop} asks it to end (shutdown), {@code answered} says it has. */
    private static final class InFlight {
        final CompletableFuture<Void> stop = new CompletableFuture<>();
        final CompletableFuture<Void> answered = new CompletableFuture<>();
    }

    /** {@return how long to wait for the next event: the liveness poll, or less when the deadline is nearer} */
    private static long pollMillis(long deadline) {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        return Math.max(1, Math.min(LIVENESS_POLL_MS, left));
    }

    private static byte[] event(String type, byte[] chunk) {
        return ("{\"t\":\"" + type + "\",\"d\":\"" + Base64.getEncoder().encodeToString(chunk) + "\"}\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The client going away, however it shows (a reset stream, a closed HTTP/1 connection, its
     * announced timeout passing): the command's process group is killed, once, and the exchange
     * is abandoned without an answer.
     */
    private static final class Departure {
        private final Exchange ex;
        private final ExecHandle handle;
        private final String vmId;
        private final java.util.concurrent.atomic.AtomicReference<String> why =
                new java.util.concurrent.atomic.AtomicReference<>();

        Departure(Exchange ex, ExecHandle handle, String vmId) {
            this.ex = ex;
            this.handle = handle;
            this.vmId = vmId;
        }

        /** Jetty's failure listener (HTTP/2 reset, connection failure): kill now; the handler thread abandons. */
        void fromFailure(Throwable failure) {
            kill(failure.toString());
        }

        /** On the handler thread: kill and abandon the exchange. */
        void now(String reason) {
            kill(reason);
            ex.abandon("client went away: " + why.get());
        }

        /** {@return true when the client left; abandons the exchange if the failure listener saw it first} */
        boolean happened() {
            if (why.get() == null) return false;
            ex.abandon("client went away: " + why.get());
            return true;
        }

        private void kill(String reason) {
            if (!why.compareAndSet(null, reason)) return;
            LOG.info("exec vm={}: client went away ({}); killing the command's process group", vmId, reason);
            try {
                handle.cancel();
            } catch (RuntimeException e) {
                LOG.debug("exec vm={}: kill after the client left failed: {}", vmId, e.toString());
            }
        }
    }

    /** Buffers output up to the cap per stream, flagging what was dropped. */
    private static final class Collector implements ExecListener {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        volatile boolean outTruncated, errTruncated;
        final CompletableFuture<ExecResult> exit = new CompletableFuture<>();

        @Override
        public void onStdout(byte[] chunk) {
            if (append(out, chunk)) outTruncated = true;
        }

        @Override
        public void onStderr(byte[] chunk) {
            if (append(err, chunk)) errTruncated = true;
        }

        @Override
        public void onExit(ExecResult result) {
            exit.complete(result);
        }

        @Override
        public void onError(VmmException error) {
            exit.completeExceptionally(error);
        }

        /** {@return true when bytes had to be dropped} */
        private static boolean append(ByteArrayOutputStream to, byte[] chunk) {
            synchronized (to) {
                int room = BUFFERED_CAP_BYTES - to.size();
                to.write(chunk, 0, Math.max(0, Math.min(room, chunk.length)));
                return chunk.length > room;
            }
        }
    }
}
