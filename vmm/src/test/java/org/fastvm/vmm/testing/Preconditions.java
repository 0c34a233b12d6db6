package org.fastvm.vmm.testing;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/**
 * What a test needs from the machine (root, /dev/kvm, a C toolchain). Where it is missing the
 * test is skipped, except under CI ({@code CI=true}): CI's machine is set up to run every test,
 * so a missing precondition there is a failure, never a silent skip.
 */
public final class Preconditions {
    private Preconditions() {}

    /** {@return true when the environment says this is a CI run ({@code CI=true})} */
    public static boolean underCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /** Skips the test (fails it under CI) unless {@code met}; {@code why} says what is missing. */
    public static void require(boolean met, String why) {
        if (!met) unmet(why);
    }

    /** Skips the test, or fails it under CI: {@code why} says what is missing. */
    public static void unmet(String why) {
        if (underCi()) fail("CI=true, and a test cannot run: " + why);
        Assumptions.abort(why);
    }
}
