package org.fastvm.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import org.fastvm.server.core.ServiceException;
import org.fastvm.server.core.Snapshots;
import org.fastvm.server.model.ModelJson;

/** /v1/snapshots and /v1/snapshots/{id}. */
final class SnapshotsHandler {
    private final Snapshots snapshots;

    SnapshotsHandler(Snapshots snapshots) {
        this.snapshots = snapshots;
    }

    /** POST /v1/snapshots {vmId, name?} → 201 creating. */
    void create(Exchange ex) {
        JsonNode body = ex.jsonBody();
        String vmId = Bodies.optString(body, "vmId");
        if (vmId == null) throw ServiceException.invalid("vmId", "required");
        ex.json(201, Views.snapshot(snapshots.create(ex.orgId(), vmId, Bodies.optString(body, "name"))));
    }

    void list(Exchange ex) {
        ArrayNode out = ModelJson.MAPPER.createArrayNode();
        snapshots.list(ex.orgId()).forEach(s -> out.add(Views.snapshot(s)));
        ex.json(200, out);
    }

    void get(Exchange ex) {
        ex.json(200, Views.snapshot(snapshots.require(ex.orgId(), ex.segment(2))));
    }

    /** PATCH /v1/snapshots/{id} {name}. */
    void patch(Exchange ex) {
        String id = ex.segment(2);
        snapshots.require(ex.orgId(), id);
        String name = Bodies.optString(ex.jsonBody(), "name");
        if (name == null) throw ServiceException.invalid("name", "required");
        ex.json(200, Views.snapshot(snapshots.rename(ex.orgId(), id, name)));
    }

    void delete(Exchange ex) {
        String id = ex.segment(2);
        snapshots.delete(ex.orgId(), id);
        ex.json(200, Views.deleted(id));
    }
}
