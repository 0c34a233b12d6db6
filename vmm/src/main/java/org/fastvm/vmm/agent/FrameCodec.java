package org.fastvm.vmm.agent;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import org.fastvm.vmm.AgentProtocolException;

/**
 * Encodes frames, and decodes them from a byte channel. The host never resynchronises:
 * the agent is trusted to frame correctly, so a bad header means a broken stream and the
 * channel is closed (a reconnect restarts the stream cleanly).
 */
public final class FrameCodec {
    private FrameCodec() {}

    /** {@return the frame's bytes, header and payload, ready to write} */
    public static ByteBuffer encode(Frame f) {
        ByteBuffer b = ByteBuffer.allocate(Frame.HEADER_BYTES + f.payload().length);
        b.putShort((short) Frame.MAGIC)
                .put((byte) Frame.VERSION)
                .put((byte) f.type())
                .putInt(f.id())
                .putInt(f.payload().length)
                .put(f.payload());
        return b.flip();
    }

    /**
     * Parses a 12-byte header.
     *
     * @return {type, id, length}
     * @throws AgentProtocolException on bad magic, version or length
     */
    static int[] parseHeader(ByteBuffer h) {
        int magic = h.getShort() & 0xffff;
        int version = h.get() & 0xff;
        int type = h.get() & 0xff;
        int id = h.getInt();
        long length = Integer.toUnsignedLong(h.getInt());
        if (magic != Frame.MAGIC) throw new AgentProtocolException(String.format("bad frame magic 0x%04x", magic));
        if (version != Frame.VERSION) throw new AgentProtocolException("unsupported protocol version " + version);
        if (length > Frame.MAX_PAYLOAD) {
            throw new AgentProtocolException(
                    "frame " + FrameType.name(type) + " payload of " + length + " bytes exceeds " + Frame.MAX_PAYLOAD);
        }
        return new int[] {type, id, (int) length};
    }

    /**
     * Reads the next frame (blocking).
     *
     * @throws EOFException           at a clean end of stream between frames
     * @throws IOException            on I/O failure or a stream ending inside a frame
     * @throws AgentProtocolException on a malformed header
     */
    public static Frame read(ReadableByteChannel ch) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(Frame.HEADER_BYTES);
        if (!readFully(ch, h, true)) throw new EOFException("agent channel closed");
        int[] hdr = parseHeader(h.flip());
        ByteBuffer p = ByteBuffer.allocate(hdr[2]);
        readFully(ch, p, false);
        return new Frame(hdr[0], hdr[1], p.array());
    }

    /** {@return false on EOF before the first byte when {@code eofOk}; throws on EOF mid-buffer} */
    private static boolean readFully(ReadableByteChannel ch, ByteBuffer b, boolean eofOk) throws IOException {
        boolean first = true;
        while (b.hasRemaining()) {
            int n = ch.read(b);
            if (n < 0) {
                if (first && eofOk) return false;
                throw new EOFException("agent channel closed inside a frame");
            }
            if (n > 0) first = false;
        }
        return true;
    }
}
