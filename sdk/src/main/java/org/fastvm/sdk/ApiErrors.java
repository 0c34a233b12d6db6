package org.fastvm.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.http.HttpHeaders;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.fastvm.sdk.errors.AuthenticationException;
import org.fastvm.sdk.errors.BadRequestException;
import org.fastvm.sdk.errors.ConflictException;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.errors.NotFoundException;
import org.fastvm.sdk.errors.PermissionDeniedException;
import org.fastvm.sdk.errors.RateLimitException;
import org.fastvm.sdk.errors.UnexpectedStatusException;
import org.fastvm.sdk.errors.UnprocessableEntityException;

/** The one place that turns error statuses and transport failures into SDK exceptions. */
final class ApiErrors {
    private ApiErrors() {}

    /** Maps a non-2xx response; the body {@code {"error","message"}} is read when it is JSON. */
    static FastVMServiceException fromResponse(int status, HttpHeaders headers, byte[] rawBody) {
        String body = rawBody == null ? "" : new String(rawBody, StandardCharsets.UTF_8);
        String code = null;
        String message = null;
        try {
            JsonNode node = Json.MAPPER.readTree(body);
            if (node != null && node.isObject()) {
                code = text(node.get("error"));
                message = text(node.get("message"));
            }
        } catch (IOException notJson) {
            // A proxy's HTML error page: keep the raw body only.
        }
        return switch (status) {
            case 400 -> new BadRequestException(status, code, message, body, headers);
            case 401 -> new AuthenticationException(status, code, message, body, headers);
            case 403 -> new PermissionDeniedException(status, code, message, body, headers);
            case 404 -> new NotFoundException(status, code, message, body, headers);
            case 409 -> new ConflictException(status, code, message, body, headers);
            case 422 -> new UnprocessableEntityException(status, code, message, body, headers);
            case 429 -> new RateLimitException(status, code, message, body, headers);
            default ->
                status >= 500 && status <= 599
                        ? new InternalServerException(status, code, message, body, headers)
                        : new UnexpectedStatusException(status, code, message, body, headers);
        };
    }

    private static String text(JsonNode n) {
        return n == null || n.isNull() ? null : n.isTextual() ? n.asText() : n.toString();
    }

    /** Maps whatever a future failed with; SDK exceptions pass through unchanged. */
    static RuntimeException fromFailure(Throwable t, String what) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof FastVMException
                || t instanceof IllegalArgumentException
                || t instanceof IllegalStateException
                || t instanceof CancellationException) {
            return (RuntimeException) t;
        }
        if (t instanceof HttpTimeoutException || t instanceof java.util.concurrent.TimeoutException) {
            return new FastVMTimeoutException(what + " timed out: " + t.getMessage(), null, null, t);
        }
        if (t instanceof IOException) {
            return new FastVMConnectionException(what + " failed: " + t, t);
        }
        if (t instanceof RuntimeException r) return r;
        return new FastVMException(what + " failed: " + t, t);
    }
}
