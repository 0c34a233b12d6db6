package org.fastvm.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiPredicate;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;

/**
 * A test double of the FastVM API, in memory, for running the examples in a unit test: VMs
 * are {@code running} at once, snapshots {@code ready}, and a command's stdout echoes the
 * command. It tracks what exists so the test can check the examples clean up.
 */
final class FakeFastVM implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    final Map<String, JsonNode> vms = new ConcurrentHashMap<>();
    final Map<String, JsonNode> snapshots = new ConcurrentHashMap<>();
    final Set<String> clientSockets = ConcurrentHashMap.newKeySet();
    final AtomicInteger restores = new AtomicInteger();
    final AtomicInteger execs = new AtomicInteger();
    /** Requests (method, path) to answer with a 500, for testing the examples' cleanup. */
    volatile BiPredicate<String, String> failing = (method, path) -> false;

    private final Server server = new Server();
    private final ServerConnector connector;

    FakeFastVM() throws Exception {
        HttpConfiguration config = new HttpConfiguration();
        connector = new ServerConnector(
                server, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        connector.setHost("127.0.0.1");
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String path = request.getHttpURI().getPath();
                if (!path.equals("/healthz"))
                    clientSockets.add(
                            String.valueOf(request.getConnectionMetaData().getRemoteSocketAddress()));
                String body = Content.Source.asString(request, StandardCharsets.UTF_8);
                route(
                        request.getMethod(),
                        path,
                        body.isEmpty() ? null : JSON.readTree(body),
                        request.getHeaders().get("Accept"),
                        response,
                        callback);
                return true;
            }
        });
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + connector.getLocalPort();
    }

    private void route(String method, String path, JsonNode body, String accept, Response res, Callback cb)
            throws Exception {
        String[] p = path.split("/", -1);
        if (failing.test(method, path)) {
            send(res, cb, 500, "{\"error\":\"injected\",\"message\":\"failure injected by the test\"}");
        } else if (path.equals("/healthz")) {
            send(res, cb, 200, "{\"status\":\"ok\"}");
        } else if (method.equals("POST") && path.equals("/v1/vms")) {
            String id = UUID.randomUUID().toString();
            ObjectNode vm = JSON.createObjectNode()
                    .put("id", id)
                    .put("name", body.path("name").asText("vm-" + id.substring(0, 8)))
                    .put("orgId", "org")
                    .put("machineName", body.path("machineType").asText("c1m2"))
                    .put("cpu", 1)
                    .put("memoryMiB", 2048)
                    .put("diskGiB", 10)
                    .put("status", "running")
                    .put("createdAt", "2026-01-01T00:00:00Z");
            if (body.has("snapshotId")) {
                if (!snapshots.containsKey(body.get("snapshotId").asText())) {
                    send(res, cb, 404, "{\"error\":\"not_found\",\"message\":\"no snapshot\"}");
                    return;
                }
                restores.incrementAndGet();
            }
            vms.put(id, vm);
            send(res, cb, 201, vm.toString());
        } else if (method.equals("DELETE") && p.length == 4 && p[2].equals("vms")) {
            send(res, cb, vms.remove(p[3]) == null ? 404 : 200, "{\"id\":\"" + p[3] + "\",\"deleted\":true}");
        } else if (method.equals("POST") && p.length == 5 && p[4].equals("exec")) {
            if (!vms.containsKey(p[3])) {
                send(res, cb, 404, "{\"error\":\"not_found\",\"message\":\"no vm\"}");
                return;
            }
            execs.incrementAndGet();
            String out = "ran: "
                    + body.path("command")
                            .path(2)
                            .asText(body.path("command").path(0).asText()) + "\n";
            if ("application/x-ndjson".equals(accept)) {
                res.setStatus(200);
                res.getHeaders().put("Content-Type", "application/x-ndjson");
                String b64 = Base64.getEncoder().encodeToString(out.getBytes(StandardCharsets.UTF_8));
                res.write(
                        true,
                        ByteBuffer.wrap(("{\"t\":\"o\",\"d\":\"" + b64 + "\"}\n{\"t\":\"x\",\"ms\":3}\n")
                                .getBytes(StandardCharsets.UTF_8)),
                        cb);
            } else {
                send(
                        res,
                        cb,
                        200,
                        JSON.createObjectNode()
                                .put("exitCode", 0)
                                .put("stdout", out)
                                .put("stderr", "")
                                .put("timedOut", false)
                                .put("stdoutTruncated", false)
                                .put("stderrTruncated", false)
                                .put("durationMs", 3)
                                .toString());
            }
        } else if (method.equals("POST") && path.equals("/v1/snapshots")) {
            String id = UUID.randomUUID().toString();
            ObjectNode snap = JSON.createObjectNode()
                    .put("id", id)
                    .put("name", "snap")
                    .put("orgId", "org")
                    .put("vmId", body.get("vmId").asText())
                    .put("status", "ready")
                    .put("createdAt", "2026-01-01T00:00:00Z");
            snapshots.put(id, snap);
            send(res, cb, 201, snap.toString());
        } else if (method.equals("DELETE") && p.length == 4 && p[2].equals("snapshots")) {
            send(res, cb, snapshots.remove(p[3]) == null ? 404 : 200, "{\"id\":\"" + p[3] + "\",\"deleted\":true}");
        } else {
            send(res, cb, 404, "{\"error\":\"not_found\",\"message\":\"" + method + " " + path + "\"}");
        }
    }

    private static void send(Response res, Callback cb, int status, String json) {
        res.setStatus(status);
        res.getHeaders().put("Content-Type", "application/json");
        res.write(true, ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8)), cb);
    }

    @Override
    public void close() throws java.io.IOException {
        try {
            server.stop();
        } catch (Exception e) {
            throw new java.io.IOException("stopping the fake API failed", e);
        }
    }
}
