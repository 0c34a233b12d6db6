package org.fastvm.server.api;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.BadMessageException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.core.ServiceException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one entry point: assigns a request id, authenticates, routes to the resource handler,
 * turns every failure into the contract's error JSON, records metrics and writes one
 * structured log line per request.
 */
public final class ApiHandler extends Handler.Abstract {
    private static final Logger ACCESS = LoggerFactory.getLogger("fastvm.access");
    private static final Logger LOG = LoggerFactory.getLogger(ApiHandler.class);

    private final ApiKeys apiKeys;
    private final VmsHandler vms;
    private final SnapshotsHandler snapshots;
    private final ExecHandler exec;
    private final QuotasHandler quotas;
    private final HealthHandler health;
    private final PrometheusMeterRegistry meters;
    private final OpenApiDocument openApi;
    private final Duration readTimeout;

    /** A matched route: its template (for metrics) and what serves it. */
    private record Route(String template, boolean authenticated, Action action) {}

    @FunctionalInterface
    private interface Action {
        void run(Exchange ex) throws Exception;
    }

    ApiHandler(
            ApiKeys apiKeys,
            VmsHandler vms,
            SnapshotsHandler snapshots,
            ExecHandler exec,
            QuotasHandler quotas,
            HealthHandler health,
            PrometheusMeterRegistry meters,
            Duration readTimeout) {
        this.apiKeys = apiKeys;
        this.vms = vms;
        this.snapshots = snapshots;
        this.exec = exec;
        this.quotas = quotas;
        this.health = health;
        this.meters = meters;
        this.openApi = OpenApiDocument.load(); // at start-up: a jar without the document fails now, not later
        this.readTimeout = readTimeout;
    }

    /** Names of the two listeners: the API's, and the one that serves /metrics only. */
    static final String API_CONNECTOR = "api", METRICS_CONNECTOR = "metrics";

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        long t0 = System.nanoTime();
        String requestId = UUID.randomUUID().toString();
        response.getHeaders().put("x-request-id", requestId);
        // The idle timeout is for connections nobody uses: a request being served may be quiet for
        // long (an exec for its whole timeoutSec, a launch waiting for its VM). Jetty still applies
        // it to a read or write in progress (a stalled body or client), before asking this listener.
        request.addIdleTimeoutListener(timeout -> false);
        // the path as sent, split then decoded segment by segment: Jetty's canonical path resolves
        // (encoded) dot segments, which would let /v1/vms/%2e%2e/... reach another route
        List<String> segments = segments(request.getHttpURI().getPath());
        Exchange ex = new Exchange(request, response, callback, segments, requestId, readTimeout);
        String template = "unmatched";
        try {
            Route route = METRICS_CONNECTOR.equals(
                            request.getConnectionMetaData().getConnector().getName())
                    ? metricsRoute(request.getMethod(), segments)
                    : route(request.getMethod(), segments);
            template = route.template();
            if (route.authenticated()) {
                Optional<String> org = apiKeys.authenticate(request.getHeaders().get("X-API-Key"));
                if (org.isEmpty()) {
                    throw new ServiceException(
                            ErrorKind.UNAUTHORIZED,
                            request.getHeaders().get("X-API-Key") == null
                                    ? "missing X-API-Key header"
                                    : "unknown or revoked API key");
                }
                ex.orgId = org.get();
            }
            route.action().run(ex);
        } catch (ServiceException e) {
            fail(ex, e.kind(), e.getMessage());
        } catch (BadMessageException e) {
            fail(ex, ErrorKind.INVALID_REQUEST, "bad request: " + e.getReason());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(ex, ErrorKind.UNAVAILABLE, "the server is shutting down");
        } catch (Exception | Error e) {
            // Errors too (e.g. a class that cannot load): the client must get an answer, not a hang.
            LOG.error(
                    "request {} {} {} failed",
                    requestId,
                    request.getMethod(),
                    request.getHttpURI().getPath(),
                    e);
            fail(ex, ErrorKind.INTERNAL, "internal error (request id " + requestId + ")");
        } finally {
            long nanos = System.nanoTime() - t0;
            int status = ex.isAbandoned() ? Exchange.CLIENT_CLOSED_STATUS : response.getStatus();
            Timer.builder("http.server.requests")
                    .tag("method", request.getMethod())
                    .tag("route", template)
                    .tag("status", Integer.toString(status))
                    .register(meters)
                    .record(nanos, TimeUnit.NANOSECONDS);
            ACCESS.info(
                    "request id={} method={} route={} path={} status={} ms={} org={} proto={}",
                    requestId,
                    request.getMethod(),
                    template,
                    request.getHttpURI().getPath(),
                    status,
                    nanos / 1_000_000,
                    ex.orgId == null ? "-" : ex.orgId,
                    request.getConnectionMetaData().getProtocol());
        }
        return true;
    }

    private static void fail(Exchange ex, ErrorKind kind, String message) {
        if (ex.isAbandoned()) return;
        if (ex.isDone()) {
            // Headers already went out (a stream): break it so the client cannot mistake it for success.
            ex.abortStream(new ServiceException(kind, message));
            return;
        }
        ex.drainUnreadBody();
        ex.restartIdleClock();
        ApiError.write(ex.response, ex.callback, kind, message);
    }

    /** The metrics listener serves GET (and HEAD) /metrics and nothing else. */
    private Route metricsRoute(String method, List<String> s) {
        if (s.size() == 1 && s.get(0).equals("metrics") && isGet(method))
            return new Route("/metrics", false, this::metrics);
        return new Route("unmatched", false, ex -> {
            throw new ServiceException(
                    ErrorKind.NOT_FOUND,
                    "the metrics listener serves GET /metrics only, not " + ex.method() + " "
                            + ex.request.getHttpURI().getPath());
        });
    }

    private Route route(String method, List<String> s) {
        int n = s.size();
        if (n == 1 && isGet(method)) {
            Route probe = switch (s.get(0)) {
                case "healthz" -> new Route("/healthz", false, health::healthz);
                case "livez" -> new Route("/livez", false, health::livez);
                case "readyz" -> new Route("/readyz", false, health::readyz);
                default -> null;
            };
            if (probe != null) return probe;
        }
        if (n >= 2 && s.get(0).equals("v1")) {
            String res = s.get(1);
            if (res.equals("openapi.json") && n == 2) {
                // No key: the document describes the API and holds nothing of an org.
                return pick(method, "/v1/openapi.json", false, Map.<String, Action>of("GET", this::openApi));
            }
            if (res.equals("vms") && n == 2) {
                return pick(method, "/v1/vms", Map.<String, Action>of("GET", vms::list, "POST", vms::launch));
            }
            if (res.equals("vms") && n == 3) {
                return pick(
                        method,
                        "/v1/vms/{id}",
                        Map.<String, Action>of("GET", vms::get, "PATCH", vms::patch, "DELETE", vms::delete));
            }
            if (res.equals("vms") && n == 4 && s.get(3).equals("firewall")) {
                return pick(
                        method,
                        "/v1/vms/{id}/firewall",
                        Map.<String, Action>of("PUT", vms::putFirewall, "PATCH", vms::patchFirewall));
            }
            if (res.equals("vms") && n == 4 && s.get(3).equals("exec")) {
                return pick(method, "/v1/vms/{id}/exec", Map.<String, Action>of("POST", exec::exec));
            }
            if (res.equals("snapshots") && n == 2) {
                return pick(
                        method,
                        "/v1/snapshots",
                        Map.<String, Action>of("GET", snapshots::list, "POST", snapshots::create));
            }
            if (res.equals("snapshots") && n == 3) {
                return pick(
                        method,
                        "/v1/snapshots/{id}",
                        Map.<String, Action>of(
                                "GET", snapshots::get, "PATCH", snapshots::patch, "DELETE", snapshots::delete));
            }
            if (res.equals("org") && n == 3 && s.get(2).equals("quotas")) {
                return pick(method, "/v1/org/quotas", Map.<String, Action>of("GET", quotas::get));
            }
        }
        // Unknown paths under /v1 still need a key first, so they reveal nothing to strangers.
        boolean underApi = n >= 1 && s.get(0).equals("v1");
        return new Route("unmatched", underApi, ex -> {
            throw new ServiceException(
                    ErrorKind.NOT_FOUND,
                    "no such endpoint: " + ex.method() + " "
                            + ex.request.getHttpURI().getPath());
        });
    }

    /** HEAD is answered as GET (Jetty sends the headers only); the document and Allow list GET. */
    private static boolean isGet(String method) {
        return method.equals("GET") || method.equals("HEAD");
    }

    /** {@return the authenticated route for {@code method} among (method, action) pairs, or a 405 route listing the allowed ones} */
    private static Route pick(String method, String template, Map<String, Action> actions) {
        return pick(method, template, true, actions);
    }

    private static Route pick(String method, String template, boolean authenticated, Map<String, Action> actions) {
        Action action = actions.get(method.equals("HEAD") ? "GET" : method);
        if (action != null) return new Route(template, authenticated, action);
        String allowed = String.join(", ", new TreeSet<>(actions.keySet())); // as the OpenAPI document lists them
        return new Route(template, authenticated, ex -> {
            ex.response.getHeaders().put(HttpHeader.ALLOW, allowed);
            throw new ServiceException(
                    ErrorKind.METHOD_NOT_ALLOWED, method + " is not allowed on " + template + "; allowed: " + allowed);
        });
    }

    /** GET /v1/openapi.json: the API's OpenAPI document (docs/api/openapi.yaml) as JSON. */
    private void openApi(Exchange ex) {
        ex.text("application/json", openApi.json());
    }

    private void metrics(Exchange ex) {
        ex.text("text/plain; version=0.0.4; charset=utf-8", meters.scrape());
    }

    /** Splits the raw path at '/', then percent-decodes each segment (so an encoded '/' stays inside its segment). */
    static List<String> segments(String path) {
        List<String> out = new ArrayList<>();
        if (path == null) return out;
        for (String p : path.split("/", -1)) if (!p.isEmpty()) out.add(percentDecode(p));
        return out;
    }

    /** Decodes %XX escapes as UTF-8 (malformed UTF-8 becomes U+FFFD); a malformed escape is kept as written. */
    static String percentDecode(String s) {
        if (s.indexOf('%') < 0) return s;
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int hi = i + 2 < s.length() && c == '%' ? Character.digit(s.charAt(i + 1), 16) : -1;
            int lo = hi >= 0 ? Character.digit(s.charAt(i + 2), 16) : -1;
            if (lo >= 0) {
                bytes.write(hi * 16 + lo);
                i += 2;
            } else {
                int cp = s.codePointAt(i);
                bytes.writeBytes(Character.toString(cp).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                i += Character.charCount(cp) - 1;
            }
        }
        return bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** {@return the registry (for tests)} */
    MeterRegistry meters() {
        return meters;
    }
}
