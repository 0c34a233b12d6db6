package org.fastvm.sdk.models;

import java.util.List;

/** Defensive copies for the models' compact constructors. */
final class Copies {
    private Copies() {}

    /** An immutable copy; absent (null) is empty, a null element is refused by index. */
    static <T> List<T> list(List<T> list, String field) {
        if (list == null) return List.of();
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i) == null) throw new IllegalArgumentException(field + "[" + i + "] must not be null");
        }
        return List.copyOf(list);
    }
}
