package org.fastvm.sdk.errors;

import java.net.http.HttpHeaders;

/** HTTP 403: the API key may not perform this operation. */
public class PermissionDeniedException extends FastVMServiceException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception from a parsed error response.
     *
     * @param status the HTTP status code (403)
     * @param errorCode the {@code error} field of the body, or {@code null}
     * @param errorMessage the {@code message} field of the body, or {@code null}
     * @param body the raw response body
     * @param headers the response headers
     */
    public PermissionDeniedException(
            int status, String errorCode, String errorMessage, String body, HttpHeaders headers) {
        super(status, errorCode, errorMessage, body, headers);
    }
}
