package org.fastvm.sdk;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;
import java.util.function.LongSupplier;
import javax.net.ssl.SSLContext;
import org.fastvm.sdk.errors.FastVMConnectionException;
import org.fastvm.sdk.errors.FastVMException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.SnapshotFailedException;
import org.fastvm.sdk.errors.VmFailedException;
import org.fastvm.sdk.errors.WaitFailedException;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.OrgQuotaUsage;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.VM;

/**
 * The FastVM client: launch, snapshot and restore microVMs and run commands in them.
 *
 * <pre>{@code
 * try (FastVM client = new FastVM()) {            // FASTVM_API_KEY, FASTVM_BASE_URL
 *   VM vm = client.launch();                       // c1m2, waits until running
 *   CommandResult r = client.run(vm, "echo hello");
 *   Snapshot snap = client.snapshot(vm);
 *   VM clone = client.restore(snap);
 * }
 * }</pre>
 *
 * <p>Every call here blocks; {@link #async()} offers the same calls as
 * {@link CompletableFuture}s. All calls of one client share one multiplexed HTTP/2 connection,
 * opened by {@link #warmup()} or, at the latest, before the first call. The client is
 * thread-safe; close it when done.
 *
 * <p>Failures: {@link FastVMServiceException} subclasses for error statuses (400 {@code
 * BadRequestException}, 401, 403, 404, 409, 422, 429, 5xx), {@link FastVMConnectionException}
 * for transport failures, {@link FastVMTimeoutException} for deadlines, {@link VmFailedException}
 * and {@link SnapshotFailedException} when a resource fails while being waited for,
 * {@link WaitFailedException} when a poll fails in a way that retrying
 * will not fix. Once {@code launch}, {@code restore} or {@code snapshot} has created its
 * resource, every failure names it: {@link FastVMException#resourceId()}. Invalid
 * arguments throw {@link IllegalArgumentException} naming the field, before any request.
 */
public final class FastVM implements AutoCloseable {
    /** The hosted service, used when neither the builder nor {@code FASTVM_BASE_URL} names one. */
    public static final String DEFAULT_BASE_URL = "https://api.fastvm.org";
    /** The default timeout: 300 000 ms. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);
    /** The environment variable holding the API key. */
    public static final String ENV_API_KEY = "FASTVM_API_KEY";
    /** The environment variable holding the base URL. */
    public static final String ENV_BASE_URL = "FASTVM_BASE_URL";

    private final HttpCore core;
    private final FastVMAsync async;
    private final String baseUrl;

    /**
     * A client configured from the environment: {@code FASTVM_API_KEY} (required) and
     * {@code FASTVM_BASE_URL} (default {@value #DEFAULT_BASE_URL}), timeout 300 000 ms.
     *
     * @throws IllegalStateException when {@code FASTVM_API_KEY} is not set
     */
    public FastVM() {
        this(builder());
    }

    private FastVM(Builder b) {
        Function<String, String> env = b.environment;
        String apiKey = b.apiKey;
        if (apiKey == null) {
            apiKey = env.apply(ENV_API_KEY);
            if (apiKey == null || apiKey.isBlank()) {
                throw new IllegalStateException(ENV_API_KEY + " is not set: set the environment variable " + ENV_API_KEY
                        + " or pass FastVM.builder().apiKey(...)");
            }
            apiKey = validApiKey(apiKey, ENV_API_KEY);
        }
        String base = b.baseUrl;
        if (base == null) {
            String fromEnv = env.apply(ENV_BASE_URL);
            base = fromEnv == null || fromEnv.isBlank() ? DEFAULT_BASE_URL : validBaseUrl(fromEnv, ENV_BASE_URL);
        }
        this.baseUrl = base;
        this.core = new HttpCore(base, apiKey, b.timeout, b.sslContext, b.nanoClock);
        this.async = new FastVMAsync(core);
    }

    /**
     * A builder; unset fields fall back to the environment and the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The same client with every call returning a {@link CompletableFuture}.
     *
     * @return the asynchronous face, sharing this client's connection
     */
    public FastVMAsync async() {
        return async;
    }

    /**
     * The base URL requests go to.
     *
     * @return the base URL, possibly with a path prefix
     */
    public String baseUrl() {
        return baseUrl;
    }

    /**
     * {@code GET /healthz}: opens the one multiplexed HTTP/2 connection (h2c upgrade on
     * cleartext, ALPN on TLS) that later calls reuse. Optional: the client warms itself once
     * before its first call; call this to pay the connection cost up front.
     */
    public void warmup() {
        await(async.warmup());
    }

    /**
     * Launches a {@code c1m2} VM with a generated name and waits until it is {@code running}.
     *
     * @return the running VM
     */
    public VM launch() {
        return await(async.launch());
    }

    /**
     * Launches a VM and waits until it is {@code running}.
     *
     * @param options machine, name, disk, firewall, metadata, timeout
     * @return the running VM
     * @throws VmFailedException when the VM ends in {@code error}, {@code stopped} or {@code deleting}
     * @throws FastVMTimeoutException at the deadline, with the id and the last status seen (and
     *     the last failed poll as the cause, if any)
     * @throws WaitFailedException when a poll fails in a way that retrying will not fix, with the
     *     id and the last status seen
     */
    public VM launch(LaunchOptions options) {
        return await(async.launch(options));
    }

    /**
     * Restores a new VM from a snapshot and waits until it is {@code running}.
     *
     * @param snapshot the snapshot
     * @return the running VM
     */
    public VM restore(Snapshot snapshot) {
        return await(async.restore(snapshot));
    }

    /**
     * Restores a new VM from a snapshot and waits until it is {@code running}.
     *
     * @param snapshotId the snapshot's id
     * @return the running VM
     */
    public VM restore(String snapshotId) {
        return await(async.restore(snapshotId));
    }

    /**
     * Restores a new VM from a snapshot and waits until it is {@code running}.
     *
     * @param snapshot the snapshot
     * @param options name, firewall, metadata, timeout
     * @return the running VM
     */
    public VM restore(Snapshot snapshot, RestoreOptions options) {
        return await(async.restore(snapshot, options));
    }

    /**
     * Restores a new VM from a snapshot and waits until it is {@code running}.
     *
     * @param snapshotId the snapshot's id
     * @param options name, firewall, metadata, timeout
     * @return the running VM
     * @throws VmFailedException when the VM ends in {@code error}, {@code stopped} or {@code deleting}
     * @throws FastVMTimeoutException at the deadline, with the id and the last status seen (and
     *     the last failed poll as the cause, if any)
     * @throws WaitFailedException when a poll fails in a way that retrying will not fix, with the
     *     id and the last status seen
     */
    public VM restore(String snapshotId, RestoreOptions options) {
        return await(async.restore(snapshotId, options));
    }

    /**
     * Snapshots a VM and waits until the snapshot is {@code ready}.
     *
     * @param vm the VM
     * @return the ready snapshot
     */
    public Snapshot snapshot(VM vm) {
        return await(async.snapshot(vm));
    }

    /**
     * Snapshots a VM and waits until the snapshot is {@code ready}.
     *
     * @param vmId the VM's id
     * @return the ready snapshot
     */
    public Snapshot snapshot(String vmId) {
        return await(async.snapshot(vmId));
    }

    /**
     * Snapshots a VM and waits until the snapshot is {@code ready}.
     *
     * @param vm the VM
     * @param options name, timeout
     * @return the ready snapshot
     */
    public Snapshot snapshot(VM vm, SnapshotOptions options) {
        return await(async.snapshot(vm, options));
    }

    /**
     * Snapshots a VM and waits until the snapshot is {@code ready}.
     *
     * @param vmId the VM's id
     * @param options name, timeout
     * @return the ready snapshot
     * @throws SnapshotFailedException when the snapshot ends in {@code error}
     * @throws FastVMTimeoutException at the deadline, with the id and the last status seen (and
     *     the last failed poll as the cause, if any)
     * @throws WaitFailedException when a poll fails in a way that retrying will not fix, with the
     *     id and the last status seen
     */
    public Snapshot snapshot(String vmId, SnapshotOptions options) {
        return await(async.snapshot(vmId, options));
    }

    /**
     * Fetches a VM.
     *
     * @param vmId the VM's id
     * @return the VM
     */
    public VM get(String vmId) {
        return await(async.get(vmId));
    }

    /**
     * Fetches a fresh view of a VM.
     *
     * @param vm the VM
     * @return the VM as the server sees it now
     */
    public VM get(VM vm) {
        return await(async.get(vm));
    }

    /**
     * Lists the organisation's VMs (not deleted ones).
     *
     * @return the VMs
     */
    public List<VM> list() {
        return await(async.list());
    }

    /**
     * Lists the organisation's VMs matching the filters.
     *
     * @param options status and metadata filters
     * @return the matching VMs
     */
    public List<VM> list(ListOptions options) {
        return await(async.list(options));
    }

    /**
     * Deletes a VM.
     *
     * @param vmId the VM's id
     */
    public void remove(String vmId) {
        await(async.remove(vmId));
    }

    /**
     * Deletes a VM.
     *
     * @param vm the VM
     */
    public void remove(VM vm) {
        await(async.remove(vm));
    }

    /**
     * Renames a VM.
     *
     * @param vmId the VM's id
     * @param name the new name
     * @return the updated VM
     */
    public VM rename(String vmId, String name) {
        return await(async.rename(vmId, name));
    }

    /**
     * Renames a VM.
     *
     * @param vm the VM
     * @param name the new name
     * @return the updated VM
     */
    public VM rename(VM vm, String name) {
        return await(async.rename(vm, name));
    }

    /**
     * Replaces a VM's firewall policy.
     *
     * @param vmId the VM's id
     * @param policy the new policy
     * @return the updated VM
     */
    public VM setFirewall(String vmId, FirewallPolicy policy) {
        return await(async.setFirewall(vmId, policy));
    }

    /**
     * Replaces a VM's firewall policy.
     *
     * @param vm the VM
     * @param policy the new policy
     * @return the updated VM
     */
    public VM setFirewall(VM vm, FirewallPolicy policy) {
        return await(async.setFirewall(vm, policy));
    }

    /**
     * Changes part of a VM's firewall policy.
     *
     * @param vmId the VM's id
     * @param patch the fields to change
     * @return the updated VM
     */
    public VM patchFirewall(String vmId, FirewallPatch patch) {
        return await(async.patchFirewall(vmId, patch));
    }

    /**
     * Changes part of a VM's firewall policy.
     *
     * @param vm the VM
     * @param patch the fields to change
     * @return the updated VM
     */
    public VM patchFirewall(VM vm, FirewallPatch patch) {
        return await(async.patchFirewall(vm, patch));
    }

    /**
     * Runs a shell command ({@code sh -c command}).
     *
     * @param vm the VM
     * @param command the shell command line
     * @return the buffered result (a non-zero exit is a result, not an exception)
     */
    public CommandResult run(VM vm, String command) {
        return await(async.run(vm, command));
    }

    /**
     * Runs a shell command ({@code sh -c command}).
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @return the buffered result
     */
    public CommandResult run(String vmId, String command) {
        return await(async.run(vmId, command));
    }

    /**
     * Runs a shell command ({@code sh -c command}).
     *
     * @param vm the VM
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CommandResult run(VM vm, String command, RunOptions options) {
        return await(async.run(vm, command, options));
    }

    /**
     * Runs a shell command ({@code sh -c command}). Retried only when the server answers 502/503
     * marked {@code x-should-retry: true} (the command never started), up to
     * {@link RunOptions#transientRetries()} times.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CommandResult run(String vmId, String command, RunOptions options) {
        return await(async.run(vmId, command, options));
    }

    /**
     * Runs a program with arguments, no shell.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @return the buffered result
     */
    public CommandResult run(VM vm, List<String> argv) {
        return await(async.run(vm, argv));
    }

    /**
     * Runs a program with arguments, no shell.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @return the buffered result
     */
    public CommandResult run(String vmId, List<String> argv) {
        return await(async.run(vmId, argv));
    }

    /**
     * Runs a program with arguments, no shell.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CommandResult run(VM vm, List<String> argv, RunOptions options) {
        return await(async.run(vm, argv, options));
    }

    /**
     * Runs a program with arguments, no shell. Retried only when the server answers 502/503
     * marked {@code x-should-retry: true} (the command never started), up to
     * {@link RunOptions#transientRetries()} times.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CommandResult run(String vmId, List<String> argv, RunOptions options) {
        return await(async.run(vmId, argv, options));
    }

    /**
     * Runs a shell command and streams its output as it is produced.
     *
     * @param vm the VM
     * @param command the shell command line
     * @return the events; close it when done
     */
    public ExecStream stream(VM vm, String command) {
        return stream(FastVMAsync.idOf(vm), Checks.shell(command), RunOptions.defaults());
    }

    /**
     * Runs a shell command and streams its output as it is produced.
     *
     * @param vm the VM
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the events; close it when done
     */
    public ExecStream stream(VM vm, String command, RunOptions options) {
        return stream(FastVMAsync.idOf(vm), Checks.shell(command), options);
    }

    /**
     * Runs a shell command and streams its output as it is produced.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @return the events; close it when done
     */
    public ExecStream stream(String vmId, String command) {
        return stream(vmId, Checks.shell(command), RunOptions.defaults());
    }

    /**
     * Runs a shell command and streams its output as it is produced.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the events; close it when done
     */
    public ExecStream stream(String vmId, String command, RunOptions options) {
        return stream(vmId, Checks.shell(command), options);
    }

    /**
     * Runs a program and streams its output as it is produced.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @return the events; close it when done
     */
    public ExecStream stream(VM vm, List<String> argv) {
        return stream(FastVMAsync.idOf(vm), argv, RunOptions.defaults());
    }

    /**
     * Runs a program and streams its output as it is produced.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the events; close it when done
     */
    public ExecStream stream(VM vm, List<String> argv, RunOptions options) {
        return stream(FastVMAsync.idOf(vm), argv, options);
    }

    /**
     * Runs a program and streams its output as it is produced.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @return the events; close it when done
     */
    public ExecStream stream(String vmId, List<String> argv) {
        return stream(vmId, argv, RunOptions.defaults());
    }

    /**
     * Runs a program and streams its output ({@code Accept: application/x-ndjson}): stdout and
     * stderr chunks as bytes, as they are produced, then the exit event. Returns once the
     * server accepted the command; the events are read while iterating.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the events; close it when done
     */
    public ExecStream stream(String vmId, List<String> argv, RunOptions options) {
        HttpCore.Call call = async.execCall(vmId, argv, options, Ndjson.MEDIA_TYPE);
        HttpCore.Reply<java.io.InputStream> reply =
                await(core.send(call, java.net.http.HttpResponse.BodyHandlers.ofInputStream()));
        return new ExecStream(reply.body(), call.describe());
    }

    /**
     * Lists the organisation's snapshots.
     *
     * @return the snapshots
     */
    public List<Snapshot> listSnapshots() {
        return await(async.listSnapshots());
    }

    /**
     * Fetches a snapshot.
     *
     * @param snapshotId the snapshot's id
     * @return the snapshot
     */
    public Snapshot getSnapshot(String snapshotId) {
        return await(async.getSnapshot(snapshotId));
    }

    /**
     * Fetches a fresh view of a snapshot.
     *
     * @param snapshot the snapshot
     * @return the snapshot as the server sees it now
     */
    public Snapshot getSnapshot(Snapshot snapshot) {
        return await(async.getSnapshot(snapshot));
    }

    /**
     * Deletes a snapshot.
     *
     * @param snapshotId the snapshot's id
     */
    public void removeSnapshot(String snapshotId) {
        await(async.removeSnapshot(snapshotId));
    }

    /**
     * Deletes a snapshot.
     *
     * @param snapshot the snapshot
     */
    public void removeSnapshot(Snapshot snapshot) {
        await(async.removeSnapshot(snapshot));
    }

    /**
     * Renames a snapshot.
     *
     * @param snapshotId the snapshot's id
     * @param name the new name
     * @return the updated snapshot
     */
    public Snapshot renameSnapshot(String snapshotId, String name) {
        return await(async.renameSnapshot(snapshotId, name));
    }

    /**
     * Renames a snapshot.
     *
     * @param snapshot the snapshot
     * @param name the new name
     * @return the updated snapshot
     */
    public Snapshot renameSnapshot(Snapshot snapshot, String name) {
        return await(async.renameSnapshot(snapshot, name));
    }

    /**
     * The organisation's quota limits and usage.
     *
     * @return limits and usage
     */
    public OrgQuotaUsage quotas() {
        return await(async.quotas());
    }

    /** Releases the connection and the client's threads. Calls after close fail. */
    @Override
    public void close() {
        core.close();
    }

    /** Waits for a future and rethrows its failure as the SDK exception it carries. */
    private static <T> T await(CompletableFuture<T> future) {
        try {
            return future.get();
        } catch (ExecutionException e) {
            RuntimeException failure = ApiErrors.fromFailure(e.getCause(), "FastVM call");
            // It was made on a client thread; without this its trace would not show the caller.
            failure.addSuppressed(new Exception("the blocking FastVM call was made here"));
            throw failure;
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new FastVMException("interrupted while waiting for FastVM", e);
        }
    }

    /** A key is sent as a header: a stray newline (a key file read whole) must fail here, named. */
    private static String validApiKey(String key, String field) {
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c <= ' ' || c == 0x7f) {
                throw new IllegalArgumentException(field + " contains whitespace or a control character at index " + i
                        + " (a trailing newline?); an API key is a single token");
            }
        }
        return key;
    }

    private static String validBaseUrl(String url, String field) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(field + " is not a valid URL: " + url, e);
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))) {
            throw new IllegalArgumentException(field + " must be an http:// or https:// URL, got " + url);
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new IllegalArgumentException(field + " must name a host, got " + url);
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException(field + " must not have a query or fragment, got " + url);
        }
        return url;
    }

    /** Builds a {@link FastVM}; unset fields come from the environment, then the defaults. */
    public static final class Builder {
        private String apiKey;
        private String baseUrl;
        private Duration timeout = DEFAULT_TIMEOUT;
        private SSLContext sslContext;
        private Function<String, String> environment = System::getenv;
        private LongSupplier nanoClock = System::nanoTime;

        private Builder() {}

        /** For tests: the clock that decides when an idle connection is warmed again. */
        Builder nanoClock(LongSupplier nanoClock) {
            this.nanoClock = nanoClock;
            return this;
        }

        /**
         * Sets the API key sent as {@code X-API-Key}; otherwise {@code FASTVM_API_KEY} is read.
         *
         * @param apiKey a non-empty key
         * @return this builder
         */
        public Builder apiKey(String apiKey) {
            this.apiKey = validApiKey(Checks.nonEmpty(apiKey, "apiKey"), "apiKey");
            return this;
        }

        /**
         * Sets the base URL; otherwise {@code FASTVM_BASE_URL} or {@value #DEFAULT_BASE_URL}. It
         * may carry a path prefix ({@code http://host:8080/fastvm}).
         *
         * @param baseUrl an http:// or https:// URL
         * @return this builder
         */
        public Builder baseUrl(String baseUrl) {
            this.baseUrl = validBaseUrl(Checks.nonEmpty(baseUrl, "baseUrl"), "baseUrl");
            return this;
        }

        /**
         * Sets the default timeout: of each HTTP request, and of waiting for readiness when an
         * operation's options give none. Default 300 000 ms.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Checks.positive(timeout, "timeout");
            return this;
        }

        /**
         * Sets the TLS context, e.g. to trust a self-hosted server's private CA.
         *
         * @param sslContext the context
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = Checks.notNull(sslContext, "sslContext");
            return this;
        }

        /**
         * Sets where {@code FASTVM_API_KEY} and {@code FASTVM_BASE_URL} are looked up; default
         * {@link System#getenv(String)}.
         *
         * @param environment maps a variable name to its value, or {@code null} when unset
         * @return this builder
         */
        public Builder environment(Function<String, String> environment) {
            this.environment = Checks.notNull(environment, "environment");
            return this;
        }

        /**
         * Sets the environment from a map, for tests and embedded configuration.
         *
         * @param environment variable names to values
         * @return this builder
         */
        public Builder environment(Map<String, String> environment) {
            Map<String, String> copy = Checks.stringMap(environment, "environment");
            return environment(copy::get);
        }

        /**
         * Builds the client.
         *
         * @return the client
         * @throws IllegalStateException when no API key was given and {@code FASTVM_API_KEY} is unset
         */
        public FastVM build() {
            return new FastVM(this);
        }
    }
}
