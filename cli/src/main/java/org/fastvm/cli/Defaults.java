package org.fastvm.cli;

import java.nio.file.Path;

/** Where things live when neither a flag nor a FASTVM_* variable says otherwise. */
final class Defaults {
    private Defaults() {}

    /** {@return {@code $XDG_DATA_HOME/fastvm} or {@code ~/.local/share/fastvm}} */
    static Path dataDir() {
        String xdg = System.getenv("XDG_DATA_HOME");
        return (xdg != null && !xdg.isBlank()
                        ? Path.of(xdg)
                        : Path.of(System.getProperty("user.home"), ".local", "share"))
                .resolve("fastvm");
    }

    /** {@return {@code $XDG_CONFIG_HOME/fastvm/config.json} or {@code ~/.config/fastvm/config.json}} */
    static Path clientConfig() {
        String xdg = System.getenv("XDG_CONFIG_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config"))
                .resolve("fastvm")
                .resolve("config.json");
    }
}
