package org.fastvm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportTest {
    @Test
    void statsSummariseOddAndEvenCounts() {
        var odd = new Stats(List.of(5.0, 1.0, 3.0));
        assertEquals(3.0, odd.median());
        assertEquals(1.0, odd.min());
        assertEquals(5.0, odd.max());
        assertEquals(2.5, new Stats(List.of(4.0, 1.0, 2.0, 3.0)).median());
        assertThrows(IllegalArgumentException.class, () -> new Stats(List.of()));
    }

    @Test
    void jsonIsOneLineWithAcceleratorQemuAndFiguresInOrder() {
        var r = new Report("tcg", "10.0.2");
        r.add("boot_ready_ms", new Stats(List.of(4000.04, 4200.0, 5000.0)));
        r.add("exec_rtt_ms", new Stats(List.of(10.0, 12.0)));
        String json = r.json();
        assertEquals(
                "{\"accelerator\":\"tcg\",\"qemu\":\"10.0.2\",\"boot_ready_ms\":{\"median\":4200.0,\"min\":4000.0,\"max\":5000.0,\"n\":3},"
                        + "\"exec_rtt_ms\":{\"median\":11.0,\"min\":10.0,\"max\":12.0,\"n\":2}}",
                json);
        assertTrue(r.table().contains("boot_ready_ms"));
        assertTrue(r.table().startsWith("accelerator: tcg, QEMU 10.0.2"), r.table());
    }
}
