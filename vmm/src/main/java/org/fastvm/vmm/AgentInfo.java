package org.fastvm.vmm;

/**
 * What the guest agent said in its HELLO.
 *
 * @param version  the agent's version string
 * @param bootId   the guest kernel's boot id (changes on every boot, not on restore)
 * @param hostname the guest's hostname
 */
public record AgentInfo(String version, String bootId, String hostname) {}
