package org.fastvm.sdk.errors;

import java.util.Optional;

/**
 * While the client waited for a VM or snapshot it had just created to become ready, a poll
 * failed in a way that asking again would not fix (e.g. 401, 403, 404), or the client was
 * closed. Failures that may pass (408, 409, 429, 5xx, transport failures) are retried until
 * the deadline instead, which then ends the wait with {@link FastVMTimeoutException}.
 *
 * <p>The resource may exist and count against quota: {@link #resourceId()} names it,
 * {@link #lastStatus()} is its status last seen, and {@link #getCause()} is the poll's failure
 * (e.g. a {@link NotFoundException}).
 */
public class WaitFailedException extends FastVMException {
    private static final long serialVersionUID = 1L;

    /** The VM or snapshot waited for. */
    private final String resourceId;
    /** Its status last observed, or null. */
    private final String lastStatus;

    /**
     * Creates the exception.
     *
     * @param message what failed, naming the resource
     * @param resourceId the VM or snapshot being waited for
     * @param lastStatus the status last observed, or {@code null}
     * @param cause the poll's failure
     */
    public WaitFailedException(String message, String resourceId, String lastStatus, Throwable cause) {
        super(message, cause);
        this.resourceId = resourceId;
        this.lastStatus = lastStatus;
    }

    /**
     * The id of the VM or snapshot waited for.
     *
     * @return the id
     */
    @Override
    public Optional<String> resourceId() {
        return Optional.ofNullable(resourceId);
    }

    /**
     * The raw status last observed for the resource (e.g. {@code provisioning}).
     *
     * @return the status, or empty when none was observed
     */
    @Override
    public Optional<String> lastStatus() {
        return Optional.ofNullable(lastStatus);
    }
}
