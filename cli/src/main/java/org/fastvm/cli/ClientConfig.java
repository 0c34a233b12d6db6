package org.fastvm.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import org.fastvm.server.model.ModelJson;

/**
 * The client config file ({@code ~/.config/fastvm/config.json}, mode 0600):
 * {@code {"apiKey": "...", "baseUrl": "..."}}, written on the server's first start.
 */
final class ClientConfig {
    private ClientConfig() {}

    /** Writes the file atomically, readable by its owner only. */
    static void write(Path file, String apiKey, String baseUrl) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        ObjectNode n = ModelJson.MAPPER.createObjectNode();
        n.put("apiKey", apiKey);
        n.put("baseUrl", baseUrl);
        Path tmp = Files.createTempFile(
                file.toAbsolutePath().getParent(),
                ".config",
                ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(
                tmp,
                ModelJson.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n",
                StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
