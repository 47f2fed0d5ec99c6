//! The tenant store's PostgreSQL schema: one migration per version, applied in order under
//! the migration lock and never edited once released (tests/migrations.rs creates each
//! released schema and migrates it).

/// Text columns compare and sort bytewise (`COLLATE "C"`), as in SQLite, so RFC 3339
/// times and ids order the same on both backends whatever the database's locale.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    subject TEXT NOT NULL,
    roles TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C",
    revoked_at TEXT COLLATE "C"
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant);
CREATE TABLE decisions (
    seq BIGSERIAL PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    decision_id TEXT COLLATE "C" NOT NULL UNIQUE,
    session_id TEXT COLLATE "C",
    agent TEXT COLLATE "C",
    requested_by TEXT COLLATE "C" NOT NULL,
    action_type TEXT COLLATE "C" NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    rule_id TEXT COLLATE "C" NOT NULL,
    timestamp TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    policy_digest TEXT COLLATE "C" NOT NULL,
    log_index BIGINT,
    record TEXT NOT NULL
);
CREATE INDEX decisions_tenant ON decisions(tenant, seq);
CREATE INDEX decisions_session ON decisions(tenant, session_id, seq);
CREATE TABLE approvals (
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    decision_id TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C",
    approver_group TEXT COLLATE "C" NOT NULL,
    requested_by TEXT COLLATE "C" NOT NULL,
    requested_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    decided_by TEXT,
    decided_at TEXT COLLATE "C",
    reason TEXT,
    summary TEXT NOT NULL,
    grant_use TEXT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    history TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX approvals_state ON approvals(tenant, state, requested_at);
CREATE INDEX approvals_fingerprint ON approvals(tenant, fingerprint, requested_by);
CREATE INDEX approvals_expiry ON approvals(state, expires_at);
CREATE TABLE registry (
    tenant TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    record TEXT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, name)
);
CREATE TABLE policy_packs (
    tenant TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    pack_id TEXT NOT NULL,
    document TEXT NOT NULL,
    signed_by TEXT,
    uploaded_at TEXT COLLATE "C" NOT NULL,
    uploaded_by TEXT NOT NULL,
    PRIMARY KEY (tenant, digest)
);
CREATE TABLE policy_assignments (
    tenant TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    pack TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    PRIMARY KEY (tenant, scope)
);
CREATE TABLE log_meta (
    tenant TEXT COLLATE "C" PRIMARY KEY,
    log_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    frontier BYTEA NOT NULL
);
CREATE TABLE log_entries (
    tenant TEXT COLLATE "C" NOT NULL,
    idx BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    ref_id TEXT COLLATE "C",
    session_id TEXT COLLATE "C",
    timestamp TEXT COLLATE "C" NOT NULL,
    entry BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL,
    PRIMARY KEY (tenant, idx)
);
CREATE INDEX log_entries_session ON log_entries(tenant, session_id, idx);
CREATE INDEX log_entries_ref ON log_entries(tenant, ref_id);
CREATE TABLE checkpoints (
    tenant TEXT COLLATE "C" NOT NULL,
    tree_size BIGINT NOT NULL,
    root_hash TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    key_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    PRIMARY KEY (tenant, tree_size)
);
"#,
    // Version 2: a decision's record is its log entry's body.record, kept once (in the log).
    r#"
ALTER TABLE decisions DROP COLUMN record;
ALTER TABLE decisions ALTER COLUMN log_index SET NOT NULL;
"#,
    // Version 3: hashes of complete power-of-two subtrees of each tenant's log (see
    // `crate::subtrees`).
    r#"
CREATE TABLE log_subtrees (
    tenant TEXT COLLATE "C" NOT NULL,
    start BIGINT NOT NULL,
    size BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (tenant, start, size)
);
"#,
    // Version 4: the connectors' outbox (see `crate::outbox`).
    crate::postgres_outbox::MIGRATION,
    // Version 5: each tenant's entitlement (see `crate::types::Entitlement`). Tenants created
    // before it are active, without expiry, with every feature and no limits: what they had.
    r#"
ALTER TABLE tenants
    ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'suspended', 'expired')),
    ADD COLUMN expires_at TEXT COLLATE "C",
    ADD COLUMN features TEXT,
    ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
"#,
    // Version 6: inventory versions and items, and connector polling leases (see
    // `crate::inventory`).
    crate::inventory::POSTGRES_MIGRATION,
    // Version 7: daily AISPM posture snapshots of each tenant (see `crate::posture_days`).
    crate::posture_days::POSTGRES_MIGRATION,
    // Version 8: the request's repository as a column, and an index per decision filter in
    // list order (see `crate::decision_list`).
    crate::decision_list::POSTGRES_MIGRATION,
    // Version 9: the session, repository and outcome indexes without the rows no filter finds
    // through them (see `crate::decision_list`).
    crate::decision_list::POSTGRES_MIGRATION_9,
    // Version 10: fewer index entries written per decision and per delivery attempt, none a
    // read uses (docs/benchmarks.md, "WAL per decision on PostgreSQL"). `decisions` loses the
    // primary key on `seq`: no statement finds a decision by `seq` alone (it orders the lists
    // as the last column of each list index, and the sequence keeps it unique), and every
    // decision paid an insert into it. The unique `decision_id` (NOT NULL) identifies a row
    // instead, for logical replication too. The entries' session index leaves out entries
    // without a session (delivery attempts, approvals' steps without one): a filter by session
    // is an equality, which never finds NULL.
    r#"
ALTER TABLE decisions DROP CONSTRAINT decisions_pkey;
ALTER TABLE decisions REPLICA IDENTITY USING INDEX decisions_decision_id_key;
DROP INDEX log_entries_session;
CREATE INDEX log_entries_session ON log_entries(tenant, session_id, idx) WHERE session_id IS NOT NULL;
"#,
];
