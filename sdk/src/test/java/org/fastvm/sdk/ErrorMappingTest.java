package org.fastvm.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;
import org.fastvm.sdk.errors.AuthenticationException;
import org.fastvm.sdk.errors.BadRequestException;
import org.fastvm.sdk.errors.ConflictException;
import org.fastvm.sdk.errors.FastVMServiceException;
import org.fastvm.sdk.errors.InternalServerException;
import org.fastvm.sdk.errors.NotFoundException;
import org.fastvm.sdk.errors.PermissionDeniedException;
import org.fastvm.sdk.errors.RateLimitException;
import org.fastvm.sdk.errors.UnexpectedStatusException;
import org.fastvm.sdk.errors.UnprocessableEntityException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Each error status becomes its exception, carrying status, code, message and body. */
class ErrorMappingTest extends WithTestServer {
    static final String PATH = "/v1/vms/" + Fixtures.VM_ID;

    static Stream<Arguments> statuses() {
        return Stream.of(
                Arguments.of(400, BadRequestException.class),
                Arguments.of(401, AuthenticationException.class),
                Arguments.of(403, PermissionDeniedException.class),
                Arguments.of(404, NotFoundException.class),
                Arguments.of(409, ConflictException.class),
                Arguments.of(422, UnprocessableEntityException.class),
                Arguments.of(429, RateLimitException.class),
                Arguments.of(500, InternalServerException.class),
                Arguments.of(501, InternalServerException.class),
                Arguments.of(405, UnexpectedStatusException.class));
    }

    @ParameterizedTest
    @MethodSource("statuses")
    void statusMapsToItsException(int status, Class<? extends FastVMServiceException> type) {
        String body = "{\"error\":\"code_" + status + "\",\"message\":\"message " + status + "\",\"extra\":1}";
        server.on("PATCH", PATH, TestServer.json(status, body));
        FastVMServiceException e = assertThrows(FastVMServiceException.class, () -> client.rename(Fixtures.VM_ID, "x"));
        assertInstanceOf(type, e);
        assertEquals(status, e.status());
        assertEquals("code_" + status, e.errorCode().orElseThrow());
        assertEquals("message " + status, e.errorMessage().orElseThrow());
        assertEquals(body, e.body());
        assertTrue(
                e.getMessage().contains(String.valueOf(status))
                        && e.getMessage().contains("message " + status),
                e.getMessage());
        assertEquals(1, server.count("PATCH", PATH), "errors on non-run calls are not retried");
    }

    @Test
    void nonJsonErrorBodyIsKeptRaw() {
        server.on("GET", PATH, (req, res, cb) -> {
            res.setStatus(400);
            res.getHeaders().put("Content-Type", "text/html");
            res.write(
                    true, java.nio.ByteBuffer.wrap("<h1>bad gateway config</h1>".getBytes(StandardCharsets.UTF_8)), cb);
        });
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.get(Fixtures.VM_ID));
        assertTrue(e.errorCode().isEmpty());
        assertEquals("<h1>bad gateway config</h1>", e.body());
    }

    @Test
    void retryAfterHeaderIsExposedOnRateLimits() {
        server.on("GET", "/v1/org/quotas", TestServer.json(429, "{\"error\":\"rate_limited\"}", "Retry-After", "3"));
        RateLimitException e = assertThrows(RateLimitException.class, client::quotas);
        assertEquals("3", e.headers().firstValue("retry-after").orElseThrow());
    }

    @Test
    void aBlockingCallsFailureShowsWhereTheCallWasMade() {
        server.on("GET", PATH, TestServer.error(404, "not_found", "no such vm"));
        NotFoundException e = assertThrows(NotFoundException.class, () -> client.get(Fixtures.VM_ID));
        assertEquals(1, e.getSuppressed().length);
        assertTrue(java.util.Arrays.stream(e.getSuppressed()[0].getStackTrace())
                .anyMatch(f -> f.getMethodName().contains("aBlockingCallsFailureShowsWhereTheCallWasMade")));
    }
}
