package org.fastvm.server.backend;

import java.util.concurrent.CompletableFuture;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;

/** One VM as the control plane uses it: start commands, watch it die, destroy it. */
public interface BackendMachine {
    /** {@return the VM id} */
    String id();

    /**
     * Starts a command and streams its events.
     *
     * @throws org.fastvm.vmm.VmmException when it could not start (the command did not run)
     */
    ExecHandle start(ExecRequest request, ExecListener listener);

    /** {@return true while the VM's process runs} */
    boolean isAlive();

    /** {@return completes when the VM's process has exited} */
    CompletableFuture<Void> onExit();

    /** Stops the VM and removes its runtime files; safe to repeat. */
    void destroy();
}
