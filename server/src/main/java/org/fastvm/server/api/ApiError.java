package org.fastvm.server.api;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.model.ModelJson;

/**
 * The one place that writes an error response: {@code {"error": code, "message": text}} with
 * the contract's retry headers — {@code x-should-retry: false} on every non-transient error,
 * {@code true} plus {@code Retry-After} on transient ones.
 */
public final class ApiError {
    /** Seconds a client should wait before retrying a 503. */
    static final int RETRY_AFTER_SECONDS = 1;

    private ApiError() {}

    /** Writes the error and completes the exchange. */
    public static void write(Response response, Callback callback, ErrorKind kind, String message) {
        response.setStatus(kind.status());
        response.write(
                true,
                ByteBuffer.wrap(prepare(
                        response.getHeaders(),
                        kind.code(),
                        kind.isTransient(),
                        kind == ErrorKind.UNAVAILABLE,
                        message)),
                callback);
    }

    /** Sets the error headers and returns the body, for errors Jetty itself raises (bad requests, etc.). */
    static byte[] forStatus(HttpFields.Mutable headers, int status, String message) {
        ErrorKind kind = Arrays.stream(ErrorKind.values())
                .filter(k -> k.status() == status)
                .findFirst()
                .orElse(null);
        String code = kind != null ? kind.code() : "http_" + status;
        // without a kind (414, 431, 505 …) nothing is worth a retry: only 502 and 503 are transient
        boolean transientFailure = kind != null && kind.isTransient();
        return prepare(headers, code, transientFailure, status == 503, message == null ? "HTTP " + status : message);
    }

    private static byte[] prepare(
            HttpFields.Mutable h, String code, boolean transientFailure, boolean retryAfter, String message) {
        h.put(HttpHeader.CONTENT_TYPE, "application/json");
        h.put("x-should-retry", Boolean.toString(transientFailure));
        if (retryAfter) h.put(HttpHeader.RETRY_AFTER, Integer.toString(RETRY_AFTER_SECONDS));
        var body = ModelJson.MAPPER.createObjectNode();
        body.put("error", code);
        body.put("message", message);
        return ModelJson.write(body).getBytes(StandardCharsets.UTF_8);
    }

    /** Jetty's own errors (malformed requests it rejects before any handler) in our JSON shape. */
    static final class JettyErrors extends ErrorHandler {
        @Override
        public boolean errorPageForMethod(String method) {
            return true; // Jetty writes its error body for GET, POST and HEAD only: ours goes with every method
        }

        @Override
        protected void generateResponse(
                Request request, Response response, int code, String message, Throwable cause, Callback callback) {
            if (request.getAttribute(Exchange.ABANDONED_ATTRIBUTE) != null) {
                callback.failed(cause); // the client is gone: abort the stream/connection, write nothing
                return;
            }
            // Only requests Jetty rejected, or exchanges we broke off, end up here: in both
            // cases the HTTP/1 connection is not reusable, so tell the client.
            if (request.getConnectionMetaData().getHttpVersion().getVersion() < 20) {
                response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
            }
            response.write(true, ByteBuffer.wrap(forStatus(response.getHeaders(), code, message)), callback);
        }
    }
}
