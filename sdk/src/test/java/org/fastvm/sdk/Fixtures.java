package org.fastvm.sdk;

/** JSON bodies shaped like the contract's objects, with an unknown field to prove tolerance. */
final class Fixtures {
    static final String VM_ID = "3f1c2a9e-1111-4d6b-9c1e-0123456789ab";
    static final String SNAP_ID = "5e2d4b7f-2222-4a1c-8d3e-0123456789cd";

    private Fixtures() {}

    static String vm(String id, String status) {
        return "{\"id\":\"" + id + "\",\"name\":\"vm-" + id.substring(0, 8) + "\",\"orgId\":\"org-1\","
                + "\"machineName\":\"c1m2\",\"cpu\":1,\"memoryMiB\":2048,\"diskGiB\":10,"
                + "\"status\":\"" + status + "\",\"createdAt\":\"2026-01-02T03:04:05.123Z\","
                + "\"sourceName\":\"\",\"publicIpv6\":\"2001:db8::5\","
                + "\"firewall\":{\"mode\":\"restricted\",\"ingress\":[]},"
                + "\"metadata\":{\"team\":\"a\"},\"someFutureField\":{\"x\":1}}";
    }

    static String vm(String status) {
        return vm(VM_ID, status);
    }

    static String snapshot(String status) {
        return "{\"id\":\"" + SNAP_ID + "\",\"name\":\"snap\",\"orgId\":\"org-1\",\"vmId\":\"" + VM_ID + "\","
                + "\"status\":\"" + status + "\",\"createdAt\":\"2026-01-02T03:04:05Z\",\"extra\":true}";
    }

    static String execResult(int exit, String stdout) {
        return "{\"exitCode\":" + exit + ",\"stdout\":\"" + stdout + "\",\"stderr\":\"\",\"timedOut\":false,"
                + "\"stdoutTruncated\":false,\"stderrTruncated\":false,\"durationMs\":12}";
    }
}
