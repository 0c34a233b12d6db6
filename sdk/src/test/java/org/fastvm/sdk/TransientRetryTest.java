package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpHeaders;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.fastvm.sdk.TransientRetry.Rule;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The retry rules and their pauses, without a server. */
class TransientRetryTest {
    private static HttpHeaders headers(String... nameValue) {
        Map<String, List<String>> map = new java.util.HashMap<>();
        for (int i = 0; i + 1 < nameValue.length; i += 2) map.put(nameValue[i], List.of(nameValue[i + 1]));
        return HttpHeaders.of(map, (n, v) -> true);
    }

    @ParameterizedTest
    @ValueSource(ints = {502, 503, 504})
    void readsRetryTransientStatusesUpToTheLimit(int status) {
        assertTrue(TransientRetry.shouldRetry(Rule.READ, status, headers(), 0, 3));
        assertTrue(TransientRetry.shouldRetry(Rule.READ, status, headers(), 2, 3));
        assertFalse(TransientRetry.shouldRetry(Rule.READ, status, headers(), 3, 3), "the limit counts retries");
        assertFalse(TransientRetry.shouldRetry(Rule.READ, status, headers(), 0, 0));
    }

    @ParameterizedTest
    @ValueSource(ints = {400, 404, 408, 409, 429, 500, 501, 505})
    void readsRetryNoOtherStatus(int status) {
        assertFalse(TransientRetry.shouldRetry(Rule.READ, status, headers(), 0, 3));
        assertFalse(TransientRetry.shouldRetry(Rule.READ, status, headers("x-should-retry", "true"), 0, 3));
    }

    @Test
    void theServerSayingNoWinsForReads() {
        assertFalse(TransientRetry.shouldRetry(Rule.READ, 503, headers("x-should-retry", "false"), 0, 3));
        assertFalse(TransientRetry.shouldRetry(Rule.READ, 503, headers("x-should-retry", "FALSE"), 0, 3));
    }

    @ParameterizedTest
    @ValueSource(ints = {502, 503})
    void execIsRetriedOnlyWhenTheServerMarksItsCommandNotStarted(int status) {
        assertTrue(TransientRetry.shouldRetry(Rule.EXEC, status, headers("x-should-retry", "true"), 0, 3));
        assertTrue(TransientRetry.shouldRetry(Rule.EXEC, status, headers("x-should-retry", "TRUE"), 2, 3));
        assertFalse(TransientRetry.shouldRetry(Rule.EXEC, status, headers("x-should-retry", "true"), 3, 3));
        assertFalse(
                TransientRetry.shouldRetry(Rule.EXEC, status, headers(), 0, 3),
                "an unmarked 502/503 may be a proxy's, sent after it forwarded the command");
        assertFalse(TransientRetry.shouldRetry(Rule.EXEC, status, headers("x-should-retry", "false"), 0, 3));
    }

    @ParameterizedTest
    @ValueSource(ints = {400, 404, 408, 409, 429, 500, 501, 504, 505})
    void execIsNeverRetriedOnOtherStatusesEvenWhenTheServerInvitesIt(int status) {
        assertFalse(TransientRetry.shouldRetry(Rule.EXEC, status, headers(), 0, 3));
        assertFalse(
                TransientRetry.shouldRetry(Rule.EXEC, status, headers("x-should-retry", "true"), 0, 3),
                "a command that may have started must not run twice");
    }

    @ParameterizedTest
    @ValueSource(ints = {429, 500, 502, 503, 504})
    void createsAndChangesAreNeverRetried(int status) {
        assertFalse(TransientRetry.shouldRetry(Rule.ONCE, status, headers("x-should-retry", "true"), 0, 3));
    }

    @ParameterizedTest
    @ValueSource(ints = {408, 409, 429, 500, 502, 503, 504, 599})
    void pollsRetryStatusesThatMayPass(int status) {
        assertTrue(TransientRetry.pollMayRetry(service(status, headers())));
        assertTrue(
                TransientRetry.pollMayRetry(service(status, headers("x-should-retry", "false"))),
                "a GET changes nothing: the wait's deadline bounds it");
    }

    @ParameterizedTest
    @ValueSource(ints = {400, 401, 403, 404, 422})
    void pollsDoNotRetryStatusesThatWillNotPass(int status) {
        assertFalse(TransientRetry.pollMayRetry(service(status, headers())));
    }

    @Test
    void pollsRetryTransportFailuresAndTimeoutsButNotAClosedClient() {
        assertTrue(TransientRetry.pollMayRetry(new FastVMConnectionException("reset", null)));
        assertTrue(TransientRetry.pollMayRetry(new FastVMTimeoutException("poll timed out", null, null, null)));
        assertFalse(TransientRetry.pollMayRetry(new FastVMException("GET /v1/vms/x failed: closed")));
        assertFalse(TransientRetry.pollMayRetry(new IllegalStateException("closed")));
    }

    private static FastVMServiceException service(int status, HttpHeaders h) {
        return ApiErrors.fromResponse(status, h, new byte[0]);
    }

    @Test
    void pauseFollowsRetryAfterMsThenRetryAfterCappedAtTenSeconds() {
        assertEquals(
                Duration.ofMillis(250), TransientRetry.delay(headers("retry-after-ms", "250", "Retry-After", "7"), 0));
        assertEquals(Duration.ofSeconds(2), TransientRetry.delay(headers("Retry-After", "2"), 0));
        assertEquals(Duration.ofMillis(1500), TransientRetry.delay(headers("Retry-After", "1.5"), 0));
        assertEquals(Duration.ofSeconds(10), TransientRetry.delay(headers("Retry-After", "120"), 0));
    }

    @Test
    void withoutAUsableHintThePauseBacksOffWithJitter() {
        // An HTTP-date or a negative value is ignored in favour of 100 ms x 2^n, jittered to 75-100 %.
        for (HttpHeaders h : List.of(
                headers(), headers("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT"), headers("retry-after-ms", "-5"))) {
            for (int attempt = 0; attempt < 3; attempt++) {
                long max = 100L << attempt;
                long ms = TransientRetry.delay(h, attempt).toMillis();
                assertTrue(ms >= max * 3 / 4 && ms <= max, "attempt " + attempt + ": " + ms + " ms");
            }
        }
        assertTrue(TransientRetry.delay(headers(), 30).toMillis() <= 2000, "capped");
    }
}
