package org.fastvm.cli;

import java.util.concurrent.Callable;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.Orgs;
import org.fastvm.server.core.Quotas;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.store.Store;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fastvm quota set|show}: per-org limits over the server defaults. */
@Command(
        name = "quota",
        mixinStandardHelpOptions = true,
        description = "Show or set an org's quota.",
        subcommands = {QuotaCommand.Set.class, QuotaCommand.Show.class})
final class QuotaCommand {
    @Command(
            name = "set",
            mixinStandardHelpOptions = true,
            description = "Override limits for an org (omitted ones unchanged).")
    static final class Set implements Callable<Integer> {
        @Mixin
        DataOptions data;

        @Option(names = "--org", defaultValue = "${env:FASTVM_ORG}", description = "Org name.")
        String org;

        @Option(names = "--vcpu", description = "vCPU limit.")
        Long vcpu;

        @Option(names = "--memory-mib", description = "Memory limit in MiB.")
        Long memoryMiB;

        @Option(names = "--disk-gib", description = "Disk limit in GiB.")
        Long diskGiB;

        @Option(names = "--snapshots", description = "Snapshot count limit.")
        Long snapshots;

        @Override
        public Integer call() {
            KeysCommand.requireOrg(org);
            if (vcpu == null && memoryMiB == null && diskGiB == null && snapshots == null) {
                throw new IllegalArgumentException(
                        "give at least one of --vcpu, --memory-mib, --disk-gib, --snapshots");
            }
            try (Store store = Store.over(data.open())) {
                Orgs orgs = new Orgs(store, new ApiKeys(store));
                Quotas q = new Quotas(store, ServerConfig.DEFAULT_QUOTA);
                print(q.setOverride(orgs.byName(org).id(), new QuotaOverride(vcpu, memoryMiB, diskGiB, snapshots)));
                return 0;
            }
        }
    }

    @Command(
            name = "show",
            mixinStandardHelpOptions = true,
            description =
                    "Show an org's limits and usage (limits not overridden show the built-in defaults; a server started "
                            + "with other --default-* values applies those).")
    static final class Show implements Callable<Integer> {
        @Mixin
        DataOptions data;

        @Option(names = "--org", defaultValue = "${env:FASTVM_ORG}", description = "Org name.")
        String org;

        @Override
        public Integer call() {
            KeysCommand.requireOrg(org);
            try (Store store = Store.over(data.open())) {
                Orgs orgs = new Orgs(store, new ApiKeys(store));
                print(new Quotas(store, ServerConfig.DEFAULT_QUOTA)
                        .get(orgs.byName(org).id()));
                return 0;
            }
        }
    }

    static void print(Quotas.OrgQuotaUsage u) {
        QuotaValues l = u.limits(), s = u.usage();
        System.out.printf("%-14s %10s %10s%n", "RESOURCE", "USED", "LIMIT");
        System.out.printf("%-14s %10d %10d%n", "vcpu", s.vcpu(), l.vcpu());
        System.out.printf("%-14s %10d %10d%n", "memoryMiB", s.memoryMiB(), l.memoryMiB());
        System.out.printf("%-14s %10d %10d%n", "diskGiB", s.diskGiB(), l.diskGiB());
        System.out.printf("%-14s %10d %10d%n", "snapshotCount", s.snapshotCount(), l.snapshotCount());
    }
}
