package org.fastvm.vmm.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FrameReaderTest {
    /** Hands out at most {@code step} bytes per read, like a slow socket. */
    private static ReadableByteChannel trickle(byte[] data, int step) {
        return new ReadableByteChannel() {
            int pos;

            @Override
            public int read(ByteBuffer dst) {
                if (pos == data.length) return -1;
                int n = Math.min(step, Math.min(dst.remaining(), data.length - pos));
                dst.put(data, pos, n);
                pos += n;
                return n;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {}
        };
    }

    private static byte[] wire(Frame... frames) {
        var out = new ByteArrayOutputStream();
        for (Frame f : frames) out.writeBytes(FrameCodec.encode(f).array());
        return out.toByteArray();
    }

    @Test
    void readsSmallAndLargeFramesThroughShortReads() throws Exception {
        byte[] big = new byte[Frame.MAX_PAYLOAD];
        new Random(1).nextBytes(big);
        var r = new FrameReader(trickle(
                wire(
                        new Frame(FrameType.OK, 1, new byte[] {7}),
                        new Frame(FrameType.STDOUT, 2, big),
                        new Frame(FrameType.PING, 3, new byte[0])),
                4093));
        assertArrayEquals(new byte[] {7}, r.next().payload());
        assertArrayEquals(big, r.next().payload());
        assertEquals(3, r.next().id());
        assertThrows(EOFException.class, r::next);
    }

    @Test
    void skipToFindsAPrefixStraddlingReadsAndKeepsIt() throws Exception {
        byte[] noise = new byte[200_000];
        new Random(2).nextBytes(noise);
        for (int i = 0; i < noise.length; i++) if (noise[i] == 0x46) noise[i] = 0; // no accidental "FV"
        Frame target = new Frame(FrameType.HELLO, 0x01020304, new byte[] {9, 9});
        var out = new ByteArrayOutputStream();
        out.writeBytes(noise);
        out.writeBytes(wire(target));
        byte[] prefix = {0x46, 0x56, 1, (byte) 0x81, 1, 2, 3, 4};
        for (int step : new int[] {1, 3, 8, 65536}) {
            var r = new FrameReader(trickle(out.toByteArray(), step));
            assertEquals(noise.length, r.skipTo(prefix), "step " + step);
            Frame f = r.next();
            assertEquals(0x01020304, f.id());
            assertArrayEquals(new byte[] {9, 9}, f.payload());
        }
    }

    @Test
    void skipToFailsAtEndOfStream() {
        var r = new FrameReader(trickle(new byte[100], 7));
        assertThrows(EOFException.class, () -> r.skipTo(new byte[] {0x46, 0x56, 1, (byte) 0x81, 0, 0, 0, 1}));
    }
}
