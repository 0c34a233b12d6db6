package org.fastvm.server.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.vmm.FaultHook;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The crash suite: a whole server process ({@link ServerCrashChild}: SQLite, real engine,
 * debian VMs with a root disk) is halted, as {@code kill -9}, at every named step of restore,
 * snapshot (live and re-home), VM delete and snapshot delete. The next server, on the same data
 * dir, must end with every VM that ran still running with its acknowledged disk writes, every
 * operation finished or rolled back (a ready snapshot restores with the data), no orphan file
 * or QEMU, and disk quota equal to what is on disk. The cases share one data dir, so each also
 * starts from what the previous crash left.
 */
class ServerCrashIT {
    @TempDir
    static Path data;

    static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();
    static String key;
    /** A launched VM that runs through every case, and a ready snapshot of it. */
    static String base;

    static String snap;
    static FastVmServer server;

    @BeforeAll
    static void setUp() throws Exception {
        open();
        String org = server.orgs().findOrCreate("crash").id();
        key = server.apiKeys().create(org).key();
        server.quotas().setOverride(org, new QuotaOverride(64L, 1L << 20, 10_000L, 100L));
        base = call(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                .get("id")
                .asText();
        write(base, "base");
        snap = snapshotReady(base);
        server.close();
    }

    @AfterEach
    void closeServer() throws Exception {
        if (server != null) server.close(); // a failed case leaves it open; the next case opens its own
        server = null;
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (server != null) server.close();
        RealEngine.discardAll(data);
        for (long pid : qemusOf(data))
            ProcessHandle.of(pid).ifPresent(h -> {
                h.destroyForcibly();
                h.onExit().join();
            });
    }

    @ParameterizedTest(name = "{0}, crash at {1}")
    @CsvSource({
        "restore, vm-inserted",
        "restore, restore-spawned",
        "restore, restore-resumed",
        "restore, restore-identified",
        "restore, vm-booted",
        "snapshot of a clone (live), snapshot-inserted",
        "snapshot of a clone (live), migrate",
        "snapshot of a clone (live), switchover",
        "snapshot of a clone (live), state",
        "snapshot of a clone (live), manifest",
        "snapshot of a clone (live), publish",
        "snapshot of a clone (live), snapshot-taken",
        "snapshot of a launched VM (re-home), migrate",
        "snapshot of a launched VM (re-home), state",
        "snapshot of a launched VM (re-home), rehomed",
        "snapshot of a launched VM (re-home), publish",
        "delete vm, vm-delete-marked",
        "delete vm, vm-delete-destroyed",
        "delete snapshot, snapshot-delete-marked",
    })
    void aServerKilledAtAnyStepLosesNothingAndLeavesNothing(String op, String step) throws Exception {
        // Before: the VMs that must survive, each with a line written and synced to its disk.
        open();
        Map<String, String> mustRun = new LinkedHashMap<>();
        mustRun.put(base, "base");
        String target = switch (op) {
            case "restore" -> snap;
            case "snapshot of a clone (live)", "delete vm" -> clone("c-" + step);
            case "snapshot of a launched VM (re-home)" -> {
                String v = call(201, "POST", "/v1/vms", "{\"machineType\":\"c1m2\"}")
                        .get("id")
                        .asText();
                write(v, "v-" + step);
                yield v;
            }
            case "delete snapshot" -> snapshotReady(base);
            default -> throw new IllegalArgumentException(op);
        };
        if (!op.equals("delete vm") && !op.equals("restore") && !op.equals("delete snapshot"))
            mustRun.put(target, marker(target));
        Set<String> vmsBefore = ids(call(200, "GET", "/v1/vms", null));
        Set<String> snapsBefore = ids(call(200, "GET", "/v1/snapshots", null));
        server.close();
        server = null;

        // The crash.
        String log = crashAt(step, op, target);
        assertTrue(log.contains("CRASH at " + step), log);

        // After: the next server settles everything.
        open();
        server.recovery().get(120, TimeUnit.SECONDS);
        for (var e : mustRun.entrySet()) {
            assertEquals(
                    "running",
                    call(200, "GET", "/v1/vms/" + e.getKey(), null)
                            .get("status")
                            .asText(),
                    e.getKey());
            assertEquals(e.getValue() + "\n", exec(e.getKey(), "cat /root/marker"), "disk writes of " + e.getKey());
        }
        switch (op) {
            case "restore" -> {
                for (JsonNode vm : list("/v1/vms")) {
                    if (vmsBefore.contains(vm.get("id").asText())) continue;
                    String st = vm.get("status").asText();
                    assertTrue(st.equals("running") || st.equals("error"), "the restore ended: " + st);
                    if (st.equals("running"))
                        assertEquals("base\n", exec(vm.get("id").asText(), "cat /root/marker"));
                }
            }
            case "snapshot of a clone (live)", "snapshot of a launched VM (re-home)" -> {
                for (JsonNode s : list("/v1/snapshots")) {
                    if (snapsBefore.contains(s.get("id").asText())) continue;
                    String st = s.get("status").asText();
                    assertTrue(st.equals("ready") || st.equals("error"), "the snapshot ended: " + st);
                    if (st.equals("ready")) { // complete: it restores, with the disk as it was
                        String c = call(
                                        201,
                                        "POST",
                                        "/v1/vms",
                                        "{\"snapshotId\":\"" + s.get("id").asText() + "\"}")
                                .get("id")
                                .asText();
                        assertEquals(mustRun.get(target) + "\n", exec(c, "cat /root/marker"));
                    }
                }
            }
            case "delete vm" -> {
                call(404, "GET", "/v1/vms/" + target, null);
                assertFalse(Files.exists(data.resolve("vms").resolve(target)), "the delete was finished");
            }
            default -> { // delete snapshot
                call(404, "GET", "/v1/snapshots/" + target, null);
                assertFalse(Files.exists(data.resolve("snapshots").resolve(target)), "the delete was finished");
            }
        }
        assertNothingLeftAndQuotaIsDisk();

        // Tidy for the next case: only base and snap stay.
        for (JsonNode vm : list("/v1/vms"))
            if (!vm.get("id").asText().equals(base))
                call(200, "DELETE", "/v1/vms/" + vm.get("id").asText(), null);
        for (JsonNode s : list("/v1/snapshots"))
            if (!s.get("id").asText().equals(snap))
                call(200, "DELETE", "/v1/snapshots/" + s.get("id").asText(), null);
        assertNothingLeftAndQuotaIsDisk();
        server.close();
        server = null;
    }

    /** No file or QEMU without a live row, no snapshot temp dir, and disk quota = the disks on the host. */
    private static void assertNothingLeftAndQuotaIsDisk() throws Exception {
        assertEquals(List.of(), server.audit(), "rows and files agree");
        try (var s = Files.list(data.resolve("snapshots"))) {
            assertEquals(
                    List.of(),
                    s.map(p -> p.getFileName().toString())
                            .filter(n -> n.startsWith(".tmp"))
                            .toList(),
                    "no snapshot temp dir");
        }
        Set<Long> vmQemus = new HashSet<>();
        long disk = 0, vcpu = 0;
        for (JsonNode vm : list("/v1/vms")) {
            Path dir = data.resolve("vms").resolve(vm.get("id").asText());
            if (Files.isDirectory(dir)) disk += vm.get("diskGiB").asLong();
            if (vm.get("status").asText().equals("running")) {
                vcpu += vm.get("cpu").asLong();
                vmQemus.add(Long.parseLong(Files.readString(dir.resolve("pid")).strip()));
            }
        }
        for (long pid : qemusOf(data)) {
            String cmd = cmdline(pid);
            assertTrue(vmQemus.contains(pid) || cmd.contains(data.resolve("pool") + "/"), "a QEMU no VM owns: " + cmd);
        }
        JsonNode usage = call(200, "GET", "/v1/org/quotas", null).get("usage");
        assertEquals(disk, usage.get("diskGiB").asLong(), "disk quota = the disks on the host");
        assertEquals(vcpu, usage.get("vcpu").asLong(), "vCPU quota = the running VMs");
    }

    /** Runs the child server, sends it the operation, and returns its log once it has died. */
    private static String crashAt(String step, String op, String target) throws Exception {
        Path log = data.resolve("child-" + step + ".log");
        Process child = new ProcessBuilder(
                        ProcessHandle.current().info().command().orElseThrow(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        ServerCrashChild.class.getName(),
                        data.toString(),
                        step)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        try {
            URI url = awaitUrl(child, log);
            String body = switch (op) {
                case "restore" -> "{\"snapshotId\":\"" + target + "\"}";
                case "snapshot of a clone (live)", "snapshot of a launched VM (re-home)" ->
                    "{\"vmId\":\"" + target + "\"}";
                default -> null;
            };
            String method = op.startsWith("delete") ? "DELETE" : "POST";
            String path = switch (op) {
                case "restore" -> "/v1/vms";
                case "delete vm" -> "/v1/vms/" + target;
                case "delete snapshot" -> "/v1/snapshots/" + target;
                default -> "/v1/snapshots";
            };
            try {
                send(url, method, path, body);
            } catch (IOException e) {
                // the server died while answering: the crash under test
            }
            assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child server did not reach " + step);
            assertEquals(137, child.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
            return Files.readString(log, StandardCharsets.UTF_8);
        } finally {
            child.destroyForcibly();
            child.waitFor();
        }
    }

    private static URI awaitUrl(Process child, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (line.startsWith("URL ")) return URI.create(line.substring(4).strip());
            }
            assertTrue(child.isAlive(), () -> "the child server died: " + readQuietly(log));
            child.waitFor(50, TimeUnit.MILLISECONDS); // polling its log file
        }
        throw new AssertionError("the child server did not start: " + readQuietly(log));
    }

    private static void open() throws Exception {
        server = FastVmServer.start(ServerCrashChild.config(data), RealEngine.openDebian(data, FaultHook.NONE));
        server.recovery().get(120, TimeUnit.SECONDS);
    }

    private static String clone(String marker) throws Exception {
        String c = call(201, "POST", "/v1/vms", "{\"snapshotId\":\"" + snap + "\"}")
                .get("id")
                .asText();
        write(c, marker);
        return c;
    }

    /** Writes {@code marker} to /root/marker and syncs it: an acknowledged disk write. */
    private static void write(String vm, String marker) throws Exception {
        exec(vm, "echo " + marker + " > /root/marker && sync");
    }

    private static String marker(String vm) throws Exception {
        return exec(vm, "cat /root/marker").strip();
    }

    private static String snapshotReady(String vm) throws Exception {
        String id = call(201, "POST", "/v1/snapshots", "{\"vmId\":\"" + vm + "\"}")
                .get("id")
                .asText();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        String st = call(200, "GET", "/v1/snapshots/" + id, null).get("status").asText();
        while (st.equals("creating")) {
            assertTrue(System.nanoTime() < deadline, "snapshot " + id + " still creating");
            Thread.sleep(50); // client-style polling
            st = call(200, "GET", "/v1/snapshots/" + id, null).get("status").asText();
        }
        assertEquals("ready", st);
        return id;
    }

    private static String exec(String vm, String script) throws Exception {
        JsonNode r = call(
                200,
                "POST",
                "/v1/vms/" + vm + "/exec",
                ModelJson.write(ModelJson.MAPPER
                        .createObjectNode()
                        .set("command", ModelJson.MAPPER.valueToTree(List.of("sh", "-c", script)))));
        assertEquals(0, r.get("exitCode").asInt(), () -> script + ": " + r.get("stderr"));
        return r.get("stdout").asText();
    }

    private static List<JsonNode> list(String path) throws Exception {
        JsonNode n = call(200, "GET", path, null);
        List<JsonNode> out = new ArrayList<>();
        (n.isArray() ? n : n.path("data")).forEach(out::add);
        return out;
    }

    private static Set<String> ids(JsonNode list) {
        Set<String> out = new HashSet<>();
        (list.isArray() ? list : list.path("data"))
                .forEach(n -> out.add(n.get("id").asText()));
        return out;
    }

    private static JsonNode call(int status, String method, String path, String body) throws Exception {
        HttpResponse<String> r = send(server.baseUri(), method, path, body);
        String shown = r.body().length() > 300 ? r.body().substring(0, 300) + "…" : r.body();
        assertEquals(status, r.statusCode(), () -> method + " " + path + ": " + shown);
        return r.body().isEmpty() ? ModelJson.MAPPER.nullNode() : ModelJson.MAPPER.readTree(r.body());
    }

    private static HttpResponse<String> send(URI base, String method, String path, String body)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofMinutes(2))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("X-API-Key", key);
        if (body != null) b.header("Content-Type", "application/json");
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** QEMU processes whose command line names a path in {@code dir}. */
    private static List<Long> qemusOf(Path dir) {
        List<Long> out = new ArrayList<>();
        for (ProcessHandle h : ProcessHandle.allProcesses().toList()) {
            String cmd = cmdline(h.pid());
            if (cmd.contains("qemu-system") && cmd.contains(dir.toString())) out.add(h.pid());
        }
        return out;
    }

    private static String cmdline(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"))
                    .replace('\0', ' ');
        } catch (IOException e) {
            return ""; // gone meanwhile
        }
    }

    private static String readQuietly(Path log) {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
