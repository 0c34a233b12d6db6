package org.fastvm.server.core;

import java.util.Map;
import org.fastvm.server.model.FirewallPolicy;

/**
 * A validated-in-shape launch or restore request (values are checked by {@link Vms#launch}).
 *
 * @param machineType machine type name, required unless restoring
 * @param snapshotId  restore from this snapshot, or null for a fresh boot
 * @param name        requested name (normalised later), or null
 * @param diskGiB     requested disk, or null for the default
 * @param firewall    policy, or null for the default (or the snapshot's)
 * @param metadata    metadata, or null for none
 */
public record LaunchRequest(
        String machineType,
        String snapshotId,
        String name,
        Integer diskGiB,
        FirewallPolicy firewall,
        Map<String, String> metadata) {}
