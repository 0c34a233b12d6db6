package org.fastvm.sdk;

import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The one retry rule: a request is repeated only when the server answered 502, 503 or 504
 * (the request provably did not take effect), never on other statuses and never after a
 * transport failure or timeout, when a command may already have started.
 */
final class TransientRetry {
  static final int DEFAULT_RETRIES = 3;
  private static final Duration MAX_SERVER_HINT = Duration.ofSeconds(10);

  private TransientRetry() {}

  static boolean shouldRetry(int status, HttpHeaders headers, int attempt, int maxRetries) {
    if (attempt >= maxRetries) return false;
    if (status != 502 && status != 503 && status != 504) return false;
    // The server has the last word when it says no.
    return !headers.firstValue("x-should-retry").map("false"::equalsIgnoreCase).orElse(false);
  }

  /** Honours {@code retry-after-ms} then {@code Retry-After} (seconds), else 100 ms × 2^n with jitter. */
  static Duration delay(HttpHeaders headers, int attempt) {
    Duration hint = headers.firstValue("retry-after-ms").flatMap(v -> parse(v, false))
        .or(() -> headers.firstValue("Retry-After").flatMap(v -> parse(v, true)))
        .orElse(null);
    if (hint != null) return hint.compareTo(MAX_SERVER_HINT) > 0 ? MAX_SERVER_HINT : hint;
    long base = Math.min(2000, 100L << Math.min(attempt, 10));
    return Duration.ofMillis((long) (base * ThreadLocalRandom.current().nextDouble(0.75, 1.0)));
  }

  private static java.util.Optional<Duration> parse(String v, boolean seconds) {
    try {
      double d = Double.parseDouble(v.trim());
      if (d < 0 || Double.isNaN(d)) return java.util.Optional.empty();
      return java.util.Optional.of(Duration.ofMillis((long) (seconds ? d * 1000 : d)));
    } catch (NumberFormatException httpDate) {
      return java.util.Optional.empty();
    }
  }
}
