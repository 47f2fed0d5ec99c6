-- The tenant store (SQLite) schema as cavra left it at version 9: migrations 1..9 exactly as released
-- (git commit c648a73, 2026-12-03, crates/cavra-tenant-store/src/sqlite_outbox.rs for migration 4; commit 3e6aec5 for migration 6; commit 908893c for migration 7; commit 9f2a8e6 for migration 8; commit 2eb2e7d for migration 9). Frozen: tests/migrations.rs
-- creates a database from this file and migrates it to the current version.

-- migration 1
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    roles TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant);
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    decision_id TEXT NOT NULL UNIQUE,
    session_id TEXT,
    agent TEXT,
    requested_by TEXT NOT NULL,
    action_type TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    log_index INTEGER,
    record TEXT NOT NULL
);
CREATE INDEX decisions_tenant ON decisions(tenant, seq);
CREATE INDEX decisions_session ON decisions(tenant, session_id, seq);
CREATE TABLE approvals (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    session_id TEXT,
    approver_group TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    reason TEXT,
    summary TEXT NOT NULL,
    grant_use TEXT NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX approvals_state ON approvals(tenant, state, requested_at);
CREATE INDEX approvals_fingerprint ON approvals(tenant, fingerprint, requested_by);
CREATE INDEX approvals_expiry ON approvals(state, expires_at);
CREATE TABLE registry (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, name)
);
CREATE TABLE policy_packs (
    tenant TEXT NOT NULL,
    digest TEXT NOT NULL,
    pack_id TEXT NOT NULL,
    document TEXT NOT NULL,
    signed_by TEXT,
    uploaded_at TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    PRIMARY KEY (tenant, digest)
);
CREATE TABLE policy_assignments (
    tenant TEXT NOT NULL,
    scope TEXT NOT NULL,
    pack TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (tenant, scope)
);
CREATE TABLE log_meta (
    tenant TEXT PRIMARY KEY,
    log_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    frontier BLOB NOT NULL
);
CREATE TABLE log_entries (
    tenant TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT,
    session_id TEXT,
    timestamp TEXT NOT NULL,
    entry BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    PRIMARY KEY (tenant, idx)
) WITHOUT ROWID;
CREATE INDEX log_entries_session ON log_entries(tenant, session_id, idx);
CREATE INDEX log_entries_ref ON log_entries(tenant, ref_id);
CREATE TABLE checkpoints (
    tenant TEXT NOT NULL,
    tree_size INTEGER NOT NULL,
    root_hash TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    key_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    PRIMARY KEY (tenant, tree_size)
);

-- migration 2
CREATE TABLE log_entries_v2 (
    tenant TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT,
    session_id TEXT,
    timestamp TEXT NOT NULL,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    UNIQUE (tenant, idx)
);
INSERT INTO log_entries_v2 (tenant, idx, kind, ref_id, session_id, timestamp, leaf_hash, entry)
    SELECT tenant, idx, kind, ref_id, session_id, timestamp, leaf_hash, entry
    FROM log_entries ORDER BY tenant, idx;
DROP TABLE log_entries;
ALTER TABLE log_entries_v2 RENAME TO log_entries;
CREATE INDEX log_entries_session ON log_entries(tenant, session_id, idx);
CREATE INDEX log_entries_ref ON log_entries(tenant, ref_id);
-- A decision's record is its log entry's body.record: kept once, in the log, instead of twice.
CREATE TABLE decisions_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    decision_id TEXT NOT NULL UNIQUE,
    session_id TEXT,
    agent TEXT,
    requested_by TEXT NOT NULL,
    action_type TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    log_index INTEGER NOT NULL
);
INSERT INTO decisions_v2 (seq, tenant, decision_id, session_id, agent, requested_by, action_type,
        decision, rule_id, timestamp, fingerprint, policy_digest, log_index)
    SELECT seq, tenant, decision_id, session_id, agent, requested_by, action_type, decision,
        rule_id, timestamp, fingerprint, policy_digest, log_index
    FROM decisions ORDER BY seq;
DROP TABLE decisions;
ALTER TABLE decisions_v2 RENAME TO decisions;
CREATE INDEX decisions_tenant ON decisions(tenant, seq);
CREATE INDEX decisions_session ON decisions(tenant, session_id, seq);

-- migration 3
-- Hashes of complete power-of-two subtrees of each tenant's log (derived data).
CREATE TABLE log_subtrees (
    tenant TEXT NOT NULL,
    start INTEGER NOT NULL,
    size INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (tenant, start, size)
) WITHOUT ROWID;

-- migration 4
-- The connectors' outbox.
CREATE TABLE connector_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT,
    log_index INTEGER,
    only_destination TEXT,
    not_destination TEXT,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    routed INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, id)
);
CREATE INDEX connector_events_unrouted ON connector_events(seq) WHERE routed = 0;
CREATE TABLE connector_deliveries (
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    last_status TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, event_id, destination)
);
CREATE INDEX connector_deliveries_due ON connector_deliveries(next_at) WHERE state = 'pending';
CREATE INDEX connector_deliveries_tenant ON connector_deliveries(tenant, state, created_ms);
-- migration 5 (commit 374482d, tenant entitlements)
ALTER TABLE tenants ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended', 'expired'));
ALTER TABLE tenants ADD COLUMN expires_at TEXT;
ALTER TABLE tenants ADD COLUMN features TEXT;
ALTER TABLE tenants ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
-- migration 6 (commit 3e6aec5, inventory versions and items, connector polling leases)
CREATE TABLE inventory_versions (
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    digest TEXT NOT NULL,
    etag TEXT,
    counts TEXT NOT NULL,
    items INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (tenant, version)
);
CREATE TABLE inventory_items (
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (tenant, version, id)
) WITHOUT ROWID;
CREATE TABLE connector_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
-- migration 7 (commit 908893c, daily AISPM posture snapshots)
CREATE TABLE posture_days (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    posture TEXT NOT NULL,
    entries INTEGER NOT NULL,
    log_size INTEGER NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, day)
);
-- migration 8 (commit 9f2a8e6, the repository column and an index per decision filter)
ALTER TABLE decisions ADD COLUMN repository TEXT;
UPDATE decisions SET repository = (
    SELECT CASE WHEN json_type(CAST(e.entry AS TEXT), '$.body.record.repository') = 'text'
        THEN json_extract(CAST(e.entry AS TEXT), '$.body.record.repository') END
    FROM log_entries e WHERE e.tenant = decisions.tenant AND e.idx = decisions.log_index);
DROP INDEX decisions_tenant;
DROP INDEX decisions_session;
CREATE INDEX decisions_time ON decisions(tenant, timestamp);
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp);
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp);
CREATE INDEX decisions_action ON decisions(tenant, action_type, timestamp);
CREATE INDEX decisions_rule ON decisions(tenant, rule_id, timestamp);
CREATE INDEX decisions_actor ON decisions(tenant, requested_by, timestamp);
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp);

-- migration 9 (commit 2eb2e7d, the session, repository and outcome indexes without the rows no filter finds)
DROP INDEX decisions_session;
DROP INDEX decisions_repository;
DROP INDEX decisions_outcome;
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp) WHERE session_id IS NOT NULL;
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp) WHERE repository IS NOT NULL;
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp) WHERE decision <> 'allow';
