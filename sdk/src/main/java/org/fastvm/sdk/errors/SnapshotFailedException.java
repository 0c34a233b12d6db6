package org.fastvm.sdk.errors;

import java.util.Optional;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.SnapshotStatus;

/**
 * While the client waited for a snapshot to become {@code ready}, it reached {@code error}.
 */
public class SnapshotFailedException extends FastVMException {
    private static final long serialVersionUID = 1L;

    private final transient Snapshot snapshot;

    /**
     * Creates the exception.
     *
     * @param snapshot the snapshot as last seen, in status {@code error}
     */
    public SnapshotFailedException(Snapshot snapshot) {
        super("snapshot " + snapshot.id() + " reached status "
                + snapshot.status().asString() + " instead of ready");
        this.snapshot = snapshot;
    }

    /**
     * The snapshot as last seen.
     *
     * @return the snapshot in its terminal status
     */
    public Snapshot snapshot() {
        return snapshot;
    }

    @Override
    public Optional<String> resourceId() {
        return Optional.ofNullable(snapshot).map(Snapshot::id);
    }

    @Override
    public Optional<String> lastStatus() {
        return Optional.ofNullable(snapshot).map(Snapshot::status).map(SnapshotStatus::asString);
    }
}
