package org.fastvm.vmm.agent;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Builds a TLV payload, field by field. */
public final class FieldsWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** Appends raw bytes. */
    public FieldsWriter bytes(int tag, byte[] value) {
        out.write(tag);
        out.writeBytes(ByteBuffer.allocate(4).putInt(value.length).array());
        out.writeBytes(value);
        return this;
    }

    /** Appends a UTF-8 string (callers reject NUL before this). */
    public FieldsWriter string(int tag, String value) {
        return bytes(tag, value.getBytes(StandardCharsets.UTF_8));
    }

    /** Appends a u8. */
    public FieldsWriter u8(int tag, int value) {
        return bytes(tag, new byte[] {(byte) value});
    }

    /** Appends an i32. */
    public FieldsWriter i32(int tag, int value) {
        return bytes(tag, ByteBuffer.allocate(4).putInt(value).array());
    }

    /** Appends a u64. */
    public FieldsWriter u64(int tag, long value) {
        return bytes(tag, ByteBuffer.allocate(8).putLong(value).array());
    }

    /** {@return the payload so far} */
    public byte[] toByteArray() {
        return out.toByteArray();
    }
}
