-- FastVM control-plane schema. Portable between SQLite and PostgreSQL:
-- ids are TEXT UUIDs, times are BIGINT epoch milliseconds, JSON columns are TEXT.
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Per-org overrides; NULL columns fall back to the server's default limits.
CREATE TABLE quotas (
    org_id         TEXT PRIMARY KEY REFERENCES orgs (id),
    vcpu           BIGINT,
    memory_mib     BIGINT,
    disk_gib       BIGINT,
    snapshot_count BIGINT
);

CREATE TABLE vms (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES orgs (id),
    name               TEXT NOT NULL,
    machine_name       TEXT NOT NULL,
    cpu                INTEGER NOT NULL,
    memory_mib         INTEGER NOT NULL,
    disk_gib           INTEGER NOT NULL,
    status             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    source_name        TEXT,
    source_snapshot_id TEXT,
    firewall           TEXT NOT NULL,
    metadata           TEXT NOT NULL,
    deleted_at         BIGINT,
    error_message      TEXT
);
CREATE INDEX vms_org_status ON vms (org_id, status);

CREATE TABLE snapshots (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    vm_id         TEXT NOT NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    machine_name  TEXT NOT NULL,
    cpu           INTEGER NOT NULL,
    memory_mib    INTEGER NOT NULL,
    disk_gib      INTEGER NOT NULL,
    firewall      TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT,
    error_message TEXT
);
CREATE INDEX snapshots_org ON snapshots (org_id, deleted_at);
