package org.fastvm.vmm.agent;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.fastvm.vmm.AgentProtocolException;

/**
 * The TLV fields of one payload, in order ({@code tag u8 | len u32 | value}). Getters check
 * the value's width and name the frame and field when something is wrong.
 */
public final class Fields {
    @SuppressWarnings("ArrayRecordComponent") // a private view of a frame's bytes, never compared
    private record Field(int tag, byte[] value) {}

    private final List<Field> fields;
    private final String frameName;

    private Fields(List<Field> fields, String frameName) {
        this.fields = fields;
        this.frameName = frameName;
    }

    /**
     * Parses a payload.
     *
     * @param frameName used in error messages
     * @throws AgentProtocolException when a field runs past the payload
     */
    public static Fields parse(byte[] payload, String frameName) {
        List<Field> out = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(payload);
        while (b.hasRemaining()) {
            if (b.remaining() < 5) {
                throw new AgentProtocolException(frameName + ": truncated TLV header at offset " + b.position());
            }
            int tag = b.get() & 0xff;
            long len = Integer.toUnsignedLong(b.getInt());
            if (len > b.remaining()) {
                throw new AgentProtocolException(frameName + ": field " + Tag.name(tag) + " claims " + len
                        + " bytes but only " + b.remaining() + " remain");
            }
            byte[] v = new byte[(int) len];
            b.get(v);
            out.add(new Field(tag, v));
        }
        return new Fields(out, frameName);
    }

    /** {@return true when the field is present} */
    public boolean has(int tag) {
        return fields.stream().anyMatch(f -> f.tag == tag);
    }

    /** {@return the first value of {@code tag}, or null} */
    public byte[] bytes(int tag) {
        for (Field f : fields) if (f.tag == tag) return f.value;
        return null;
    }

    /** {@return the first value of a required field} */
    public byte[] requireBytes(int tag) {
        byte[] v = bytes(tag);
        if (v == null) throw new AgentProtocolException(frameName + ": missing field " + Tag.name(tag));
        return v;
    }

    /** {@return every value of {@code tag}, in order} */
    public List<byte[]> all(int tag) {
        return fields.stream().filter(f -> f.tag == tag).map(Field::value).toList();
    }

    /** {@return the string value, or null when absent} */
    public String string(int tag) {
        byte[] v = bytes(tag);
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    /** {@return the string value of a required field} */
    public String requireString(int tag) {
        return new String(requireBytes(tag), StandardCharsets.UTF_8);
    }

    /** {@return the u8 value, or {@code dflt} when absent} */
    public int u8(int tag, int dflt) {
        byte[] v = bytes(tag);
        if (v == null) return dflt;
        width(tag, v, 1);
        return v[0] & 0xff;
    }

    /** {@return the i32 value, or null when absent} */
    public Integer i32(int tag) {
        byte[] v = bytes(tag);
        if (v == null) return null;
        width(tag, v, 4);
        return ByteBuffer.wrap(v).getInt();
    }

    /** {@return the u32 value, or {@code dflt} when absent} */
    public long u32(int tag, long dflt) {
        byte[] v = bytes(tag);
        if (v == null) return dflt;
        width(tag, v, 4);
        return Integer.toUnsignedLong(ByteBuffer.wrap(v).getInt());
    }

    /** {@return the u64 value, or {@code dflt} when absent} */
    public long u64(int tag, long dflt) {
        byte[] v = bytes(tag);
        if (v == null) return dflt;
        width(tag, v, 8);
        return ByteBuffer.wrap(v).getLong();
    }

    private void width(int tag, byte[] v, int expected) {
        if (v.length != expected) {
            throw new AgentProtocolException(
                    frameName + ": field " + Tag.name(tag) + " must be " + expected + " bytes, got " + v.length);
        }
    }
}
