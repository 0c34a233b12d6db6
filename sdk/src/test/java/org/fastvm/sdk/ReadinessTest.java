package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import org.fastvm.sdk.errors.VmFailedException;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The polling loop driven by hand: pauses, backoff, and stopping when the caller stops waiting. */
class ReadinessTest {
    private final HttpCore core =
            new HttpCore("http://127.0.0.1:9", "k", Duration.ofSeconds(5), null, System::nanoTime);
    private final Queue<Runnable> scheduled = new ArrayDeque<>();
    private final List<Duration> pauses = new ArrayList<>();
    private final List<String> fetched = new ArrayList<>();
    private final Queue<String> statuses = new ArrayDeque<>();

    private final Readiness<VM> readiness = new Readiness<>(
            core,
            new Readiness.Rules<>(
                    VM.class,
                    "VM",
                    VM::id,
                    v -> v.status().asString(),
                    v -> v.status().equals(VMStatus.RUNNING),
                    v -> v.status().isTerminalFailure(),
                    VmFailedException::new),
            (id, timeout) -> {
                fetched.add(id);
                return CompletableFuture.completedFuture(vm(statuses.remove()));
            },
            pause -> task -> {
                pauses.add(pause);
                scheduled.add(task);
            });

    @AfterEach
    void close() {
        core.close();
    }

    private static VM vm(String status) {
        return new VM("vm-1", "n", "o", "c1m2", 1, 2048, 10, VMStatus.of(status), null, null, null, null, null, null);
    }

    private static long deadlineIn(Duration d) {
        return System.nanoTime() + d.toNanos();
    }

    @Test
    void pollsWithGrowingJitteredPausesUntilReady() {
        statuses.addAll(List.of("provisioning", "provisioning", "provisioning", "running"));
        CompletableFuture<VM> result = new CompletableFuture<>();
        readiness.await(vm("provisioning"), deadlineIn(Duration.ofSeconds(60)), result);
        while (!scheduled.isEmpty()) scheduled.remove().run();
        assertEquals(VMStatus.RUNNING, result.join().status());
        assertEquals(4, fetched.size());
        long[] expectedMaxMs = {25, 40, 64, 102};
        for (int i = 0; i < 4; i++) {
            long ms = pauses.get(i).toMillis();
            assertTrue(ms >= expectedMaxMs[i] * 8 / 10 - 1 && ms <= expectedMaxMs[i], "pause " + i + ": " + ms + " ms");
        }
    }

    @Test
    void backoffIsCappedAtOneSecond() {
        for (int i = 0; i < 12; i++) statuses.add("provisioning");
        statuses.add("running");
        CompletableFuture<VM> result = new CompletableFuture<>();
        readiness.await(vm("provisioning"), deadlineIn(Duration.ofSeconds(60)), result);
        while (!scheduled.isEmpty()) scheduled.remove().run();
        assertTrue(result.isDone());
        assertTrue(pauses.stream().allMatch(p -> p.compareTo(Readiness.MAX_DELAY) <= 0), pauses.toString());
        assertTrue(pauses.get(pauses.size() - 1).toMillis() >= 800, "reached the cap: " + pauses);
    }

    @Test
    void aFailedPollIsTriedAgainAfterTheServersRetryAfterAndThenTheBackoff() {
        Queue<CompletableFuture<VM>> answers = new ArrayDeque<>(List.of(
                CompletableFuture.failedFuture(ApiErrors.fromResponse(429, headers("Retry-After", "3"), new byte[0])),
                CompletableFuture.failedFuture(ApiErrors.fromResponse(500, headers(), new byte[0])),
                CompletableFuture.completedFuture(vm("running"))));
        Readiness<VM> scripted = new Readiness<>(
                core,
                new Readiness.Rules<>(
                        VM.class,
                        "VM",
                        VM::id,
                        v -> v.status().asString(),
                        v -> v.status().equals(VMStatus.RUNNING),
                        v -> v.status().isTerminalFailure(),
                        VmFailedException::new),
                (id, timeout) -> answers.remove(),
                pause -> task -> {
                    pauses.add(pause);
                    scheduled.add(task);
                });
        CompletableFuture<VM> result = new CompletableFuture<>();
        scripted.await(vm("provisioning"), deadlineIn(Duration.ofSeconds(60)), result);
        while (!scheduled.isEmpty()) scheduled.remove().run();
        assertEquals(VMStatus.RUNNING, result.join().status());
        assertEquals(Duration.ofSeconds(3), pauses.get(1), "Retry-After after the 429: " + pauses);
        long ms = pauses.get(2).toMillis();
        assertTrue(ms >= 51 && ms <= 64, "the backoff goes on after a failure without a hint: " + pauses);
    }

    private static java.net.http.HttpHeaders headers(String... nameValue) {
        java.util.Map<String, List<String>> map = new java.util.HashMap<>();
        for (int i = 0; i + 1 < nameValue.length; i += 2) map.put(nameValue[i], List.of(nameValue[i + 1]));
        return java.net.http.HttpHeaders.of(map, (n, v) -> true);
    }

    @Test
    void aCallerThatStopsWaitingStopsThePolling() {
        statuses.addAll(List.of("provisioning", "provisioning", "provisioning"));
        CompletableFuture<VM> result = new CompletableFuture<>();
        readiness.await(vm("provisioning"), deadlineIn(Duration.ofSeconds(60)), result);
        scheduled.remove().run();
        assertEquals(1, fetched.size());
        result.cancel(true); // as a caller's cancel, orTimeout or an interrupted blocking call does
        scheduled.remove().run(); // the look that was already scheduled
        assertEquals(1, fetched.size(), "no request after the caller stopped waiting");
        assertTrue(scheduled.isEmpty(), "nothing more scheduled");
    }
}
