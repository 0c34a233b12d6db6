package org.fastvm.server.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.IdleTimeout;
import org.eclipse.jetty.io.QuietException;
import org.eclipse.jetty.server.HttpChannel;
import org.eclipse.jetty.server.HttpStream;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.internal.HttpChannelState;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.core.ServiceException;
import org.fastvm.server.model.ModelJson;

/** One request being served: the parsed route, the caller's org, body reading and JSON writing. */
public final class Exchange {
    /** Largest request body accepted. */
    public static final int MAX_BODY_BYTES = 1 << 20;
    /** Unread bodies up to this size are drained so the 4xx reaches the client intact; beyond it we close. */
    static final int DRAIN_LIMIT_BYTES = 8 << 20;

    final Request request;
    final Response response;
    final Callback callback;
    final List<String> segments;
    final String requestId;
    /** System.nanoTime() by which the body must have arrived (the read timeout from the request's first byte). */
    private final long readDeadline;

    String orgId;
    /** Request attribute marking an abandoned exchange, so the error handler writes nothing. */
    static final String ABANDONED_ATTRIBUTE = "fastvm.abandoned";
    /** The access-log and metrics status of a request whose client went away (nginx's convention). */
    static final int CLIENT_CLOSED_STATUS = 499;

    private boolean done;
    private volatile boolean abandoned;
    private boolean bodyRead;

    Exchange(
            Request request,
            Response response,
            Callback callback,
            List<String> segments,
            String requestId,
            Duration readTimeout) {
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.segments = segments;
        this.requestId = requestId;
        this.readDeadline = request.getBeginNanoTime() + readTimeout.toNanos();
    }

    /** {@return the authenticated org} */
    public String orgId() {
        return orgId;
    }

    /** {@return the path segment at {@code i} (e.g. the id in /v1/vms/{id})} */
    public String segment(int i) {
        return segments.get(i);
    }

    /** {@return the HTTP method} */
    public String method() {
        return request.getMethod();
    }

    /** {@return true once a response has been completed} */
    boolean isDone() {
        return done;
    }

    /**
     * Reads the body as a JSON object: empty body = {}, more than 1 MiB, malformed JSON or a
     * non-object → 400; a body not complete within the read timeout → 408.
     */
    public JsonNode jsonBody() {
        long declared = request.getLength();
        if (declared > MAX_BODY_BYTES) throw tooLarge();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        readBody(chunk -> {
            if (out.size() + chunk.remaining() > MAX_BODY_BYTES) throw tooLarge();
            append(out, chunk);
        });
        bodyRead = true;
        byte[] bytes = out.toByteArray();
        if (bytes.length == 0 || new String(bytes, StandardCharsets.UTF_8).isBlank())
            return ModelJson.MAPPER.createObjectNode();
        JsonNode node;
        try {
            node = ModelJson.MAPPER.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw ServiceException.invalid("body", "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ServiceException.invalid("body", "malformed JSON: " + e.getMessage());
        }
        if (node == null || node.isMissingNode()) return ModelJson.MAPPER.createObjectNode();
        if (!node.isObject()) throw ServiceException.invalid("body", "must be a JSON object");
        return node;
    }

    /**
     * Reads the body to its end, handing each piece to {@code sink}. The whole body must arrive
     * by the read deadline: Jetty's idle timeout bounds only each silence, so a client trickling
     * a byte now and then would otherwise hold the request (and its thread) for ever.
     */
    private void readBody(Consumer<ByteBuffer> sink) {
        while (true) {
            Content.Chunk chunk = request.read();
            if (chunk == null) {
                awaitContent();
                continue;
            }
            try {
                if (Content.Chunk.isFailure(chunk)) {
                    bodyRead = true; // nothing more to drain
                    Throwable failure = chunk.getFailure();
                    if (failure instanceof TimeoutException)
                        throw tooSlow(); // the read deadline, or Jetty's idle timeout
                    throw ServiceException.invalid("body", "could not be read: " + failure.getMessage());
                }
                sink.accept(chunk.getByteBuffer());
                if (chunk.isLast()) return;
            } finally {
                chunk.release();
            }
            if (System.nanoTime() - readDeadline > 0) throw tooSlow();
        }
    }

    /**
     * Waits until more of the body can be read; at the read deadline fails the body instead, so
     * the next read returns that failure. (A demand left pending would make Jetty fail the
     * exchange when it completes: no answer over HTTP/2, a reset stream.)
     */
    private void awaitContent() {
        CompletableFuture<Void> available = new CompletableFuture<>();
        request.demand(() -> available.complete(null));
        try {
            try {
                available.get(Math.max(0, readDeadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                request.fail(new TimeoutException("body not received within the read timeout"));
                available.get(5, TimeUnit.SECONDS); // Jetty runs the demand callback with the failure at once
            }
        } catch (TimeoutException e) {
            throw tooSlow();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ServiceException(ErrorKind.UNAVAILABLE, "the server is shutting down");
        } catch (ExecutionException e) {
            throw new IllegalStateException("demand callback failed", e.getCause()); // it only completes
        }
    }

    private static void append(ByteArrayOutputStream out, ByteBuffer chunk) {
        if (chunk.hasArray()) {
            out.write(chunk.array(), chunk.arrayOffset() + chunk.position(), chunk.remaining());
        } else {
            byte[] copy = new byte[chunk.remaining()];
            chunk.duplicate().get(copy);
            out.writeBytes(copy);
        }
    }

    private ServiceException tooSlow() {
        bodyRead = true; // nothing more to drain: the answer goes now and the connection closes
        return new ServiceException(
                ErrorKind.REQUEST_TIMEOUT,
                "body: not received within the read timeout ("
                        + TimeUnit.NANOSECONDS.toMillis(readDeadline - request.getBeginNanoTime()) / 1000.0 + " s)");
    }

    private static ServiceException tooLarge() {
        return ServiceException.invalid("body", "larger than " + MAX_BODY_BYTES + " bytes (1 MiB)");
    }

    /**
     * Reads and drops a body nobody read (up to 8 MiB, until the read deadline), so that an
     * HTTP/1.1 connection stays usable for the client's next request instead of being closed under it.
     */
    void drainUnreadBody() {
        if (bodyRead) return;
        bodyRead = true;
        if (request.getLength() > DRAIN_LIMIT_BYTES) return;
        long[] total = {0};
        try {
            readBody(chunk -> {
                if ((total[0] += chunk.remaining()) > DRAIN_LIMIT_BYTES)
                    throw new IllegalStateException("too much to drain");
            });
        } catch (RuntimeException e) {
            // Too much, too slow or unreadable: Jetty closes the connection after the answer; nothing else to do.
        }
    }

    /** Answers {@code status} with a JSON body and completes the exchange. */
    public void json(int status, JsonNode body) {
        drainUnreadBody();
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        done = true;
        restartIdleClock();
        response.write(true, ByteBuffer.wrap(ModelJson.write(body).getBytes(StandardCharsets.UTF_8)), callback);
    }

    /** Answers an error (the contract's JSON body and retry headers) and completes the exchange. */
    void error(ErrorKind kind, String message) {
        drainUnreadBody();
        done = true;
        restartIdleClock();
        ApiError.write(response, callback, kind, message);
    }

    /** Answers 200 with a text body and completes the exchange. */
    public void text(String contentType, String body) {
        drainUnreadBody(); // as json(): a body left unread makes Jetty close the connection after the answer
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        done = true;
        restartIdleClock();
        response.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), callback);
    }

    /** Starts a streamed 200 response (headers go with the first write). */
    void startStream(String contentType) {
        response.setStatus(200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        done = true;
    }

    /** Writes one piece of a streamed response and waits until it is sent; throws if the client is gone. */
    void writeAndFlush(byte[] bytes) throws IOException {
        FutureCallback cb = new FutureCallback();
        restartIdleClock();
        response.write(false, ByteBuffer.wrap(bytes), cb);
        try {
            cb.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while writing", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException("client went away: " + e.getCause(), e.getCause());
        }
    }

    /** Completes a streamed response. */
    void endStream() {
        restartIdleClock();
        response.write(true, null, callback);
    }

    /**
     * Restarts the idle clock of this exchange's connection (HTTP/1) or stream (HTTP/2) before a
     * write that may end a quiet spell (an exec's answer): the idle checks that the handler let
     * pass keep falling due, and one that falls due while this write is in progress would fail it.
     */
    void restartIdleClock() {
        if (request.getConnectionMetaData().getHttpVersion().getVersion() < 20) {
            if (request.getConnectionMetaData().getConnection().getEndPoint() instanceof IdleTimeout clock)
                clock.notIdle();
        } else if (HttpChannel.from(request) instanceof HttpChannelState channel && channel.getHttpStream() != null) {
            HttpStream stream = channel.getHttpStream();
            stream.setIdleTimeout(stream.getIdleTimeout()); // setting an HTTP/2 stream's timeout restarts its clock
        }
    }

    /** Aborts a streamed response so the client sees a broken stream, not a clean end. */
    void abortStream(Throwable why) {
        callback.failed(why);
    }

    /**
     * Ends an exchange whose client is gone (disconnected, reset its stream, or passed its
     * announced timeout): nothing more is written — Jetty aborts the stream or connection
     * instead of sending an error page — and the access log records 499 (client closed request).
     */
    void abandon(String why) {
        if (abandoned) return;
        abandoned = true;
        done = true;
        request.setAttribute(ABANDONED_ATTRIBUTE, true);
        callback.failed(new ClientGone(why));
    }

    /** {@return true once {@link #abandon} ended this exchange} */
    boolean isAbandoned() {
        return abandoned;
    }

    /** Why an exchange was abandoned; quiet, because a client leaving is routine, not a server fault. */
    static final class ClientGone extends IOException implements QuietException {
        private static final long serialVersionUID = 1L;

        ClientGone(String why) {
            super(why);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // routine, and the stack says nothing useful
        }
    }

    /** {@return the request's header value, or null} */
    String header(String name) {
        return request.getHeaders().get(name);
    }
}
