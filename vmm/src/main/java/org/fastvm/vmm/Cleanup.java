package org.fastvm.vmm;

import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The undo steps of a multi-step operation, newest first. Each step that creates something
 * pushes how to take it back; {@link #keep()} at the end of the success path keeps it all.
 * Otherwise {@link #close()} runs the steps in reverse order; a step that fails is logged and
 * the others still run, so one broken undo never leaves a QEMU or a directory behind.
 */
final class Cleanup implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Cleanup.class.getName());

    /** One undo step. */
    @FunctionalInterface
    interface Step {
        void run() throws Exception;
    }

    private record Named(String what, Step step) {}

    private final String operation;
    private final Deque<Named> steps = new ArrayDeque<>();
    private boolean kept;

    /** @param operation what is being done, for the log of a failing undo step */
    Cleanup(String operation) {
        this.operation = operation;
    }

    /** Adds an undo step; it runs before every step added earlier. */
    Cleanup push(String what, Step step) {
        steps.push(new Named(what, step));
        return this;
    }

    /** Kills and reaps a process on undo. */
    Cleanup kill(String what, Process p) {
        return push(what, () -> {
            p.destroyForcibly();
            p.waitFor();
        });
    }

    /** The operation succeeded: nothing is undone. */
    void keep() {
        kept = true;
        steps.clear();
    }

    /** Runs the undo steps now (newest first), unless {@link #keep()} was called. */
    @Override
    public void close() {
        if (kept) return;
        // an interrupt must not cut the undo short (waitFor would throw at once): restore it after
        boolean interrupted = Thread.interrupted();
        while (!steps.isEmpty()) {
            Named n = steps.pop();
            try {
                n.step().run();
            } catch (InterruptedException e) {
                interrupted = true;
                LOG.log(Level.WARNING, "{0}: undo step ''{1}'' interrupted", operation, n.what());
            } catch (Exception e) {
                LOG.log(Level.WARNING, "{0}: undo step ''{1}'' failed: {2}", operation, n.what(), e.toString());
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
