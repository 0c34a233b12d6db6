package org.fastvm.sdk.errors;

/**
 * The request could not be completed at the transport level: connection refused or reset,
 * TLS failure, a response that ended early or could not be parsed. Not thrown for deadlines
 * (see {@link FastVMTimeoutException}) nor for error statuses (see
 * {@link FastVMServiceException}).
 */
public class FastVMConnectionException extends FastVMException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what failed
     * @param cause the underlying I/O failure, or {@code null}
     */
    public FastVMConnectionException(String message, Throwable cause) {
        super(message, cause);
    }
}
