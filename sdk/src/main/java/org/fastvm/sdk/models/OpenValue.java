package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The shared shape of the API's open enums ({@link VMStatus}, {@link SnapshotStatus},
 * {@link FirewallMode}): the wire string kept verbatim, so values newer than this SDK survive
 * a round trip; equal when of the same class and value.
 */
abstract class OpenValue {
    private final String value;

    OpenValue(String value) {
        this.value = value;
    }

    /** The constant among {@code known} with this wire value, else a new value from {@code make}. */
    static <T extends OpenValue> T lookup(String value, String field, List<T> known, Function<String, T> make) {
        if (value == null) throw new IllegalArgumentException(field + " must not be null");
        for (T t : known) {
            if (t.asString().equals(value)) return t;
        }
        return make.apply(value);
    }

    /** The enum constant named like this value, or {@code unknown}. */
    <E extends Enum<E>> E knownAs(Class<E> type, E unknown) {
        try {
            return Enum.valueOf(type, value.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException notAConstant) {
            return unknown;
        }
    }

    /**
     * The wire value, exactly as the server sent it.
     *
     * @return the raw string
     */
    @JsonValue
    public String asString() {
        return value;
    }

    // Same class, not instanceof: a VMStatus and a SnapshotStatus with one wire value differ.
    @SuppressWarnings("EqualsGetClass")
    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && ((OpenValue) o).value.equals(value);
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
