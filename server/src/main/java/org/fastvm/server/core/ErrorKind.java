package org.fastvm.server.core;

/**
 * Every kind of failure the API reports: its HTTP status, its machine code, and whether a
 * client may retry it (transient): the errors of docs/api.md ("Errors (ours)") in one table.
 */
public enum ErrorKind {
    INVALID_REQUEST(400, "invalid_request", false),
    UNAUTHORIZED(401, "unauthorized", false),
    FORBIDDEN(403, "forbidden", false),
    NOT_FOUND(404, "not_found", false),
    METHOD_NOT_ALLOWED(405, "method_not_allowed", false),
    /** The request's body did not arrive within the server's read timeout. */
    REQUEST_TIMEOUT(408, "request_timeout", false),
    CONFLICT(409, "conflict", false),
    UNPROCESSABLE(422, "unprocessable", false),
    QUOTA_EXCEEDED(429, "quota_exceeded", false),
    INTERNAL(500, "internal_error", false),
    /** The guest or VMM could not be reached before anything started: safe to retry. */
    UNREACHABLE(502, "vm_unreachable", true),
    /** The server is overloaded or not ready: safe to retry after Retry-After. */
    UNAVAILABLE(503, "unavailable", true);

    private final int status;
    private final String code;
    private final boolean transientFailure;

    ErrorKind(int status, String code, boolean transientFailure) {
        this.status = status;
        this.code = code;
        this.transientFailure = transientFailure;
    }

    /** {@return the HTTP status} */
    public int status() {
        return status;
    }

    /** {@return the machine code written as {@code error}} */
    public String code() {
        return code;
    }

    /** {@return true when a retry may succeed (x-should-retry: true), false when it cannot} */
    public boolean isTransient() {
        return transientFailure;
    }
}
