package org.fastvm.vmm.agent;

/**
 * One protocol frame: type, request id and TLV payload (see docs/agent-protocol.md).
 *
 * @param type    the message type, e.g. {@link FrameType#EXEC}
 * @param id      the request id (0 = not tied to a request)
 * @param payload the TLV-encoded fields
 */
// The payload is handed over without a copy (up to 1 MiB a frame); frames are read, never compared.
@SuppressWarnings("ArrayRecordComponent")
public record Frame(int type, int id, byte[] payload) {
    /** Magic bytes "FV". */
    public static final int MAGIC = 0x4656;
    /** The protocol version this host speaks. */
    public static final int VERSION = 1;
    /** Header length in bytes. */
    public static final int HEADER_BYTES = 12;
    /** Largest payload either side accepts. */
    public static final int MAX_PAYLOAD = 1 << 20;

    /** Checks the fields fit the wire format. */
    public Frame {
        if (type < 0 || type > 0xff) throw new IllegalArgumentException("type: must fit a byte, got " + type);
        if (payload == null) payload = new byte[0];
        if (payload.length > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload: " + payload.length + " bytes exceeds " + MAX_PAYLOAD);
        }
    }

    /** {@return the payload parsed as TLV fields} */
    public Fields fields() {
        return Fields.parse(payload, FrameType.name(type));
    }

    @Override
    public String toString() {
        return FrameType.name(type) + "#" + Integer.toUnsignedString(id) + "(" + payload.length + " bytes)";
    }
}
