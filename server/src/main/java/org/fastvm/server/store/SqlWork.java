package org.fastvm.server.store;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Work done on one connection, inside or outside a transaction.
 *
 * @param <T> the result
 */
@FunctionalInterface
public interface SqlWork<T> {
    /** Runs the work. */
    T run(Connection c) throws SQLException;
}
