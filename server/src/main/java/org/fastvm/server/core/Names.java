package org.fastvm.server.core;

/**
 * The contract's name rule: trimmed, inner whitespace collapsed to one space, at most 64
 * characters; other control characters (NUL, ESC, BEL, DEL, C1 ...) are refused, since names are
 * printed by terminals ({@code fastvm ls}) and logs.
 */
public final class Names {
    /** Longest name kept; longer names are truncated. */
    public static final int MAX_LENGTH = 64;

    private Names() {}

    /** {@return {@code raw} normalised, or null when it is null or blank} */
    public static String normalise(String raw) {
        if (raw == null) return null;
        String s = raw.strip().replaceAll("\\s+", " ");
        if (s.isEmpty()) return null;
        for (int i = 0; i < s.length(); i++) {
            if (Character.isISOControl(s.charAt(i))) {
                throw ServiceException.invalid(
                        "name",
                        String.format("must not contain control characters (U+%04X at %d)", (int) s.charAt(i), i));
            }
        }
        if (s.codePointCount(0, s.length()) > MAX_LENGTH)
            s = s.substring(0, s.offsetByCodePoints(0, MAX_LENGTH)).strip();
        return s;
    }

    /** {@return {@code prefix-<first 8 chars of id>}, the default name of a VM or snapshot} */
    public static String defaultName(String prefix, String id) {
        return prefix + "-" + id.substring(0, Math.min(8, id.length()));
    }
}
