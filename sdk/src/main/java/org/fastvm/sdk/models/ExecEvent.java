package org.fastvm.sdk.models;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One event of a streamed command: a chunk of stdout, a chunk of stderr, or the final exit.
 * Chunks are raw bytes exactly as the process wrote them (a UTF-8 character may span two
 * chunks). Use a {@code switch} or {@code instanceof} over the three records.
 */
public sealed interface ExecEvent permits ExecEvent.Stdout, ExecEvent.Stderr, ExecEvent.Exit {

    /**
     * A chunk of standard output.
     *
     * @param data the bytes (a copy is kept and a copy returned)
     */
    @SuppressWarnings("ArrayRecordComponent") // copied in and out; equals and hashCode compare contents
    record Stdout(byte[] data) implements ExecEvent {
        /** Copies the bytes. */
        public Stdout {
            data = data.clone();
        }

        /**
         * The bytes of the chunk.
         *
         * @return a copy of the bytes
         */
        @Override
        public byte[] data() {
            return data.clone();
        }

        /**
         * The chunk decoded as UTF-8 (malformed input replaced).
         *
         * @return the text
         */
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Stdout s && Arrays.equals(s.data, data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return "Stdout[" + text() + "]";
        }
    }

    /**
     * A chunk of standard error.
     *
     * @param data the bytes (a copy is kept and a copy returned)
     */
    @SuppressWarnings("ArrayRecordComponent") // copied in and out; equals and hashCode compare contents
    record Stderr(byte[] data) implements ExecEvent {
        /** Copies the bytes. */
        public Stderr {
            data = data.clone();
        }

        /**
         * The bytes of the chunk.
         *
         * @return a copy of the bytes
         */
        @Override
        public byte[] data() {
            return data.clone();
        }

        /**
         * The chunk decoded as UTF-8 (malformed input replaced).
         *
         * @return the text
         */
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Stderr s && Arrays.equals(s.data, data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return "Stderr[" + text() + "]";
        }
    }

    /**
     * The command finished: always the last event of a stream.
     *
     * @param code the exit code ({@code 0} when the wire omitted it)
     * @param timedOut whether the command hit its {@code timeoutSec} ({@code false} when omitted)
     * @param durationMs wall time in milliseconds
     */
    record Exit(int code, boolean timedOut, long durationMs) implements ExecEvent {}
}
