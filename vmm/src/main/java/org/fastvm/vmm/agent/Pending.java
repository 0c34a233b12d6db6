package org.fastvm.vmm.agent;

import org.fastvm.vmm.VmmException;

/** A request in flight: the connection's reader routes the frames carrying its id to it. */
sealed interface Pending permits ExecCall, ControlCall {
    /** Called on the reader thread, in stream order, for each frame with this request's id. */
    void onFrame(Frame f);

    /** The connection failed before the request finished. */
    void fail(VmmException e);

    /**
     * {@return the exception to throw for a request (or HELLO) future that failed with {@code t}:
     * {@code t} itself when it is a {@link VmmException} (keeping its type), anything else wrapped}
     */
    static VmmException asVmm(Throwable t, String what) {
        if (t instanceof VmmException v) return v;
        return new VmmException(what + " failed: " + t, t);
    }
}
