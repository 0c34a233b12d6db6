package org.fastvm.vmm;

import java.io.IOException;

/**
 * Named steps of multi-step operations (snapshot, re-home, restore, warm-up; the server adds
 * its own around its rows) where a test injects a failure (an {@link IOException} such as "No
 * space left on device"), an action (deleting the snapshot meanwhile) or a crash (halting the
 * JVM as {@code kill -9} would). The engine is given one at {@link Engine#open(EngineConfig,
 * FaultHook)}; the default does nothing. Production code never installs one.
 */
@FunctionalInterface
public interface FaultHook {
    /** Does nothing. */
    FaultHook NONE = step -> {};

    /** Called at step {@code step}; may throw to make that step fail. */
    void at(String step) throws IOException;

    /** {@link #at} where only unchecked failures can leave. */
    default void atUnchecked(String step) {
        try {
            at(step);
        } catch (IOException e) {
            throw new VmmException(step + ": " + e.getMessage(), e);
        }
    }
}
