package org.fastvm.server.api;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * HTTP/1.1 connections as Jetty makes them, with two changes:
 * <ul>
 * <li>a request's head (request line and headers) must arrive within the read timeout of its
 *     first byte, else the connection is closed: Jetty's idle timeout bounds only each silence,
 *     so a client trickling a byte now and then could hold a connection for ever;</li>
 * <li>a target with a malformed percent escape ({@code %zz}, a lone {@code %}, {@code %00})
 *     reaches the router with that escape taken literally ({@code %} sent as {@code %25}):
 *     Jetty rejects such targets with a 400 before any handler, where the contract wants an
 *     unknown — including a malformed — id to be a 404. The router decodes {@code %XX} only, so
 *     the id it sees is the one the client wrote.</li>
 * </ul>
 */
final class ApiConnectionFactory extends HttpConnectionFactory {
    private final long readTimeoutMs;

    ApiConnectionFactory(HttpConfiguration config, Duration readTimeout) {
        super(config);
        this.readTimeoutMs = readTimeout.toMillis();
    }

    @Override
    public Connection newConnection(Connector connector, EndPoint endPoint) {
        return configure(new ApiConnection(getHttpConfiguration(), connector, endPoint), connector, endPoint);
    }

    /**
     * {@return {@code target} with every {@code %} of its path that does not start a valid,
     * non-NUL {@code %XX} escape written as {@code %25}; the query and anything else as sent}
     */
    static String literalBadEscapes(String target) {
        int start;
        if (target.startsWith("/")) {
            start = 0;
        } else {
            int scheme = target.indexOf("://");
            if (scheme < 0) return target; // "*" or an authority (CONNECT): no path
            start = target.indexOf('/', scheme + 3);
            if (start < 0) return target;
        }
        int end = start;
        while (end < target.length() && target.charAt(end) != '?' && target.charAt(end) != '#') end++;
        int percent = target.indexOf('%', start);
        if (percent < 0 || percent >= end) return target;
        StringBuilder out = new StringBuilder(target.length() + 8).append(target, 0, start);
        for (int i = start; i < end; i++) {
            char c = target.charAt(i);
            out.append(c);
            if (c != '%') continue;
            int hi = i + 2 < end ? Character.digit(target.charAt(i + 1), 16) : -1;
            int lo = hi >= 0 ? Character.digit(target.charAt(i + 2), 16) : -1;
            if (lo < 0 || hi * 16 + lo == 0) out.append("25");
        }
        return out.append(target, end, target.length()).toString();
    }

    /** A connection whose request heads have a deadline, and whose targets pass {@link #literalBadEscapes}. */
    private final class ApiConnection extends HttpConnection {
        /** The pending close of a head that is taking too long; null between requests. */
        private final AtomicReference<Scheduler.Task> headDeadline = new AtomicReference<>();

        ApiConnection(HttpConfiguration config, Connector connector, EndPoint endPoint) {
            super(config, connector, endPoint);
        }

        @Override
        protected HttpStreamOverHTTP1 newHttpStream(String method, String uri, HttpVersion version) {
            return super.newHttpStream(method, literalBadEscapes(uri), version);
        }

        @Override
        protected RequestHandler newRequestHandler() {
            return new RequestHandler() {
                @Override
                public void messageBegin() {
                    super.messageBegin();
                    // The parser also starts a message on an empty buffer (between requests): only
                    // bytes of a request start the clock, silence between requests is the idle timeout's.
                    if (!isRequestBufferEmpty()) armHeadDeadline();
                }

                @Override
                public boolean headerComplete() {
                    cancelHeadDeadline();
                    return super.headerComplete();
                }

                @Override
                public void badMessage(HttpException failure) {
                    cancelHeadDeadline();
                    super.badMessage(failure);
                }

                @Override
                public void earlyEOF() {
                    cancelHeadDeadline();
                    super.earlyEOF();
                }
            };
        }

        private void armHeadDeadline() {
            if (headDeadline.get() != null) return;
            Scheduler.Task task =
                    getConnector().getScheduler().schedule(this::headTooSlow, readTimeoutMs, TimeUnit.MILLISECONDS);
            if (!headDeadline.compareAndSet(null, task)) task.cancel();
        }

        private void cancelHeadDeadline() {
            Scheduler.Task task = headDeadline.getAndSet(null);
            if (task != null) task.cancel();
        }

        // identity on purpose: is this very object still the endpoint's connection (not an HTTP/2 upgrade)
        @SuppressWarnings("ReferenceEquality")
        private void headTooSlow() {
            // Only if the head is still incomplete (not cancelled meanwhile) and this is still the endpoint's
            // connection.
            if (headDeadline.getAndSet(null) == null || getEndPoint().getConnection() != this) return;
            // As Jetty does when a head goes silent (idle timeout): close, no response (there is no request to answer).
            getEndPoint().close(new TimeoutException("request head not received within " + readTimeoutMs + " ms"));
        }

        @Override
        public void onClose(Throwable cause) {
            cancelHeadDeadline(); // closed, or upgraded to HTTP/2
            super.onClose(cause);
        }
    }
}
