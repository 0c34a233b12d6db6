package org.fastvm.server.core;

/** A failure with a kind the API can report as-is; the message is shown to the client. */
public class ServiceException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorKind kind;

    /**
     * A failure without an underlying cause.
     *
     * @param kind the status/code
     * @param message a human sentence naming the field or object
     */
    public ServiceException(ErrorKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    /**
     * A failure caused by another.
     *
     * @param kind the status/code
     * @param message the human sentence
     * @param cause the underlying failure
     */
    public ServiceException(ErrorKind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /** {@return the kind} */
    public ErrorKind kind() {
        return kind;
    }

    /** {@return a 400 naming the bad field} */
    public static ServiceException invalid(String field, String problem) {
        return new ServiceException(ErrorKind.INVALID_REQUEST, field + ": " + problem);
    }

    /** {@return a 404 for an id of {@code what} ("vm", "snapshot")} */
    public static ServiceException notFound(String what, String id) {
        return new ServiceException(ErrorKind.NOT_FOUND, what + " not found: " + id);
    }

    /** {@return a 409} */
    public static ServiceException conflict(String message) {
        return new ServiceException(ErrorKind.CONFLICT, message);
    }
}
