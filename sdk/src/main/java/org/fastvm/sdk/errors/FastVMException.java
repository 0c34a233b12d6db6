package org.fastvm.sdk.errors;

import java.util.Optional;

/**
 * Base of every exception the FastVM SDK throws for a failed call: HTTP error statuses
 * ({@link FastVMServiceException} and its subclasses), transport failures
 * ({@link FastVMConnectionException}), deadlines ({@link FastVMTimeoutException}),
 * resources that reached a terminal failure state while the client waited for them
 * ({@link VmFailedException}, {@link SnapshotFailedException}), and waits that an error cut
 * short ({@link WaitFailedException}).
 *
 * <p>When {@code launch}, {@code restore} or {@code snapshot} fails after the server created
 * the resource, {@link #resourceId()} names it and {@link #lastStatus()} gives its status last
 * seen, whatever the failure: the resource may exist (and count against quota), so the caller
 * can keep waiting for it or remove it.
 *
 * <p>Invalid arguments are rejected before any request with {@link IllegalArgumentException}.
 */
public class FastVMException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what went wrong
     */
    public FastVMException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and a cause.
     *
     * @param message what went wrong
     * @param cause the underlying failure
     */
    public FastVMException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The VM or snapshot that a {@code launch}, {@code restore} or {@code snapshot} call had
     * created when it failed.
     *
     * @return the id, or empty when the failure came before the server created anything (or from
     *     another call)
     */
    public Optional<String> resourceId() {
        return Optional.empty();
    }

    /**
     * The raw status last observed for {@link #resourceId()} (e.g. {@code provisioning}).
     *
     * @return the status, or empty when no resource or status is known
     */
    public Optional<String> lastStatus() {
        return Optional.empty();
    }
}
