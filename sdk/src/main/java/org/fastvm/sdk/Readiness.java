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
import org.fastvm.sdk.errors.FastVMTimeoutException;

/**
 * Creates a VM or snapshot and waits for it to become ready by polling. Polling starts after
 * 25 ms and backs off by 1.6× with jitter to 1 s, so readiness is seen soon after it happens;
 * a terminal failure ends the wait at once; the deadline ends it with the last status seen;
 * so does the caller completing or cancelling the future (e.g. {@code orTimeout}).
 */
final class Readiness<T> {
  static final Duration FIRST_DELAY = Duration.ofMillis(25);
  static final Duration MAX_DELAY = Duration.ofSeconds(1);

  /** How the waiting reads the resource and judges its state. */
  record Rules<T>(Class<T> type, String noun, Function<T, String> id, Function<T, String> status,
      Predicate<T> ready, Predicate<T> failed, Function<T, FastVMException> failure) {}

  private final HttpCore core;
  private final Rules<T> rules;
  /** Fetches the resource by id within a request timeout. */
  private final BiFunction<String, Duration, CompletableFuture<T>> fetch;
  /** Runs a task after a pause without blocking a thread; tests drive it by hand. */
  private final Function<Duration, Executor> after;

  Readiness(HttpCore core, Rules<T> rules, BiFunction<String, Duration, CompletableFuture<T>> fetch,
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
  CompletableFuture<T> create(String path, Map<String, Object> body, Duration waitLimit) {
    long deadlineNanos = System.nanoTime() + waitLimit.toNanos();
    Duration requestTimeout = waitLimit.compareTo(core.timeout()) < 0 ? waitLimit : core.timeout();
    HttpCore.Call create = new HttpCore.Call("POST", path, body, requestTimeout, TransientRetry.Rule.ONCE, 0,
        "application/json");
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
      pollLater(current, delay, deadlineNanos, result);
    }
  }

  private void pollLater(T last, Duration delay, long deadlineNanos, CompletableFuture<T> result) {
    long remaining = deadlineNanos - System.nanoTime();
    if (remaining <= 0) {
      result.completeExceptionally(timeout(last, null));
      return;
    }
    long jittered = (long) (delay.toNanos() * ThreadLocalRandom.current().nextDouble(0.8, 1.0));
    Duration pause = Duration.ofNanos(Math.min(jittered, remaining));
    Duration next = delay.multipliedBy(8).dividedBy(5);
    Duration nextDelay = next.compareTo(MAX_DELAY) > 0 ? MAX_DELAY : next;
    after.apply(pause).execute(() -> {
      if (result.isDone()) return; // the caller cancelled or stopped waiting: poll no more
      try {
        fetch.apply(rules.id().apply(last), requestTimeout(deadlineNanos)).whenComplete((current, error) -> {
          if (error == null) {
            settle(current, nextDelay, deadlineNanos, result);
            return;
          }
          RuntimeException e = ApiErrors.fromFailure(error, "GET " + rules.noun());
          result.completeExceptionally(e instanceof FastVMTimeoutException ? timeout(last, e) : e);
        });
      } catch (RuntimeException e) { // never leave the caller waiting on a lost task
        result.completeExceptionally(e);
      }
    });
  }

  /** A poll may not outlive the deadline by more than a short grace for the final look. */
  private Duration requestTimeout(long deadlineNanos) {
    Duration left = Duration.ofNanos(deadlineNanos - System.nanoTime());
    Duration floor = Duration.ofMillis(100);
    if (left.compareTo(floor) < 0) return floor;
    return left.compareTo(core.timeout()) < 0 ? left : core.timeout();
  }

  private FastVMTimeoutException timeout(T last, Throwable cause) {
    String id = rules.id().apply(last);
    String lastStatus = rules.status().apply(last);
    return new FastVMTimeoutException(
        rules.noun() + " " + id + " not ready before the deadline; last status: " + lastStatus, id, lastStatus, cause);
  }
}
