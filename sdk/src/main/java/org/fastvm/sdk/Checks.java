package org.fastvm.sdk;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/** Argument validation, done before any request; every message names the field. */
final class Checks {
    private Checks() {}

    /** The one rule for a missing argument: an IllegalArgumentException naming it. */
    static <T> T notNull(T value, String field) {
        if (value == null) throw new IllegalArgumentException(field + " must not be null");
        return value;
    }

    static Duration positive(Duration d, String field) {
        if (notNull(d, field).isNegative() || d.isZero()) {
            throw new IllegalArgumentException(field + " must be positive, got " + d);
        }
        return d;
    }

    static String nonEmpty(String s, String field) {
        if (notNull(s, field).isBlank()) throw new IllegalArgumentException(field + " must not be empty");
        return s;
    }

    static int atLeast(int value, int min, String field) {
        if (value < min) throw new IllegalArgumentException(field + " must be at least " + min + ", got " + value);
        return value;
    }

    /** An immutable copy of string pairs, refusing null keys and values by name (not a bare NPE). */
    static Map<String, String> stringMap(Map<String, String> map, String field) {
        notNull(map, field).forEach((k, v) -> {
            if (k == null) throw new IllegalArgumentException(field + " must not have a null key");
            if (v == null) throw new IllegalArgumentException(field + "[" + k + "] must not be null");
        });
        return Map.copyOf(map);
    }

    /** A shell string becomes {@code sh -c <string>}, as the contract says. */
    static List<String> shell(String command) {
        return List.of("sh", "-c", nonEmpty(command, "command"));
    }

    static List<String> argv(List<String> command) {
        List<String> argv = listCopy(command, "command");
        if (argv.isEmpty()) throw new IllegalArgumentException("command must not be empty");
        if (argv.get(0).isEmpty()) throw new IllegalArgumentException("command[0] (the program) must not be empty");
        return argv;
    }

    /** An immutable copy of a list, refusing null elements by index (not a bare NPE). */
    static <T> List<T> listCopy(List<T> list, String field) {
        notNull(list, field);
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i) == null) throw new IllegalArgumentException(field + "[" + i + "] must not be null");
        }
        return List.copyOf(list);
    }
}
