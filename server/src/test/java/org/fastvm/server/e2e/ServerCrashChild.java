package org.fastvm.server.e2e;

import java.nio.file.Path;
import java.time.Duration;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.vmm.FaultHook;

/**
 * The server process {@link ServerCrashIT} crashes: a whole server (SQLite, real engine) on
 * the test's data dir that halts the JVM, as {@code kill -9} would (no finally blocks, no
 * shutdown hooks), the first time any operation reaches the named step. It prints
 * {@code URL <base>} once it serves; the test then sends the operation.
 *
 * <p>Arguments: dataDir step.
 */
public final class ServerCrashChild {
    private ServerCrashChild() {}

    public static void main(String[] a) throws Exception {
        Path data = Path.of(a[0]);
        String step = a[1];
        FaultHook crash = s -> {
            if (s.equals(step)) {
                System.out.println("CRASH at " + s);
                System.out.flush();
                Runtime.getRuntime().halt(137);
            }
        };
        FastVmServer server = FastVmServer.start(config(data), RealEngine.openDebian(data, crash), crash);
        server.recovery().join();
        System.out.println("URL " + server.baseUri());
        System.out.flush();
        server.join();
    }

    static ServerConfig config(Path data) {
        return ServerConfig.defaults(data)
                .withBind("127.0.0.1", 0)
                .withMetricsBind("127.0.0.1", 0)
                .withLaunchWait(Duration.ofSeconds(60));
    }
}
