package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Objects;

/**
 * A firewall mode: {@code open} (all inbound allowed) or {@code restricted} (inbound denied
 * except the rules). Open like {@link VMStatus}: unknown values are kept verbatim.
 */
public final class FirewallMode {
  /** All public inbound traffic allowed. */
  public static final FirewallMode OPEN = new FirewallMode("open");
  /** Public inbound traffic denied except the ingress rules. */
  public static final FirewallMode RESTRICTED = new FirewallMode("restricted");

  private final String value;

  private FirewallMode(String value) {
    this.value = value;
  }

  /**
   * The mode for a wire value; unknown values are accepted.
   *
   * @param value the wire value
   * @return the mode
   */
  @JsonCreator
  public static FirewallMode of(String value) {
    Objects.requireNonNull(value, "mode");
    if (OPEN.value.equals(value)) return OPEN;
    if (RESTRICTED.value.equals(value)) return RESTRICTED;
    return new FirewallMode(value);
  }

  /**
   * The wire value.
   *
   * @return the raw mode string
   */
  @JsonValue
  public String asString() {
    return value;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FirewallMode other && other.value.equals(value);
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
