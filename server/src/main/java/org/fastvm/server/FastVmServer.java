package org.fastvm.server;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.fastvm.server.api.ApiServer;
import org.fastvm.server.api.Tls;
import org.fastvm.server.backend.VmBackend;
import org.fastvm.server.core.ApiKeys;
import org.fastvm.server.core.Orgs;
import org.fastvm.server.core.Quotas;
import org.fastvm.server.core.Reconciler;
import org.fastvm.server.core.Snapshots;
import org.fastvm.server.core.Vms;
import org.fastvm.server.model.VmStatus;
import org.fastvm.server.store.Database;
import org.fastvm.server.store.Store;
import org.fastvm.vmm.FaultHook;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The control plane assembled: database, services over a {@link VmBackend}, reconciliation of
 * rows with live VMs, and the HTTP API. The listener opens first; VMs left by the previous run
 * are settled in the background ({@link #recovery()}; {@code /readyz} answers 503 until then).
 * {@link #close()} stops serving but leaves VMs running.
 */
public final class FastVmServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FastVmServer.class);
    /** How often rows and files are compared while serving (differences are logged). */
    static final Duration AUDIT_INTERVAL = Duration.ofMinutes(10);
    /** How long close() waits for interrupted boots and snapshots to record their outcome (they undo in ms to seconds). */
    private static final Duration BACKGROUND_GRACE = Duration.ofSeconds(15);

    private final Store store;
    private final VmBackend backend;
    private final ExecutorService background;
    private final Vms vms;
    private final Orgs orgs;
    private final ApiKeys apiKeys;
    private final Quotas quotas;
    private final ApiServer api;
    private final Optional<ApiKeys.CreatedKey> bootstrapKey;
    private final Reconciler reconciler;
    private final CompletableFuture<Void> recovery;
    private final ScheduledExecutorService audits;

    private FastVmServer(ServerConfig config, Store store, VmBackend backend, FaultHook faults) throws Exception {
        this.store = store;
        this.backend = backend;
        this.background = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("fastvm-bg-", 0).factory());
        PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        apiKeys = new ApiKeys(store);
        orgs = new Orgs(store, apiKeys);
        quotas = new Quotas(store, config.defaultQuota());
        vms = new Vms(store, backend, quotas, config.launchWait(), background, meters, faults);
        Snapshots snapshots = new Snapshots(store, backend, vms, quotas, background, meters, faults);
        reconciler = new Reconciler(store, backend, vms, snapshots, background, meters);
        VmCounts counts = new VmCounts(vms);
        for (VmStatus s : VmStatus.values()) {
            if (s == VmStatus.DELETED) continue;
            Gauge.builder("fastvm.vms", () -> counts.get().getOrDefault(s, 0L))
                    .tag("status", s.wire())
                    .description("VMs by status")
                    .register(meters);
        }
        bootstrapKey = orgs.bootstrap();
        KeyStore keyStore = null;
        if (config.tlsCert() != null) keyStore = Tls.fromPem(config.tlsCert(), config.tlsKey());
        else if (config.tlsSelfSigned())
            keyStore = Tls.selfSigned(config.dataDir().resolve("tls"), config.host());
        CompletableFuture<Void> recovered = new CompletableFuture<>();
        api = new ApiServer(
                config.host(),
                config.port(),
                keyStore,
                config.idleTimeout(),
                config.readTimeout(),
                apiKeys,
                vms,
                snapshots,
                quotas,
                store.db(),
                backend,
                meters,
                config.metricsHost(),
                config.metricsPort(),
                recovered::isDone);
        // Rows to settle are marked before the listener opens, so no request acts on a VM not yet reattached.
        CompletableFuture<Void> settling = reconciler.recover();
        api.start();
        recovery = settling.whenComplete((v, t) -> {
            if (t != null) LOG.error("start-up recovery failed", t);
            recovered.complete(null);
        });
        audits = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("fastvm-audit").factory());
        // shutdownNow() cancels it; auditQuietly logs its own failures, so the future has nothing to tell
        ScheduledFuture<?> unusedAudits = audits.scheduleWithFixedDelay(
                this::auditQuietly, AUDIT_INTERVAL.toMillis(), AUDIT_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
        LOG.info(
                "serving {} (database {}, accelerator {}, QEMU {})",
                api.baseUri(),
                store.db().dialect(),
                backend.accelerator(),
                backend.qemuVersion());
    }

    /**
     * Opens the database and starts serving.
     *
     * @param backend the VM engine (owned by the server from now on; closed by {@link #close()})
     */
    public static FastVmServer start(ServerConfig config, VmBackend backend) throws Exception {
        return start(config, backend, FaultHook.NONE);
    }

    /** {@link #start(ServerConfig, VmBackend)} whose multi-step operations call {@code faults} at named steps (crash tests). */
    public static FastVmServer start(ServerConfig config, VmBackend backend, FaultHook faults) throws Exception {
        Store store = Store.over(openDatabase(config));
        try {
            return new FastVmServer(config, store, backend, faults);
        } catch (Exception | Error e) {
            store.close();
            backend.close();
            throw e;
        }
    }

    /** {@return the configured database (SQLite in the data dir unless a URL is given)} */
    public static Database openDatabase(ServerConfig config) {
        return config.dbUrl() == null
                ? Database.openSqlite(config.dataDir())
                : Database.open(config.dbUrl(), config.dbUser(), config.dbPassword());
    }

    /** {@return the URL clients use} */
    public URI baseUri() {
        return api.baseUri();
    }

    /** {@return the URL of the metrics listener's {@code /metrics}, if it has one} */
    public java.util.Optional<URI> metricsUri() {
        return api.metricsUri();
    }

    /**
     * {@return completes once the VMs and snapshots the previous run left are settled (reattached,
     *         finished or rolled back) and files no row owns are removed}
     */
    public CompletableFuture<Void> recovery() {
        return recovery;
    }

    /** Compares rows with files now and logs each difference; @return the differences */
    public java.util.List<String> audit() {
        return reconciler.audit();
    }

    private void auditQuietly() {
        if (!recovery.isDone()) return;
        try {
            reconciler.audit();
        } catch (RuntimeException e) {
            LOG.warn("reconcile audit failed: {}", e.toString());
        }
    }

    /** {@return the key created on the very first start (empty database), shown once} */
    public Optional<ApiKeys.CreatedKey> bootstrapKey() {
        return bootstrapKey;
    }

    /** {@return org administration} */
    public Orgs orgs() {
        return orgs;
    }

    /** {@return API key administration} */
    public ApiKeys apiKeys() {
        return apiKeys;
    }

    /** {@return quota administration} */
    public Quotas quotas() {
        return quotas;
    }

    /** Waits until the HTTP server stops. */
    public void join() throws InterruptedException {
        api.join();
    }

    /**
     * Stops serving and closes the database; VMs keep running and are reattached on the next start.
     * Nothing may touch the database once it is closed: VM exit listeners are stopped, the engine
     * is let go (its calls in flight fail at once), and the background work that unblocks (a boot
     * or a snapshot recording how it ended) is awaited before the store closes.
     */
    @Override
    public void close() {
        try {
            api.close();
        } finally {
            audits.shutdownNow();
            background.shutdownNow(); // interrupts boots, snapshots and recovery in flight
            vms.close();
            try {
                backend.close();
            } finally {
                awaitBackground();
                store.close();
            }
        }
    }

    private void awaitBackground() {
        try {
            if (!background.awaitTermination(BACKGROUND_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warn(
                        "background work still running {} s into shutdown; the next start settles what it leaves",
                        BACKGROUND_GRACE.toSeconds());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** VM counts for the gauges, cached for a second so one scrape makes one query. */
    private static final class VmCounts {
        private final Vms vms;
        private volatile Map<VmStatus, Long> cached = Map.of();
        private volatile long at;

        VmCounts(Vms vms) {
            this.vms = vms;
        }

        Map<VmStatus, Long> get() {
            long now = System.nanoTime();
            if (now - at > 1_000_000_000L || cached.isEmpty()) {
                try {
                    cached = vms.countByStatus();
                } catch (RuntimeException e) {
                    return cached;
                }
                at = now;
            }
            return cached;
        }
    }
}
