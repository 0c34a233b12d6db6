package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.QuotaValues;

/** Starts a server over a {@link FakeBackend} with two orgs and talks JSON to it. */
abstract class ApiTestBase {
    static HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** A started server with org A and org B keys. */
    static final class Env implements AutoCloseable {
        final FakeBackend backend;
        final ServerConfig config;
        FastVmServer server;
        final String keyA;
        final String keyB;

        Env(Path dir, FakeBackend backend, QuotaValues quota, Duration launchWait) throws Exception {
            this(dir, backend, quota, launchWait, c -> c);
        }

        /** @param tweak changes the test's server config further (timeouts, say) */
        Env(Path dir, FakeBackend backend, QuotaValues quota, Duration launchWait, UnaryOperator<ServerConfig> tweak)
                throws Exception {
            this.backend = backend;
            this.config = tweak.apply(ServerConfig.defaults(dir)
                    .withBind("127.0.0.1", 0)
                    .withMetricsBind("127.0.0.1", 0)
                    .withDefaultQuota(quota)
                    .withLaunchWait(launchWait));
            server = FastVmServer.start(config, backend);
            keyA = server.apiKeys()
                    .create(server.orgs().findOrCreate("org-a").id())
                    .key();
            keyB = server.apiKeys()
                    .create(server.orgs().findOrCreate("org-b").id())
                    .key();
        }

        /** Wraps an already started server (its lifecycle stays with the caller). */
        Env(FastVmServer started) {
            this.backend = null;
            this.config = null;
            this.server = started;
            keyA = server.apiKeys()
                    .create(server.orgs().findOrCreate("org-a").id())
                    .key();
            keyB = server.apiKeys()
                    .create(server.orgs().findOrCreate("org-b").id())
                    .key();
        }

        /** GET /metrics from the metrics listener. */
        HttpResponse<String> metrics() throws IOException, InterruptedException {
            return http.send(
                    HttpRequest.newBuilder(server.metricsUri().orElseThrow())
                            .timeout(Duration.ofSeconds(30))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
        }

        URI uri(String path) {
            return URI.create(server.baseUri() + path);
        }

        HttpResponse<String> call(String method, String path, String key, String body)
                throws IOException, InterruptedException {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri(path))
                    .timeout(Duration.ofSeconds(30))
                    .method(
                            method,
                            body == null
                                    ? HttpRequest.BodyPublishers.noBody()
                                    : HttpRequest.BodyPublishers.ofString(body));
            if (body != null) b.header("Content-Type", "application/json");
            if (key != null) b.header("X-API-Key", key);
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        }

        /** Calls as org A and expects {@code status}; returns the parsed body. */
        JsonNode expect(int status, String method, String path, String body) throws IOException, InterruptedException {
            return expectAs(keyA, status, method, path, body);
        }

        JsonNode expectAs(String key, int status, String method, String path, String body)
                throws IOException, InterruptedException {
            HttpResponse<String> r = call(method, path, key, body);
            if (r.statusCode() != status) {
                throw new AssertionError(
                        method + " " + path + ": expected " + status + " got " + r.statusCode() + " " + r.body());
            }
            return ModelJson.MAPPER.readTree(r.body());
        }

        @Override
        public void close() {
            if (server != null) server.close();
        }
    }

    static JsonNode json(String s) throws IOException {
        return ModelJson.MAPPER.readTree(s);
    }
}
