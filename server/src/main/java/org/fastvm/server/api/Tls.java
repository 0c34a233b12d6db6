package org.fastvm.server.api;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Key material for TLS: PEM certificate chain + PKCS#8 key files, or a generated self-signed certificate. */
public final class Tls {
    /** Password of the in-memory and self-signed key stores (they are protected by file mode, not by this). */
    static final char[] STORE_PASSWORD = "fastvm".toCharArray();

    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z ]+)-----([^-]+)-----END \\1-----");

    private Tls() {}

    /** {@return a key store holding the key and chain read from PEM files} */
    public static KeyStore fromPem(Path certFile, Path keyFile) {
        try {
            List<Certificate> chain = new ArrayList<>();
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (byte[] der : pemBlocks(certFile, "CERTIFICATE")) {
                chain.add(cf.generateCertificate(new java.io.ByteArrayInputStream(der)));
            }
            if (chain.isEmpty()) throw new IllegalArgumentException("tls-cert: no CERTIFICATE block in " + certFile);
            List<byte[]> keys = pemBlocks(keyFile, "PRIVATE KEY");
            if (keys.isEmpty()) {
                throw new IllegalArgumentException("tls-key: no PKCS#8 'PRIVATE KEY' block in " + keyFile
                        + " (convert with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)");
            }
            PrivateKey key = null;
            for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
                try {
                    key = KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(keys.get(0)));
                    break;
                } catch (GeneralSecurityException e) {
                    // try the next algorithm
                }
            }
            if (key == null) throw new IllegalArgumentException("tls-key: not an RSA, EC or Ed25519 key: " + keyFile);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("fastvm", key, STORE_PASSWORD, chain.toArray(Certificate[]::new));
            return ks;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    "tls: cannot load " + certFile + " / " + keyFile + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@return a key store with a self-signed certificate for localhost and {@code host}, generated
     * once with the JDK's keytool into {@code <dir>/self-signed.p12} (mode 0600) and reused after}
     */
    public static KeyStore selfSigned(Path dir, String host) {
        Path file = dir.resolve("self-signed.p12");
        try {
            if (!Files.exists(file)) {
                Files.createDirectories(dir);
                String san = "dns:localhost,ip:127.0.0.1,ip:::1";
                if (host != null
                        && !host.isBlank()
                        && !host.equals("localhost")
                        && !host.equals("127.0.0.1")
                        && !host.equals("0.0.0.0")
                        && !host.equals("::")) {
                    san += (host.matches("[0-9.]+|.*:.*") ? ",ip:" : ",dns:") + host;
                }
                Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
                Process p = new ProcessBuilder(
                                keytool.toString(),
                                "-genkeypair",
                                "-alias",
                                "fastvm",
                                "-keyalg",
                                "EC",
                                "-groupname",
                                "secp256r1",
                                "-validity",
                                "825",
                                "-dname",
                                "CN=FastVM self-signed",
                                "-ext",
                                "san=" + san,
                                "-storetype",
                                "PKCS12",
                                "-keystore",
                                file.toString(),
                                "-storepass",
                                new String(STORE_PASSWORD),
                                "-keypass",
                                new String(STORE_PASSWORD))
                        .redirectErrorStream(true)
                        .start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    p.destroyForcibly();
                    throw new IllegalStateException("keytool failed to generate a self-signed certificate: " + out);
                }
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            }
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (var in = Files.newInputStream(file)) {
                ks.load(in, STORE_PASSWORD);
            }
            return ks;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("tls: cannot create or read " + file + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while generating a certificate", e);
        }
    }

    private static List<byte[]> pemBlocks(Path file, String type) throws IOException {
        List<byte[]> out = new ArrayList<>();
        Matcher m = PEM.matcher(Files.readString(file, StandardCharsets.US_ASCII));
        while (m.find()) {
            if (m.group(1).equals(type))
                out.add(Base64.getMimeDecoder().decode(m.group(2).strip()));
        }
        return out;
    }
}
