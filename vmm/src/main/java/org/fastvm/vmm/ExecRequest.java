package org.fastvm.vmm;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A command to run in a VM: argv (no shell unless you ask for one), extra environment,
 * working directory, stdin bytes, timeout and an output cap for buffered results.
 * Build with {@link #builder(String...)} or {@link #of(String...)}.
 */
public final class ExecRequest {
    /** Default cap per stream for {@link Machine#exec}: output beyond it is dropped and flagged. */
    public static final int DEFAULT_OUTPUT_LIMIT_BYTES = 64 << 20;

    private final List<String> argv;
    private final Map<String, String> env;
    private final String cwd;
    private final byte[] stdin;
    private final boolean stdinOpen;
    private final Duration timeout;
    private final int outputLimitBytes;

    private ExecRequest(Builder b) {
        this.argv = List.copyOf(b.argv);
        this.env = Map.copyOf(b.env);
        this.cwd = b.cwd;
        this.stdin = b.stdin;
        this.stdinOpen = b.stdinOpen;
        this.timeout = b.timeout;
        this.outputLimitBytes = b.outputLimitBytes;
    }

    /** @return a request running {@code argv} with all defaults */
    public static ExecRequest of(String... argv) {
        return builder(argv).build();
    }

    /** @return a builder for a request running {@code argv} */
    public static Builder builder(String... argv) {
        return new Builder(List.of(argv));
    }

    /** @return a builder for a request running {@code argv} */
    public static Builder builder(List<String> argv) {
        return new Builder(argv);
    }

    /** @return the program and its arguments */
    public List<String> argv() { return argv; }

    /** @return environment entries added to (or replacing) the agent's defaults */
    public Map<String, String> env() { return env; }

    /** @return the working directory, or null for the agent's default (/root or /) */
    public String cwd() { return cwd; }

    /** @return bytes written to stdin, or null for none (stdin is /dev/null) */
    public byte[] stdin() { return stdin == null ? null : stdin.clone(); }

    /** @return true when stdin stays open for {@link ExecHandle#writeStdin} until closed */
    public boolean stdinOpen() { return stdinOpen; }

    /** @return the timeout after which the whole process group is killed, or null for none */
    public Duration timeout() { return timeout; }

    /** @return the most bytes kept per stream in a buffered {@link ExecResult} */
    public int outputLimitBytes() { return outputLimitBytes; }

    /** Builder for {@link ExecRequest}; {@link #build()} validates and names the bad field. */
    public static final class Builder {
        private final List<String> argv;
        private final Map<String, String> env = new LinkedHashMap<>();
        private String cwd;
        private byte[] stdin;
        private boolean stdinOpen;
        private Duration timeout;
        private int outputLimitBytes = DEFAULT_OUTPUT_LIMIT_BYTES;

        private Builder(List<String> argv) {
            this.argv = List.copyOf(Objects.requireNonNull(argv, "argv"));
        }

        /** Adds one environment variable. */
        public Builder env(String key, String value) {
            env.put(Objects.requireNonNull(key, "env key"), Objects.requireNonNull(value, "env value"));
            return this;
        }

        /** Adds environment variables. */
        public Builder env(Map<String, String> vars) {
            vars.forEach(this::env);
            return this;
        }

        /** Sets the working directory (absolute path in the guest). */
        public Builder cwd(String cwd) {
            this.cwd = cwd;
            return this;
        }

        /** Bytes written to stdin, which is then closed. */
        public Builder stdin(byte[] bytes) {
            this.stdin = bytes == null ? null : bytes.clone();
            return this;
        }

        /** Keeps stdin open for {@link ExecHandle#writeStdin} (streaming execs only). */
        public Builder stdinOpen(boolean open) {
            this.stdinOpen = open;
            return this;
        }

        /** Kills the whole process group after this long; null or zero = no timeout. */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout == null || timeout.isZero() ? null : timeout;
            return this;
        }

        /** Most bytes kept per stream in a buffered result; the rest is dropped and flagged. */
        public Builder outputLimitBytes(int limit) {
            this.outputLimitBytes = limit;
            return this;
        }

        /** @return the request; throws IllegalArgumentException naming the bad field */
        public ExecRequest build() {
            if (argv.isEmpty()) throw new IllegalArgumentException("argv: must name a program");
            for (int i = 0; i < argv.size(); i++) {
                if (argv.get(i).indexOf('\0') >= 0) throw new IllegalArgumentException("argv[" + i + "]: contains NUL");
            }
            if (argv.get(0).isEmpty()) throw new IllegalArgumentException("argv[0]: must not be empty");
            for (var e : env.entrySet()) {
                String k = e.getKey();
                if (k.isEmpty() || k.indexOf('=') >= 0 || k.indexOf('\0') >= 0) {
                    throw new IllegalArgumentException("env: bad variable name '" + k + "'");
                }
                if (e.getValue().indexOf('\0') >= 0) throw new IllegalArgumentException("env[" + k + "]: contains NUL");
            }
            if (cwd != null && (!cwd.startsWith("/") || cwd.indexOf('\0') >= 0)) {
                throw new IllegalArgumentException("cwd: must be an absolute path, got '" + cwd + "'");
            }
            if (timeout != null && timeout.isNegative()) throw new IllegalArgumentException("timeout: must not be negative");
            if (outputLimitBytes < 0) throw new IllegalArgumentException("outputLimitBytes: must not be negative");
            return new ExecRequest(this);
        }
    }
}
