package org.fastvm.vmm.agent;

/** Message type codes of the agent protocol (docs/agent-protocol.md). */
public final class FrameType {
    private FrameType() {}

    /** host → guest: ask for a HELLO. */
    public static final int HELLO_REQ = 0x01;
    /** host → guest: run a command. */
    public static final int EXEC = 0x02;
    /** host → guest: bytes for a running command's stdin. */
    public static final int STDIN = 0x03;
    /** host → guest: close a running command's stdin. */
    public static final int STDIN_CLOSE = 0x04;
    /** host → guest: signal a running command's process group. */
    public static final int KILL = 0x05;
    /** host → guest: set the wall clock. */
    public static final int SET_TIME = 0x10;
    /** host → guest: credit entropy to the kernel pool. */
    public static final int ADD_ENTROPY = 0x11;
    /** host → guest: set the hostname. */
    public static final int SET_HOSTNAME = 0x12;
    /** host → guest: sync filesystems. */
    public static final int FS_SYNC = 0x13;
    /** host → guest: freeze the root filesystem. */
    public static final int FS_FREEZE = 0x14;
    /** host → guest: thaw the root filesystem. */
    public static final int FS_THAW = 0x15;
    /** host → guest: configure a network interface. */
    public static final int NET_CONFIG = 0x16;
    /** host → guest: grow the root filesystem to the disk's size. */
    public static final int GROW_ROOTFS = 0x17;
    /** host → guest: cheapest round trip. */
    public static final int PING = 0x18;

    /** guest → host: agent identity, unsolicited on every connect. */
    public static final int HELLO = 0x81;
    /** guest → host: the command started. */
    public static final int STARTED = 0x82;
    /** guest → host: stdout chunk. */
    public static final int STDOUT = 0x83;
    /** guest → host: stderr chunk. */
    public static final int STDERR = 0x84;
    /** guest → host: the command ended. */
    public static final int EXIT = 0x85;
    /** guest → host: a control request succeeded. */
    public static final int OK = 0x86;
    /** guest → host: a request failed. */
    public static final int ERROR = 0x87;

    /** {@return a readable name for logs and errors} */
    public static String name(int type) {
        return switch (type) {
            case HELLO_REQ -> "HELLO_REQ";
            case EXEC -> "EXEC";
            case STDIN -> "STDIN";
            case STDIN_CLOSE -> "STDIN_CLOSE";
            case KILL -> "KILL";
            case SET_TIME -> "SET_TIME";
            case ADD_ENTROPY -> "ADD_ENTROPY";
            case SET_HOSTNAME -> "SET_HOSTNAME";
            case FS_SYNC -> "FS_SYNC";
            case FS_FREEZE -> "FS_FREEZE";
            case FS_THAW -> "FS_THAW";
            case NET_CONFIG -> "NET_CONFIG";
            case GROW_ROOTFS -> "GROW_ROOTFS";
            case PING -> "PING";
            case HELLO -> "HELLO";
            case STARTED -> "STARTED";
            case STDOUT -> "STDOUT";
            case STDERR -> "STDERR";
            case EXIT -> "EXIT";
            case OK -> "OK";
            case ERROR -> "ERROR";
            default -> String.format("type 0x%02x", type);
        };
    }
}
