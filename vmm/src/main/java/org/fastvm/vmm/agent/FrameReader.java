package org.fastvm.vmm.agent;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * Reads frames from a byte channel through a buffer (few system calls for small frames),
 * and can skip to a known byte sequence: how the host gets in step with a stream that may
 * begin in the middle of a frame (docs/agent-protocol.md, "Connection life cycle").
 */
final class FrameReader {
    private static final int BUFFER_BYTES = 64 * 1024;
    private ReadableByteChannel ch;
    private final ByteBuffer buf = ByteBuffer.allocate(BUFFER_BYTES).flip(); // kept in read mode

    FrameReader(ReadableByteChannel ch) {
        this.ch = ch;
    }

    /** The stream ended between two frames (nothing of a next frame was read). */
    static final class CleanEofException extends EOFException {
        private static final long serialVersionUID = 1L;

        CleanEofException(String message) {
            super(message);
        }
    }

    /**
     * Continues the same byte stream on another channel (the agent's socket on a successor
     * QEMU); only after a {@link CleanEofException}, so nothing of a frame is buffered.
     */
    void continueOn(ReadableByteChannel next) {
        if (buf.hasRemaining()) throw new IllegalStateException("bytes of a frame still buffered");
        ch = next;
    }

    /**
     * Makes at least {@code n} (≤ buffer size) bytes available.
     *
     * @return false at end of stream with nothing buffered when {@code eofOk}
     */
    private boolean fill(int n, boolean eofOk) throws IOException {
        while (buf.remaining() < n) {
            buf.compact();
            int r;
            try {
                r = ch.read(buf);
            } finally {
                buf.flip();
            }
            if (r < 0) {
                if (eofOk && !buf.hasRemaining()) return false;
                throw new EOFException("agent channel closed inside a frame");
            }
        }
        return true;
    }

    /**
     * Reads the next frame.
     *
     * @throws CleanEofException at a clean end of stream between frames
     * @throws EOFException      at an end of stream inside a frame
     * @throws org.fastvm.vmm.AgentProtocolException on a malformed header
     */
    Frame next() throws IOException {
        if (!fill(Frame.HEADER_BYTES, true)) throw new CleanEofException("agent channel closed");
        ByteBuffer h = buf.slice(buf.position(), Frame.HEADER_BYTES);
        int[] hdr = FrameCodec.parseHeader(h);
        buf.position(buf.position() + Frame.HEADER_BYTES);
        byte[] payload = new byte[hdr[2]];
        int have = Math.min(buf.remaining(), payload.length);
        buf.get(payload, 0, have);
        ByteBuffer rest = ByteBuffer.wrap(payload, have, payload.length - have);
        while (rest.hasRemaining()) { // large payloads go straight into their array
            if (ch.read(rest) < 0) throw new EOFException("agent channel closed inside a frame");
        }
        return new Frame(hdr[0], hdr[1], payload);
    }

    /**
     * Discards bytes until {@code prefix} starts the buffer (the prefix itself is kept).
     *
     * @return how many bytes were discarded
     * @throws EOFException when the stream ends first
     */
    long skipTo(byte[] prefix) throws IOException {
        long skipped = 0;
        while (true) {
            fill(prefix.length, false);
            int start = buf.position(), end = buf.limit();
            for (int i = start; i + prefix.length <= end; i++) {
                if (matches(i, prefix)) {
                    skipped += i - start;
                    buf.position(i);
                    return skipped;
                }
            }
            int keep = prefix.length - 1; // a match may straddle the next read
            skipped += (end - start) - keep;
            buf.position(end - keep);
        }
    }

    private boolean matches(int at, byte[] prefix) {
        for (int k = 0; k < prefix.length; k++) if (buf.get(at + k) != prefix[k]) return false;
        return true;
    }
}
