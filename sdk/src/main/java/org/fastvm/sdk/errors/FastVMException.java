package org.fastvm.sdk.errors;

/**
 * Base of every exception the FastVM SDK throws for a failed call: HTTP error statuses
 * ({@link FastVMServiceException} and its subclasses), transport failures
 * ({@link FastVMConnectionException}), deadlines ({@link FastVMTimeoutException}) and
 * resources that reached a terminal failure state while the client waited for them.
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
}
