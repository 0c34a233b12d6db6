package org.fastvm.sdk;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMTimeoutException;

/**
 * Waits for a VM or snapshot to become ready by polling. Polling starts after 25 ms and backs
 * off by 1.6× with jitter to 1 s, so readiness is seen soon after it happens; a terminal
 * failure ends the wait at once; the deadline ends it with the last status seen.
 */
final class Readiness<T> {
  static final Duration FIRST_DELAY = Duration.ofMillis(25);
  static final Duration MAX_DELAY = Duration.ofSeconds(1);

  private final HttpCore core;
  private final String noun;
  private final Function<T, String> id;
  private final Function<T, String> status;
  private final Predicate<T> ready;
  private final Predicate<T> failed;
  private final Function<T, FastVMException> failure;
  private final BiFunction<String, Duration, CompletableFuture<T>> fetch;

  Readiness(HttpCore core, String noun, Function<T, String> id, Function<T, String> status,
      Predicate<T> ready, Predicate<T> failed, Function<T, FastVMException> failure,
      BiFunction<String, Duration, CompletableFuture<T>> fetch) {
    this.core = core;
    this.noun = noun;
    this.id = id;
    this.status = status;
    this.ready = ready;
    this.failed = failed;
    this.failure = failure;
    this.fetch = fetch;
  }

  /** Resolves with {@code first} if it is already ready (no polling), else polls until the deadline. */
  CompletableFuture<T> await(T first, long deadlineNanos) {
    if (id.apply(first) == null || id.apply(first).isEmpty()) {
      return CompletableFuture.failedFuture(new FastVMConnectionException(
          "the server's answer describes a " + noun + " without an id; cannot wait for it", null));
    }
    if (ready.test(first)) return CompletableFuture.completedFuture(first);
    if (failed.test(first)) return CompletableFuture.failedFuture(failure.apply(first));
    return poll(first, FIRST_DELAY, deadlineNanos);
  }

  private CompletableFuture<T> poll(T last, Duration delay, long deadlineNanos) {
    long remaining = deadlineNanos - System.nanoTime();
    if (remaining <= 0) return CompletableFuture.failedFuture(timeout(last, null));
    long jittered = (long) (delay.toNanos() * ThreadLocalRandom.current().nextDouble(0.8, 1.0));
    Duration pause = Duration.ofNanos(Math.min(jittered, remaining));
    Duration next = delay.multipliedBy(8).dividedBy(5);
    Duration nextDelay = next.compareTo(MAX_DELAY) > 0 ? MAX_DELAY : next;
    return CompletableFuture.supplyAsync(() -> null, core.after(pause))
        .thenCompose(x -> fetch.apply(id.apply(last), requestTimeout(deadlineNanos)))
        .handle((current, error) -> {
          if (error != null) {
            RuntimeException e = ApiErrors.fromFailure(error, "GET " + noun);
            return CompletableFuture.<T>failedFuture(
                e instanceof FastVMTimeoutException ? timeout(last, e) : e);
          }
          if (ready.test(current)) return CompletableFuture.completedFuture(current);
          if (failed.test(current)) return CompletableFuture.<T>failedFuture(failure.apply(current));
          return poll(current, nextDelay, deadlineNanos);
        })
        .thenCompose(f -> f);
  }

  /** A poll may not outlive the deadline by more than a short grace for the final look. */
  private Duration requestTimeout(long deadlineNanos) {
    Duration left = Duration.ofNanos(deadlineNanos - System.nanoTime());
    Duration floor = Duration.ofMillis(100);
    if (left.compareTo(floor) < 0) return floor;
    return left.compareTo(core.timeout()) < 0 ? left : core.timeout();
  }

  private FastVMTimeoutException timeout(T last, Throwable cause) {
    String lastStatus = status.apply(last);
    return new FastVMTimeoutException(
        noun + " " + id.apply(last) + " not ready before the deadline; last status: " + lastStatus,
        id.apply(last), lastStatus, cause);
  }
}
