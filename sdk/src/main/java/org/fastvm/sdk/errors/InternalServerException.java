package org.fastvm.sdk.errors;

import java.net.http.HttpHeaders;

/** HTTP 5xx: the server failed; 502/503/504 are transient (the request did not take effect). */
public class InternalServerException extends FastVMServiceException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception from a parsed error response.
     *
     * @param status the HTTP status code (5xx)
     * @param errorCode the {@code error} field of the body, or {@code null}
     * @param errorMessage the {@code message} field of the body, or {@code null}
     * @param body the raw response body
     * @param headers the response headers
     */
    public InternalServerException(
            int status, String errorCode, String errorMessage, String body, HttpHeaders headers) {
        super(status, errorCode, errorMessage, body, headers);
    }
}
