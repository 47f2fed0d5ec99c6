//! The tenant store's SQLite schema: one migration per version, applied in order and never
//! edited once released (tests/migrations.rs creates each released schema and migrates it).

/// The migrations, version 1 first; `PRAGMA user_version` counts those applied.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    // Version 2: log entries (about 1.4 KB each) in a rowid table. As a WITHOUT ROWID table every
    // entry exceeded the index b-tree's local payload and took an overflow page of its own, mostly
    // empty: 4.7 KB on disk and in the WAL per entry instead of about 1.5 KB.
    r#"
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
"#,
    // Version 3: hashes of complete power-of-two subtrees of each tenant's log, so that an
    // inclusion or batch proof reads O(log n) stored hashes instead of every leaf (see
    // `crate::subtrees`). Derived data: losing a row only costs a recomputation.
    r#"
CREATE TABLE log_subtrees (
    tenant TEXT NOT NULL,
    start INTEGER NOT NULL,
    size INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (tenant, start, size)
) WITHOUT ROWID;
"#,
    // Version 4: the connectors' outbox (see `crate::outbox`).
    crate::sqlite_outbox::MIGRATION,
    // Version 5: each tenant's entitlement (see `crate::types::Entitlement`). Tenants created
    // before it are active, without expiry, with every feature and no limits: what they had.
    r#"
ALTER TABLE tenants ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended', 'expired'));
ALTER TABLE tenants ADD COLUMN expires_at TEXT;
ALTER TABLE tenants ADD COLUMN features TEXT;
ALTER TABLE tenants ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
"#,
    // Version 6: inventory versions and items, and connector polling leases (see
    // `crate::inventory`).
    crate::inventory::SQLITE_MIGRATION,
    // Version 7: daily AISPM posture snapshots of each tenant (see `crate::posture_days`).
    crate::posture_days::SQLITE_MIGRATION,
    // Version 8: the request's repository as a column, and an index per decision filter in
    // list order (see `crate::decision_list`).
    crate::decision_list::SQLITE_MIGRATION,
    // Version 9: the session, repository and outcome indexes without the rows no filter finds
    // through them (see `crate::decision_list`).
    crate::decision_list::SQLITE_MIGRATION_9,
    // Version 10: PostgreSQL's WAL per decision (its `decisions` primary key on `seq`, its
    // entries' session index); nothing here, where `seq` is the rowid and costs no index.
    "-- nothing on SQLite",
];
