package org.fastvm.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import org.fastvm.server.model.QuotaValues;

/**
 * Everything {@code fastvm serve} can set. The CLI maps flags and FASTVM_* variables here.
 *
 * @param host          bind address (default 127.0.0.1)
 * @param port          bind port (default 8080; 0 = any free port)
 * @param dataDir       the data dir: fastvm.db, vms/, snapshots/, tls/
 * @param dbUrl         a JDBC URL (jdbc:postgresql:...), or null for SQLite in the data dir
 * @param dbUser        database user, or null
 * @param dbPassword    database password, or null
 * @param tlsCert       PEM certificate chain, or null
 * @param tlsKey        PEM PKCS#8 private key, or null
 * @param tlsSelfSigned generate (once) and use a self-signed certificate
 * @param launchWait    how long POST /v1/vms waits for running before answering 202
 * @param idleTimeout   how long a connection with no request in progress may stay silent before it is
 *                      closed (a request being served is never timed out while its handler works)
 * @param readTimeout   how long a client may take to send a request's head and body, from its first byte
 * @param defaultQuota  limits for orgs without an override
 * @param image         guest image for VMs: minimal or debian
 * @param metricsHost   bind address of the separate {@code /metrics} listener (default 127.0.0.1: the API
 *                      port never serves metrics), or null for none
 * @param metricsPort   its port (default 9464; 0 = any free port)
 */
public record ServerConfig(
        String host,
        int port,
        Path dataDir,
        String dbUrl,
        String dbUser,
        String dbPassword,
        Path tlsCert,
        Path tlsKey,
        boolean tlsSelfSigned,
        Duration launchWait,
        Duration idleTimeout,
        Duration readTimeout,
        QuotaValues defaultQuota,
        String image,
        String metricsHost,
        int metricsPort) {
    /** Default limits per org: room for a handful of VMs and snapshots on one host. */
    public static final QuotaValues DEFAULT_QUOTA = new QuotaValues(16, 32768, 500, 50);

    /**
     * Default seconds POST /v1/vms waits for a VM to run: well under the official SDKs' 60 s
     * client timeout, after which they re-POST (and launch again) instead of polling.
     */
    public static final int DEFAULT_LAUNCH_WAIT_SEC = 20;

    /**
     * Default seconds a connection without a request in progress may stay silent: longer than the
     * JDK client's 30 s connection pool idle time, so a client never sends a request on a
     * connection the server is closing at the same moment.
     */
    public static final int DEFAULT_IDLE_TIMEOUT_SEC = 60;

    /** Default seconds a client has to send a request's head and body (bodies are at most 1 MiB). */
    public static final int DEFAULT_READ_TIMEOUT_SEC = 30;

    /** Validates the combination, naming the bad setting. */
    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(dataDir, "dataDir");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("bind: port must be 0-65535, got " + port);
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new IllegalArgumentException("tls-cert and tls-key: give both or neither");
        }
        if (tlsSelfSigned && tlsCert != null) {
            throw new IllegalArgumentException("tls-self-signed: cannot be combined with tls-cert/tls-key");
        }
        if (launchWait == null || launchWait.isNegative())
            throw new IllegalArgumentException("launch-wait: must be ≥ 0");
        if (idleTimeout == null || idleTimeout.isNegative() || idleTimeout.isZero()) {
            throw new IllegalArgumentException("idle-timeout: must be > 0");
        }
        if (readTimeout == null || readTimeout.isNegative() || readTimeout.isZero()) {
            throw new IllegalArgumentException("read-timeout: must be > 0");
        }
        Objects.requireNonNull(defaultQuota, "defaultQuota");
        Objects.requireNonNull(image, "image");
        if (metricsPort < 0 || metricsPort > 65535) {
            throw new IllegalArgumentException("metrics-bind: port must be 0-65535, got " + metricsPort);
        }
    }

    /** Default port of the metrics listener (Prometheus exporters' customary range). */
    public static final int DEFAULT_METRICS_PORT = 9464;

    /** {@return the defaults for a data dir: 127.0.0.1:8080, SQLite, cleartext, the debian image} */
    public static ServerConfig defaults(Path dataDir) {
        return new ServerConfig(
                "127.0.0.1",
                8080,
                dataDir.toAbsolutePath(),
                null,
                null,
                null,
                null,
                null,
                false,
                Duration.ofSeconds(DEFAULT_LAUNCH_WAIT_SEC),
                Duration.ofSeconds(DEFAULT_IDLE_TIMEOUT_SEC),
                Duration.ofSeconds(DEFAULT_READ_TIMEOUT_SEC),
                DEFAULT_QUOTA,
                "debian",
                "127.0.0.1",
                DEFAULT_METRICS_PORT);
    }

    /** {@return a copy bound to {@code host:port}} */
    public ServerConfig withBind(String h, int p) {
        return new ServerConfig(
                h,
                p,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                defaultQuota,
                image,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy with another default quota} */
    public ServerConfig withDefaultQuota(QuotaValues q) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                q,
                image,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy with another launch wait} */
    public ServerConfig withLaunchWait(Duration d) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                d,
                idleTimeout,
                readTimeout,
                defaultQuota,
                image,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy using TLS: cert/key files, or self-signed when both are null and {@code selfSigned}} */
    public ServerConfig withTls(Path cert, Path key, boolean selfSigned) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                cert,
                key,
                selfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                defaultQuota,
                image,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy booting another guest image} */
    public ServerConfig withImage(String img) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                defaultQuota,
                img,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy whose /metrics listener binds {@code host:port} ({@code host} null: no listener)} */
    public ServerConfig withMetricsBind(String h, int p) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                defaultQuota,
                image,
                h,
                p);
    }

    /** {@return a copy with other connection timeouts (see the record's parameters)} */
    public ServerConfig withTimeouts(Duration idle, Duration read) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                dbUrl,
                dbUser,
                dbPassword,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idle,
                read,
                defaultQuota,
                image,
                metricsHost,
                metricsPort);
    }

    /** {@return a copy using another database} */
    public ServerConfig withDb(String url, String user, String password) {
        return new ServerConfig(
                host,
                port,
                dataDir,
                url,
                user,
                password,
                tlsCert,
                tlsKey,
                tlsSelfSigned,
                launchWait,
                idleTimeout,
                readTimeout,
                defaultQuota,
                image,
                metricsHost,
                metricsPort);
    }
}
