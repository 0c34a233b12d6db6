package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.logging.JettyLogger;
import org.eclipse.jetty.logging.StdErrAppender;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.store.Store;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Shutting down while background work is in flight: nothing touches the database once it is
 * closed, so nothing is logged as failed or left uncaught ("HikariDataSource has been closed").
 */
class ShutdownTest extends ApiTestBase {
    @TempDir
    Path dir;

    @Test
    void aSnapshotInFlightAtShutdownRecordsHowItEndedBeforeTheDatabaseCloses() throws Exception {
        FakeBackend backend = new FakeBackend();
        List<Throwable> uncaught = new CopyOnWriteArrayList<>();
        Thread.UncaughtExceptionHandler handler = Thread.getDefaultUncaughtExceptionHandler();
        StdErrAppender appender =
                (StdErrAppender) ((JettyLogger) LoggerFactory.getLogger(FastVmServer.class)).getAppender();
        PrintStream stderr = appender.getStream(); // null: System.err as it is when a line is written
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Env env = new Env(dir, backend, new QuotaValues(8, 1 << 20, 10_000, 10), Duration.ofSeconds(2));
        String snap;
        try {
            String vm = env.expect(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                    .get("id")
                    .asText();
            backend.snapshotGate = new CountDownLatch(1); // the engine is busy with it at shutdown
            snap = env.expect(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}")
                    .get("id")
                    .asText();
            assertTrue(backend.snapshotWaiting.await(10, TimeUnit.SECONDS), "the snapshot reached the engine");

            Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
            appender.setStream(
                    new PrintStream(new Tee(stderr != null ? stderr : System.err, log), true, StandardCharsets.UTF_8));
            env.server.close();
            env.server = null;
            // its thread has ended (an uncaught exception is handled before that): all it did is seen
            assertTrue(backend.snapshotThread.join(Duration.ofSeconds(30)), "the snapshot's thread ended");
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(handler);
            appender.setStream(stderr);
            env.close();
        }
        assertEquals(List.of(), uncaught.stream().map(Throwable::toString).toList(), "uncaught during shutdown");
        String logged = log.toString(StandardCharsets.UTF_8);
        assertFalse(logged.contains("has been closed") || logged.contains("ERROR"), logged);
        Store store = Store.over(FastVmServer.openDatabase(env.config));
        try {
            Snapshot s = store.db().read(c -> store.snapshots().find(c, snap)).orElseThrow();
            assertEquals(SnapshotStatus.ERROR, s.status());
            assertTrue(
                    s.errorMessage().startsWith("snapshot failed: interrupted"),
                    "recorded before the close: " + s.errorMessage());
        } finally {
            store.close();
        }
    }

    /** Writes to two streams (the log stays visible in the test output). */
    private static final class Tee extends OutputStream {
        private final OutputStream a, b;

        Tee(OutputStream a, OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public synchronized void write(int c) throws java.io.IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public synchronized void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }

        @Override
        public void flush() throws java.io.IOException {
            a.flush();
            b.flush();
        }
    }
}
