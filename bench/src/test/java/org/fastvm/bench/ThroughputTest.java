package org.fastvm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ThroughputTest {
    @Test
    void oneSamplePerRoundAndNoMoreCallsCountedThanMade() throws Exception {
        AtomicLong calls = new AtomicLong();
        List<Double> rps = Throughput.measure(4, Duration.ofMillis(100), 3, calls::incrementAndGet);
        assertEquals(3, rps.size());
        double counted = 0;
        for (double r : rps) {
            assertTrue(r > 0, "every round completes calls: " + rps);
            counted += r * 0.1; // rounds are at least 100 ms, so this over-estimates nothing
        }
        // the warm-up round's calls are made but not counted
        assertTrue(counted < calls.get(), "counted " + counted + " of " + calls.get() + " calls");
    }

    @Test
    void aFailingCallStopsTheMeasurementWithItsError() {
        var boom = new IllegalStateException("GET failed");
        AtomicLong calls = new AtomicLong();
        var e = assertThrows(
                ExecutionException.class,
                () -> Throughput.measure(2, Duration.ofSeconds(30), 5, () -> {
                    if (calls.incrementAndGet() > 10) throw boom;
                }));
        assertSame(boom, e.getCause());
    }

    @Test
    void badArgumentsNameTheParameter() {
        var e = assertThrows(
                IllegalArgumentException.class, () -> Throughput.measure(0, Duration.ofSeconds(1), 1, () -> {}));
        assertTrue(e.getMessage().startsWith("callers:"));
        e = assertThrows(
                IllegalArgumentException.class, () -> Throughput.measure(1, Duration.ofSeconds(1), 0, () -> {}));
        assertTrue(e.getMessage().startsWith("rounds:"));
        e = assertThrows(IllegalArgumentException.class, () -> Throughput.measure(1, Duration.ZERO, 1, () -> {}));
        assertTrue(e.getMessage().startsWith("round:"));
    }
}
