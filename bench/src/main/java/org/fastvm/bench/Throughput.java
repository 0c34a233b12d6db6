package org.fastvm.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Calls per second of a blocking call made by concurrent callers (virtual threads), sampled
 * in consecutive rounds: one sample per round, so a figure has median/min/max like the others.
 */
final class Throughput {
    /** A call to measure; a failure stops the measurement and is rethrown. */
    @FunctionalInterface
    interface Call {
        void run() throws Exception;
    }

    private Throughput() {}

    /**
     * Keeps {@code callers} threads calling {@code call} back to back; after a first round that
     * is not counted (warm-up: JIT, connection windows), counts completed calls per round.
     *
     * @return {@code rounds} samples in calls per second
     */
    static List<Double> measure(int callers, Duration round, int rounds, Call call) throws Exception {
        if (callers < 1) throw new IllegalArgumentException("callers: at least 1, got " + callers);
        if (rounds < 1) throw new IllegalArgumentException("rounds: at least 1, got " + rounds);
        if (round.isNegative() || round.isZero())
            throw new IllegalArgumentException("round: must be > 0, got " + round);
        AtomicLong done = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        List<Double> samples = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < callers; t++) {
                workers.add(pool.submit(() -> {
                    while (!stop.get()) {
                        call.run();
                        done.incrementAndGet();
                    }
                    return null;
                }));
            }
            try {
                awaitDeadline(System.nanoTime() + round.toNanos(), workers); // the warm-up round
                long count = done.get(), at = System.nanoTime();
                for (int r = 0; r < rounds; r++) {
                    // each round lasts at least `round` from its actual start: on a loaded host this
                    // thread may wake late, and a fixed schedule would then give rounds of microseconds
                    awaitDeadline(at + round.toNanos(), workers);
                    long c = done.get(), now = System.nanoTime();
                    samples.add((c - count) * 1e9 / (now - at));
                    count = c;
                    at = now;
                }
            } finally {
                stop.set(true);
            }
            for (Future<?> w : workers) w.get(); // rethrows a caller's failure
        }
        return samples;
    }

    /** Parks until {@code deadline} (nanoTime), returning early only when a caller has failed. */
    private static void awaitDeadline(long deadline, List<Future<?>> workers) {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            for (Future<?> w : workers) {
                if (w.isDone()) return; // a caller failed: stop measuring, the caller rethrows
            }
            LockSupport.parkNanos(Math.min(left, 50_000_000L));
        }
    }
}
