package org.fastvm.sdk.errors;

import java.util.Optional;

/**
 * A deadline passed: either one HTTP request got no response within its timeout, or a
 * resource did not become ready (VM {@code running}, snapshot {@code ready}) in time. In the
 * second case {@link #lastStatus()} is the status seen last and {@link #resourceId()} the id
 * of the resource, so the caller can decide whether to keep waiting or remove it.
 */
public class FastVMTimeoutException extends FastVMException {
    private static final long serialVersionUID = 1L;

    /** The VM or snapshot waited for, or null. */
    private final String resourceId;
    /** Its status last observed, or null. */
    private final String lastStatus;

    /**
     * Creates the exception.
     *
     * @param message what timed out
     * @param resourceId the VM or snapshot being waited for, or {@code null}
     * @param lastStatus the status last observed, or {@code null}
     * @param cause the underlying timeout, or {@code null}
     */
    public FastVMTimeoutException(String message, String resourceId, String lastStatus, Throwable cause) {
        super(message, cause);
        this.resourceId = resourceId;
        this.lastStatus = lastStatus;
    }

    /**
     * The id of the VM or snapshot that was not ready in time.
     *
     * @return the id, or empty when a single request timed out before an id was known
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
