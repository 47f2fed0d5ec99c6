-- The tenant store (PostgreSQL) schema as cavra left it at version 9: migrations 1..9 exactly as released
-- (git commit c648a73, 2026-12-03, crates/cavra-tenant-store/src/postgres_outbox.rs for migration 4; commit 3e6aec5 for migration 6; commit 908893c for migration 7; commit 9f2a8e6 for migration 8; commit 2eb2e7d for migration 9). Frozen: tests/migrations.rs
-- creates a database from this file and migrates it to the current version.

-- migration 1
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

-- migration 2
ALTER TABLE decisions DROP COLUMN record;
ALTER TABLE decisions ALTER COLUMN log_index SET NOT NULL;

-- migration 3
-- Hashes of complete power-of-two subtrees of each tenant's log (derived data).
CREATE TABLE log_subtrees (
    tenant TEXT COLLATE "C" NOT NULL,
    start BIGINT NOT NULL,
    size BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (tenant, start, size)
);

-- migration 4
-- The connectors' outbox.
CREATE TABLE connector_events (
    seq BIGSERIAL PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    ref_id TEXT COLLATE "C",
    log_index BIGINT,
    only_destination TEXT COLLATE "C",
    not_destination TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    payload TEXT NOT NULL,
    routed BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant, id)
);
CREATE INDEX connector_events_unrouted ON connector_events(seq) WHERE NOT routed;
CREATE TABLE connector_deliveries (
    tenant TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    event_kind TEXT COLLATE "C" NOT NULL,
    destination TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    last_status TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, event_id, destination)
);
CREATE INDEX connector_deliveries_due ON connector_deliveries(next_at) WHERE state = 'pending';
CREATE INDEX connector_deliveries_tenant ON connector_deliveries(tenant, state, created_ms);
-- migration 5 (commit 374482d, tenant entitlements)
ALTER TABLE tenants
    ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'suspended', 'expired')),
    ADD COLUMN expires_at TEXT COLLATE "C",
    ADD COLUMN features TEXT,
    ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
-- migration 6 (commit 3e6aec5, inventory versions and items, connector polling leases)
CREATE TABLE inventory_versions (
    tenant TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    format TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    etag TEXT,
    counts TEXT NOT NULL,
    items BIGINT NOT NULL,
    imported_at TEXT COLLATE "C" NOT NULL,
    imported_by TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    PRIMARY KEY (tenant, version)
);
CREATE TABLE inventory_items (
    tenant TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (tenant, version, id)
);
CREATE TABLE connector_leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
-- migration 7 (commit 908893c, daily AISPM posture snapshots)
CREATE TABLE posture_days (
    tenant TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL,
    posture TEXT NOT NULL,
    entries BIGINT NOT NULL,
    log_size BIGINT NOT NULL,
    computed_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, day)
);
-- migration 8 (commit 9f2a8e6, the repository column and an index per decision filter)
ALTER TABLE decisions ADD COLUMN repository TEXT COLLATE "C";
UPDATE decisions d SET repository = convert_from(e.entry, 'UTF8')::jsonb #>> '{body,record,repository}'
    FROM log_entries e
    WHERE e.tenant = d.tenant AND e.idx = d.log_index
        AND jsonb_typeof(convert_from(e.entry, 'UTF8')::jsonb #> '{body,record,repository}') = 'string';
DROP INDEX decisions_tenant;
DROP INDEX decisions_session;
CREATE INDEX decisions_time ON decisions(tenant, timestamp, seq);
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp, seq);
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp, seq);
CREATE INDEX decisions_action ON decisions(tenant, action_type, timestamp, seq);
CREATE INDEX decisions_rule ON decisions(tenant, rule_id, timestamp, seq);
CREATE INDEX decisions_actor ON decisions(tenant, requested_by, timestamp, seq);
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp, seq);

-- migration 9 (commit 2eb2e7d, the session, repository and outcome indexes without the rows no filter finds)
DROP INDEX decisions_session;
DROP INDEX decisions_repository;
DROP INDEX decisions_outcome;
CREATE INDEX decisions_session ON decisions(tenant, session_id, timestamp, seq) WHERE session_id IS NOT NULL;
CREATE INDEX decisions_repository ON decisions(tenant, repository, timestamp, seq) WHERE repository IS NOT NULL;
CREATE INDEX decisions_outcome ON decisions(tenant, decision, timestamp, seq) WHERE decision <> 'allow';
