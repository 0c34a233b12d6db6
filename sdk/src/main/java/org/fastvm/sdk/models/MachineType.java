package org.fastvm.sdk.models;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A machine size written {@code c<vCPUs>m<GiB>}, e.g. {@code c1m2} = 1 vCPU and 2 GiB of
 * memory. This is the one place that knows the form; the server decides which sizes exist.
 *
 * @param vcpus number of virtual CPUs, at least 1
 * @param memoryGib memory in GiB, at least 1
 */
public record MachineType(int vcpus, int memoryGib) {
    private static final Pattern FORM = Pattern.compile("c([1-9][0-9]{0,3})m([1-9][0-9]{0,4})");

    /** 1 vCPU, 2 GiB: the default for launch. */
    public static final MachineType C1M2 = new MachineType(1, 2);
    /** 2 vCPUs, 4 GiB. */
    public static final MachineType C2M4 = new MachineType(2, 4);
    /** 4 vCPUs, 8 GiB. */
    public static final MachineType C4M8 = new MachineType(4, 8);
    /** 8 vCPUs, 16 GiB. */
    public static final MachineType C8M16 = new MachineType(8, 16);

    /**
     * Validates the sizes.
     *
     * @throws IllegalArgumentException if either is below 1
     */
    public MachineType {
        if (vcpus < 1) throw new IllegalArgumentException("machine: vCPUs must be at least 1, got " + vcpus);
        if (memoryGib < 1)
            throw new IllegalArgumentException("machine: memory must be at least 1 GiB, got " + memoryGib);
    }

    /**
     * Parses {@code c<vCPUs>m<GiB>}.
     *
     * @param name the machine type name, e.g. {@code c2m4}
     * @return the machine type
     * @throws IllegalArgumentException naming the field {@code machine} when the form is wrong
     */
    public static MachineType parse(String name) {
        if (name == null) throw new IllegalArgumentException("machine must not be null");
        Matcher m = FORM.matcher(name);
        if (!m.matches()) {
            throw new IllegalArgumentException(
                    "machine must have the form c<vCPUs>m<GiB> (e.g. c1m2), got \"" + name + "\"");
        }
        return new MachineType(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }

    /**
     * The wire name.
     *
     * @return e.g. {@code c1m2}
     */
    @Override
    public String toString() {
        return "c" + vcpus + "m" + memoryGib;
    }
}
