package org.fastvm.sdk.errors;

import java.net.http.HttpHeaders;

/** An error status without a dedicated exception class (for example 405 or 408). */
public class UnexpectedStatusException extends FastVMServiceException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception from a parsed error response.
     *
     * @param status the HTTP status code (any other non-2xx)
     * @param errorCode the {@code error} field of the body, or {@code null}
     * @param errorMessage the {@code message} field of the body, or {@code null}
     * @param body the raw response body
     * @param headers the response headers
     */
    public UnexpectedStatusException(
            int status, String errorCode, String errorMessage, String body, HttpHeaders headers) {
        super(status, errorCode, errorMessage, body, headers);
    }
}
