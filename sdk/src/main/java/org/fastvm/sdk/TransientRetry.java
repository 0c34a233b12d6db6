package org.fastvm.sdk;

import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;

/**
 * The retry rules, all in one place. A request is repeated only when repeating it cannot do
 * twice what the first did:
 *
 * <ul>
 *   <li>a read ({@code GET}) on 502, 503 or 504, unless the server says {@code x-should-retry:
 *       false};
 *   <li>an exec only on a 502 or 503 that the server marks {@code x-should-retry: true}: the
 *       FastVM server says so only when the command provably never started. Never on 504 (a
 *       gateway sends it after forwarding the request), never on an unmarked 502/503 (a proxy's,
 *       which may also come after forwarding), never after a transport failure or timeout;
 *   <li>a create or change: never;
 *   <li>a readiness poll (the {@code GET}s of launch, restore and snapshot) on 408, 409, 429, any
 *       5xx, a transport failure or a timed-out poll, until the wait's deadline: giving up would
 *       lose track of a resource that exists.
 * </ul>
 */
final class TransientRetry {
    static final int DEFAULT_RETRIES = 3;
    private static final Duration MAX_SERVER_HINT = Duration.ofSeconds(10);

    /** What a call is, which decides the answers it may be repeated on. */
    enum Rule {
        /** A read: repeating it changes nothing. */
        READ,
        /** An exec: repeating it could run the command twice. */
        EXEC,
        /** A create or change, or a poll whose loop retries by itself: sent once. */
        ONCE
    }

    private TransientRetry() {}

    static boolean shouldRetry(Rule rule, int status, HttpHeaders headers, int attempt, int maxRetries) {
        if (attempt >= maxRetries) return false;
        Optional<String> serverSays = headers.firstValue("x-should-retry");
        return switch (rule) {
            // The server has the last word when it says no.
            case READ ->
                (status == 502 || status == 503 || status == 504)
                        && !serverSays.map("false"::equalsIgnoreCase).orElse(false);
            // Only the server can know that the command never started; it says so explicitly.
            case EXEC ->
                (status == 502 || status == 503)
                        && serverSays.map("true"::equalsIgnoreCase).orElse(false);
            case ONCE -> false;
        };
    }

    /**
     * Whether a failed readiness poll is tried again, until the wait's deadline: on 408, 409, 429
     * and 5xx (whatever {@code x-should-retry} says: the GET changes nothing, and stopping would
     * lose the resource), transport failures and timeouts. Not on other statuses (401, 403, 404:
     * asking again will not help), nor on anything else (e.g. a closed client).
     */
    static boolean pollMayRetry(RuntimeException failure) {
        if (failure instanceof FastVMServiceException e) {
            int s = e.status();
            return s == 408 || s == 409 || s == 429 || (s >= 500 && s <= 599);
        }
        return failure instanceof FastVMConnectionException || failure instanceof FastVMTimeoutException;
    }

    /** Honours {@code retry-after-ms} then {@code Retry-After} (seconds), else 100 ms × 2^n with jitter. */
    static Duration delay(HttpHeaders headers, int attempt) {
        return serverHint(headers).orElseGet(() -> {
            long base = Math.min(2000, 100L << Math.min(attempt, 10));
            return Duration.ofMillis((long) (base * ThreadLocalRandom.current().nextDouble(0.75, 1.0)));
        });
    }

    /** The pause the server asks for: {@code retry-after-ms}, else {@code Retry-After} in seconds; at most 10 s. */
    static Optional<Duration> serverHint(HttpHeaders headers) {
        if (headers == null) return Optional.empty();
        return headers.firstValue("retry-after-ms")
                .flatMap(v -> parse(v, false))
                .or(() -> headers.firstValue("Retry-After").flatMap(v -> parse(v, true)))
                .map(hint -> hint.compareTo(MAX_SERVER_HINT) > 0 ? MAX_SERVER_HINT : hint);
    }

    private static Optional<Duration> parse(String v, boolean seconds) {
        try {
            double d = Double.parseDouble(v.trim());
            if (d < 0 || Double.isNaN(d)) return Optional.empty();
            return Optional.of(Duration.ofMillis((long) (seconds ? d * 1000 : d)));
        } catch (NumberFormatException httpDate) {
            return Optional.empty();
        }
    }
}
