package org.fastvm.sdk;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.fastvm.sdk.errors.FastVMTimeoutException;
import org.fastvm.sdk.errors.SnapshotFailedException;
import org.fastvm.sdk.errors.VmFailedException;
import org.fastvm.sdk.models.CommandResult;
import org.fastvm.sdk.models.ExecEvent;
import org.fastvm.sdk.models.FirewallPolicy;
import org.fastvm.sdk.models.OrgQuotaUsage;
import org.fastvm.sdk.models.Snapshot;
import org.fastvm.sdk.models.SnapshotStatus;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;

/**
 * The asynchronous face of a {@link FastVM} client, obtained with {@link FastVM#async()}:
 * every operation returns a {@link CompletableFuture} and blocks no thread while waiting.
 * All calls share the client's one HTTP/2 connection, so many concurrent calls (e.g. ten
 * restores of one snapshot) cost one connection.
 *
 * <p>Futures fail with the exceptions documented on {@link FastVM}; invalid arguments are
 * thrown directly, before any request.
 */
public final class FastVMAsync {
    private static final String JSON = "application/json";

    private final HttpCore core;
    private final Readiness<VM> vmReady;
    private final Readiness<Snapshot> snapshotReady;

    FastVMAsync(HttpCore core) {
        this.core = core;
        // A missing status is treated like an unknown one: not ready yet, keep polling.
        this.vmReady = new Readiness<>(
                core,
                new Readiness.Rules<>(
                        VM.class,
                        "VM",
                        VM::id,
                        v -> v.status() == null ? null : v.status().asString(),
                        v -> v.status() != null && v.status().known() == VMStatus.Known.RUNNING,
                        v -> v.status() != null && v.status().isTerminalFailure(),
                        VmFailedException::new),
                this::pollVm,
                core::after);
        this.snapshotReady = new Readiness<>(
                core,
                new Readiness.Rules<>(
                        Snapshot.class,
                        "snapshot",
                        Snapshot::id,
                        s -> s.status() == null ? null : s.status().asString(),
                        s -> s.status() != null && s.status().known() == SnapshotStatus.Known.READY,
                        s -> s.status() != null && s.status().known() == SnapshotStatus.Known.ERROR,
                        SnapshotFailedException::new),
                this::pollSnapshot,
                core::after);
    }

    // ---------------------------------------------------------------- connection

    /**
     * {@code GET /healthz}: opens the one multiplexed HTTP/2 connection (h2c upgrade on
     * cleartext, ALPN on TLS) that later calls reuse. Optional: the client warms itself once
     * before its first call.
     *
     * @return completes when the server answered 2xx
     */
    public CompletableFuture<Void> warmup() {
        return core.warmup();
    }

    // ---------------------------------------------------------------- VMs

    /**
     * Launches a {@code c1m2} VM with a generated name and waits until it is {@code running}.
     *
     * @return the running VM
     */
    public CompletableFuture<VM> launch() {
        return launch(LaunchOptions.defaults());
    }

    /**
     * Launches a VM ({@code POST /v1/vms}) and waits until it is {@code running}. When the
     * server already answers with a running VM (201) no polling happens.
     *
     * @param options machine, name, disk, firewall, metadata, timeout
     * @return the running VM; fails with {@link VmFailedException} on {@code error}/{@code
     *     stopped}/{@code deleting}, {@link FastVMTimeoutException} at the deadline
     */
    public CompletableFuture<VM> launch(LaunchOptions options) {
        Checks.notNull(options, "options");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("machineType", options.machine().toString());
        body.put("name", options.name().orElseGet(() -> UUID.randomUUID().toString()));
        options.diskGib().ifPresent(d -> body.put("diskGiB", d));
        options.firewall().ifPresent(f -> body.put("firewall", f));
        options.metadata().ifPresent(m -> body.put("metadata", m));
        return vmReady.create("/v1/vms", body, options.timeout().orElse(core.timeout()));
    }

    /**
     * Restores a new VM from a snapshot with default options.
     *
     * @param snapshotId the snapshot's id
     * @return the running VM
     */
    public CompletableFuture<VM> restore(String snapshotId) {
        return restore(snapshotId, RestoreOptions.defaults());
    }

    /**
     * Restores a new VM from a snapshot with default options.
     *
     * @param snapshot the snapshot
     * @return the running VM
     */
    public CompletableFuture<VM> restore(Snapshot snapshot) {
        return restore(idOf(snapshot), RestoreOptions.defaults());
    }

    /**
     * Restores a new VM from a snapshot.
     *
     * @param snapshot the snapshot
     * @param options name, firewall, metadata, timeout
     * @return the running VM
     */
    public CompletableFuture<VM> restore(Snapshot snapshot, RestoreOptions options) {
        return restore(idOf(snapshot), options);
    }

    /**
     * Restores a new VM from a snapshot ({@code POST /v1/vms} with {@code snapshotId}) and waits
     * until it is {@code running}; no polling when the server answers with a running VM.
     *
     * @param snapshotId the snapshot's id
     * @param options name, firewall, metadata, timeout
     * @return the running VM; fails like {@link #launch(LaunchOptions)}
     */
    public CompletableFuture<VM> restore(String snapshotId, RestoreOptions options) {
        Checks.nonEmpty(snapshotId, "snapshot id");
        Checks.notNull(options, "options");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("snapshotId", snapshotId);
        options.name().ifPresent(n -> body.put("name", n));
        options.firewall().ifPresent(f -> body.put("firewall", f));
        options.metadata().ifPresent(m -> body.put("metadata", m));
        return vmReady.create("/v1/vms", body, options.timeout().orElse(core.timeout()));
    }

    /**
     * Fetches a VM ({@code GET /v1/vms/{id}}).
     *
     * @param vmId the VM's id
     * @return the VM
     */
    public CompletableFuture<VM> get(String vmId) {
        return getVmWithin(Checks.nonEmpty(vmId, "vm id"), core.timeout());
    }

    /**
     * Fetches a fresh view of a VM.
     *
     * @param vm the VM
     * @return the VM as the server sees it now
     */
    public CompletableFuture<VM> get(VM vm) {
        return get(idOf(vm));
    }

    private CompletableFuture<VM> getVmWithin(String id, Duration timeout) {
        return body(read(vmPath(id), timeout), VM.class);
    }

    private CompletableFuture<VM> pollVm(String id, Duration timeout) {
        return body(poll(vmPath(id), timeout), VM.class);
    }

    /**
     * Lists the organisation's VMs ({@code GET /v1/vms}).
     *
     * @return the VMs, not deleted ones
     */
    public CompletableFuture<List<VM>> list() {
        return list(ListOptions.builder().build());
    }

    /**
     * Lists the organisation's VMs matching the filters ({@code GET /v1/vms?status=…&metadata.k=v}).
     *
     * @param options status and metadata filters
     * @return the matching VMs
     */
    public CompletableFuture<List<VM>> list(ListOptions options) {
        Checks.notNull(options, "options");
        return core.<List<VM>>json(read("/v1/vms" + options.query(), core.timeout()), Json.listOf(VM.class))
                .thenApply(r -> List.copyOf(r.body()));
    }

    /**
     * Deletes a VM ({@code DELETE /v1/vms/{id}}).
     *
     * @param vmId the VM's id
     * @return completes when the server accepted the deletion
     */
    public CompletableFuture<Void> remove(String vmId) {
        return bodiless(change("DELETE", vmPath(Checks.nonEmpty(vmId, "vm id")), null));
    }

    /**
     * Deletes a VM.
     *
     * @param vm the VM
     * @return completes when the server accepted the deletion
     */
    public CompletableFuture<Void> remove(VM vm) {
        return remove(idOf(vm));
    }

    /**
     * Renames a VM ({@code PATCH /v1/vms/{id}} with {@code name}).
     *
     * @param vmId the VM's id
     * @param name the new name, non-empty
     * @return the updated VM
     */
    public CompletableFuture<VM> rename(String vmId, String name) {
        Checks.nonEmpty(vmId, "vm id");
        Checks.nonEmpty(name, "name");
        return body(change("PATCH", vmPath(vmId), Map.of("name", name)), VM.class);
    }

    /**
     * Renames a VM.
     *
     * @param vm the VM
     * @param name the new name, non-empty
     * @return the updated VM
     */
    public CompletableFuture<VM> rename(VM vm, String name) {
        return rename(idOf(vm), name);
    }

    /**
     * Replaces a VM's firewall policy ({@code PUT /v1/vms/{id}/firewall}).
     *
     * @param vmId the VM's id
     * @param policy the new policy
     * @return the updated VM
     */
    public CompletableFuture<VM> setFirewall(String vmId, FirewallPolicy policy) {
        Checks.nonEmpty(vmId, "vm id");
        Checks.notNull(policy, "firewall");
        return body(change("PUT", vmPath(vmId) + "/firewall", policy), VM.class);
    }

    /**
     * Replaces a VM's firewall policy.
     *
     * @param vm the VM
     * @param policy the new policy
     * @return the updated VM
     */
    public CompletableFuture<VM> setFirewall(VM vm, FirewallPolicy policy) {
        return setFirewall(idOf(vm), policy);
    }

    /**
     * Changes part of a VM's firewall policy ({@code PATCH /v1/vms/{id}/firewall}).
     *
     * @param vmId the VM's id
     * @param patch the fields to change
     * @return the updated VM
     */
    public CompletableFuture<VM> patchFirewall(String vmId, FirewallPatch patch) {
        Checks.nonEmpty(vmId, "vm id");
        Checks.notNull(patch, "patch");
        Map<String, Object> body = new LinkedHashMap<>();
        patch.mode().ifPresent(m -> body.put("mode", m));
        patch.ingress().ifPresent(i -> body.put("ingress", i));
        return body(change("PATCH", vmPath(vmId) + "/firewall", body), VM.class);
    }

    /**
     * Changes part of a VM's firewall policy.
     *
     * @param vm the VM
     * @param patch the fields to change
     * @return the updated VM
     */
    public CompletableFuture<VM> patchFirewall(VM vm, FirewallPatch patch) {
        return patchFirewall(idOf(vm), patch);
    }

    // ---------------------------------------------------------------- commands

    /**
     * Runs a shell command ({@code sh -c command}) with default options.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @return the buffered result (a non-zero exit is a result, not a failure)
     */
    public CompletableFuture<CommandResult> run(String vmId, String command) {
        return run(vmId, Checks.shell(command), RunOptions.defaults());
    }

    /**
     * Runs a shell command ({@code sh -c command}) with default options.
     *
     * @param vm the VM
     * @param command the shell command line
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(VM vm, String command) {
        return run(idOf(vm), Checks.shell(command), RunOptions.defaults());
    }

    /**
     * Runs a shell command ({@code sh -c command}).
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(String vmId, String command, RunOptions options) {
        return run(vmId, Checks.shell(command), options);
    }

    /**
     * Runs a shell command ({@code sh -c command}).
     *
     * @param vm the VM
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(VM vm, String command, RunOptions options) {
        return run(idOf(vm), Checks.shell(command), options);
    }

    /**
     * Runs a program with arguments, no shell, with default options.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(VM vm, List<String> argv) {
        return run(idOf(vm), argv, RunOptions.defaults());
    }

    /**
     * Runs a program with arguments, no shell, with default options.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(String vmId, List<String> argv) {
        return run(vmId, argv, RunOptions.defaults());
    }

    /**
     * Runs a program with arguments, no shell.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result
     */
    public CompletableFuture<CommandResult> run(VM vm, List<String> argv, RunOptions options) {
        return run(idOf(vm), argv, options);
    }

    /**
     * Runs a program with arguments ({@code POST /v1/vms/{id}/exec}). Retried only when the
     * server answers 502/503 with {@code x-should-retry: true} (the FastVM server's word that the
     * command never started), up to {@link RunOptions#transientRetries()} times; never on 504 or an
     * unmarked 502/503 (a gateway's, possibly sent after it forwarded the command), never after a
     * transport failure or timeout.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @return the buffered result; stdout/stderr capped at 4 MiB each by the server
     */
    public CompletableFuture<CommandResult> run(String vmId, List<String> argv, RunOptions options) {
        HttpCore.Call call = execCall(vmId, argv, options, JSON);
        return body(call, CommandResult.class);
    }

    /**
     * Streams a shell command's output to a callback, with default options.
     *
     * @param vm the VM
     * @param command the shell command line
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(VM vm, String command, Consumer<? super ExecEvent> onEvent) {
        return stream(idOf(vm), Checks.shell(command), RunOptions.defaults(), onEvent);
    }

    /**
     * Streams a shell command's output to a callback.
     *
     * @param vm the VM
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(
            VM vm, String command, RunOptions options, Consumer<? super ExecEvent> onEvent) {
        return stream(idOf(vm), Checks.shell(command), options, onEvent);
    }

    /**
     * Streams a shell command's output to a callback, with default options.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(String vmId, String command, Consumer<? super ExecEvent> onEvent) {
        return stream(vmId, Checks.shell(command), RunOptions.defaults(), onEvent);
    }

    /**
     * Streams a shell command's output to a callback.
     *
     * @param vmId the VM's id
     * @param command the shell command line
     * @param options command time limit, transport timeout, retries, stdin
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(
            String vmId, String command, RunOptions options, Consumer<? super ExecEvent> onEvent) {
        return stream(vmId, Checks.shell(command), options, onEvent);
    }

    /**
     * Streams a program's output to a callback, with default options.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(VM vm, List<String> argv, Consumer<? super ExecEvent> onEvent) {
        return stream(idOf(vm), argv, RunOptions.defaults(), onEvent);
    }

    /**
     * Streams a program's output to a callback.
     *
     * @param vm the VM
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(
            VM vm, List<String> argv, RunOptions options, Consumer<? super ExecEvent> onEvent) {
        return stream(idOf(vm), argv, options, onEvent);
    }

    /**
     * Streams a program's output to a callback, with default options.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @param onEvent receives each event in order, the exit event last, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(
            String vmId, List<String> argv, Consumer<? super ExecEvent> onEvent) {
        return stream(vmId, argv, RunOptions.defaults(), onEvent);
    }

    /**
     * Streams a command's output to a callback ({@code POST /v1/vms/{id}/exec},
     * {@code Accept: application/x-ndjson}): stdout/stderr chunks as they are produced, then the
     * exit event. If the callback throws, the stream is cancelled and the future fails with it.
     *
     * @param vmId the VM's id
     * @param argv the program and its arguments
     * @param options command time limit, transport timeout, retries, stdin
     * @param onEvent receives each event in order, on a client thread
     * @return the exit event once the stream ended
     */
    public CompletableFuture<ExecEvent.Exit> stream(
            String vmId, List<String> argv, RunOptions options, Consumer<? super ExecEvent> onEvent) {
        Checks.notNull(onEvent, "onEvent");
        HttpCore.Call call = execCall(vmId, argv, options, Ndjson.MEDIA_TYPE);
        AtomicReference<NdjsonSubscriber> reader = new AtomicReference<>();
        return core.send(call, info -> {
                    NdjsonSubscriber s = new NdjsonSubscriber(onEvent, call.describe());
                    reader.set(s);
                    return s;
                })
                .handle((reply, error) -> {
                    if (error == null) return reply.body();
                    // When our reader gave up, the HTTP client reports only "cancelled": surface the real cause.
                    NdjsonSubscriber s = reader.get();
                    Throwable cause = s != null && s.failure() != null ? s.failure() : error;
                    throw cause instanceof CompletionException ce ? ce : new CompletionException(cause);
                });
    }

    /** The exec request, shared by buffered and streamed commands. */
    HttpCore.Call execCall(String vmId, List<String> argv, RunOptions options, String accept) {
        Checks.nonEmpty(vmId, "vm id");
        List<String> command = Checks.argv(argv);
        Checks.notNull(options, "options");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("command", command);
        options.timeoutSec().ifPresent(t -> body.put("timeoutSec", t));
        options.stdin().ifPresent(s -> body.put("stdin", Base64.getEncoder().encodeToString(s)));
        // Without an explicit transport timeout, wait at least as long as the command may run.
        Duration transport = options.timeout()
                .orElseGet(() -> options.timeoutSec()
                        .map(s -> Duration.ofSeconds(s + 30L))
                        .filter(d -> d.compareTo(core.timeout()) > 0)
                        .orElse(core.timeout()));
        return new HttpCore.Call(
                "POST",
                vmPath(vmId) + "/exec",
                body,
                transport,
                TransientRetry.Rule.EXEC,
                options.transientRetries(),
                accept);
    }

    // ---------------------------------------------------------------- snapshots

    /**
     * Snapshots a VM with default options.
     *
     * @param vm the VM
     * @return the ready snapshot
     */
    public CompletableFuture<Snapshot> snapshot(VM vm) {
        return snapshot(idOf(vm), SnapshotOptions.defaults());
    }

    /**
     * Snapshots a VM.
     *
     * @param vm the VM
     * @param options name, timeout
     * @return the ready snapshot
     */
    public CompletableFuture<Snapshot> snapshot(VM vm, SnapshotOptions options) {
        return snapshot(idOf(vm), options);
    }

    /**
     * Snapshots a VM with default options.
     *
     * @param vmId the VM's id
     * @return the ready snapshot
     */
    public CompletableFuture<Snapshot> snapshot(String vmId) {
        return snapshot(vmId, SnapshotOptions.defaults());
    }

    /**
     * Snapshots a VM ({@code POST /v1/snapshots}) and waits until the snapshot is
     * {@code ready}.
     *
     * @param vmId the VM's id
     * @param options name, timeout
     * @return the ready snapshot; fails with {@link SnapshotFailedException} on {@code error},
     *     {@link FastVMTimeoutException} at the deadline
     */
    public CompletableFuture<Snapshot> snapshot(String vmId, SnapshotOptions options) {
        Checks.nonEmpty(vmId, "vm id");
        Checks.notNull(options, "options");
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("vmId", vmId);
        options.name().ifPresent(n -> body.put("name", n));
        return snapshotReady.create("/v1/snapshots", body, options.timeout().orElse(core.timeout()));
    }

    /**
     * Fetches a snapshot ({@code GET /v1/snapshots/{id}}).
     *
     * @param snapshotId the snapshot's id
     * @return the snapshot
     */
    public CompletableFuture<Snapshot> getSnapshot(String snapshotId) {
        return getSnapshotWithin(Checks.nonEmpty(snapshotId, "snapshot id"), core.timeout());
    }

    /**
     * Fetches a fresh view of a snapshot.
     *
     * @param snapshot the snapshot
     * @return the snapshot as the server sees it now
     */
    public CompletableFuture<Snapshot> getSnapshot(Snapshot snapshot) {
        return getSnapshot(idOf(snapshot));
    }

    private CompletableFuture<Snapshot> getSnapshotWithin(String id, Duration timeout) {
        return body(read(snapshotPath(id), timeout), Snapshot.class);
    }

    private CompletableFuture<Snapshot> pollSnapshot(String id, Duration timeout) {
        return body(poll(snapshotPath(id), timeout), Snapshot.class);
    }

    /**
     * Lists the organisation's snapshots ({@code GET /v1/snapshots}).
     *
     * @return the snapshots
     */
    public CompletableFuture<List<Snapshot>> listSnapshots() {
        return core.<List<Snapshot>>json(read("/v1/snapshots", core.timeout()), Json.listOf(Snapshot.class))
                .thenApply(r -> List.copyOf(r.body()));
    }

    /**
     * Deletes a snapshot ({@code DELETE /v1/snapshots/{id}}); VMs restored from it keep running.
     *
     * @param snapshotId the snapshot's id
     * @return completes when the server accepted the deletion
     */
    public CompletableFuture<Void> removeSnapshot(String snapshotId) {
        return bodiless(change("DELETE", snapshotPath(Checks.nonEmpty(snapshotId, "snapshot id")), null));
    }

    /**
     * Deletes a snapshot.
     *
     * @param snapshot the snapshot
     * @return completes when the server accepted the deletion
     */
    public CompletableFuture<Void> removeSnapshot(Snapshot snapshot) {
        return removeSnapshot(idOf(snapshot));
    }

    /**
     * Renames a snapshot ({@code PATCH /v1/snapshots/{id}} with {@code name}).
     *
     * @param snapshotId the snapshot's id
     * @param name the new name, non-empty
     * @return the updated snapshot
     */
    public CompletableFuture<Snapshot> renameSnapshot(String snapshotId, String name) {
        Checks.nonEmpty(snapshotId, "snapshot id");
        Checks.nonEmpty(name, "name");
        return body(change("PATCH", snapshotPath(snapshotId), Map.of("name", name)), Snapshot.class);
    }

    /**
     * Renames a snapshot.
     *
     * @param snapshot the snapshot
     * @param name the new name, non-empty
     * @return the updated snapshot
     */
    public CompletableFuture<Snapshot> renameSnapshot(Snapshot snapshot, String name) {
        return renameSnapshot(idOf(snapshot), name);
    }

    // ---------------------------------------------------------------- org

    /**
     * The organisation's quota limits and usage ({@code GET /v1/org/quotas}).
     *
     * @return limits and usage
     */
    public CompletableFuture<OrgQuotaUsage> quotas() {
        return body(read("/v1/org/quotas", core.timeout()), OrgQuotaUsage.class);
    }

    // ---------------------------------------------------------------- helpers

    /** A read: repeating it is harmless, so a 502/503/504 answer is retried. */
    private HttpCore.Call read(String path, Duration timeout) {
        return new HttpCore.Call(
                "GET", path, null, timeout, TransientRetry.Rule.READ, TransientRetry.DEFAULT_RETRIES, JSON);
    }

    /** A readiness poll: sent once; the polling loop decides whether to look again, within its deadline. */
    private HttpCore.Call poll(String path, Duration timeout) {
        return new HttpCore.Call("GET", path, null, timeout, TransientRetry.Rule.ONCE, 0, JSON);
    }

    /** A change: never retried; only exec learns from the server that a failed command never started. */
    private HttpCore.Call change(String method, String path, Object body) {
        return new HttpCore.Call(method, path, body, core.timeout(), TransientRetry.Rule.ONCE, 0, JSON);
    }

    private CompletableFuture<Void> bodiless(HttpCore.Call call) {
        return core.send(call, HttpResponse.BodyHandlers.discarding()).thenApply(r -> null);
    }

    private <T> CompletableFuture<T> body(HttpCore.Call call, Class<T> type) {
        return core.<T>json(call, Json.type(type)).thenApply(HttpCore.Reply::body);
    }

    private static String vmPath(String id) {
        return "/v1/vms/" + HttpCore.segment(id);
    }

    private static String snapshotPath(String id) {
        return "/v1/snapshots/" + HttpCore.segment(id);
    }

    static String idOf(VM vm) {
        Checks.notNull(vm, "vm");
        return Checks.nonEmpty(vm.id(), "vm id");
    }

    static String idOf(Snapshot snapshot) {
        Checks.notNull(snapshot, "snapshot");
        return Checks.nonEmpty(snapshot.id(), "snapshot id");
    }
}
