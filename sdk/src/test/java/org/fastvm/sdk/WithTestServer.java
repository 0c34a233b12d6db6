package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;

/**
 * Base of the tests that talk to one cleartext {@link TestServer} through one client: both
 * live for the whole test class; each test starts with no routes and no recorded requests, and
 * ends by checking that the API document (docs/api/openapi.yaml) accepts every request the SDK
 * sent in it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class WithTestServer {
    TestServer server;
    FastVM client;

    @BeforeAll
    void startServer() throws Exception {
        server = TestServer.start();
        client = server.client();
    }

    @AfterAll
    void stopServer() throws Exception {
        if (client != null) client.close();
        if (server != null) server.close();
    }

    @BeforeEach
    void resetServer() {
        server.reset();
    }

    @AfterEach
    void requestsConformToTheApiDocument() {
        assertEquals(List.of(), server.takeSpecViolations(), "requests the API document refuses");
    }
}
