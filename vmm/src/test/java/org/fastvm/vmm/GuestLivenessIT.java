package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A guest that stops answering never leaves an exec waiting forever. */
class GuestLivenessIT {
    private static Engine engine;
    private static final List<Machine> vms = new ArrayList<>();

    @BeforeAll
    static void open() throws Exception {
        engine = TestEngines.open();
    }

    @AfterAll
    static void tearDown() throws Exception {
        TestEngines.shutDown(engine, vms);
    }

    private static Machine launch() throws InterruptedException {
        Machine m = engine.launch(
                MachineSpec.builder().image("minimal").memoryMib(256).build());
        vms.add(m);
        return m;
    }

    @Test
    void aGuestThatPowersOffIsDeadWithinSecondsAndItsExecsFail() throws Exception {
        Machine vm = launch();
        ExecHandle sleeper = vm.start(ExecRequest.of("sleep", "600"), new Discard());
        // power off without ACPI: the guest halts, its QEMU runs on, and nobody would answer
        vm.start(ExecRequest.of("poweroff", "-f"), new Discard());
        long t0 = System.nanoTime();
        var e = assertThrows(ExecutionException.class, () -> sleeper.result().get(60, TimeUnit.SECONDS));
        assertInstanceOf(MachineDeadException.class, e.getCause());
        assertTrue(
                e.getCause().getMessage().contains("stopped answering"),
                e.getCause().getMessage());
        vm.onExit().get(10, TimeUnit.SECONDS);
        long s = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0);
        assertTrue(
                s
                        <= GuestWatch.INTERVAL
                                .plus(GuestWatch.PING_TIMEOUT)
                                .multipliedBy(GuestWatch.MISSES + 1)
                                .toSeconds(),
                "noticed after " + s + " s");
        assertThrows(MachineDeadException.class, () -> vm.exec(ExecRequest.of("true")));
    }

    @Test
    void anExecPastItsTimeoutFailsOnTheHostWhenTheGuestCannotReportAndAPausedVmIsLeftAlone() throws Exception {
        QemuMachine vm = (QemuMachine) launch();
        vm.qmp().execute("stop"); // the guest cannot run its agent: no EXIT can come
        long t0 = System.nanoTime();
        var e = assertThrows(
                VmmException.class,
                () -> vm.exec(ExecRequest.builder("sleep", "30")
                        .timeout(Duration.ofSeconds(1))
                        .build()));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(e.getMessage().contains("no EXIT from the guest"), e.getMessage());
        assertTrue(ms >= 1000 && ms < 1000 + 5000 + 3000, "failed after " + ms + " ms");
        // a paused VM is not a hung one: the watch leaves it running
        Thread.sleep(GuestWatch.INTERVAL
                .plus(GuestWatch.PING_TIMEOUT)
                .multipliedBy(GuestWatch.MISSES)
                .toMillis());
        assertTrue(vm.isAlive());
        vm.qmp().execute("cont");
        assertEquals("ok\n", vm.exec(ExecRequest.of("echo", "ok")).stdoutText());
    }

    private static final class Discard implements ExecListener {
        @Override
        public void onStdout(byte[] chunk) {}

        @Override
        public void onStderr(byte[] chunk) {}

        @Override
        public void onExit(ExecResult result) {}
    }
}
