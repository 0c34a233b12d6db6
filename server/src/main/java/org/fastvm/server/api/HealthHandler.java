package org.fastvm.server.api;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.sql.Connection;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.model.ModelJson;
import org.fastvm.server.store.Database;

/**
 * /healthz, /livez, /readyz (no auth). The detail says honestly what the platform has: the
 * accelerator and QEMU version, whether later snapshots run live, and that VMs have no public network (firewall policies are stored, not enforced).
 */
final class HealthHandler {
    static final String NO_PUBLIC_NETWORK = "no public network is attached to VMs yet: publicIpv6 is absent and "
            + "firewall policies are validated and stored but not enforced";

    private final Database db;
    private final VmBackend backend;
    private final java.util.function.BooleanSupplier recovered;

    HealthHandler(Database db, VmBackend backend, java.util.function.BooleanSupplier recovered) {
        this.db = db;
        this.backend = backend;
        this.recovered = recovered;
    }

    /** GET /healthz: {"status":"ok", ...detail}. */
    void healthz(Exchange ex) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("status", "ok");
        n.put("accelerator", backend.accelerator());
        n.put("qemu", backend.qemuVersion());
        n.put("liveSnapshots", backend.liveSnapshots());
        n.put("publicNetwork", false);
        n.put("detail", NO_PUBLIC_NETWORK);
        ex.json(200, n);
    }

    /** GET /livez: the process answers. */
    void livez(Exchange ex) {
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("status", "ok");
        ex.json(200, n);
    }

    /** GET /readyz: the database answers and start-up has settled the previous run's VMs; 503 with Retry-After otherwise. */
    void readyz(Exchange ex) {
        if (!recovered.getAsBoolean()) {
            ApiError.write(ex.response, ex.callback, ErrorKind.UNAVAILABLE, "reattaching the VMs of the previous run");
            return;
        }
        try (Connection c = db.dataSource().getConnection()) {
            if (!c.isValid(2)) throw new java.sql.SQLException("connection not valid");
        } catch (java.sql.SQLException e) {
            ApiError.write(ex.response, ex.callback, ErrorKind.UNAVAILABLE, "database unavailable: " + e.getMessage());
            return;
        }
        livez(ex);
    }
}
