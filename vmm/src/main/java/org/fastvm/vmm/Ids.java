package org.fastvm.vmm;

import java.security.SecureRandom;
import java.util.HexFormat;

/** Random ids for VMs, snapshots and temp dirs. */
final class Ids {
    private static final SecureRandom RANDOM = new SecureRandom();

    private Ids() {}

    /** {@return {@code bytes} random bytes as lower-case hex} */
    static String random(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
