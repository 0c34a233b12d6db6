package org.fastvm.server.api;

import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.model.ModelJson;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

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
        var h = response.getHeaders();
        h.put(HttpHeader.CONTENT_TYPE, "application/json");
        h.put("x-should-retry", Boolean.toString(kind.isTransient()));
        if (kind == ErrorKind.UNAVAILABLE) h.put(HttpHeader.RETRY_AFTER, Integer.toString(RETRY_AFTER_SECONDS));
        var body = ModelJson.MAPPER.createObjectNode();
        body.put("error", kind.code());
        body.put("message", message);
        response.write(true, ByteBuffer.wrap(ModelJson.write(body).getBytes(StandardCharsets.UTF_8)), callback);
    }
}
