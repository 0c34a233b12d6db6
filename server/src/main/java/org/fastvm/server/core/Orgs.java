package org.fastvm.server.core;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;
import org.fastvm.server.model.Org;
import org.fastvm.server.store.Store;

/** Orgs: created by operators (CLI), and once automatically on the very first start. */
public final class Orgs {
    /** The org created on first start with an empty database. */
    public static final String DEFAULT_ORG = "default";

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final Store store;
    private final ApiKeys apiKeys;

    public Orgs(Store store, ApiKeys apiKeys) {
        this.store = store;
        this.apiKeys = apiKeys;
    }

    /** {@return the org named {@code name}, creating it if needed} */
    public Org findOrCreate(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw ServiceException.invalid("org", "name must match " + NAME + ", got '" + name + "'");
        }
        return store.db().write(c -> {
            Optional<Org> existing = store.orgs().findByName(c, name);
            if (existing.isPresent()) return existing.get();
            Org org = new Org(UUID.randomUUID().toString(), name, Instant.now().truncatedTo(ChronoUnit.MILLIS));
            store.orgs().insert(c, org);
            return org;
        });
    }

    /** {@return the org named {@code name}; 404 when there is none} */
    public Org byName(String name) {
        return store.db()
                .read(c -> store.orgs().findByName(c, name))
                .orElseThrow(() -> ServiceException.notFound("org", name));
    }

    /** {@return the org with this id, if any} */
    public Optional<Org> byId(String id) {
        return store.db().read(c -> store.orgs().findById(c, id));
    }

    /** {@return every org} */
    public List<Org> list() {
        return store.db().read(c -> store.orgs().list(c));
    }

    /**
     * On the very first start (no org at all), creates the default org and a key for it.
     *
     * @return the new key, or empty when the database already had orgs
     */
    public Optional<ApiKeys.CreatedKey> bootstrap() {
        if (store.db().read(c -> store.orgs().count(c)) > 0) return Optional.empty();
        return Optional.of(apiKeys.create(findOrCreate(DEFAULT_ORG).id()));
    }
}
