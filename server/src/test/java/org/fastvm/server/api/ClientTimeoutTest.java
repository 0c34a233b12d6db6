package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Parsing the SDKs' timeout headers leniently, and the head start an answer gets. */
class ClientTimeoutTest {
    @Test
    void secondsParseAsPythonAndTypeScriptSendThem() {
        assertEquals(Optional.of(Duration.ofSeconds(60)), ClientTimeout.parseSeconds("60"));
        assertEquals(Optional.of(Duration.ofSeconds(60)), ClientTimeout.parseSeconds("60.0"));
        assertEquals(Optional.of(Duration.ofMillis(2500)), ClientTimeout.parseSeconds(" 2.5 "));
        assertEquals(Optional.of(Duration.ofMillis(500)), ClientTimeout.parseSeconds(".5"));
    }

    @Test
    void garbageIsIgnored() {
        for (String bad : new String[] {
            null,
            "",
            " ",
            "abc",
            "-1",
            "0",
            "0.0",
            "NaN",
            "Infinity",
            "1e400",
            "0x10",
            "10s",
            "1,5",
            "99999999999",
            "1".repeat(40)
        }) {
            assertEquals(Optional.empty(), ClientTimeout.parseSeconds(bad), "value " + bad);
        }
    }

    @Test
    void answersLeaveTwentyPercentOrAtLeastOneSecond() {
        assertEquals(Duration.ofSeconds(48), ClientTimeout.answerWithin(Duration.ofSeconds(60)));
        assertEquals(Duration.ofSeconds(4), ClientTimeout.answerWithin(Duration.ofSeconds(5)));
        assertEquals(Duration.ofSeconds(1), ClientTimeout.answerWithin(Duration.ofSeconds(2)));
        assertEquals(Duration.ZERO, ClientTimeout.answerWithin(Duration.ofMillis(500)));
    }
}
