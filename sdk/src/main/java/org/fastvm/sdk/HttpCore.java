package org.fastvm.sdk;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandler;
import java.net.http.HttpResponse.BodySubscribers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import javax.net.ssl.SSLContext;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;

/**
 * The one place that does HTTP: builds requests (base URL, headers, JSON), sends them on the
 * shared HTTP/2 client, applies {@link TransientRetry}, maps failures via {@link ApiErrors},
 * and warms the connection before the first call, and again after a long idle spell.
 */
final class HttpCore implements AutoCloseable {
    /** This SDK's version, from the build ({@code version.properties}, filtered by Maven). */
    static final String VERSION = readVersion();

    static final String USER_AGENT = "fastvm-java/" + VERSION;

    /**
     * One prepared request. {@code body} is serialised as JSON when not null; {@code retry} says
     * which answers it may be repeated on, at most {@code transientRetries} times.
     */
    record Call(
            String method,
            String path,
            Object body,
            Duration timeout,
            TransientRetry.Rule retry,
            int transientRetries,
            String accept) {
        String describe() {
            return method + " " + path;
        }
    }

    /** A 2xx response with its decoded body. */
    record Reply<T>(int status, HttpHeaders headers, T body) {}

    /** Body of a response: the caller's type on 2xx, raw bytes (for the error) otherwise. */
    @SuppressWarnings("ArrayRecordComponent") // a private carrier, read once and never compared
    private record Outcome<T>(T ok, byte[] error) {}

    private final String baseUrl;
    private final String apiKey;
    private final Duration timeout;
    private final ExecutorService executor;
    private final HttpClient http;
    /**
     * After this long without a response the HTTP/2 connection may have been closed for idleness
     * (the JDK closes idle h2 connections after 30 s by default, servers often sooner); a POST
     * would then go out over new HTTP/1.1 connections, so the next call warms again first.
     */
    static final Duration IDLE_REWARM = Duration.ofSeconds(20);
    /** Past the request timeout, how long the whole exchange may still take before it is failed. */
    private static final long TIMEOUT_GRACE_MS = 1_000;
    /** A {@code GET /healthz} slower than this means the server is not answering; calls then warm again. */
    private static final Duration WARMUP_TIMEOUT = Duration.ofSeconds(30);

    /** The latest warmup, in flight or done; it never completes exceptionally. */
    private final AtomicReference<CompletableFuture<Warmup>> warm = new AtomicReference<>();

    private final LongSupplier nanoClock;
    private final AtomicLong lastResponse = new AtomicLong();
    private volatile boolean closed;

    HttpCore(String baseUrl, String apiKey, Duration timeout, SSLContext sslContext, LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
        this.baseUrl = baseUrl;
        this.apiKey = apiKey;
        this.timeout = timeout;
        AtomicInteger n = new AtomicInteger();
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "fastvm-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        HttpClient.Builder b = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_2)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(timeout.compareTo(Duration.ofSeconds(30)) < 0 ? timeout : Duration.ofSeconds(30))
                .executor(executor);
        if (sslContext != null) b.sslContext(sslContext);
        this.http = b.build();
    }

    Duration timeout() {
        return timeout;
    }

    /** Reads {@code version} from {@code version.properties}; "unknown" when the resource was not filtered. */
    private static String readVersion() {
        java.util.Properties p = new java.util.Properties();
        try (java.io.InputStream in = HttpCore.class.getResourceAsStream("version.properties")) {
            if (in != null) p.load(in);
        } catch (java.io.IOException e) {
            // fall through to "unknown"
        }
        String v = p.getProperty("version", "").trim();
        return v.isEmpty() || v.startsWith("${") ? "unknown" : v;
    }

    /** Runs {@code task} after {@code delay} on the client's threads, without blocking one. */
    java.util.concurrent.Executor after(Duration delay) {
        // After close() the pool rejects work; running inline lets the task fail on the closed client
        // instead of leaving its future (and a blocked caller) hanging.
        java.util.concurrent.Executor orInline = task -> {
            try {
                executor.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                task.run();
            }
        };
        return CompletableFuture.delayedExecutor(Math.max(0, delay.toMillis()), TimeUnit.MILLISECONDS, orInline);
    }

    /** Joins the base URL and a path with exactly one '/' and percent-encodes nothing else. */
    static String join(String base, String path) {
        String b = base;
        while (b.endsWith("/")) b = b.substring(0, b.length() - 1);
        String p = path;
        while (p.startsWith("/")) p = p.substring(1);
        return b + "/" + p;
    }

    /** Percent-encodes one path segment (an id supplied by the caller). */
    static String segment(String id) {
        return URLEncoder.encode(id, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /**
     * What one {@code GET /healthz} achieved. Any HTTP answer, even a proxy's 404, means the
     * connection is open (and upgraded); {@code failure} is what {@link #warmup()} reports.
     */
    private record Warmup(boolean connected, RuntimeException failure) {}

    /**
     * {@code GET /healthz}: on cleartext this request carries the h2c upgrade, over TLS ALPN
     * picks h2; either way it leaves one HTTP/2 connection that all later calls share. Joins a
     * warmup already in flight rather than opening a second connection next to it.
     */
    CompletableFuture<Void> warmup() {
        CompletableFuture<Warmup> current = warm.get();
        CompletableFuture<Warmup> w = current != null && !current.isDone() ? current : startWarmup(current);
        return w.thenAccept(result -> {
            if (result.failure() != null) throw result.failure();
        });
    }

    /**
     * Warms the connection once; concurrent first calls all wait for that one warmup. A warmup
     * that did not connect is tried again by the next call (which otherwise reports its own
     * error), and so is one older than {@link #IDLE_REWARM} without any response since.
     */
    private CompletableFuture<Warmup> ensureWarm() {
        CompletableFuture<Warmup> current = warm.get();
        if (current != null && !(current.isDone() && stale(current.join()))) return current;
        return startWarmup(current);
    }

    private boolean stale(Warmup done) {
        return !done.connected() || nanoClock.getAsLong() - lastResponse.get() > IDLE_REWARM.toNanos();
    }

    /** Starts a warmup in place of {@code replacing}, unless another caller did so first. */
    // whenComplete only forwards into `mine`, which callers hold; its own future carries nothing.
    @SuppressWarnings("FutureReturnValueIgnored")
    private CompletableFuture<Warmup> startWarmup(CompletableFuture<Warmup> replacing) {
        CompletableFuture<Warmup> mine = new CompletableFuture<>();
        if (!warm.compareAndSet(replacing, mine)) return warm.get(); // share the winner's warmup
        Duration limit = timeout.compareTo(WARMUP_TIMEOUT) < 0 ? timeout : WARMUP_TIMEOUT;
        Call healthz = new Call("GET", "/healthz", null, limit, TransientRetry.Rule.ONCE, 0, "application/json");
        attempt(healthz, HttpResponse.BodyHandlers.discarding(), 0).whenComplete((r, e) -> {
            RuntimeException failure = e == null ? null : ApiErrors.fromFailure(e, healthz.describe());
            mine.complete(new Warmup(failure == null || failure instanceof FastVMServiceException, failure));
        });
        return mine;
    }

    /** Sends a call whose 2xx body is JSON of the given type. */
    <T> CompletableFuture<Reply<T>> json(Call call, com.fasterxml.jackson.databind.JavaType type) {
        return send(call, HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(r -> new Reply<>(r.status(), r.headers(), Json.<T>read(r.body(), type, call.describe())));
    }

    /** Sends a call (after the one-time warmup), retrying per {@link TransientRetry}. */
    <T> CompletableFuture<Reply<T>> send(Call call, BodyHandler<T> okHandler) {
        return ensureWarm().thenCompose(v -> attempt(call, okHandler, 0));
    }

    // handle(...) returns a future of a future that thenCompose(f -> f) flattens at once (Java 17
    // has no handleCompose); nothing is left unobserved.
    @SuppressWarnings("FutureReturnValueIgnored")
    private <T> CompletableFuture<Reply<T>> attempt(Call call, BodyHandler<T> okHandler, int attempt) {
        HttpRequest request;
        try {
            request = build(call);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        BodyHandler<Outcome<T>> handler = info -> info.statusCode() / 100 == 2
                ? BodySubscribers.mapping(okHandler.apply(info), ok -> new Outcome<>(ok, null))
                : BodySubscribers.mapping(BodySubscribers.ofByteArray(), err -> new Outcome<>(null, err));
        CompletableFuture<HttpResponse<Outcome<T>>> sent;
        try {
            // The request timeout bounds only the wait for headers, and one run hung past it in an
            // h2c warmup: bound the whole exchange too, so no call can outlive its timeout.
            sent = http.sendAsync(request, handler)
                    .orTimeout(call.timeout().toMillis() + TIMEOUT_GRACE_MS, TimeUnit.MILLISECONDS);
        } catch (RuntimeException e) { // e.g. the client was closed
            return CompletableFuture.failedFuture(
                    new FastVMException(call.describe() + " failed: " + e.getMessage(), e));
        }
        return sent.handle((response, failure) -> {
                    if (failure != null) {
                        String what = call.method() + " " + join(baseUrl, call.path());
                        return CompletableFuture.<Reply<T>>failedFuture(ApiErrors.fromFailure(failure, what));
                    }
                    int status = response.statusCode();
                    lastResponse.set(nanoClock.getAsLong());
                    if (response.body().error() == null) {
                        return CompletableFuture.completedFuture(new Reply<>(
                                status, response.headers(), response.body().ok()));
                    }
                    if (TransientRetry.shouldRetry(
                            call.retry(), status, response.headers(), attempt, call.transientRetries())) {
                        Duration pause = TransientRetry.delay(response.headers(), attempt);
                        return CompletableFuture.supplyAsync(() -> null, after(pause))
                                .thenCompose(x -> attempt(call, okHandler, attempt + 1));
                    }
                    return CompletableFuture.<Reply<T>>failedFuture(ApiErrors.fromResponse(
                            status, response.headers(), response.body().error()));
                })
                .thenCompose(f -> f);
    }

    private HttpRequest build(Call call) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(join(baseUrl, call.path())))
                .timeout(call.timeout())
                .header("X-API-Key", apiKey)
                .header("Accept", call.accept())
                .header("User-Agent", USER_AGENT);
        if (call.body() != null) {
            b.header("Content-Type", "application/json");
            b.method(call.method(), HttpRequest.BodyPublishers.ofByteArray(Json.write(call.body())));
        } else {
            b.method(call.method(), HttpRequest.BodyPublishers.noBody());
        }
        return b.build();
    }

    /** {@return true once {@link #close()} was called: nothing more can be sent} */
    boolean isClosed() {
        return closed;
    }

    /** Stops accepting calls; on Java 21+ also lets the HTTP client release its connection. */
    @Override
    public void close() {
        closed = true;
        try {
            HttpClient.class.getMethod("shutdownNow").invoke(http);
        } catch (ReflectiveOperationException java17) {
            // Java 17 has no shutdown: the connection closes when the client is collected.
        }
        executor.shutdownNow();
    }
}
