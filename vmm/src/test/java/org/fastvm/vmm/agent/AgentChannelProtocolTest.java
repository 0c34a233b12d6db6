package org.fastvm.vmm.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.fastvm.vmm.AgentDisconnectedException;
import org.fastvm.vmm.ExecHandle;
import org.fastvm.vmm.ExecListener;
import org.fastvm.vmm.ExecRequest;
import org.fastvm.vmm.ExecResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host-side protocol handling against a scripted peer (a unit-test double standing in for
 * the agent, to produce exactly the frames a real agent would only send by accident).
 */
class AgentChannelProtocolTest {
    @TempDir
    Path dir;

    /** Listens, accepts one host, and lets the test read and write raw frames. */
    private final class ScriptedAgent implements AutoCloseable {
        final ServerSocketChannel server;
        final CompletableFuture<SocketChannel> peer = new CompletableFuture<>();

        ScriptedAgent() throws Exception {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(dir.resolve("agent.sock")));
            Thread.ofVirtual().start(() -> {
                try {
                    peer.complete(server.accept());
                } catch (Exception e) {
                    peer.completeExceptionally(e);
                }
            });
        }

        SocketChannel peer() throws Exception {
            return peer.get(10, TimeUnit.SECONDS);
        }

        Frame read() throws Exception {
            return FrameCodec.read(peer());
        }

        void write(Frame f) throws Exception {
            ByteBuffer b = FrameCodec.encode(f);
            while (b.hasRemaining()) peer().write(b);
        }

        void writeRaw(byte[] bytes) throws Exception {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) peer().write(b);
        }

        @Override
        public void close() throws java.io.IOException {
            server.close();
            if (peer.isDone() && !peer.isCompletedExceptionally())
                peer.getNow(null).close();
        }
    }

    private static Frame hello(int id) {
        return new Frame(
                FrameType.HELLO,
                id,
                new FieldsWriter()
                        .string(Tag.VERSION, "fake/1")
                        .string(Tag.BOOT_ID, "b-1")
                        .string(Tag.NAME, "h")
                        .toByteArray());
    }

    private CompletableFuture<AgentChannel> connectAsync() {
        var f = new CompletableFuture<AgentChannel>();
        Thread.ofVirtual().start(() -> {
            try {
                f.complete(AgentChannel.connect(
                        dir.resolve("agent.sock"), Instant.now().plusSeconds(10), null, null));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static final ExecListener DISCARD = new ExecListener() {
        @Override
        public void onStdout(byte[] chunk) {}

        @Override
        public void onStderr(byte[] chunk) {}

        @Override
        public void onExit(ExecResult result) {}
    };

    @Test
    void hostAsksForHelloAndAcceptsTheAnswerAlone() throws Exception {
        try (var agent = new ScriptedAgent()) {
            var ch = connectAsync();
            Frame first = agent.read();
            assertEquals(FrameType.HELLO_REQ, first.type(), "the host asks for HELLO right after connecting");
            agent.write(hello(first.id())); // no unsolicited HELLO: e.g. the agent missed a fast reconnect
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                assertEquals("fake/1", c.info().version());
            }
        }
    }

    @Test
    void hostGetsInStepWhenTheStreamStartsMidFrame() throws Exception {
        try (var agent = new ScriptedAgent()) {
            var ch = connectAsync();
            Frame req = agent.read();
            // the tail of a frame meant for an earlier host, a whole stale frame, an unsolicited
            // HELLO, a lookalike HELLO for another id, and only then the answer
            byte[] stale = FrameCodec.encode(new Frame(FrameType.STDOUT, 77, new byte[5000]))
                    .array();
            agent.writeRaw(java.util.Arrays.copyOfRange(stale, 1234, stale.length));
            agent.write(new Frame(
                    FrameType.EXIT, 77, new FieldsWriter().i32(Tag.CODE, 0).toByteArray()));
            agent.write(hello(0));
            agent.write(hello(req.id() + 1));
            agent.write(hello(req.id()));
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                assertEquals("fake/1", c.info().version());
                var ping = CompletableFuture.runAsync(() -> {
                    try {
                        c.ping();
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                });
                Frame p = agent.read();
                assertEquals(FrameType.PING, p.type());
                agent.write(new Frame(FrameType.OK, p.id(), new byte[0]));
                ping.get(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void framesForUnknownIdsAreIgnoredAndExitCarriesSignalAndTimeout() throws Exception {
        try (var agent = new ScriptedAgent()) {
            var ch = connectAsync();
            agent.write(hello(agent.read().id()));
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                var h = c.start(ExecRequest.of("sleep", "1"), DISCARD);
                Frame exec = agent.read();
                assertEquals(FrameType.EXEC, exec.type());
                agent.write(new Frame(
                        FrameType.EXIT,
                        999_999,
                        new FieldsWriter().i32(Tag.CODE, 0).toByteArray()));
                agent.write(new Frame(
                        FrameType.STDOUT,
                        exec.id(),
                        new FieldsWriter().bytes(Tag.DATA, new byte[] {1}).toByteArray()));
                agent.write(new Frame(
                        FrameType.EXIT,
                        exec.id(),
                        new FieldsWriter()
                                .i32(Tag.SIGNAL, 15)
                                .u8(Tag.TIMED_OUT, 1)
                                .u64(Tag.DURATION_MS, 1234)
                                .toByteArray()));
                ExecResult r = h.result().get(10, TimeUnit.SECONDS);
                assertEquals(15, r.signal());
                assertEquals(143, r.exitCode());
                assertTrue(r.timedOut());
                assertEquals(1234, r.durationMs());
            }
        }
    }

    @Test
    void garbageFromTheAgentFailsInFlightRequestsAsADisconnect() throws Exception {
        try (var agent = new ScriptedAgent()) {
            var ch = connectAsync();
            agent.write(hello(agent.read().id()));
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                var h = c.start(ExecRequest.of("true"), DISCARD);
                agent.read();
                agent.writeRaw(new byte[] {'G', 'A', 'R', 'B', 'A', 'G', 'E', '!', 0, 0, 0, 0});
                var e = assertThrows(ExecutionException.class, () -> h.result().get(10, TimeUnit.SECONDS));
                assertInstanceOf(AgentDisconnectedException.class, e.getCause());
                assertTrue(
                        e.getCause().getMessage().contains("protocol error"),
                        e.getCause().getMessage());
                assertThrows(AgentDisconnectedException.class, c::ping);
            }
        }
    }

    /** An exec whose output is collected; the connected channel and the first agent. */
    private record Streaming(ExecHandle handle, java.io.ByteArrayOutputStream out, int id) {}

    private static Streaming startStreaming(AgentChannel c, ScriptedAgent agent) throws Exception {
        var out = new java.io.ByteArrayOutputStream();
        var h = c.start(ExecRequest.of("yes"), new ExecListener() {
            @Override
            public void onStdout(byte[] chunk) {
                synchronized (out) {
                    out.writeBytes(chunk);
                }
            }

            @Override
            public void onStderr(byte[] chunk) {}

            @Override
            public void onExit(ExecResult result) {}
        });
        Frame exec = agent.read();
        assertEquals(FrameType.EXEC, exec.type());
        return new Streaming(h, out, exec.id());
    }

    private static Frame stdout(int id, String text) {
        return new Frame(
                FrameType.STDOUT,
                id,
                new FieldsWriter()
                        .bytes(Tag.DATA, text.getBytes(StandardCharsets.UTF_8))
                        .toByteArray());
    }

    /** Moves the first agent's socket file aside and listens as the successor on agent.sock. */
    private ScriptedAgent successor() throws Exception {
        java.nio.file.Files.move(dir.resolve("agent.sock"), dir.resolve("agent.sock.old"));
        return new ScriptedAgent();
    }

    private static CompletableFuture<Void> async(ThrowingRunnable r) {
        var f = new CompletableFuture<Void>();
        Thread.ofVirtual().start(() -> {
            try {
                r.run();
                f.complete(null);
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void spliceContinuesTheStreamOnTheSuccessorSocketWithRequestsInFlight() throws Exception {
        try (var old = new ScriptedAgent()) {
            var ch = connectAsync();
            old.write(hello(old.read().id()));
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                Streaming s = startStreaming(c, old);
                old.write(stdout(s.id(), "a"));
                try (var next = successor()) {
                    var splice = c.prepareSplice(AgentChannel.unixSocket(dir.resolve("agent.sock"))
                            .connect(Instant.now().plusSeconds(10), null));
                    var ping = async(c::ping); // held: must reach the successor, not the old QEMU
                    old.write(stdout(s.id(), "b"));
                    old.peer().close(); // the old QEMU is killed: its stream ends between frames
                    var commit = async(() -> splice.commit(Instant.now().plusSeconds(10), null));
                    Frame first = next.read();
                    assertEquals(FrameType.PING, first.type(), "no HELLO_REQ on a splice: it would drop queued output");
                    next.write(new Frame(FrameType.OK, first.id(), new byte[0]));
                    ping.get(10, TimeUnit.SECONDS);
                    commit.get(10, TimeUnit.SECONDS);
                    next.write(stdout(s.id(), "c"));
                    next.write(new Frame(
                            FrameType.EXIT,
                            s.id(),
                            new FieldsWriter().i32(Tag.CODE, 0).toByteArray()));
                    assertEquals(
                            0, s.handle().result().get(10, TimeUnit.SECONDS).exitCode());
                    synchronized (s.out()) {
                        assertEquals("abc", s.out().toString(StandardCharsets.UTF_8));
                    }
                    assertTrue(c.isConnected());
                }
            }
        }
    }

    @Test
    void spliceOfAStreamEndingInsideAFrameFallsBackToANewSession() throws Exception {
        try (var old = new ScriptedAgent()) {
            var ch = connectAsync();
            old.write(hello(old.read().id()));
            try (AgentChannel c = ch.get(10, TimeUnit.SECONDS)) {
                Streaming s = startStreaming(c, old);
                try (var next = successor()) {
                    var splice = c.prepareSplice(AgentChannel.unixSocket(dir.resolve("agent.sock"))
                            .connect(Instant.now().plusSeconds(10), null));
                    byte[] torn = FrameCodec.encode(stdout(s.id(), "lost")).array();
                    old.writeRaw(java.util.Arrays.copyOf(torn, Frame.HEADER_BYTES + 2));
                    old.peer().close();
                    var commit = async(() -> splice.commit(Instant.now().plusSeconds(10), null));
                    var e = assertThrows(
                            ExecutionException.class, () -> s.handle().result().get(10, TimeUnit.SECONDS));
                    assertInstanceOf(AgentDisconnectedException.class, e.getCause());
                    // the fallback: a fresh connection opened with HELLO_REQ(NEW_SESSION)
                    try (SocketChannel fresh = next.server.accept()) {
                        Frame req = FrameCodec.read(fresh);
                        assertEquals(FrameType.HELLO_REQ, req.type());
                        assertEquals(1, req.fields().u8(Tag.NEW_SESSION, 0));
                        ByteBuffer b = FrameCodec.encode(hello(req.id()));
                        while (b.hasRemaining()) fresh.write(b);
                        commit.get(10, TimeUnit.SECONDS);
                        var ping = async(c::ping);
                        Frame p = FrameCodec.read(fresh);
                        assertEquals(FrameType.PING, p.type());
                        b = FrameCodec.encode(new Frame(FrameType.OK, p.id(), new byte[0]));
                        while (b.hasRemaining()) fresh.write(b);
                        ping.get(10, TimeUnit.SECONDS);
                    }
                }
            }
        }
    }
}
