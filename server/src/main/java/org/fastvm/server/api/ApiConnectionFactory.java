package org.fastvm.server.api;

import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.Scheduler;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * HTTP/1.1 connections as Jetty makes them, but a request's head (request line and headers)
 * must arrive within the read timeout of its first byte, else the connection is closed: Jetty's
 * idle timeout bounds only each silence, so a client trickling a byte now and then could hold a
 * connection for ever.
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

    /** A connection whose request heads have a deadline. */
    private final class ApiConnection extends HttpConnection {
        /** The pending close of a head that is taking too long; null between requests. */
        private final AtomicReference<Scheduler.Task> headDeadline = new AtomicReference<>();

        ApiConnection(HttpConfiguration config, Connector connector, EndPoint endPoint) {
            super(config, connector, endPoint);
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
            Scheduler.Task task = getConnector().getScheduler().schedule(this::headTooSlow, readTimeoutMs, TimeUnit.MILLISECONDS);
            if (!headDeadline.compareAndSet(null, task)) task.cancel();
        }

        private void cancelHeadDeadline() {
            Scheduler.Task task = headDeadline.getAndSet(null);
            if (task != null) task.cancel();
        }

        private void headTooSlow() {
            // Only if the head is still incomplete (not cancelled meanwhile) and this is still the endpoint's connection.
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
