package org.fastvm.server.api;

import org.fastvm.server.core.Quotas;

/** GET /v1/org/quotas. */
final class QuotasHandler {
    private final Quotas quotas;

    QuotasHandler(Quotas quotas) {
        this.quotas = quotas;
    }

    void get(Exchange ex) {
        ex.json(200, Views.quotas(quotas.get(ex.orgId())));
    }
}
