package org.fastvm.server.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import org.fastvm.server.core.Quotas;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.Vm;

/** The wire shapes of the contract's objects (docs/api/openapi.yaml); internal fields never leave the server. */
final class Views {
    private Views() {}

    static ObjectNode vm(Vm vm) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("id", vm.id());
        n.put("name", vm.name());
        n.put("orgId", vm.orgId());
        n.put("machineName", vm.machineName());
        n.put("cpu", vm.cpu());
        n.put("memoryMiB", vm.memoryMiB());
        n.put("diskGiB", vm.diskGiB());
        n.put("status", vm.status().wire());
        n.put("createdAt", time(vm.createdAt()));
        if (vm.sourceName() != null) n.put("sourceName", vm.sourceName());
        // publicIpv6 stays absent: VMs have no public network yet.
        n.set("firewall", ModelJson.firewall(vm.firewall()));
        if (vm.deletedAt() != null) n.put("deletedAt", time(vm.deletedAt()));
        n.set("metadata", ModelJson.metadata(vm.metadata()));
        return n;
    }

    static ObjectNode snapshot(Snapshot s) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("id", s.id());
        n.put("name", s.name());
        n.put("orgId", s.orgId());
        n.put("vmId", s.vmId());
        n.put("status", s.status().wire());
        n.put("createdAt", time(s.createdAt()));
        n.set("firewall", ModelJson.firewall(s.firewall()));
        n.set("metadata", ModelJson.metadata(s.metadata()));
        return n;
    }

    static ObjectNode quotas(Quotas.OrgQuotaUsage q) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("orgId", q.orgId());
        n.set("limits", quotaValues(q.limits()));
        n.set("usage", quotaValues(q.usage()));
        return n;
    }

    private static ObjectNode quotaValues(QuotaValues v) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("vcpu", v.vcpu());
        n.put("memoryMiB", v.memoryMiB());
        n.put("diskGiB", v.diskGiB());
        n.put("snapshotCount", v.snapshotCount());
        return n;
    }

    static ObjectNode deleted(String id) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("id", id);
        n.put("deleted", true);
        return n;
    }

    /** ISO-8601 UTC with Z, millisecond precision. */
    static String time(Instant t) {
        return t.toString();
    }
}
