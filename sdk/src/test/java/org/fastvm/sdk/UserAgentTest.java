package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Path;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPath;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/** The User-Agent's version comes from the build: version.properties, filtered by Maven. */
class UserAgentTest extends WithTestServer {
    @Test
    void theUserAgentCarriesTheVersionInThePom() throws Exception {
        String version = pomVersion();
        assertFalse(version.isBlank(), "the pom names a version");
        client.warmup();
        assertEquals("fastvm-java/" + version, server.hits().get(0).header("User-Agent"), "on the wire");
    }

    /** The sdk module's version as its pom gives it: its own {@code <version>}, else its parent's. */
    private static String pomVersion() throws Exception {
        // Surefire runs in the module's directory.
        Document pom = DocumentBuilderFactory.newInstance()
                .newDocumentBuilder()
                .parse(Path.of("pom.xml").toFile());
        XPath xpath = XPathFactory.newInstance().newXPath();
        String own = xpath.evaluate("/project/version", pom).trim();
        return own.isEmpty() ? xpath.evaluate("/project/parent/version", pom).trim() : own;
    }
}
