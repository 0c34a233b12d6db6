package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.stream.Collectors;
import org.fastvm.sdk.errors.ConflictException;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.Test;

/** Streaming exec over NDJSON, blocking and async. */
class StreamTest extends WithTestServer {
    static final String EXEC = "/v1/vms/" + Fixtures.VM_ID + "/exec";
    static final String NDJSON = "application/x-ndjson";
    static final byte[] BINARY = {0, (byte) 0xff, (byte) 0xfe, 10, 13, 'a'};

    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** Lines cut mid-object and mid-base64 across separate writes; exit with c and to omitted. */
    private static TestServer.Reply splitStream() {
        String out = "{\"t\":\"o\",\"d\":\"" + b64("hello ") + "\"}\n";
        String err = "{\"t\":\"e\",\"d\":\"" + Base64.getEncoder().encodeToString(BINARY) + "\"}\n";
        String out2 = "{\"t\":\"o\",\"d\":\"" + b64("world\n") + "\"}\n";
        String exit = "{\"t\":\"x\",\"ms\":42}\n";
        String all = out + err + out2 + exit;
        return TestServer.chunks(
                200,
                NDJSON,
                all.substring(0, 7),
                all.substring(7, out.length() + 9),
                all.substring(out.length() + 9, out.length() + err.length() - 1),
                all.substring(out.length() + err.length() - 1, all.length() - 3),
                all.substring(all.length() - 3));
    }

    @Test
    void blockingStreamParsesSplitLinesBase64AndOmittedFields() {
        server.on("POST", EXEC, splitStream());
        List<ExecEvent> events;
        try (ExecStream stream = client.stream(Fixtures.VM_ID, "echo hello world", RunOptions.defaults())) {
            events = stream.stream().collect(Collectors.toList());
            assertEquals(new ExecEvent.Exit(0, false, 42), stream.exit());
        }
        assertEquals(4, events.size(), events.toString());
        assertEquals("hello ", ((ExecEvent.Stdout) events.get(0)).text());
        assertArrayEquals(BINARY, ((ExecEvent.Stderr) events.get(1)).data());
        assertEquals("world\n", ((ExecEvent.Stdout) events.get(2)).text());
        assertEquals(new ExecEvent.Exit(0, false, 42), events.get(3));

        TestServer.Hit hit = server.apiHits().get(0);
        assertEquals(NDJSON, hit.header("Accept"));
        assertEquals("sh", hit.json().at("/command/0").asText());
    }

    @Test
    void exitCarriesCodeAndTimeoutWhenPresent() {
        server.on("POST", EXEC, TestServer.chunks(200, NDJSON, "{\"t\":\"x\",\"c\":137,\"to\":true,\"ms\":5000}\n"));
        try (ExecStream stream = client.stream(
                Fixtures.VM_ID,
                List.of("sleep", "99"),
                RunOptions.builder().timeoutSec(5).build())) {
            List<ExecEvent> events = new ArrayList<>();
            stream.forEach(events::add);
            assertEquals(List.of(new ExecEvent.Exit(137, true, 5000)), events);
        }
        assertEquals(5, server.apiHits().get(0).json().get("timeoutSec").asInt());
    }

    @Test
    void unknownEventKindsAndBlankLinesAreSkipped() {
        server.on(
                "POST",
                EXEC,
                TestServer.chunks(
                        200,
                        NDJSON,
                        "{\"t\":\"future\",\"z\":1}\n\n{\"t\":\"o\",\"d\":\"" + b64("x")
                                + "\"}\n{\"t\":\"x\",\"ms\":1}"));
        try (ExecStream stream = client.stream(Fixtures.VM_ID, "x", RunOptions.defaults())) {
            List<ExecEvent> events = stream.stream().collect(Collectors.toList());
            assertEquals(
                    List.of(
                            new ExecEvent.Stdout("x".getBytes(StandardCharsets.UTF_8)),
                            new ExecEvent.Exit(0, false, 1)),
                    events);
        }
    }

    @Test
    void streamEndingWithoutExitIsAConnectionFailure() {
        server.on("POST", EXEC, TestServer.chunks(200, NDJSON, "{\"t\":\"o\",\"d\":\"" + b64("partial") + "\"}\n"));
        try (ExecStream stream = client.stream(Fixtures.VM_ID, "x", RunOptions.defaults())) {
            var it = stream.iterator();
            assertEquals("partial", ((ExecEvent.Stdout) it.next()).text());
            assertThrows(FastVMConnectionException.class, it::hasNext);
        }
    }

    @Test
    void errorStatusIsThrownBeforeAnyEventAndTransientOnesAreRetried() {
        server.on("POST", EXEC, TestServer.error(409, "vm_not_running", "stopped"));
        assertThrows(ConflictException.class, () -> client.stream(Fixtures.VM_ID, "x", RunOptions.defaults()));
        assertEquals(1, server.count("POST", EXEC));

        server.reset();
        server.on("POST", EXEC, RunTest.notStarted(503), splitStream());
        try (ExecStream stream = client.stream(Fixtures.VM_ID, "x", RunOptions.defaults())) {
            assertEquals(4, stream.stream().count());
        }
        assertEquals(2, server.count("POST", EXEC));
    }

    @Test
    void aGatewayTimeoutIsNeverRetried() {
        server.on("POST", EXEC, RunTest.gatewayTimeout(), splitStream());
        InternalServerException e = assertThrows(
                InternalServerException.class, () -> client.stream(Fixtures.VM_ID, "x", RunOptions.defaults()));
        assertEquals(504, e.status());
        assertEquals(1, server.count("POST", EXEC), "sent once");
    }

    @Test
    void asyncStreamDeliversEventsInOrderToTheCallback() {
        server.on("POST", EXEC, splitStream());
        List<ExecEvent> seen = new ArrayList<>();
        ExecEvent.Exit exit = client.async().stream(Fixtures.VM_ID, List.of("echo"), RunOptions.defaults(), seen::add)
                .join();
        assertEquals(new ExecEvent.Exit(0, false, 42), exit);
        assertEquals(4, seen.size());
        assertEquals("hello ", ((ExecEvent.Stdout) seen.get(0)).text());
        assertArrayEquals(BINARY, ((ExecEvent.Stderr) seen.get(1)).data());
        assertEquals(exit, seen.get(3));
    }

    @Test
    void streamTakesTheVmOrItsIdAndAShellStringOrArgvOnBothFaces() {
        server.on("POST", EXEC, TestServer.chunks(200, NDJSON, "{\"t\":\"x\",\"ms\":1}\n"));
        VM vm = new VM(
                Fixtures.VM_ID, "n", "o", "c1m2", 1, 2048, 10, VMStatus.RUNNING, null, null, null, null, null, null);
        try (ExecStream s = client.stream(vm, List.of("ls", "/"), RunOptions.defaults())) {
            assertEquals(1, s.stream().count());
        }
        client.async().stream(Fixtures.VM_ID, "ls /", ev -> {}).join();
        client.async().stream(vm, List.of("ls", "/"), ev -> {}).join();
        List<String> commands = server.apiHits().stream()
                .map(h -> h.json().get("command").toString())
                .toList();
        assertEquals(List.of("[\"ls\",\"/\"]", "[\"sh\",\"-c\",\"ls /\"]", "[\"ls\",\"/\"]"), commands);
    }

    @Test
    void asyncStreamFailsWhenTheCallbackThrows() {
        server.on("POST", EXEC, splitStream());
        CompletionException e = assertThrows(
                CompletionException.class,
                () -> client.async().stream(Fixtures.VM_ID, List.of("echo"), RunOptions.defaults(), ev -> {
                            throw new IllegalStateException("consumer gave up");
                        })
                        .join());
        assertInstanceOf(IllegalStateException.class, e.getCause());
    }

    @Test
    void asyncStreamWithoutExitFails() {
        server.on("POST", EXEC, TestServer.chunks(200, NDJSON, "{\"t\":\"o\",\"d\":\"" + b64("p") + "\"}\n"));
        CompletionException e = assertThrows(
                CompletionException.class,
                () -> client.async().stream(Fixtures.VM_ID, List.of("echo"), RunOptions.defaults(), ev -> {})
                        .join());
        assertInstanceOf(FastVMConnectionException.class, e.getCause());
    }
}
