package org.fastvm.server.api;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.security.KeyStore;
import java.time.Duration;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.Quotas;
import org.fastvm.server.core.Snapshots;
import org.fastvm.server.core.Vms;
import org.fastvm.server.store.Database;
import org.slf4j.LoggerFactory;

/**
 * The HTTP front: Jetty 12 with HTTP/1.1 and HTTP/2 on one port — h2c (prior knowledge and
 * Upgrade) in cleartext, h2 via ALPN with TLS — and request handling on virtual threads.
 */
public final class ApiServer implements AutoCloseable {
    private final Server server;
    private final ServerConnector connector;
    /** Serves only GET /metrics (cleartext, loopback by default), so the API port never shows them. */
    private final ServerConnector metricsConnector;

    private final boolean tls;
    private final ExecHandler exec;
    /** How long shutdown waits for the execs it stops to be answered before the connections close. */
    private static final Duration EXEC_STOP_GRACE = Duration.ofSeconds(5);

    /**
     * @param host        bind address
     * @param port        bind port (0 = any free port)
     * @param keyStore    TLS key material, or null for cleartext
     * @param idleTimeout how long a connection with no request in progress may stay silent (a request
     *                    being served is never cut by it: execs may be quiet for their whole timeout)
     * @param readTimeout how long a client may take to send a request's head and body
     * @param metricsHost bind address of the /metrics listener, or null for none
     * @param metricsPort its port (0 = any free port)
     * @param recovered   whether start-up has settled the VMs of the previous run (/readyz says 503 until then)
     */
    public ApiServer(
            String host,
            int port,
            KeyStore keyStore,
            Duration idleTimeout,
            Duration readTimeout,
            ApiKeys apiKeys,
            Vms vms,
            Snapshots snapshots,
            Quotas quotas,
            Database db,
            VmBackend backend,
            PrometheusMeterRegistry meters,
            String metricsHost,
            int metricsPort,
            java.util.function.BooleanSupplier recovered) {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("fastvm-http");
        threads.setVirtualThreadsExecutor(VirtualThreads.getNamedVirtualThreadsExecutor("fastvm-req"));
        server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        // Ids are opaque path segments that never touch a file system: let odd encodings reach
        // the router (which answers 404) instead of Jetty dropping the connection with a bare 400.
        http.setUriCompliance(UriCompliance.UNSAFE);
        HttpConnectionFactory h1 = new ApiConnectionFactory(http, readTimeout);
        tls = keyStore != null;
        if (tls) {
            http.addCustomizer(new SecureRequestCustomizer(false));
            SslContextFactory.Server ssl = new SslContextFactory.Server();
            ssl.setKeyStore(keyStore);
            ssl.setKeyStorePassword(new String(Tls.STORE_PASSWORD));
            ssl.setKeyManagerPassword(new String(Tls.STORE_PASSWORD));
            HTTP2ServerConnectionFactory h2 = new HTTP2ServerConnectionFactory(http);
            ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory("h2", "http/1.1");
            alpn.setDefaultProtocol(h1.getProtocol());
            connector = new ServerConnector(server, new SslConnectionFactory(ssl, alpn.getProtocol()), alpn, h2, h1);
        } else {
            connector = new ServerConnector(server, h1, new HTTP2CServerConnectionFactory(http));
        }
        connector.setHost(host);
        connector.setPort(port);
        connector.setIdleTimeout(idleTimeout.toMillis());
        connector.setName(ApiHandler.API_CONNECTOR);
        server.addConnector(connector);
        if (metricsHost != null) {
            metricsConnector = new ServerConnector(server, new ApiConnectionFactory(http, readTimeout));
            metricsConnector.setName(ApiHandler.METRICS_CONNECTOR);
            metricsConnector.setHost(metricsHost);
            metricsConnector.setPort(metricsPort);
            metricsConnector.setIdleTimeout(idleTimeout.toMillis());
            server.addConnector(metricsConnector);
        } else {
            metricsConnector = null;
        }
        exec = new ExecHandler(vms);
        server.setHandler(new ApiHandler(
                apiKeys,
                new VmsHandler(vms),
                new SnapshotsHandler(snapshots),
                exec,
                new QuotasHandler(quotas),
                new HealthHandler(db, backend, recovered),
                meters,
                readTimeout));
        server.setErrorHandler(new ApiError.JettyErrors());
        server.setStopTimeout(2000);
    }

    /** Starts listening. */
    public void start() throws Exception {
        server.start();
    }

    /** {@return the base URL clients use, e.g. http://127.0.0.1:8080} */
    public URI baseUri() {
        String host = connector.getHost() == null || connector.getHost().equals("0.0.0.0")
                ? "127.0.0.1"
                : connector.getHost();
        if (host.contains(":")) host = "[" + (host.equals("::") ? "::1" : host) + "]";
        return URI.create((tls ? "https" : "http") + "://" + host + ":" + connector.getLocalPort());
    }

    /** {@return the metrics listener's /metrics URL, if there is one} */
    public java.util.Optional<URI> metricsUri() {
        if (metricsConnector == null) return java.util.Optional.empty();
        String host =
                metricsConnector.getHost() == null || metricsConnector.getHost().equals("0.0.0.0")
                        ? "127.0.0.1"
                        : metricsConnector.getHost();
        if (host.contains(":")) host = "[" + (host.equals("::") ? "::1" : host) + "]";
        return java.util.Optional.of(URI.create("http://" + host + ":" + metricsConnector.getLocalPort() + "/metrics"));
    }

    /** Waits until the server stops. */
    public void join() throws InterruptedException {
        server.join();
    }

    /**
     * Stops listening (in-flight requests get a short grace). Running execs are ended first, each
     * with an answer that tells its client not to send the command again. An interrupt while
     * stopping is kept as the thread's interrupt status; any other failure of Jetty's stop is
     * rethrown unchecked.
     */
    @Override
    public void close() {
        exec.close(EXEC_STOP_GRACE);
        try {
            server.stop();
        } catch (java.util.concurrent.TimeoutException e) {
            // Graceful shutdown gave up on a lingering connection; Jetty has still stopped everything.
            LoggerFactory.getLogger(ApiServer.class).warn("graceful HTTP shutdown timed out; connections were closed");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            throw new IllegalStateException("stopping the HTTP server failed: " + e.getMessage(), e);
        }
    }
}
