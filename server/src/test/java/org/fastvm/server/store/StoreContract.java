package org.fastvm.server.store;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.ErrorKind;
import org.fastvm.server.core.Orgs;
import org.fastvm.server.core.Quotas;
import org.fastvm.server.core.ServiceException;
import org.fastvm.server.model.FirewallPolicy;
import org.fastvm.server.model.FirewallRule;
import org.fastvm.server.model.Org;
import org.fastvm.server.model.QuotaOverride;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.server.model.Snapshot;
import org.fastvm.server.model.SnapshotStatus;
import org.fastvm.server.model.Vm;
import org.fastvm.server.model.VmStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The store's behaviour, run against each database by a subclass. */
abstract class StoreContract {
    Store store;
    ApiKeys keys;
    Orgs orgs;
    Quotas quotas;

    /** {@return a fresh, migrated, empty database} */
    abstract Database openFresh() throws Exception;

    @BeforeEach
    void open() throws Exception {
        store = Store.over(openFresh());
        keys = new ApiKeys(store);
        orgs = new Orgs(store, keys);
        quotas = new Quotas(store, new QuotaValues(4, 8192, 100, 2));
    }

    @AfterEach
    void close() {
        if (store != null) store.close();
    }

    @Test
    void bootstrapCreatesDefaultOrgAndKeyOnlyOnce() {
        var first = orgs.bootstrap();
        assertTrue(first.isPresent());
        assertTrue(first.get().key().startsWith(ApiKeys.PREFIX));
        assertEquals(
                orgs.byName(Orgs.DEFAULT_ORG).id(),
                keys.authenticate(first.get().key()).orElseThrow());
        assertTrue(orgs.bootstrap().isEmpty(), "second start must not create another key");
    }

    @Test
    void keysAreStoredHashedAndRevocable() throws Exception {
        Org org = orgs.findOrCreate("acme");
        var created = keys.create(org.id());
        assertEquals(org.id(), keys.authenticate(created.key()).orElseThrow());
        assertTrue(keys.authenticate(created.key() + "x").isEmpty());
        assertTrue(keys.authenticate(null).isEmpty());
        // The secret itself is nowhere in the table.
        String dump = store.db().read(c -> {
            StringBuilder sb = new StringBuilder();
            try (var rs = c.createStatement().executeQuery("SELECT * FROM api_keys")) {
                while (rs.next())
                    for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++)
                        sb.append(rs.getString(i)).append('|');
            }
            return sb.toString();
        });
        assertFalse(dump.contains(created.key()));
        keys.revoke(created.record().id());
        assertTrue(keys.authenticate(created.key()).isEmpty());
        var e = assertThrows(
                ServiceException.class, () -> keys.revoke(created.record().id()));
        assertEquals(ErrorKind.NOT_FOUND, e.kind());
        assertNotNull(keys.list(org.id()).get(0).revokedAt());
    }

    @Test
    void vmRowsRoundTripAndTransitionsAreCompareAndSet() {
        Org org = orgs.findOrCreate("acme");
        FirewallPolicy fw = new FirewallPolicy(
                "restricted", List.of(new FirewallRule("tcp", 80, 443, List.of("2001:db8::/32"), "web")));
        Vm vm = vm(org.id(), 1, 2048, 10, fw, Map.of("team", "blue"));
        store.db().write(c -> {
            store.vms().insert(c, vm);
            return null;
        });
        Vm back = store.db().read(c -> store.vms().find(c, vm.id())).orElseThrow();
        assertEquals(vm, back);
        assertTrue(store.db()
                .<Boolean>write(
                        c -> store.vms().transition(c, vm.id(), VmStatus.PROVISIONING, VmStatus.RUNNING, null)));
        assertFalse(store.db().<Boolean>write(c -> store.vms().fail(c, vm.id(), VmStatus.PROVISIONING, "late", false)));
        assertEquals(
                VmStatus.RUNNING,
                store.db().read(c -> store.vms().find(c, vm.id())).orElseThrow().status());
        assertEquals(
                1,
                store.db()
                        .read(c -> store.vms().listLive(c, org.id(), VmStatus.RUNNING))
                        .size());
        assertEquals(
                0,
                store.db()
                        .read(c -> store.vms().listLive(c, org.id(), VmStatus.ERROR))
                        .size());
    }

    @Test
    void usageCountsOnlyRowsThatHoldQuota() {
        Org org = orgs.findOrCreate("acme");
        Vm a = vm(org.id(), 2, 4096, 10, FirewallPolicy.DEFAULT, Map.of());
        Vm b = vm(org.id(), 1, 2048, 12, FirewallPolicy.DEFAULT, Map.of());
        Vm failedBoot = vm(org.id(), 1, 2048, 30, FirewallPolicy.DEFAULT, Map.of());
        store.db().write(c -> {
            store.vms().insert(c, a);
            store.vms().insert(c, b);
            store.vms().insert(c, failedBoot);
            store.vms().transition(c, b.id(), VmStatus.PROVISIONING, VmStatus.RUNNING, null);
            store.vms().fail(c, b.id(), VmStatus.RUNNING, "boom", true);
            store.vms().fail(c, failedBoot.id(), VmStatus.PROVISIONING, "boot failed", false);
            store.snapshots().insert(c, snapshot(org.id(), a.id(), SnapshotStatus.READY));
            store.snapshots().insert(c, snapshot(org.id(), a.id(), SnapshotStatus.ERROR));
            return null;
        });
        var q = quotas.get(org.id());
        // b is in error: its vCPU and memory are released, its disk (files kept) is held until it is
        // deleted; the failed boot left no files and holds nothing
        assertEquals(new QuotaValues(2, 4096, 22, 1), q.usage());
        store.db().write(c -> store.vms().markDeleted(c, b.id(), VmStatus.ERROR, java.time.Instant.now()));
        assertEquals(new QuotaValues(2, 4096, 10, 1), quotas.get(org.id()).usage());
        assertEquals(new QuotaValues(4, 8192, 100, 2), q.limits());
        quotas.setOverride(org.id(), new QuotaOverride(16L, null, null, null));
        quotas.setOverride(org.id(), new QuotaOverride(null, null, null, 5L));
        assertEquals(new QuotaValues(16, 8192, 100, 5), quotas.get(org.id()).limits());
    }

    @Test
    void concurrentReservationsNeverExceedTheLimit() throws Exception {
        Org org = orgs.findOrCreate("race");
        int attempts = 20;
        ExecutorService pool = Executors.newFixedThreadPool(attempts);
        CountDownLatch start = new CountDownLatch(1);
        AtomicInteger refused = new AtomicInteger();
        List<Future<Boolean>> results = new ArrayList<>();
        try {
            for (int i = 0; i < attempts; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    Vm v = vm(org.id(), 1, 2048, 10, FirewallPolicy.DEFAULT, Map.of());
                    try {
                        store.db().writeLockingOrg(org.id(), c -> {
                            quotas.reserve(c, org.id(), new QuotaValues(1, 2048, 10, 0));
                            store.vms().insert(c, v);
                            return null;
                        });
                        return true;
                    } catch (ServiceException e) {
                        assertEquals(ErrorKind.QUOTA_EXCEEDED, e.kind());
                        assertTrue(
                                e.getMessage().contains("vcpu")
                                        && e.getMessage().contains("limit 4"),
                                e.getMessage());
                        refused.incrementAndGet();
                        return false;
                    }
                }));
            }
            start.countDown();
            int ok = 0;
            for (Future<Boolean> f : results) if (f.get()) ok++;
            assertEquals(4, ok);
            assertEquals(16, refused.get());
            assertEquals(4, quotas.get(org.id()).usage().vcpu());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void snapshotRowsRoundTripAndDeleteOnce() {
        Org org = orgs.findOrCreate("acme");
        Snapshot s = snapshot(org.id(), UUID.randomUUID().toString(), SnapshotStatus.CREATING);
        store.db().write(c -> {
            store.snapshots().insert(c, s);
            return null;
        });
        assertEquals(s, store.db().read(c -> store.snapshots().find(c, s.id())).orElseThrow());
        assertTrue(store.db()
                .<Boolean>write(c ->
                        store.snapshots().transition(c, s.id(), SnapshotStatus.CREATING, SnapshotStatus.READY, null)));
        store.db().write(c -> {
            store.snapshots().rename(c, s.id(), "renamed");
            return null;
        });
        assertEquals(
                "renamed",
                store.db()
                        .read(c -> store.snapshots().find(c, s.id()))
                        .orElseThrow()
                        .name());
        assertTrue(store.db().<Boolean>write(c -> store.snapshots().markDeleted(c, s.id(), Instant.now())));
        assertFalse(store.db().<Boolean>write(c -> store.snapshots().markDeleted(c, s.id(), Instant.now())));
        assertTrue(store.db().read(c -> store.snapshots().listLive(c, org.id())).isEmpty());
    }

    static Vm vm(String orgId, int cpu, int mem, int disk, FirewallPolicy fw, Map<String, String> md) {
        String id = UUID.randomUUID().toString();
        return new Vm(
                id,
                orgId,
                "vm-" + id.substring(0, 8),
                "c1m2",
                cpu,
                mem,
                disk,
                VmStatus.PROVISIONING,
                Instant.ofEpochMilli(System.currentTimeMillis()),
                null,
                null,
                fw,
                md,
                null,
                null);
    }

    static Snapshot snapshot(String orgId, String vmId, SnapshotStatus status) {
        String id = UUID.randomUUID().toString();
        return new Snapshot(
                id,
                orgId,
                vmId,
                "snap",
                status,
                "c1m2",
                1,
                2048,
                10,
                FirewallPolicy.DEFAULT,
                Map.of(),
                Instant.ofEpochMilli(System.currentTimeMillis()),
                null,
                null);
    }
}
