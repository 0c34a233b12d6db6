package org.fastvm.server.backend;

/**
 * The machine shape the control plane asks the backend for.
 *
 * @param vmId      the VM id (the control plane's UUID; also the engine's directory name)
 * @param vcpus     virtual CPUs
 * @param memoryMiB memory
 * @param diskGiB   disk size
 */
public record LaunchSpec(String vmId, int vcpus, int memoryMiB, int diskGiB) {}
