package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.util.LinkedHashMap;
import java.util.Map;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Fields;
import org.fastvm.server.core.Firewall;
import org.fastvm.server.core.LaunchRequest;
import org.fastvm.server.core.Metadata;
import org.fastvm.server.core.ServiceException;
import org.fastvm.server.core.Vms;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.model.VmStatus;

/** /v1/vms, /v1/vms/{id} and /v1/vms/{id}/firewall. */
final class VmsHandler {
    private static final String METADATA_FILTER = "metadata.";
    private final Vms vms;

    VmsHandler(Vms vms) {
        this.vms = vms;
    }

    /**
     * POST /v1/vms: 201 when running within the bounded wait, else 202. The wait also ends
     * in time for the client's announced timeout: an official SDK that times out re-POSTs,
     * and every POST launches a VM.
     */
    void launch(Exchange ex) {
        JsonNode body = ex.jsonBody();
        JsonNode fw = Bodies.opt(body, "firewall");
        JsonNode md = Bodies.opt(body, "metadata");
        LaunchRequest req = new LaunchRequest(
                Bodies.optString(body, "machineType"),
                Bodies.optString(body, "snapshotId"),
                Bodies.optString(body, "name"),
                Bodies.optInt(body, "diskGiB"),
                fw == null ? null : Firewall.parse("firewall", fw),
                md == null ? null : Metadata.parse("metadata", md));
        var cap = ClientTimeout.of(ex)
                .map(t -> ClientTimeout.answerWithin(t.timeout()))
                .orElse(null);
        Vms.LaunchResult r = vms.launch(ex.orgId(), req, cap);
        ex.json(r.running() ? 201 : 202, Views.vm(r.vm()));
    }

    /** GET /v1/vms with ?status= and metadata.&lt;k&gt;= filters. */
    void list(Exchange ex) {
        Fields q = Request.extractQueryParameters(ex.request);
        VmStatus status = null;
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Fields.Field f : q) {
            if (f.getName().equals("status")) {
                status = VmStatus.fromWire(f.getValue());
                if (status == null || status == VmStatus.DELETED) {
                    // An unknown status matches nothing; enums are open, so this is not an error.
                    ex.json(200, ModelJson.MAPPER.createArrayNode());
                    return;
                }
            } else if (f.getName().startsWith(METADATA_FILTER) && f.getName().length() > METADATA_FILTER.length()) {
                String key = f.getName().substring(METADATA_FILTER.length());
                if (f.getValues().size() > 1
                        && f.getValues().stream().distinct().count() > 1) {
                    ex.json(200, ModelJson.MAPPER.createArrayNode()); // k=a and k=b can never both hold
                    return;
                }
                metadata.put(key, f.getValue());
            }
        }
        ArrayNode out = ModelJson.MAPPER.createArrayNode();
        vms.list(ex.orgId(), status, metadata).forEach(v -> out.add(Views.vm(v)));
        ex.json(200, out);
    }

    void get(Exchange ex) {
        ex.json(200, Views.vm(vms.require(ex.orgId(), ex.segment(2))));
    }

    /** PATCH /v1/vms/{id}: {name?, metadata?}, at least one. */
    void patch(Exchange ex) {
        String id = ex.segment(2);
        vms.require(ex.orgId(), id); // unknown id → 404 before body validation
        JsonNode body = ex.jsonBody();
        String name = Bodies.optString(body, "name");
        JsonNode md = Bodies.opt(body, "metadata");
        if (name == null && md == null) throw ServiceException.invalid("body", "give at least one of name, metadata");
        ex.json(200, Views.vm(vms.update(ex.orgId(), id, name, md == null ? null : Metadata.parse("metadata", md))));
    }

    void delete(Exchange ex) {
        String id = ex.segment(2);
        vms.delete(ex.orgId(), id);
        ex.json(200, Views.deleted(id));
    }

    /** PUT /v1/vms/{id}/firewall replaces the policy. */
    void putFirewall(Exchange ex) {
        String id = ex.segment(2);
        vms.require(ex.orgId(), id);
        var policy = Firewall.parse("firewall", ex.jsonBody());
        ex.json(200, Views.vm(vms.updateFirewall(ex.orgId(), id, current -> policy)));
    }

    /** PATCH /v1/vms/{id}/firewall: omitted fields unchanged, ingress: [] clears. */
    void patchFirewall(Exchange ex) {
        String id = ex.segment(2);
        vms.require(ex.orgId(), id);
        JsonNode body = ex.jsonBody();
        ex.json(
                200,
                Views.vm(vms.updateFirewall(ex.orgId(), id, current -> Firewall.patch("firewall", current, body))));
    }
}
