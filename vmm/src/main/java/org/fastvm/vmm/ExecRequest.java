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
    /** The most arguments (and, separately, environment variables) the guest agent takes in one EXEC. */
    public static final int MAX_LIST_ENTRIES = 4096;
    /**
     * The most bytes argv, env and cwd may take in the EXEC frame, encoded (5 bytes a field plus
     * the UTF-8 text): the frame holds 1 MiB, a little of which the small fields need; stdin that
     * does not fit beside them is streamed.
     */
    public static final int MAX_COMMAND_BYTES = (1 << 20) - 1024;
    /** Bytes a TLV field takes besides its value (tag + length). */
    static final int FIELD_OVERHEAD = 5;

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

    /** {@return a request running {@code argv} with all defaults} */
    public static ExecRequest of(String... argv) {
        return builder(argv).build();
    }

    /** {@return a builder for a request running {@code argv}} */
    public static Builder builder(String... argv) {
        return new Builder(List.of(argv));
    }

    /** {@return a builder for a request running {@code argv}} */
    public static Builder builder(List<String> argv) {
        return new Builder(argv);
    }

    /** {@return the program and its arguments} */
    public List<String> argv() {
        return argv;
    }

    /** {@return environment entries added to (or replacing) the agent's defaults} */
    public Map<String, String> env() {
        return env;
    }

    /** {@return the working directory, or null for the agent's default (/root or /)} */
    public String cwd() {
        return cwd;
    }

    /** {@return the bytes argv, env and cwd take in the EXEC frame (see {@link #MAX_COMMAND_BYTES})} */
    public int commandBytes() {
        return commandBytes(argv, env, cwd);
    }

    private static int commandBytes(List<String> argv, Map<String, String> env, String cwd) {
        long n = 0;
        for (String a : argv) n += FIELD_OVERHEAD + utf8Length(a);
        for (var e : env.entrySet()) n += FIELD_OVERHEAD + utf8Length(e.getKey()) + 1 + utf8Length(e.getValue());
        if (cwd != null) n += FIELD_OVERHEAD + utf8Length(cwd);
        return (int) Math.min(Integer.MAX_VALUE, n);
    }

    private static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) n += 1;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else n += 3;
        }
        return n;
    }

    /** {@return bytes written to stdin, or null for none (stdin is /dev/null)} */
    public byte[] stdin() {
        return stdin == null ? null : stdin.clone();
    }

    /** {@return true when stdin stays open for {@link ExecHandle#writeStdin} until closed} */
    public boolean stdinOpen() {
        return stdinOpen;
    }

    /** {@return the timeout after which the whole process group is killed, or null for none} */
    public Duration timeout() {
        return timeout;
    }

    /** {@return the most bytes kept per stream in a buffered {@link ExecResult}} */
    public int outputLimitBytes() {
        return outputLimitBytes;
    }

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

        /** {@return the request; throws IllegalArgumentException naming the bad field} */
        public ExecRequest build() {
            if (argv.isEmpty()) throw new IllegalArgumentException("argv: must name a program");
            if (argv.size() > MAX_LIST_ENTRIES) {
                throw new IllegalArgumentException(
                        "argv: at most " + MAX_LIST_ENTRIES + " arguments, got " + argv.size());
            }
            if (env.size() > MAX_LIST_ENTRIES) {
                throw new IllegalArgumentException(
                        "env: at most " + MAX_LIST_ENTRIES + " variables, got " + env.size());
            }
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
            int bytes = commandBytes(argv, env, cwd);
            if (bytes > MAX_COMMAND_BYTES) {
                throw new IllegalArgumentException(
                        "argv: with env and cwd it takes " + bytes + " bytes (" + FIELD_OVERHEAD
                                + " per argument or variable plus its UTF-8 text); at most " + MAX_COMMAND_BYTES);
            }
            if (timeout != null && timeout.isNegative())
                throw new IllegalArgumentException("timeout: must not be negative");
            if (outputLimitBytes < 0) throw new IllegalArgumentException("outputLimitBytes: must not be negative");
            return new ExecRequest(this);
        }
    }
}
