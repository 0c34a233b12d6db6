package org.fastvm.sdk;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;

/**
 * Base of the tests that talk to one cleartext {@link TestServer} through one client: both
 * live for the whole test class; each test starts with no routes and no recorded requests.
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
}
