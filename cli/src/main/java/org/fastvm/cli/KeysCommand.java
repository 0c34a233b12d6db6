package org.fastvm.cli;

import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.Orgs;
import org.fastvm.server.model.ApiKey;
import org.fastvm.server.model.Org;
import org.fastvm.server.store.Store;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code fastvm keys create|list|revoke}: API keys, straight in the database. */
@Command(
        name = "keys",
        mixinStandardHelpOptions = true,
        description = "Create, list and revoke API keys.",
        subcommands = {KeysCommand.Create.class, KeysCommand.ListKeys.class, KeysCommand.Revoke.class})
final class KeysCommand {
    /** Fails naming the option when no org was given by flag or FASTVM_ORG. */
    static void requireOrg(String org) {
        if (org == null || org.isBlank()) throw new IllegalArgumentException("--org: required (or set FASTVM_ORG)");
    }

    @Command(
            name = "create",
            mixinStandardHelpOptions = true,
            description =
                    "Create a key for an org (created if new). Prints the key alone on the last line; it is shown once.")
    static final class Create implements Callable<Integer> {
        @Mixin
        DataOptions data;

        @Option(names = "--org", defaultValue = "${env:FASTVM_ORG}", description = "Org name (env FASTVM_ORG).")
        String org;

        @Override
        public Integer call() {
            requireOrg(org);
            try (Store store = Store.over(data.open())) {
                ApiKeys keys = new ApiKeys(store);
                Org o = new Orgs(store, keys).findOrCreate(org);
                ApiKeys.CreatedKey k = keys.create(o.id());
                System.out.println(
                        "Created API key " + k.record().id() + " for org '" + o.name() + "' (" + o.id() + "):");
                System.out.println(k.key());
                return 0;
            }
        }
    }

    @Command(
            name = "list",
            mixinStandardHelpOptions = true,
            description = "List keys (id, org, prefix, created, revoked).")
    static final class ListKeys implements Callable<Integer> {
        @Mixin
        DataOptions data;

        @Option(names = "--org", defaultValue = "${env:FASTVM_ORG}", description = "Only this org's keys.")
        String org;

        @Override
        public Integer call() {
            try (Store store = Store.over(data.open())) {
                ApiKeys keys = new ApiKeys(store);
                Orgs orgs = new Orgs(store, keys);
                Map<String, String> names = orgs.list().stream().collect(Collectors.toMap(Org::id, Org::name));
                String orgId =
                        org == null || org.isBlank() ? null : orgs.byName(org).id();
                Table t = new Table("ID", "ORG", "PREFIX", "CREATED", "REVOKED");
                for (ApiKey k : keys.list(orgId)) {
                    t.row(k.id(), names.getOrDefault(k.orgId(), k.orgId()), k.prefix(), k.createdAt(), k.revokedAt());
                }
                System.out.print(t.render());
                return 0;
            }
        }
    }

    @Command(
            name = "revoke",
            mixinStandardHelpOptions = true,
            description = "Revoke a key by id (effective within seconds).")
    static final class Revoke implements Callable<Integer> {
        @Mixin
        DataOptions data;

        @Parameters(paramLabel = "KEY_ID", description = "The key's id from 'fastvm keys list'.")
        String id;

        @Override
        public Integer call() {
            try (Store store = Store.over(data.open())) {
                new ApiKeys(store).revoke(id);
                System.out.println("Revoked " + id);
                return 0;
            }
        }
    }
}
