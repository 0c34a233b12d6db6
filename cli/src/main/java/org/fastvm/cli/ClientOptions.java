package org.fastvm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.fastvm.sdk.FastVM;
import org.fastvm.server.model.ModelJson;
import picocli.CommandLine.Option;

/**
 * How the client commands reach a server: flag, then FASTVM_API_KEY / FASTVM_BASE_URL, then
 * the client config file that {@code fastvm serve} wrote on its first start.
 */
final class ClientOptions {
    @Option(
            names = "--api-key",
            defaultValue = "${env:FASTVM_API_KEY}",
            description = "API key (env FASTVM_API_KEY; default: the client config file).")
    String apiKey;

    @Option(
            names = "--base-url",
            defaultValue = "${env:FASTVM_BASE_URL}",
            description = "Server URL (env FASTVM_BASE_URL; default: the client config file).")
    String baseUrl;

    @Option(
            names = "--client-config",
            defaultValue = "${env:FASTVM_CLIENT_CONFIG}",
            description = "Client config file (env FASTVM_CLIENT_CONFIG; default ~/.config/fastvm/config.json).")
    Path clientConfig;

    /** {@return a client for the configured server} */
    FastVM connect() {
        String key = DataOptions.blankToNull(apiKey);
        String url = DataOptions.blankToNull(baseUrl);
        if (key == null || url == null) {
            Path file = clientConfig != null ? clientConfig : Defaults.clientConfig();
            if (Files.isRegularFile(file)) {
                try {
                    JsonNode n = ModelJson.MAPPER.readTree(Files.readString(file));
                    if (key == null && n.hasNonNull("apiKey"))
                        key = n.get("apiKey").asText();
                    if (url == null && n.hasNonNull("baseUrl"))
                        url = n.get("baseUrl").asText();
                } catch (IOException e) {
                    throw new IllegalArgumentException("client config " + file + ": unreadable: " + e.getMessage());
                }
            }
            if (key == null) {
                throw new IllegalArgumentException(
                        "no API key: pass --api-key, set FASTVM_API_KEY, or start 'fastvm serve' " + "once to write "
                                + file);
            }
        }
        FastVM.Builder b = FastVM.builder().apiKey(key).timeout(Duration.ofMinutes(5));
        if (url != null) b.baseUrl(url);
        return b.build();
    }
}
