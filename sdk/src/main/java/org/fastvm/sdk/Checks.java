package org.fastvm.sdk;

import java.time.Duration;
import java.util.List;

/** Argument validation, done before any request; every message names the field. */
final class Checks {
  private Checks() {}

  static Duration positive(Duration d, String field) {
    if (d == null) throw new IllegalArgumentException(field + " must not be null");
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(field + " must be positive, got " + d);
    }
    return d;
  }

  static String nonEmpty(String s, String field) {
    if (s == null) throw new IllegalArgumentException(field + " must not be null");
    if (s.isBlank()) throw new IllegalArgumentException(field + " must not be empty");
    return s;
  }

  static int atLeast(int value, int min, String field) {
    if (value < min) throw new IllegalArgumentException(field + " must be at least " + min + ", got " + value);
    return value;
  }

  /** A shell string becomes {@code sh -c <string>}, as the contract says. */
  static List<String> shell(String command) {
    return List.of("sh", "-c", nonEmpty(command, "command"));
  }

  static List<String> argv(List<String> command) {
    if (command == null || command.isEmpty()) {
      throw new IllegalArgumentException("command must not be empty");
    }
    for (int i = 0; i < command.size(); i++) {
      if (command.get(i) == null) throw new IllegalArgumentException("command[" + i + "] must not be null");
    }
    if (command.get(0).isEmpty()) throw new IllegalArgumentException("command[0] (the program) must not be empty");
    return List.copyOf(command);
  }
}
