package org.fastvm.server.api;

import static org.junit.jupiter.api.Assertions.*;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.fastvm.server.FastVmServer;
import org.fastvm.server.ServerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS: h2 via ALPN and HTTP/1.1 on one port, with a generated self-signed certificate or PEM files. */
class TlsTest {
    @TempDir
    Path dir;

    @Test
    void selfSignedServesH2AndHttp11() throws Exception {
        ServerConfig cfg = ServerConfig.defaults(dir)
                .withBind("127.0.0.1", 0)
                .withMetricsBind("127.0.0.1", 0)
                .withTls(null, null, true);
        try (FastVmServer server = FastVmServer.start(cfg, new FakeBackend())) {
            Path p12 = dir.resolve("tls/self-signed.p12");
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p12)));
            KeyStore trust = KeyStore.getInstance("PKCS12");
            try (var in = Files.newInputStream(p12)) {
                trust.load(in, Tls.STORE_PASSWORD);
            }
            assertEquals("https", server.baseUri().getScheme());
            assertVersions(server.baseUri(), trust);
        }
    }

    @Test
    void pemCertificateAndKeyFiles() throws Exception {
        Path key = dir.resolve("key.pem");
        Path cert = dir.resolve("cert.pem");
        Process p = new ProcessBuilder(
                        "openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-nodes",
                        "-keyout",
                        key.toString(),
                        "-out",
                        cert.toString(),
                        "-days",
                        "2",
                        "-subj",
                        "/CN=localhost",
                        "-addext",
                        "subjectAltName=IP:127.0.0.1")
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, out);
        ServerConfig cfg = ServerConfig.defaults(dir)
                .withBind("127.0.0.1", 0)
                .withMetricsBind("127.0.0.1", 0)
                .withTls(cert, key, false);
        try (FastVmServer server = FastVmServer.start(cfg, new FakeBackend())) {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            try (var in = Files.newInputStream(cert)) {
                trust.setCertificateEntry(
                        "server",
                        java.security.cert.CertificateFactory.getInstance("X.509")
                                .generateCertificate(in));
            }
            assertVersions(server.baseUri(), trust);
        }
        var bad = assertThrows(IllegalArgumentException.class, () -> Tls.fromPem(cert, cert));
        assertTrue(bad.getMessage().startsWith("tls-key"), bad.getMessage());
    }

    private static void assertVersions(URI base, KeyStore trust) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        for (HttpClient.Version v : HttpClient.Version.values()) {
            try (HttpClient c =
                    HttpClient.newBuilder().sslContext(ssl).version(v).build()) {
                HttpResponse<String> r = c.send(
                        HttpRequest.newBuilder(base.resolve("/healthz")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                assertEquals(v, r.version(), "ALPN negotiates " + v);
            }
        }
    }
}
