package org.fastvm.vmm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * What the engine writes into a VM dir ({@code machine.json}) so that a later process
 * can reattach to the VM, and a later snapshot can record the exact machine shape.
 *
 * @param spec        the launch spec (id and hostname filled in)
 * @param imageName   the guest image's name
 * @param imageKey    the guest image's input hash
 * @param accelerator the accelerator QEMU runs with
 * @param argv        the QEMU argv, without the {@code setsid} prefix
 * @param pid         the QEMU process id
 */
record MachineRecord(MachineSpec spec, String imageName, String imageKey, Accelerator accelerator,
                     List<String> argv, long pid) {
    static final String FILE = "machine.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Writes {@code <dir>/machine.json} atomically. */
    void write(Path dir) {
        Path tmp = dir.resolve(FILE + ".tmp");
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
            Files.move(tmp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new VmmException("cannot write " + dir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    /** Reads {@code <dir>/machine.json}. */
    static MachineRecord read(Path dir) {
        Path f = dir.resolve(FILE);
        try {
            return JSON.readValue(f.toFile(), MachineRecord.class);
        } catch (IOException e) {
            throw new VmmException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }
}
