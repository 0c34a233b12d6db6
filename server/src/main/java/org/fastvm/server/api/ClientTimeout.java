package org.fastvm.server.api;

import java.time.Duration;
import java.util.Optional;

/**
 * The client's own request timeout, as the official Stainless-generated SDKs announce it:
 * {@code x-stainless-read-timeout} (Python, seconds, may be fractional: httpx's read timeout)
 * and {@code X-Stainless-Timeout} (TypeScript, whole seconds: its fetch timeout, which runs
 * until the response headers arrive). When that timeout passes, those clients give up
 * and — for launch and exec — retry; the server uses it to answer in time (launch) or to
 * treat the client as gone (exec). Values are parsed leniently: garbage, zero, negative or
 * absurd values are ignored, never an error, because the headers are advisory.
 */
final class ClientTimeout {
    /** Python's header (httpx read timeout). */
    static final String PYTHON_HEADER = "x-stainless-read-timeout";
    /** TypeScript's header (total fetch timeout until headers). */
    static final String TS_HEADER = "X-Stainless-Timeout";
    /** Anything longer is not a real deadline worth acting on (a year). */
    private static final double MAX_SECONDS = 365 * 24 * 3600.0;
    /** The least head start an answer gets before the client's deadline. */
    private static final Duration MIN_MARGIN = Duration.ofSeconds(1);

    private ClientTimeout() {}

    /** Which client announced the timeout: the kinds differ once a streamed response has begun. */
    enum Kind {
        /** httpx read timeout: also bounds each silence between response bytes. */
        READ,
        /** fetch timeout: ends when the response headers arrive. */
        UNTIL_HEADERS
    }

    /** A parsed client timeout. */
    record Announced(Duration timeout, Kind kind) {}

    /** {@return the timeout the client announced, Python's header first; empty when absent or unusable} */
    static Optional<Announced> of(Exchange ex) {
        Optional<Duration> py = parseSeconds(ex.header(PYTHON_HEADER));
        if (py.isPresent()) return Optional.of(new Announced(py.get(), Kind.READ));
        return parseSeconds(ex.header(TS_HEADER)).map(d -> new Announced(d, Kind.UNTIL_HEADERS));
    }

    /** {@return a positive duration from a seconds value ("60", "60.0", " 2.5 "), or empty for anything else} */
    static Optional<Duration> parseSeconds(String raw) {
        if (raw == null) return Optional.empty();
        String v = raw.strip();
        if (v.isEmpty() || v.length() > 32) return Optional.empty();
        double seconds;
        try {
            seconds = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        // Double.parseDouble also takes "NaN", "Infinity" and hex floats; only plain finite positives count.
        if (!(seconds > 0) || seconds > MAX_SECONDS || !v.matches("[0-9]*\\.?[0-9]*([eE][+-]?[0-9]+)?"))
            return Optional.empty();
        return Optional.of(Duration.ofNanos((long) (seconds * 1e9)));
    }

    /**
     * {@return how long a call that the client will retry after {@code clientTimeout} may wait
     * before answering: the timeout less a margin of 20% (at least one second), never negative}
     */
    static Duration answerWithin(Duration clientTimeout) {
        Duration margin = clientTimeout.dividedBy(5);
        if (margin.compareTo(MIN_MARGIN) < 0) margin = MIN_MARGIN;
        Duration d = clientTimeout.minus(margin);
        return d.isNegative() ? Duration.ZERO : d;
    }
}
