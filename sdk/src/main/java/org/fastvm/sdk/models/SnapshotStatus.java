package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;
import java.util.Objects;

/**
 * A snapshot's status: {@code creating}, {@code ready} or {@code error}. Open like
 * {@link VMStatus}: unknown values are kept in {@link #asString()}.
 */
public final class SnapshotStatus {
  /** Being written; not yet restorable. */
  public static final SnapshotStatus CREATING = new SnapshotStatus("creating");
  /** Restorable. */
  public static final SnapshotStatus READY = new SnapshotStatus("ready");
  /** Failed; a terminal failure while waiting for readiness. */
  public static final SnapshotStatus ERROR = new SnapshotStatus("error");

  /** The statuses this SDK knows, plus {@link #UNKNOWN}. */
  public enum Known {
    /** See {@link SnapshotStatus#CREATING}. */
    CREATING,
    /** See {@link SnapshotStatus#READY}. */
    READY,
    /** See {@link SnapshotStatus#ERROR}. */
    ERROR,
    /** A value this SDK version does not know. */
    UNKNOWN
  }

  private final String value;

  private SnapshotStatus(String value) {
    this.value = value;
  }

  /**
   * The status for a wire value; unknown values are accepted.
   *
   * @param value the wire value
   * @return the status
   */
  @JsonCreator
  public static SnapshotStatus of(String value) {
    Objects.requireNonNull(value, "status");
    for (SnapshotStatus s : new SnapshotStatus[] {CREATING, READY, ERROR}) {
      if (s.value.equals(value)) return s;
    }
    return new SnapshotStatus(value);
  }

  /**
   * The wire value, exactly as the server sent it.
   *
   * @return the raw status string
   */
  @JsonValue
  public String asString() {
    return value;
  }

  /**
   * The known status, or {@link Known#UNKNOWN}.
   *
   * @return the enum constant
   */
  public Known known() {
    try {
      return Known.valueOf(value.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      return Known.UNKNOWN;
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SnapshotStatus other && other.value.equals(value);
  }

  @Override
  public int hashCode() {
    return value.hashCode();
  }

  @Override
  public String toString() {
    return value;
  }
}
