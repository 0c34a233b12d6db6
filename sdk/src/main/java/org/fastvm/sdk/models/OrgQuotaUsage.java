package org.fastvm.sdk.models;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/**
 * An organisation's quota limits and current usage.
 *
 * @param orgId the organisation
 * @param limits the maximum amounts
 * @param usage the amounts in use now
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record OrgQuotaUsage(String orgId, QuotaValues limits, QuotaValues usage) {}
