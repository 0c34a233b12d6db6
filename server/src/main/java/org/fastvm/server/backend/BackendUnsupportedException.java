package org.fastvm.server.backend;

/** The backend cannot do this operation (yet); the control plane records it as an error, not a crash. */
public class BackendUnsupportedException extends RuntimeException {
    /** @param operation what was asked, e.g. "snapshot" */
    public BackendUnsupportedException(String operation) {
        super(operation + " is not supported by this VM engine yet");
    }
}
