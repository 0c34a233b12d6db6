package org.fastvm.vmm.agent;

/** TLV field tags of the agent protocol (docs/agent-protocol.md). */
public final class Tag {
    private Tag() {}

    /** string: one argv element. */
    public static final int ARG = 0x01;
    /** string: {@code KEY=VALUE}. */
    public static final int ENV = 0x02;
    /** string: working directory. */
    public static final int CWD = 0x03;
    /** bytes: stdin contents. */
    public static final int STDIN = 0x04;
    /** u8: keep stdin open. */
    public static final int STDIN_OPEN = 0x05;
    /** u64: timeout in ms. */
    public static final int TIMEOUT_MS = 0x06;
    /** bytes: data. */
    public static final int DATA = 0x07;
    /** i32: signal number. */
    public static final int SIGNAL = 0x08;
    /** u64: Unix epoch ns. */
    public static final int TIME_NS = 0x09;
    /** string: a name (hostname). */
    public static final int NAME = 0x0a;
    /** string: interface name. */
    public static final int IFNAME = 0x0b;
    /** string: MAC address. */
    public static final int MAC = 0x0c;
    /** string: address in CIDR form. */
    public static final int ADDR = 0x0d;
    /** string: gateway address. */
    public static final int GATEWAY = 0x0e;
    /** string: agent version. */
    public static final int VERSION = 0x10;
    /** string: kernel boot id. */
    public static final int BOOT_ID = 0x11;
    /** u32: process id. */
    public static final int PID = 0x12;
    /** i32: exit code. */
    public static final int CODE = 0x13;
    /** u8: timed out. */
    public static final int TIMED_OUT = 0x14;
    /** u64: duration in ms. */
    public static final int DURATION_MS = 0x15;
    /** string: error code name. */
    public static final int CODE_NAME = 0x16;
    /** string: error message. */
    public static final int MESSAGE = 0x17;
    /** u64: size in bytes. */
    public static final int SIZE_BYTES = 0x18;
    /** u8 1: this HELLO_REQ opens a new connection's session. */
    public static final int NEW_SESSION = 0x19;
    /** u8 1: the host of this HELLO_REQ is new: the agent ends the commands earlier hosts started. */
    public static final int NEW_HOST = 0x1a;

    /** {@return a readable name for errors} */
    public static String name(int tag) {
        return switch (tag) {
            case ARG -> "ARG";
            case ENV -> "ENV";
            case CWD -> "CWD";
            case STDIN -> "STDIN";
            case STDIN_OPEN -> "STDIN_OPEN";
            case TIMEOUT_MS -> "TIMEOUT_MS";
            case DATA -> "DATA";
            case SIGNAL -> "SIGNAL";
            case TIME_NS -> "TIME_NS";
            case NAME -> "NAME";
            case IFNAME -> "IFNAME";
            case MAC -> "MAC";
            case ADDR -> "ADDR";
            case GATEWAY -> "GATEWAY";
            case VERSION -> "VERSION";
            case BOOT_ID -> "BOOT_ID";
            case PID -> "PID";
            case CODE -> "CODE";
            case TIMED_OUT -> "TIMED_OUT";
            case DURATION_MS -> "DURATION_MS";
            case CODE_NAME -> "CODE_NAME";
            case MESSAGE -> "MESSAGE";
            case SIZE_BYTES -> "SIZE_BYTES";
            case NEW_SESSION -> "NEW_SESSION";
            case NEW_HOST -> "NEW_HOST";
            default -> String.format("tag 0x%02x", tag);
        };
    }
}
