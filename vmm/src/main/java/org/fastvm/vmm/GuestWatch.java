package org.fastvm.vmm;

import java.lang.System.Logger.Level;
import java.time.Duration;

/**
 * Notices a guest that has halted or hung while its QEMU runs on: a guest {@code poweroff}
 * without ACPI halts the CPU and QEMU keeps running, so no process exit tells anyone, and
 * every exec would wait forever. The agent is pinged every {@link #INTERVAL}; after
 * {@link #MISSES} missed answers in a row, while QMP says the VM is {@code running} and no
 * snapshot holds it, the machine is declared dead: its QEMU is killed, which fails every
 * pending request at once and turns the VM dead for its owner.
 */
final class GuestWatch {
    private static final System.Logger LOG = System.getLogger(GuestWatch.class.getName());
    static final Duration INTERVAL = Duration.ofSeconds(2);
    /** A busy TCG guest on a loaded host answers a PING in milliseconds to a few hundred. */
    static final Duration PING_TIMEOUT = Duration.ofSeconds(3);

    static final int MISSES = 3;

    private final QemuMachine machine;
    private final Thread thread;
    private volatile boolean stopped;

    private GuestWatch(QemuMachine machine) {
        this.machine = machine;
        this.thread = Thread.ofVirtual().name("guest-watch " + machine.id()).unstarted(this::run);
    }

    /** Starts watching {@code machine} until it exits or {@link #stop()}. */
    static GuestWatch start(QemuMachine machine) {
        var w = new GuestWatch(machine);
        w.thread.start();
        return w;
    }

    /** Stops watching (the engine lets go of the VM, or it is being destroyed). */
    void stop() {
        stopped = true;
        thread.interrupt();
    }

    private void run() {
        int misses = 0;
        try {
            while (!stopped && machine.isAlive()) {
                Thread.sleep(INTERVAL);
                if (stopped || !machine.isAlive()) return;
                if (held()) {
                    misses = 0;
                    continue;
                }
                try {
                    machine.agent().ping(PING_TIMEOUT);
                    misses = 0;
                } catch (VmmException e) {
                    if (stopped || !machine.isAlive()) return;
                    if (held() || !running()) { // a snapshot or a pause stops the guest on purpose
                        misses = 0;
                        continue;
                    }
                    if (++misses < MISSES) continue;
                    LOG.log(
                            Level.WARNING,
                            "machine {0}: the guest has not answered {1} pings in a row while running"
                                    + " (halted or hung: {2}); killing its QEMU",
                            machine.id(),
                            MISSES,
                            e.getMessage());
                    machine.killUnresponsive("the guest stopped answering (halted or hung) while its VM was running");
                    return;
                }
            }
        } catch (InterruptedException e) {
            // stopped
        }
    }

    private boolean held() {
        return machine.snapshotLock.isLocked();
    }

    /** {@return whether QMP reports the VM running (anything else, or no answer, is not counted against the guest)} */
    private boolean running() throws InterruptedException {
        try {
            return "running"
                    .equals(machine.qmp().execute("query-status").path("status").asText());
        } catch (VmmException e) {
            return false;
        }
    }
}
