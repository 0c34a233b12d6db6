package org.fastvm.server.store;

/** The database failed (unreachable, corrupt, constraint broken); unchecked so it travels to the API's 500. */
public class StoreException extends RuntimeException {
    /** @param message what was attempted; @param cause the JDBC failure */
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
