package org.fastvm.sdk;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.WaitFailedException;

/**
 * Creates a VM or snapshot and waits for it to become ready by polling. Polling starts after
 * 25 ms and backs off by 1.6× with jitter to 1 s, so readiness is seen soon after it happens;
 * a terminal failure ends the wait at once; the deadline ends it with the last status seen;
 * so does the caller completing or cancelling the future (e.g. {@code orTimeout}).
 *
 * <p>A poll that fails in a way that may pass (408, 409, 429, 5xx, a transport failure or a
 * timed-out poll; {@link TransientRetry#pollMayRetry}) is tried again on the same backoff, or
 * after the server's {@code Retry-After}, until the deadline. Every failure once the create call
 * has answered names the resource and its last status ({@link FastVMException#resourceId()}),
 * so a VM is never left running without its caller knowing its id.
 */
final class Readiness<T> {
    static final Duration FIRST_DELAY = Duration.ofMillis(25);
    static final Duration MAX_DELAY = Duration.ofSeconds(1);

    /** How the waiting reads the resource and judges its state. */
    record Rules<T>(
            Class<T> type,
            String noun,
            Function<T, String> id,
            Function<T, String> status,
            Predicate<T> ready,
            Predicate<T> failed,
            Function<T, FastVMException> failure) {}

    private final HttpCore core;
    private final Rules<T> rules;
    /** Fetches the resource by id within a request timeout. */
    private final BiFunction<String, Duration, CompletableFuture<T>> fetch;
    /** Runs a task after a pause without blocking a thread; tests drive it by hand. */
    private final Function<Duration, Executor> after;

    Readiness(
            HttpCore core,
            Rules<T> rules,
            BiFunction<String, Duration, CompletableFuture<T>> fetch,
            Function<Duration, Executor> after) {
        this.core = core;
        this.rules = rules;
        this.fetch = fetch;
        this.after = after;
    }

    /**
     * {@code POST}s {@code body} to {@code path}, then waits until the resource it answered with
     * is ready; {@code waitLimit} covers both. Creating is not retried: a second POST could create
     * a second resource.
     */
    // whenComplete only forwards into `result`, which the caller holds; its own future carries nothing.
    @SuppressWarnings("FutureReturnValueIgnored")
    CompletableFuture<T> create(String path, Map<String, Object> body, Duration waitLimit) {
        long deadlineNanos = System.nanoTime() + waitLimit.toNanos();
        Duration requestTimeout = waitLimit.compareTo(core.timeout()) < 0 ? waitLimit : core.timeout();
        HttpCore.Call create =
                new HttpCore.Call("POST", path, body, requestTimeout, TransientRetry.Rule.ONCE, 0, "application/json");
        CompletableFuture<T> result = new CompletableFuture<>();
        core.<T>json(create, Json.type(rules.type())).whenComplete((reply, error) -> {
            if (error != null) {
                result.completeExceptionally(ApiErrors.fromFailure(error, create.describe()));
            } else {
                await(reply.body(), deadlineNanos, result);
            }
        });
        return result;
    }

    /** Completes {@code result} with {@code first} if it is already ready (no polling), else polls. */
    void await(T first, long deadlineNanos, CompletableFuture<T> result) {
        String id = rules.id().apply(first);
        if (id == null || id.isEmpty()) {
            result.completeExceptionally(new FastVMConnectionException(
                    "the server's answer describes a " + rules.noun() + " without an id; cannot wait for it", null));
            return;
        }
        settle(first, FIRST_DELAY, deadlineNanos, result);
    }

    /** Ends the wait on a ready or failed resource, else schedules the next look. */
    private void settle(T current, Duration delay, long deadlineNanos, CompletableFuture<T> result) {
        if (rules.ready().test(current)) {
            result.complete(current);
        } else if (rules.failed().test(current)) {
            result.completeExceptionally(rules.failure().apply(current));
        } else {
            pollLater(current, jittered(delay), grown(delay), deadlineNanos, result, null);
        }
    }

    /**
     * After a failed look: looks again (after the server's hint, else the backoff) while the
     * failure may pass and the deadline allows; else ends the wait naming the resource.
     */
    private void retryOrFail(T last, Throwable error, Duration delay, long deadlineNanos, CompletableFuture<T> result) {
        RuntimeException e = ApiErrors.fromFailure(
                error, "GET " + rules.noun() + " " + rules.id().apply(last));
        if (core.isClosed() || !TransientRetry.pollMayRetry(e)) {
            result.completeExceptionally(waitFailed(last, e));
            return;
        }
        Duration hint = e instanceof FastVMServiceException s
                ? TransientRetry.serverHint(s.headers()).orElse(null)
                : null;
        pollLater(last, hint != null ? hint : jittered(delay), grown(delay), deadlineNanos, result, e);
    }

    /**
     * Looks at the resource again after {@code pause} (cut to the deadline); at the deadline, ends
     * the wait with a timeout carrying the last status seen and {@code lastError}, the failure of
     * the look before, if any.
     */
    // whenComplete only forwards into `result`, which the caller holds; its own future carries nothing.
    @SuppressWarnings("FutureReturnValueIgnored")
    private void pollLater(
            T last,
            Duration pause,
            Duration nextDelay,
            long deadlineNanos,
            CompletableFuture<T> result,
            RuntimeException lastError) {
        long remaining = deadlineNanos - System.nanoTime();
        if (remaining <= 0) {
            result.completeExceptionally(timeout(last, lastError));
            return;
        }
        Duration wait = pause.toNanos() < remaining ? pause : Duration.ofNanos(remaining);
        after.apply(wait).execute(() -> {
            if (result.isDone()) return; // the caller cancelled or stopped waiting: poll no more
            try {
                fetch.apply(rules.id().apply(last), requestTimeout(deadlineNanos))
                        .whenComplete((current, error) -> {
                            if (error == null) {
                                settle(current, nextDelay, deadlineNanos, result);
                            } else {
                                retryOrFail(last, error, nextDelay, deadlineNanos, result);
                            }
                        });
            } catch (RuntimeException e) { // never leave the caller waiting on a lost task
                result.completeExceptionally(waitFailed(last, e));
            }
        });
    }

    private static Duration jittered(Duration delay) {
        return Duration.ofNanos(
                (long) (delay.toNanos() * ThreadLocalRandom.current().nextDouble(0.8, 1.0)));
    }

    private static Duration grown(Duration delay) {
        Duration next = delay.multipliedBy(8).dividedBy(5);
        return next.compareTo(MAX_DELAY) > 0 ? MAX_DELAY : next;
    }

    /** A poll may not outlive the deadline by more than a short grace for the final look. */
    private Duration requestTimeout(long deadlineNanos) {
        Duration left = Duration.ofNanos(deadlineNanos - System.nanoTime());
        Duration floor = Duration.ofMillis(100);
        if (left.compareTo(floor) < 0) return floor;
        return left.compareTo(core.timeout()) < 0 ? left : core.timeout();
    }

    private FastVMTimeoutException timeout(T last, RuntimeException lastError) {
        String id = rules.id().apply(last);
        String lastStatus = rules.status().apply(last);
        String why = lastError == null ? "" : "; the last poll failed: " + lastError.getMessage();
        return new FastVMTimeoutException(
                rules.noun() + " " + id + " not ready before the deadline; last status: " + lastStatus + why,
                id,
                lastStatus,
                lastError);
    }

    private WaitFailedException waitFailed(T last, RuntimeException cause) {
        String id = rules.id().apply(last);
        String lastStatus = rules.status().apply(last);
        return new WaitFailedException(
                "waiting for " + rules.noun() + " " + id + " (last status: " + lastStatus
                        + ") failed: " + cause.getMessage() + "; the " + rules.noun()
                        + " may exist: keep its id to wait again or"
                        + " remove it",
                id,
                lastStatus,
                cause);
    }
}
