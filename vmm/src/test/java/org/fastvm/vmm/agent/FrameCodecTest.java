package org.fastvm.vmm.agent;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.util.List;
import org.fastvm.vmm.AgentProtocolException;
import org.junit.jupiter.api.Test;

class FrameCodecTest {
    private static ReadableByteChannel channel(byte[]... parts) {
        var out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return Channels.newChannel(new ByteArrayInputStream(out.toByteArray()));
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
    }

    @Test
    void encodesHeaderBigEndianAsSpecified() {
        byte[] wire = bytes(FrameCodec.encode(new Frame(FrameType.EXEC, 0x01020304, new byte[] {9, 8})));
        assertArrayEquals(new byte[] {0x46, 0x56, 1, 0x02, 1, 2, 3, 4, 0, 0, 0, 2, 9, 8}, wire);
    }

    @Test
    void roundTripsSeveralFramesFromOneStream() throws Exception {
        byte[] payload = new FieldsWriter()
                .string(Tag.ARG, "echo")
                .string(Tag.ARG, "hi")
                .u64(Tag.TIMEOUT_MS, 1500)
                .toByteArray();
        var ch = channel(
                bytes(FrameCodec.encode(new Frame(FrameType.EXEC, 7, payload))),
                bytes(FrameCodec.encode(new Frame(FrameType.PING, 8, new byte[0]))));
        Frame a = FrameCodec.read(ch);
        assertEquals(FrameType.EXEC, a.type());
        assertEquals(7, a.id());
        Fields f = a.fields();
        assertEquals(
                List.of("echo", "hi"), f.all(Tag.ARG).stream().map(String::new).toList());
        assertEquals(1500, f.u64(Tag.TIMEOUT_MS, -1));
        Frame b = FrameCodec.read(ch);
        assertEquals(FrameType.PING, b.type());
        assertEquals(0, b.payload().length);
        assertThrows(EOFException.class, () -> FrameCodec.read(ch));
    }

    @Test
    void idIsUnsigned32Bit() throws Exception {
        var ch = channel(bytes(FrameCodec.encode(new Frame(FrameType.OK, 0xfffffffe, new byte[0]))));
        assertEquals(0xfffffffe, FrameCodec.read(ch).id());
    }

    @Test
    void rejectsBadMagic() {
        var ch = channel(new byte[] {0x47, 0x56, 1, 0x02, 0, 0, 0, 1, 0, 0, 0, 0});
        var e = assertThrows(AgentProtocolException.class, () -> FrameCodec.read(ch));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void rejectsUnknownVersion() {
        var ch = channel(new byte[] {0x46, 0x56, 2, 0x02, 0, 0, 0, 1, 0, 0, 0, 0});
        var e = assertThrows(AgentProtocolException.class, () -> FrameCodec.read(ch));
        assertTrue(e.getMessage().contains("version 2"), e.getMessage());
    }

    @Test
    void rejectsOversizedLengthBeforeAllocating() {
        var ch = channel(
                new byte[] {0x46, 0x56, 1, (byte) 0x83, 0, 0, 0, 1, 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff});
        var e = assertThrows(AgentProtocolException.class, () -> FrameCodec.read(ch));
        assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
    }

    @Test
    void truncatedFrameIsAnIoErrorNotACleanEof() {
        byte[] wire = bytes(FrameCodec.encode(new Frame(FrameType.STDOUT, 1, new byte[100])));
        var ch = channel(java.util.Arrays.copyOf(wire, 50));
        var e = assertThrows(EOFException.class, () -> FrameCodec.read(ch));
        assertTrue(e.getMessage().contains("inside a frame"), e.getMessage());
        var headerOnly = channel(java.util.Arrays.copyOf(wire, 5));
        var e2 = assertThrows(EOFException.class, () -> FrameCodec.read(headerOnly));
        assertTrue(e2.getMessage().contains("inside a frame"), e2.getMessage());
    }

    @Test
    void frameRefusesPayloadAboveLimit() {
        assertThrows(
                IllegalArgumentException.class, () -> new Frame(FrameType.STDIN, 1, new byte[Frame.MAX_PAYLOAD + 1]));
        assertThrows(IllegalArgumentException.class, () -> new Frame(0x100, 1, new byte[0]));
    }

    @Test
    void fieldsParseTypedValuesAndSkipUnknownTags() {
        byte[] p = new FieldsWriter()
                .bytes(0x7f, new byte[] {1, 2, 3})
                .i32(Tag.CODE, -3)
                .u8(Tag.TIMED_OUT, 1)
                .u64(Tag.DURATION_MS, 1234567890123L)
                .string(Tag.NAME, "héllo")
                .toByteArray();
        Fields f = Fields.parse(p, "EXIT");
        assertEquals(-3, f.i32(Tag.CODE));
        assertEquals(1, f.u8(Tag.TIMED_OUT, 0));
        assertEquals(1234567890123L, f.u64(Tag.DURATION_MS, 0));
        assertEquals("héllo", f.string(Tag.NAME));
        assertNull(f.i32(Tag.SIGNAL));
        assertFalse(f.has(Tag.SIGNAL));
    }

    @Test
    void fieldRunningPastPayloadIsRejectedNamingTheField() {
        byte[] p = new FieldsWriter().string(Tag.VERSION, "1.0").toByteArray();
        p[4] = 50; // claim 50 bytes, have 3
        var e = assertThrows(AgentProtocolException.class, () -> Fields.parse(p, "HELLO"));
        assertTrue(e.getMessage().contains("HELLO") && e.getMessage().contains("VERSION"), e.getMessage());
    }

    @Test
    void truncatedTlvHeaderIsRejected() {
        var e = assertThrows(AgentProtocolException.class, () -> Fields.parse(new byte[] {0x01, 0, 0}, "EXEC"));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void wrongWidthIsRejectedNamingTheField() {
        byte[] p = new FieldsWriter().bytes(Tag.CODE, new byte[] {1, 2}).toByteArray();
        var e = assertThrows(
                AgentProtocolException.class, () -> Fields.parse(p, "EXIT").i32(Tag.CODE));
        assertTrue(e.getMessage().contains("CODE must be 4 bytes"), e.getMessage());
    }

    @Test
    void missingRequiredFieldIsNamed() {
        var e = assertThrows(
                AgentProtocolException.class,
                () -> Fields.parse(new byte[0], "STDOUT").requireBytes(Tag.DATA));
        assertTrue(e.getMessage().contains("STDOUT: missing field DATA"), e.getMessage());
    }
}
