package org.fastvm.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.testing.TestEngines;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A VM's life across engine processes and faults: reattaching after the engine that
 * launched it closed, and QEMU being killed in the middle of an exec.
 */
class MachineLifecycleIT {
    private EngineConfig config;
    private final List<Engine> engines = new java.util.ArrayList<>();
    private final List<Machine> machines = new java.util.ArrayList<>();

    private Engine open() throws Exception {
        if (config == null) config = TestEngines.config();
        Engine e = Engine.open(config);
        engines.add(e);
        return e;
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            for (Machine m : machines) m.destroy();
            for (Engine e : engines) e.close();
        } finally {
            if (config != null) TestEngines.deleteDataDir(config.dataDir());
        }
    }

    @Test
    void reattachAfterEngineRestartThenQemuKilledDuringExec() throws Exception {
        Engine first = open();
        Machine launched = first.launch(MachineSpec.builder().id("life-1").build());
        machines.add(launched);
        String bootId = launched.agentInfo().bootId();
        long pid = launched.pid();
        assertThrows(
                IllegalArgumentException.class,
                () -> first.launch(MachineSpec.builder().id("life-1").build()),
                "ids are unique");
        first.close(); // a server restart: the VM keeps running
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU outlived its engine");

        Engine second = open();
        assertEquals(List.of("life-1"), second.machineIds());
        assertTrue(second.attach("nope").isEmpty());
        Machine vm = second.attach("life-1").orElseThrow();
        machines.add(vm);
        assertEquals(pid, vm.pid());
        assertEquals(bootId, vm.agentInfo().bootId(), "same guest, not a reboot");
        assertEquals(
                "still here\n", vm.exec(ExecRequest.of("echo", "still here")).stdoutText());

        // QEMU dies while an exec is in flight
        var blocking = new CompletableFuture<ExecResult>();
        Thread.ofVirtual().start(() -> {
            try {
                blocking.complete(vm.exec(ExecRequest.of("sleep", "60")));
            } catch (Throwable t) {
                blocking.completeExceptionally(t);
            }
        });
        var started = new CompletableFuture<Long>();
        var streaming = vm.start(ExecRequest.of("sleep", "60"), new ExecListener() {
            @Override
            public void onStarted(long guestPid) {
                started.complete(guestPid);
            }

            @Override
            public void onStdout(byte[] chunk) {}

            @Override
            public void onStderr(byte[] chunk) {}

            @Override
            public void onExit(ExecResult result) {}
        });
        started.get(30, TimeUnit.SECONDS);
        assertTrue(ProcessHandle.of(pid).orElseThrow().destroyForcibly());

        var e1 = assertThrows(ExecutionException.class, () -> blocking.get(30, TimeUnit.SECONDS));
        assertInstanceOf(MachineDeadException.class, e1.getCause(), String.valueOf(e1.getCause()));
        var e2 = assertThrows(ExecutionException.class, () -> streaming.result().get(30, TimeUnit.SECONDS));
        assertInstanceOf(MachineDeadException.class, e2.getCause());
        vm.onExit().get(10, TimeUnit.SECONDS);
        assertFalse(vm.isAlive());
        assertThrows(MachineDeadException.class, () -> vm.exec(ExecRequest.of("true")));

        // a later engine sees a dead VM: nothing to attach; discard removes its dir
        Engine third = open();
        assertTrue(third.attach("life-1").isEmpty());
        third.discard("life-1");
        assertFalse(Files.exists(vm.dir()));
        assertEquals(List.of(), third.machineIds());
    }

    @Test
    void aVmAnEngineLeftStoppedIsContinuedWhenReattached() throws Exception {
        Engine first = open();
        Machine launched =
                first.launch(MachineSpec.builder().id("life-2").memoryMib(256).build());
        machines.add(launched);
        launched.exec(ExecRequest.of("sh", "-c", "echo kept > /tmp/kept"));
        // the engine ends while the VM is stopped for a snapshot (a crash would leave it so)
        ((QemuMachine) launched).qmp().execute("stop");
        first.close();

        Engine second = open();
        Machine vm = second.attach("life-2").orElseThrow();
        machines.add(vm);
        assertEquals(
                "running",
                ((QemuMachine) vm).qmp().execute("query-status").path("status").asText());
        assertEquals("kept\n", vm.exec(ExecRequest.of("cat", "/tmp/kept")).stdoutText());
    }

    @Test
    void stopEndsAVmButKeepsItsFiles() throws Exception {
        Engine e = open();
        Machine vm = e.launch(MachineSpec.builder().id("life-3").memoryMib(256).build());
        machines.add(vm);
        e.stop("life-3");
        vm.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(java.nio.file.Files.isRegularFile(vm.dir().resolve(MachineRecord.FILE)), "its dir stays");
        assertEquals(List.of("life-3"), e.machineIds());
        e.discard("life-3");
        assertEquals(List.of(), e.machineIds());
    }

    @Test
    void destroyStopsQemuAndRemovesTheDir() throws Exception {
        Engine engine = open();
        Machine vm = engine.launch(MachineSpec.builder().build());
        machines.add(vm);
        assertTrue(vm.id().matches("vm-[0-9a-f]{12}"), vm.id());
        long pid = vm.pid();
        var inFlight = vm.start(ExecRequest.of("sleep", "60"), new ExecListener() {
            @Override
            public void onStdout(byte[] chunk) {}

            @Override
            public void onStderr(byte[] chunk) {}

            @Override
            public void onExit(ExecResult result) {}
        });
        vm.destroy();
        var e = assertThrows(ExecutionException.class, () -> inFlight.result().get(10, TimeUnit.SECONDS));
        assertInstanceOf(MachineDeadException.class, e.getCause());
        assertFalse(vm.isAlive());
        assertTrue(vm.onExit().isDone());
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        assertFalse(Files.exists(vm.dir()));
        vm.destroy(); // idempotent
        assertThrows(MachineDeadException.class, () -> vm.exec(ExecRequest.of("true")));
    }
}
