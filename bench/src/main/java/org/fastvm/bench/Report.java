package org.fastvm.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The benchmark's figures, in the order measured: a table for people and one JSON object
 * for machines. Later benchmarks add keys (snapshot_pause_ms, restore_ready_ms, ...) with
 * {@link #add}; the names are part of the interface, keep them.
 */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String accelerator;
    private final String qemu;
    private final Map<String, Stats> figures = new LinkedHashMap<>();

    /**
     * @param accelerator {@code kvm} or {@code tcg}
     * @param qemu        the QEMU the figures were taken on, e.g. "10.0.2"
     */
    public Report(String accelerator, String qemu) {
        this.accelerator = accelerator;
        this.qemu = qemu;
    }

    /** Adds (or replaces) a figure. */
    public void add(String key, Stats stats) {
        figures.put(key, stats);
    }

    /** {@return a plain-text table} */
    public String table() {
        var sb = new StringBuilder();
        sb.append(String.format("accelerator: %s, QEMU %s%n", accelerator, qemu));
        sb.append(String.format("%-24s %10s %10s %10s %5s%n", "figure", "median", "min", "max", "n"));
        figures.forEach((k, s) ->
                sb.append(String.format("%-24s %10.1f %10.1f %10.1f %5d%n", k, s.median(), s.min(), s.max(), s.n())));
        return sb.toString();
    }

    /** {@return one line of JSON: accelerator, QEMU version, then {median,min,max,n} per figure} */
    public String json() {
        ObjectNode root =
                JSON.createObjectNode().put("accelerator", accelerator).put("qemu", qemu);
        figures.forEach((k, s) -> root.putObject(k)
                .put("median", Stats.round(s.median()))
                .put("min", Stats.round(s.min()))
                .put("max", Stats.round(s.max()))
                .put("n", s.n()));
        return root.toString();
    }
}
