package org.fastvm.server.core;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The machine types the API offers: name → vCPUs and memory. */
public enum MachineType {
    C1M2(1, 2048),
    C2M4(2, 4096),
    C4M8(4, 8192),
    C8M16(8, 16384);

    /** Disk a fresh launch gets when diskGiB is omitted, and the smallest allowed (grow-only). */
    public static final int DEFAULT_DISK_GIB = 10;

    private final int vcpus;
    private final int memoryMiB;

    MachineType(int vcpus, int memoryMiB) {
        this.vcpus = vcpus;
        this.memoryMiB = memoryMiB;
    }

    /** {@return the wire name, e.g. c1m2} */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** {@return vCPUs} */
    public int vcpus() {
        return vcpus;
    }

    /** {@return memory in MiB} */
    public int memoryMiB() {
        return memoryMiB;
    }

    /** {@return the type named {@code name}; 400 naming the field when there is none} */
    public static MachineType parse(String field, String name) {
        for (MachineType t : values()) if (t.wireName().equals(name)) return t;
        throw ServiceException.invalid(
                field,
                "unknown machine type '" + name + "'; expected one of "
                        + Arrays.stream(values()).map(MachineType::wireName).collect(Collectors.joining(", ")));
    }
}
