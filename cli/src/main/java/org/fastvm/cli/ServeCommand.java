package org.fastvm.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.fastvm.server.backend.EngineBackend;
import org.fastvm.server.model.QuotaValues;
import org.fastvm.vmm.EngineConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code fastvm serve}: runs the control plane until interrupted; VMs outlive it. */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Run the FastVM REST API server.")
final class ServeCommand implements Callable<Integer> {
    @Mixin
    DataOptions data;

    @Option(
            names = "--bind",
            defaultValue = "${env:FASTVM_BIND:-127.0.0.1:8080}",
            description = "HOST:PORT to listen on (env FASTVM_BIND; default ${DEFAULT-VALUE}).")
    String bind;

    @Option(
            names = "--tls-cert",
            defaultValue = "${env:FASTVM_TLS_CERT}",
            description = "PEM certificate chain (env FASTVM_TLS_CERT).")
    Path tlsCert;

    @Option(
            names = "--tls-key",
            defaultValue = "${env:FASTVM_TLS_KEY}",
            description = "PEM PKCS#8 private key (env FASTVM_TLS_KEY).")
    Path tlsKey;

    @Option(
            names = "--tls-self-signed",
            defaultValue = "${env:FASTVM_TLS_SELF_SIGNED:-false}",
            description =
                    "Serve TLS with a generated self-signed certificate kept in <data-dir>/tls (env FASTVM_TLS_SELF_SIGNED).")
    boolean tlsSelfSigned;

    @Option(
            names = "--image",
            defaultValue = "${env:FASTVM_IMAGE:-debian}",
            description = "Guest image for VMs: minimal or debian (env FASTVM_IMAGE; default ${DEFAULT-VALUE}).")
    String image;

    @Option(
            names = "--accel",
            defaultValue = "${env:FASTVM_ACCEL:-auto}",
            description = "Accelerator: auto, kvm or tcg (env FASTVM_ACCEL; default ${DEFAULT-VALUE}).")
    String accel;

    @Option(
            names = "--launch-wait-sec",
            defaultValue = "${env:FASTVM_LAUNCH_WAIT_SEC:-" + ServerConfig.DEFAULT_LAUNCH_WAIT_SEC + "}",
            description =
                    "How long POST /v1/vms waits for a VM to run before answering 202 (provisioning; clients poll);"
                            + " also never longer than the client's announced timeout less a margin (env FASTVM_LAUNCH_WAIT_SEC;"
                            + " default ${DEFAULT-VALUE}).")
    int launchWaitSec;

    @Option(
            names = "--idle-timeout-sec",
            defaultValue = "${env:FASTVM_IDLE_TIMEOUT_SEC:-" + ServerConfig.DEFAULT_IDLE_TIMEOUT_SEC + "}",
            description =
                    "How long a connection with no request in progress may stay silent before the server closes it;"
                            + " a request being served (a quiet exec, a launch waiting for its VM) is never cut by it"
                            + " (env FASTVM_IDLE_TIMEOUT_SEC; default ${DEFAULT-VALUE}).")
    int idleTimeoutSec;

    @Option(
            names = "--read-timeout-sec",
            defaultValue = "${env:FASTVM_READ_TIMEOUT_SEC:-" + ServerConfig.DEFAULT_READ_TIMEOUT_SEC + "}",
            description =
                    "How long a client may take to send a request's head and body, from its first byte: a slower"
                            + " request is closed (head) or answered 408 (body) (env FASTVM_READ_TIMEOUT_SEC; default ${DEFAULT-VALUE}).")
    int readTimeoutSec;

    @Option(
            names = "--default-vcpu",
            defaultValue = "${env:FASTVM_DEFAULT_VCPU:-16}",
            description = "Default per-org vCPU limit.")
    long defaultVcpu;

    @Option(
            names = "--default-memory-mib",
            defaultValue = "${env:FASTVM_DEFAULT_MEMORY_MIB:-32768}",
            description = "Default per-org memory limit (MiB).")
    long defaultMemory;

    @Option(
            names = "--default-disk-gib",
            defaultValue = "${env:FASTVM_DEFAULT_DISK_GIB:-500}",
            description = "Default per-org disk limit (GiB).")
    long defaultDisk;

    @Option(
            names = "--default-snapshots",
            defaultValue = "${env:FASTVM_DEFAULT_SNAPSHOTS:-50}",
            description = "Default per-org snapshot count limit.")
    long defaultSnapshots;

    @Option(
            names = "--metrics-bind",
            defaultValue = "${env:FASTVM_METRICS_BIND:-127.0.0.1:" + ServerConfig.DEFAULT_METRICS_PORT + "}",
            description = "Where GET /metrics (Prometheus text) is served, HOST:PORT, or 'off'; never on the API port"
                    + " (env FASTVM_METRICS_BIND; default ${DEFAULT-VALUE}, loopback).")
    String metricsBind;

    @Option(
            names = "--client-config",
            defaultValue = "${env:FASTVM_CLIENT_CONFIG}",
            description =
                    "Client config written on first start (env FASTVM_CLIENT_CONFIG; default ~/.config/fastvm/config.json).")
    Path clientConfig;

    @Override
    public Integer call() throws Exception {
        HostPort hp = HostPort.parse(bind);
        Path dataDir = data.dataDir();
        ServerConfig config = ServerConfig.defaults(dataDir)
                .withBind(hp.host(), hp.port())
                .withDb(
                        DataOptions.blankToNull(data.dbUrl),
                        DataOptions.blankToNull(data.dbUser),
                        DataOptions.blankToNull(data.dbPassword))
                .withTls(tlsCert, tlsKey, tlsSelfSigned)
                .withLaunchWait(Duration.ofSeconds(launchWaitSec))
                .withTimeouts(Duration.ofSeconds(idleTimeoutSec), Duration.ofSeconds(readTimeoutSec))
                .withDefaultQuota(new QuotaValues(defaultVcpu, defaultMemory, defaultDisk, defaultSnapshots))
                .withImage(image);
        if (metricsBind.equalsIgnoreCase("off")) {
            config = config.withMetricsBind(null, 0);
        } else {
            HostPort m = HostPort.parse("--metrics-bind", metricsBind);
            config = config.withMetricsBind(m.host(), m.port());
        }
        EngineConfig engine = EngineConfig.builder()
                .dataDir(dataDir)
                .accel(EngineConfig.AccelMode.parse(accel, "--accel"))
                .build();
        System.out.println("fastvm: preparing the '" + image + "' guest image (the first start on a machine builds"
                + " the guest kernel and, for debian, a root disk: about 10 minutes; later starts reuse them)");
        System.out.flush();
        FastVmServer server = FastVmServer.start(config, EngineBackend.open(engine, image));
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            try {
                                server.close();
                            } catch (Exception e) {
                                System.err.println("fastvm: shutdown: " + e.getMessage());
                            }
                        },
                        "fastvm-shutdown"));
        String base = server.baseUri().toString();
        System.out.println("fastvm: serving " + base + " (data dir " + dataDir + ")");
        if (server.bootstrapKey().isPresent()) {
            Path cfg = clientConfig != null ? clientConfig : Defaults.clientConfig();
            String key = server.bootstrapKey().get().key();
            ClientConfig.write(cfg, key, base);
            System.out.println(
                    "fastvm: first start: created org 'default' and its API key (shown once; also written to " + cfg
                            + "):");
            System.out.println(key);
        }
        System.out.flush();
        server.join();
        return 0;
    }

    /** A parsed --bind (or --metrics-bind) value. */
    record HostPort(String host, int port) {
        static HostPort parse(String s) {
            return parse("--bind", s);
        }

        static HostPort parse(String option, String s) {
            String v = s.strip();
            int colon = v.lastIndexOf(':');
            if (colon < 0) throw new IllegalArgumentException(option + ": expected HOST:PORT, got '" + s + "'");
            String host = v.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
            if (host.isEmpty()) host = "127.0.0.1";
            int port;
            try {
                port = Integer.parseInt(v.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + ": port is not a number in '" + s + "'");
            }
            if (port < 0 || port > 65535)
                throw new IllegalArgumentException(option + ": port must be 0-65535 in '" + s + "'");
            return new HostPort(host, port);
        }
    }
}
