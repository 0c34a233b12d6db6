package org.fastvm.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The admin commands against a real SQLite data dir. */
class AdminCommandsTest {
    @TempDir
    Path dir;

    /** Runs the command line; returns exit code and captured stdout lines. */
    private record Run(int code, List<String> out) {}

    private Run run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, buf.toString(StandardCharsets.UTF_8).lines().toList());
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void keysCreatePrintsTheKeyAloneOnTheLastLineThenListAndRevoke() {
        Run created = run("keys", "create", "--org", "acme", "--data-dir", dir.toString());
        assertEquals(0, created.code());
        String key = created.out().get(created.out().size() - 1);
        assertTrue(key.matches("fvm_[A-Za-z0-9_-]{43}"), key);
        Run list = run("keys", "list", "--data-dir", dir.toString());
        assertEquals(0, list.code());
        String row =
                list.out().stream().filter(l -> l.contains("acme")).findFirst().orElseThrow();
        assertTrue(row.contains(key.substring(0, 12)), row);
        assertFalse(String.join("\n", list.out()).contains(key), "list never shows a secret");
        String id = row.split("\\s+", -1)[0];
        assertEquals(0, run("keys", "revoke", id, "--data-dir", dir.toString()).code());
        assertTrue(run("keys", "list", "--data-dir", dir.toString()).out().stream()
                .filter(l -> l.startsWith(id))
                .findFirst()
                .orElseThrow()
                .matches(".*\\d{4}-\\d\\d-\\d\\dT.*\\d{4}-\\d\\d-\\d\\dT.*"));
        assertEquals(1, run("keys", "revoke", id, "--data-dir", dir.toString()).code(), "revoking twice fails");
        assertEquals(1, run("keys", "create", "--data-dir", dir.toString()).code(), "--org is required");
    }

    @Test
    void quotaSetMergesOverrides() {
        run("keys", "create", "--org", "acme", "--data-dir", dir.toString());
        assertEquals(
                0,
                run("quota", "set", "--org", "acme", "--vcpu", "4", "--data-dir", dir.toString())
                        .code());
        Run shown = run("quota", "set", "--org", "acme", "--snapshots", "7", "--data-dir", dir.toString());
        assertTrue(
                shown.out().stream().anyMatch(l -> l.matches("vcpu\\s+0\\s+4")),
                shown.out().toString());
        assertTrue(
                shown.out().stream().anyMatch(l -> l.matches("snapshotCount\\s+0\\s+7")),
                shown.out().toString());
        assertEquals(
                1,
                run("quota", "set", "--org", "acme", "--data-dir", dir.toString())
                        .code(),
                "needs a limit");
        assertEquals(
                1,
                run("quota", "show", "--org", "nobody", "--data-dir", dir.toString())
                        .code());
    }

    @Test
    void clientConfigIsOwnerOnly() throws Exception {
        Path f = dir.resolve("cfg/fastvm/config.json");
        ClientConfig.write(f, "fvm_x", "http://127.0.0.1:8080");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
        String json = Files.readString(f);
        assertTrue(
                json.contains("\"apiKey\" : \"fvm_x\"") && json.contains("\"baseUrl\" : \"http://127.0.0.1:8080\""),
                json);
    }

    @Test
    void runKeepsTheCommandsOwnOptions() {
        var parsed = Main.commandLine().parseArgs("run", "--timeout-sec", "5", "vm-1", "uname", "-m", "--help");
        ClientCommands.Run run =
                (ClientCommands.Run) parsed.subcommand().commandSpec().userObject();
        assertEquals("vm-1", run.vmId);
        assertEquals(List.of("uname", "-m", "--help"), run.command);
        assertEquals(5, run.timeoutSec);
    }

    @Test
    void clientCommandsWithoutAnyKeySayHowToGetOne() {
        Path missing = dir.resolve("nothing.json");
        assertEquals(
                1,
                run("ls", "--client-config", missing.toString(), "--api-key", "")
                        .code());
    }

    @Test
    void bindIsParsed() {
        assertEquals(new ServeCommand.HostPort("0.0.0.0", 9000), ServeCommand.HostPort.parse("0.0.0.0:9000"));
        assertEquals(new ServeCommand.HostPort("::1", 8080), ServeCommand.HostPort.parse("[::1]:8080"));
        assertEquals(new ServeCommand.HostPort("127.0.0.1", 80), ServeCommand.HostPort.parse(":80"));
        assertThrows(IllegalArgumentException.class, () -> ServeCommand.HostPort.parse("localhost"));
        assertThrows(IllegalArgumentException.class, () -> ServeCommand.HostPort.parse("h:99999"));
        var metrics =
                assertThrows(IllegalArgumentException.class, () -> ServeCommand.HostPort.parse("--metrics-bind", "x"));
        assertTrue(metrics.getMessage().startsWith("--metrics-bind: expected HOST:PORT"), metrics.getMessage());
    }

    @Test
    void connectionTimeoutsAreFlagsWithApiSizedDefaults() {
        ServeCommand serve = new ServeCommand();
        new picocli.CommandLine(serve).parseArgs("--read-timeout-sec", "7");
        if (System.getenv("FASTVM_IDLE_TIMEOUT_SEC") == null) assertEquals(60, serve.idleTimeoutSec);
        assertEquals(7, serve.readTimeoutSec);
        var config = org.fastvm.server.ServerConfig.defaults(dir);
        assertEquals(java.time.Duration.ofSeconds(60), config.idleTimeout());
        assertEquals(java.time.Duration.ofSeconds(30), config.readTimeout());
        var zero = assertThrows(
                IllegalArgumentException.class,
                () -> config.withTimeouts(java.time.Duration.ofSeconds(1), java.time.Duration.ZERO));
        assertTrue(zero.getMessage().startsWith("read-timeout"), zero.getMessage());
    }
}
