package org.fastvm.server.store;

/** The database failed (unreachable, corrupt, constraint broken); unchecked so it travels to the API's 500. */
public class StoreException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * A database failure.
     *
     * @param message what was attempted
     * @param cause the JDBC failure
     */
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
