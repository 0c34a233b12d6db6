package org.fastvm.sdk.errors;

import java.net.http.HttpHeaders;
import java.util.Optional;

/**
 * The server answered with an error status. Subclasses name the common statuses; any other
 * non-2xx status arrives as {@link UnexpectedStatusException}.
 *
 * <p>Carries the HTTP status, the machine-readable error code ({@code error} in the body),
 * the human message ({@code message} in the body), the raw body and the response headers.
 */
public class FastVMServiceException extends FastVMException {
    private static final long serialVersionUID = 1L;

    /** The HTTP status code. */
    private final int status;
    /** The body's {@code error} field, or null. */
    private final String errorCode;
    /** The body's {@code message} field, or null. */
    private final String errorMessage;
    /** The raw body, never null. */
    private final String body;

    private final transient HttpHeaders headers;

    /**
     * Creates the exception from a parsed error response.
     *
     * @param status the HTTP status code
     * @param errorCode the {@code error} field of the body, or {@code null} when absent
     * @param errorMessage the {@code message} field of the body, or {@code null} when absent
     * @param body the raw response body (possibly empty)
     * @param headers the response headers
     */
    public FastVMServiceException(int status, String errorCode, String errorMessage, String body, HttpHeaders headers) {
        super(describe(status, errorCode, errorMessage, body));
        this.status = status;
        this.errorCode = errorCode;
        this.errorMessage = errorMessage;
        this.body = body == null ? "" : body;
        this.headers = headers;
    }

    private static String describe(int status, String code, String message, String body) {
        StringBuilder sb = new StringBuilder("HTTP ").append(status);
        if (code != null) sb.append(' ').append(code);
        if (message != null) {
            sb.append(": ").append(message);
        } else if (body != null && !body.isBlank()) {
            sb.append(": ").append(body.length() > 500 ? body.substring(0, 500) + "…" : body);
        }
        return sb.toString();
    }

    /**
     * The HTTP status code.
     *
     * @return the status, e.g. 404
     */
    public int status() {
        return status;
    }

    /**
     * The machine-readable error code from the body's {@code error} field.
     *
     * @return the code, e.g. {@code quota_exceeded}, or empty when the body had none
     */
    public Optional<String> errorCode() {
        return Optional.ofNullable(errorCode);
    }

    /**
     * The human-readable message from the body's {@code message} field.
     *
     * @return the message, or empty when the body had none
     */
    public Optional<String> errorMessage() {
        return Optional.ofNullable(errorMessage);
    }

    /**
     * The raw response body.
     *
     * @return the body as text, empty when there was none
     */
    public String body() {
        return body;
    }

    /**
     * The response headers (for example {@code Retry-After}).
     *
     * @return the headers, or {@code null} after deserialization
     */
    public HttpHeaders headers() {
        return headers;
    }
}
