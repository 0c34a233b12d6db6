package org.fastvm.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.SocketChannelEndPoint;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.fastvm.openapi.OpenApi;

/**
 * A real Jetty 12 server for the SDK's tests: HTTP/1.1 with h2c (upgrade and prior
 * knowledge) on cleartext, optionally h2 over TLS via ALPN. It records every request and
 * answers from scripted routes; it counts TCP connections on the server side. Every request is
 * validated against the API's OpenAPI document (docs/api/openapi.yaml): the violations are
 * collected ({@link #takeSpecViolations()}, checked after each test by {@link WithTestServer})
 * and {@link #close()} fails on any left unchecked.
 */
final class TestServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final OpenApi SPEC = OpenApi.load();

    /** A request as the server saw it. */
    record Hit(
            String method,
            String path,
            String query,
            Map<String, String> headers,
            String body,
            String protocol,
            String remote) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** How to answer one request. */
    interface Reply {
        void write(Request request, Response response, Callback callback) throws Exception;
    }

    static Reply json(int status, String body, String... headers) {
        return (req, res, cb) -> {
            res.setStatus(status);
            res.getHeaders().put("Content-Type", "application/json");
            for (int i = 0; i + 1 < headers.length; i += 2) res.getHeaders().put(headers[i], headers[i + 1]);
            res.write(true, ByteBuffer.wrap(body.getBytes(StandardCharsets.UTF_8)), cb);
        };
    }

    static Reply error(int status, String code, String message) {
        return json(status, "{\"error\":\"" + code + "\",\"message\":\"" + message + "\"}");
    }

    /** Never answers: for client-side timeouts. Jetty aborts it when the server stops. */
    static Reply hang() {
        return (req, res, cb) -> {};
    }

    /** Closes the TCP connection without answering: a transport failure on the client side. */
    static Reply dropConnection() {
        return (req, res, cb) -> {
            req.getConnectionMetaData().getConnection().getEndPoint().close();
            cb.failed(new IOException("connection dropped by the test"));
        };
    }

    /** Writes the given chunks one by one, each flushed as its own DATA frame / TCP write. */
    static Reply chunks(int status, String contentType, String... pieces) {
        return (req, res, cb) -> {
            res.setStatus(status);
            res.getHeaders().put("Content-Type", contentType);
            for (String p : pieces) {
                FutureCallback written = new FutureCallback();
                res.write(false, ByteBuffer.wrap(p.getBytes(StandardCharsets.UTF_8)), written);
                written.get(5, TimeUnit.SECONDS);
            }
            res.write(true, ByteBuffer.allocate(0), cb);
        };
    }

    private final Server server;
    private final ServerConnector clear;
    private final ServerConnector tls;
    private final SSLContext clientTls;
    private final List<Hit> hits = new CopyOnWriteArrayList<>();
    private final Map<String, List<Reply>> routes = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> served = new ConcurrentHashMap<>();
    private final List<String> specViolations = new CopyOnWriteArrayList<>();
    private final Set<EndPoint> endpoints =
            Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
    private final Path tmp;

    private TestServer(boolean withTls) throws Exception {
        QueuedThreadPool pool = new QueuedThreadPool(200, 8);
        pool.setName("test-server");
        server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        clear = new ServerConnector(
                server, 1, 1, new HttpConnectionFactory(http), new HTTP2CServerConnectionFactory(http));
        clear.setHost("127.0.0.1");
        server.addConnector(clear);
        Connection.Listener counter = new Connection.Listener() {
            @Override
            public void onOpened(Connection connection) {
                // TLS stacks connections on a decrypting endpoint; count only the TCP socket itself.
                if (connection.getEndPoint() instanceof SocketChannelEndPoint) endpoints.add(connection.getEndPoint());
            }
        };
        clear.addBean(counter);
        if (withTls) {
            tmp = Files.createTempDirectory("fastvm-sdk-tls");
            Path keystore = tmp.resolve("server.p12");
            generateKeystore(keystore);
            SslContextFactory.Server ssl = new SslContextFactory.Server();
            ssl.setKeyStorePath(keystore.toString());
            ssl.setKeyStorePassword("changeit");
            ssl.setKeyStoreType("PKCS12");
            HttpConfiguration https = new HttpConfiguration(http);
            https.addCustomizer(new SecureRequestCustomizer(false));
            HttpConnectionFactory h1 = new HttpConnectionFactory(https);
            HTTP2ServerConnectionFactory h2 = new HTTP2ServerConnectionFactory(https);
            ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory();
            alpn.setDefaultProtocol(h1.getProtocol());
            tls = new ServerConnector(server, 1, 1, new SslConnectionFactory(ssl, alpn.getProtocol()), alpn, h2, h1);
            tls.setHost("127.0.0.1");
            tls.addBean(counter);
            server.addConnector(tls);
            clientTls = trusting(keystore);
        } else {
            tmp = null;
            tls = null;
            clientTls = null;
        }
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                Map<String, String> headers = new LinkedHashMap<>();
                for (HttpField f : request.getHeaders())
                    headers.put(f.getName().toLowerCase(Locale.ROOT), f.getValue());
                String body = Content.Source.asString(request, StandardCharsets.UTF_8);
                Hit hit = new Hit(
                        request.getMethod(),
                        request.getHttpURI().getPath(),
                        request.getHttpURI().getQuery(),
                        headers,
                        body,
                        request.getConnectionMetaData().getProtocol(),
                        String.valueOf(request.getConnectionMetaData().getRemoteSocketAddress()));
                hits.add(hit);
                specViolations.addAll(SPEC.validateRequest(
                        hit.method(), withoutBasePath(hit.path()), hit.query(), hit.headers(), hit.body()));
                replyFor(hit).write(request, response, callback);
                return true;
            }
        });
        server.start();
    }

    static TestServer start() throws Exception {
        return new TestServer(false);
    }

    static TestServer startWithTls() throws Exception {
        return new TestServer(true);
    }

    /** The path as the API document names it: a base URL's path prefix ({@code /fastvm/v1/...}) removed. */
    static String withoutBasePath(String path) {
        int api = path.indexOf("/v1/");
        if (api > 0) return path.substring(api);
        if (path.endsWith("/healthz")) return "/healthz";
        return path;
    }

    /** {@return the requests so far that the API document refuses, and forgets them} */
    List<String> takeSpecViolations() {
        List<String> out = new ArrayList<>(specViolations);
        specViolations.removeAll(out);
        return out;
    }

    private Reply replyFor(Hit hit) {
        String key = hit.method() + " " + hit.path();
        List<Reply> script = routes.get(key);
        if (script == null) {
            if (hit.path().endsWith("/healthz")) return json(200, "{\"status\":\"ok\"}");
            return error(404, "not_found", "no route for " + key);
        }
        int n = served.computeIfAbsent(key, k -> new AtomicInteger()).getAndIncrement();
        return script.get(Math.min(n, script.size() - 1)); // the last reply repeats
    }

    /** Scripts the replies to {@code method path}: one per request, the last one repeating. */
    TestServer on(String method, String path, Reply... replies) {
        routes.put(method + " " + path, List.of(replies));
        served.remove(method + " " + path);
        return this;
    }

    String url() {
        return "http://127.0.0.1:" + clear.getLocalPort();
    }

    String tlsUrl() {
        return "https://127.0.0.1:" + tls.getLocalPort();
    }

    SSLContext clientTls() {
        return clientTls;
    }

    /** A client on this server with a fixed key and a short default timeout. */
    FastVM client() {
        return FastVM.builder()
                .apiKey("test-key")
                .baseUrl(url())
                .timeout(Duration.ofSeconds(5))
                .build();
    }

    List<Hit> hits() {
        return new ArrayList<>(hits);
    }

    /** The recorded requests other than the warmup's {@code GET /healthz}. */
    List<Hit> apiHits() {
        List<Hit> out = new ArrayList<>();
        for (Hit h : hits) if (!h.path().endsWith("/healthz")) out.add(h);
        return out;
    }

    long count(String method, String path) {
        return hits.stream()
                .filter(h -> h.method().equals(method) && h.path().equals(path))
                .count();
    }

    /** TCP connections accepted so far (an h2c upgrade keeps its connection). */
    int connectionsOpened() {
        return endpoints.size();
    }

    void reset() {
        hits.clear();
        routes.clear();
        served.clear();
    }

    @Override
    public void close() throws IOException {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IOException("stopping the test server failed", e);
        }
        if (tmp != null) {
            try (var files = Files.walk(tmp)) {
                files.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            }
        }
        List<String> left = takeSpecViolations();
        if (!left.isEmpty()) throw new AssertionError("requests the API document refuses: " + left);
    }

    /** A self-signed certificate for 127.0.0.1, made with the JDK's keytool. */
    private static void generateKeystore(Path keystore) throws Exception {
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        Process p = new ProcessBuilder(
                        keytool.toString(),
                        "-genkeypair",
                        "-alias",
                        "server",
                        "-keyalg",
                        "EC",
                        "-groupname",
                        "secp256r1",
                        "-validity",
                        "2",
                        "-dname",
                        "CN=127.0.0.1",
                        "-ext",
                        "SAN=ip:127.0.0.1,dns:localhost",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        keystore.toString(),
                        "-storepass",
                        "changeit",
                        "-keypass",
                        "changeit")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("keytool failed: " + out);
        }
    }

    private static SSLContext trusting(Path keystore) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(keystore)) {
            ks.load(in, "changeit".toCharArray());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }
}
