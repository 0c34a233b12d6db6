package org.fastvm.vmm.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.AgentDisconnectedException;
import org.fastvm.vmm.AgentErrorException;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.fastvm.vmm.ProcessFailedException;
import org.fastvm.vmm.VmmException;
import org.fastvm.vmm.testing.Preconditions;
import org.fastvm.vmm.testing.SourceTree;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The host side of the protocol against the real agent binary in its host test mode
 * ({@code fastvm-agent --connect SOCK}: it dials our socket and runs commands on this host).
 */
class AgentChannelTest {
    private static Path agentBinary;
    private static Path dir;
    private static Agent shared;

    /** One agent process dialing a listening socket of ours. */
    private static final class Agent implements AutoCloseable {
        final ServerSocketChannel server;
        final Process process;
        final AgentChannel channel;

        Agent(String name) throws Exception {
            Path sock = dir.resolve(name + ".sock");
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(sock));
            process = new ProcessBuilder(agentBinary.toString(), "--connect", sock.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve(name + ".log").toFile())
                    .start();
            channel = AgentChannel.open(
                    sock.toString(), this::accept, Instant.now().plusSeconds(10), process.onExit(), null);
        }

        /** Accepts the agent's next dial, within the deadline. */
        SocketChannel accept(Instant deadline, CompletableFuture<?> abortOn) throws InterruptedException {
            var f = new CompletableFuture<SocketChannel>();
            Thread.ofVirtual().start(() -> {
                try {
                    f.complete(server.accept());
                } catch (IOException e) {
                    f.completeExceptionally(e);
                }
            });
            try {
                return f.get(
                        Math.max(1, Duration.between(Instant.now(), deadline).toMillis()), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                throw new VmmException("the agent did not dial in: " + e, e);
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
            process.destroyForcibly();
            process.onExit().join();
            server.close();
        }
    }

    @BeforeAll
    static void startAgent() throws Exception {
        try {
            agentBinary = SourceTree.buildAgent();
        } catch (ProcessFailedException e) {
            Preconditions.unmet(
                    "the guest agent does not build here, skipping host-mode protocol tests: " + e.getMessage());
        }
        dir = Files.createTempDirectory("fastvm-agentchannel-");
        shared = new Agent("shared");
    }

    @AfterAll
    static void stopAgent() throws Exception {
        try {
            if (shared != null) shared.close();
        } finally {
            if (dir != null) {
                try (var w = Files.walk(dir)) {
                    for (Path p : w.sorted(Collections.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        }
    }

    private static ExecResult exec(ExecRequest r) throws InterruptedException {
        return shared.channel.exec(r);
    }

    @Test
    void helloCarriesVersionAndBootId() throws Exception {
        var info = shared.channel.info();
        assertTrue(info.version().startsWith("fastvm-agent/"), info.version());
        assertFalse(info.bootId().isBlank());
        assertEquals(info.version(), shared.channel.hello().version(), "HELLO_REQ answers the same agent");
        shared.channel.ping();
    }

    @Test
    void exitCodeAndSeparateStreams() throws Exception {
        var r = exec(ExecRequest.of("sh", "-c", "echo out; echo err >&2; exit 3"));
        assertEquals(3, r.exitCode());
        assertEquals(0, r.signal());
        assertEquals("out\n", r.stdoutText());
        assertEquals("err\n", r.stderrText());
        assertFalse(r.timedOut());
    }

    @Test
    void missingProgramExits127WithAMessage() throws Exception {
        var r = exec(ExecRequest.of("/nonexistent/prog"));
        assertEquals(127, r.exitCode());
        assertTrue(r.stderrText().contains("/nonexistent/prog"), r.stderrText());
    }

    @Test
    void largeStdinIsStreamedAndEchoedByteExact() throws Exception {
        byte[] data = new byte[3 * 1024 * 1024 + 17]; // above the inline limit: sent as STDIN frames
        new Random(42).nextBytes(data);
        var r = exec(ExecRequest.builder("cat").stdin(data).build());
        assertEquals(0, r.exitCode());
        assertArrayEquals(data, r.stdout());
    }

    @Test
    void theLargestCommandRunsWithStdinBesideIt() throws Exception {
        // 4096 arguments of 200 bytes fill most of the EXEC frame; stdin that no longer fits beside
        // them goes as STDIN frames instead of overflowing the frame
        List<String> argv = new ArrayList<>(List.of("sh", "-c", "echo $#; wc -c", "zero"));
        while (argv.size() < ExecRequest.MAX_LIST_ENTRIES) argv.add("a".repeat(200));
        byte[] data = new byte[400 * 1024];
        new Random(7).nextBytes(data);
        var req = ExecRequest.builder(argv).stdin(data).build();
        assertTrue(req.commandBytes() + data.length > ExecRequest.MAX_COMMAND_BYTES, "the two do not fit one frame");
        var r = exec(req);
        assertEquals(0, r.exitCode(), r.stderrText());
        assertEquals((ExecRequest.MAX_LIST_ENTRIES - 4) + "\n" + data.length + "\n", r.stdoutText());
    }

    @Test
    void envAndCwdAreHonoured() throws Exception {
        var r = exec(ExecRequest.builder("sh", "-c", "echo $GREETING; pwd")
                .env("GREETING", "hi there")
                .cwd("/tmp")
                .build());
        assertEquals("hi there\n/tmp\n", r.stdoutText());
    }

    @Test
    void outputLimitTruncatesAndFlags() throws Exception {
        var r = exec(ExecRequest.builder("head", "-c", "100000", "/dev/zero")
                .outputLimitBytes(1000)
                .build());
        assertEquals(1000, r.stdout().length);
        assertTrue(r.stdoutTruncated());
        assertFalse(r.stderrTruncated());
    }

    @Test
    void timeoutKillsTheProcessTree() throws Exception {
        Path marker = dir.resolve("tree-" + System.nanoTime());
        long t0 = System.nanoTime();
        var r = exec(ExecRequest.builder("sh", "-c", "(sleep 2; touch " + marker + ") & sleep 30")
                .timeout(Duration.ofMillis(300))
                .build());
        assertTrue(r.timedOut());
        assertEquals(9, r.signal());
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        // the grandchild was in the same process group: it must not create the marker
        var check = exec(ExecRequest.of("sh", "-c", "sleep 2.5; test -e " + marker + " && echo EXISTS || echo GONE"));
        assertEquals("GONE\n", check.stdoutText());
    }

    @Test
    void twentyConcurrentExecs() throws Exception {
        List<CompletableFuture<ExecResult>> all = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            all.add(shared.channel
                    .start(ExecRequest.of("sh", "-c", "sleep 0.3; echo " + i), new Discard())
                    .result());
        }
        List<Thread> threads = new ArrayList<>();
        List<String> outs = Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 20; i++) {
            int n = i;
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    outs.add(shared.channel
                            .exec(ExecRequest.of("sh", "-c", "echo v" + n))
                            .stdoutText());
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        for (Thread t : threads) t.join();
        for (int i = 0; i < 20; i++)
            assertEquals(0, all.get(i).get(10, TimeUnit.SECONDS).exitCode());
        assertEquals(20, outs.size());
        for (int i = 0; i < 20; i++) assertTrue(outs.contains("v" + i + "\n"), outs.toString());
    }

    @Test
    void streamingDeliversChunksBeforeExitAndCancelKillsTheGroup() throws Exception {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        var firstChunk = new CompletableFuture<Void>();
        var h = shared.channel.start(ExecRequest.of("sh", "-c", "echo ready; sleep 30"), new ExecListener() {
            @Override
            public void onStdout(byte[] c) {
                events.add("out:" + new String(c, StandardCharsets.UTF_8).strip());
                firstChunk.complete(null);
            }

            @Override
            public void onStderr(byte[] c) {
                events.add("err");
            }

            @Override
            public void onExit(ExecResult r) {
                events.add("exit:" + r.signal());
            }
        });
        firstChunk.get(10, TimeUnit.SECONDS); // arrived while the command still runs
        assertFalse(h.result().isDone());
        h.cancel();
        ExecResult r = h.result().get(10, TimeUnit.SECONDS);
        assertEquals(9, r.signal());
        assertEquals(137, r.exitCode());
        assertEquals(List.of("out:ready", "exit:9"), events);
    }

    @Test
    void openStdinIsFedByFrames() throws Exception {
        var out = new Collect();
        var h = shared.channel.start(
                ExecRequest.builder("wc", "-c").stdinOpen(true).build(), out);
        h.writeStdin(new byte[100_000]);
        h.writeStdin("abc".getBytes(StandardCharsets.UTF_8));
        h.closeStdin();
        assertEquals(0, h.result().get(10, TimeUnit.SECONDS).exitCode());
        assertEquals("100003", out.text().strip());
    }

    @Test
    void aThrowingListenerDoesNotTakeTheChannelDown() throws Exception {
        var h = shared.channel.start(ExecRequest.of("echo", "boom"), new Discard() {
            @Override
            public void onStdout(byte[] chunk) {
                throw new IllegalStateException("listener bug");
            }
        });
        assertEquals(0, h.result().get(10, TimeUnit.SECONDS).exitCode());
        assertTrue(shared.channel.isConnected());
        assertEquals("ok\n", exec(ExecRequest.of("echo", "ok")).stdoutText());
    }

    @Test
    void bufferedExecRefusesOpenStdin() {
        var e = assertThrows(
                IllegalArgumentException.class,
                () -> exec(ExecRequest.builder("cat").stdinOpen(true).build()));
        assertTrue(e.getMessage().startsWith("stdinOpen"), e.getMessage());
    }

    @Test
    void agentErrorsAreTyped() {
        // --connect mode refuses requests that would change the host
        var e = assertThrows(AgentErrorException.class, () -> shared.channel.setHostname("nope"));
        assertEquals("UNSUPPORTED", e.code());
    }

    @Test
    void reconnectFailsInFlightRequestsAndKeepsProcesses() throws Exception {
        try (Agent a = new Agent("reconnect")) {
            Path marker = dir.resolve("survivor-" + System.nanoTime());
            var h = a.channel.start(
                    ExecRequest.of("sh", "-c", "sleep 1; touch " + marker + "; sleep 30"), new Discard());
            a.channel.reconnect(Instant.now().plusSeconds(10), a.process.onExit());
            var err = assertThrows(ExecutionException.class, () -> h.result().get(5, TimeUnit.SECONDS));
            assertInstanceOf(AgentDisconnectedException.class, err.getCause());
            a.channel.ping();
            var r = a.channel.exec(ExecRequest.of(
                    "sh",
                    "-c",
                    "for i in $(seq 50); do test -e " + marker + " && break; sleep 0.1; done; test -e " + marker
                            + " && echo ALIVE"));
            assertEquals("ALIVE\n", r.stdoutText(), "the process started before the reconnect kept running");
        }
    }

    @Test
    void aNewChannelKillsTheCommandsItsPredecessorStarted() throws Exception {
        // a new channel is a new host (an engine that attached after the last one died): the
        // commands the last one started can never be read, so the agent kills them
        try (Agent a = new Agent("newhost")) {
            var started = new CompletableFuture<Long>();
            var h = a.channel.start(ExecRequest.of("sleep", "30"), new Discard() {
                @Override
                public void onStarted(long pid) {
                    started.complete(pid);
                }
            });
            long pid = started.get(10, TimeUnit.SECONDS);
            a.channel.close();
            try (AgentChannel next =
                    AgentChannel.open("newhost", a::accept, Instant.now().plusSeconds(10), a.process.onExit(), null)) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) { // reaped by the agent
                    assertTrue(System.nanoTime() < deadline, "the earlier channel's command was killed");
                    Thread.sleep(10);
                }
                assertEquals("next\n", next.exec(ExecRequest.of("echo", "next")).stdoutText());
            }
            assertThrows(
                    ExecutionException.class,
                    () -> h.result().get(5, TimeUnit.SECONDS),
                    "its exec failed with the channel that started it");
        }
    }

    @Test
    void agentDyingFailsInFlightExecWithDisconnect() throws Exception {
        try (Agent a = new Agent("dying")) {
            var h = a.channel.start(ExecRequest.of("sleep", "30"), new Discard());
            a.process.destroyForcibly();
            var err = assertThrows(ExecutionException.class, () -> h.result().get(10, TimeUnit.SECONDS));
            assertInstanceOf(AgentDisconnectedException.class, err.getCause());
            assertFalse(a.channel.isConnected());
            assertThrows(AgentDisconnectedException.class, () -> a.channel.exec(ExecRequest.of("true")));
        }
    }

    /** A listener that drops output. */
    private static class Discard implements ExecListener {
        @Override
        public void onStdout(byte[] chunk) {}

        @Override
        public void onStderr(byte[] chunk) {}

        @Override
        public void onExit(ExecResult result) {}
    }

    /** A listener that keeps stdout. */
    private static class Collect extends Discard {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

        @Override
        public synchronized void onStdout(byte[] chunk) {
            out.writeBytes(chunk);
        }

        synchronized String text() {
            return out.toString(StandardCharsets.UTF_8);
        }
    }
}
