//! The PostgreSQL backend, for several service replicas on one database.
//!
//! Every write is one transaction on a pooled connection; a tenant's plain decisions (no
//! approval asked or used) are group-committed by that tenant's appender task, many in one
//! transaction with one lock of the log head. What makes replicas behave as one service:
//!
//! - appends to a tenant's log lock that log's `log_meta` row (`SELECT … FOR UPDATE`) in the
//!   same transaction as the record they describe, so indexes are dense and the stored
//!   frontier always matches the entries;
//! - approval transitions and grant uses are compare-and-set on (state, uses): of two
//!   replicas racing on one approval, one updates a row and the other updates none;
//! - migrations run under a transaction-scoped advisory lock, so replicas starting together
//!   apply each migration once.
//!
//! Locks are always taken in the same order (the approval row, then the log head), so two
//! writes never wait on each other in a cycle.

use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use cavra_evidence::compact::Frontier;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::log::{CHECKPOINT_EVERY, EntryBody, approval_body, build_entry, sign_checkpoint};
use crate::rules::{apply_transition, apply_use, expiry_transition, pending_approval};
use crate::types::*;
use crate::{LogSettings, Readiness, Result, SCHEMA_VERSION, StoreError};

/// Connections per pool (per replica).
const POOL_SIZE: usize = 16;

/// The advisory lock migrations hold (`cavra` in ASCII, then 1), the same for every
/// replica so that only one migrates at a time.
pub const MIGRATION_LOCK: i64 = 0x6361_7672_6100_0001;

/// Text columns compare and sort bytewise (`COLLATE "C"`), as in SQLite, so RFC 3339
/// times and ids order the same on both backends whatever the database's locale.
const MIGRATIONS: &[&str] = &[
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
];

/// The PostgreSQL backend.
pub struct PgDb {
    pool: Pool,
    pub(crate) settings: LogSettings,
    /// Per tenant, the queue of its group-committing appender (see [`PgDb::record_decision`]).
    appenders: std::sync::Mutex<std::collections::HashMap<String, mpsc::Sender<Pending>>>,
}

/// Decisions appended together at most.
const BATCH: usize = 512;

/// A plain decision waiting for its tenant's next group commit.
struct Pending {
    decision: NewDecision,
    prepared: crate::log::PreparedBody,
    /// Its outbox event, written in the same group transaction.
    event: Option<crate::outbox::NewEvent>,
    reply: oneshot::Sender<Result<u64>>,
}

/// Applies the migrations the database lacks, holding the migration lock so replicas
/// starting together never apply one twice.
async fn migrate(client: &mut deadpool_postgres::Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cavra_schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let version: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM cavra_schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::Corrupt(format!(
            "the database's schema (version {version}) is newer than this cavra (version {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO cavra_schema_migrations (version) VALUES ($1)",
            &[&((i + 1) as i64)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl PgDb {
    /// Connects to `url` (`postgres://…`; no TLS: the database is expected on a trusted
    /// network) and runs the migrations it lacks.
    pub async fn open(url: &str, settings: LogSettings) -> Result<PgDb> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Postgres(format!("invalid database URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::Postgres(format!("connection pool: {e}")))?;
        let mut client = pool.get().await?;
        migrate(&mut client).await?;
        drop(client);
        Ok(PgDb {
            pool,
            settings,
            appenders: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client> {
        Ok(self.pool.get().await?)
    }

    /// The queue of `tenant`'s appender, started on first use.
    fn appender(&self, tenant: &str) -> mpsc::Sender<Pending> {
        let mut map = self.appenders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(tenant).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(append_loop(
            self.pool.clone(),
            self.settings.clone(),
            tenant.to_string(),
            rx,
        ));
        map.insert(tenant.to_string(), tx.clone());
        tx
    }
}

/// One tenant's appender: takes every decision waiting (up to [`BATCH`]) and appends them in
/// one transaction; each caller is answered after the commit. Across replicas the log head's
/// row lock still orders the groups. Should a group fail (a duplicate decision id, say), its
/// decisions are appended one by one, so that only the one at fault fails.
async fn append_loop(
    pool: Pool,
    settings: LogSettings,
    tenant: String,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (items, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| ((p.decision, p.prepared, p.event), p.reply))
            .unzip();
        match append_group(&pool, &settings, &tenant, &items).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) if items.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(_) => {
                for (item, reply) in items.iter().zip(replies) {
                    let result =
                        match append_group(&pool, &settings, &tenant, std::slice::from_ref(item))
                            .await
                        {
                            Ok(mut r) => r.pop().unwrap_or(Err(StoreError::Closed)),
                            Err(e) => Err(e),
                        };
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// Appends a group of plain decisions and their log entries in one transaction; answers per
/// decision (one whose entry cannot be built is left out with its error). A database error
/// fails the whole group and nothing of it is committed.
async fn append_group(
    pool: &Pool,
    settings: &LogSettings,
    tenant: &str,
    items: &[(
        NewDecision,
        crate::log::PreparedBody,
        Option<crate::outbox::NewEvent>,
    )],
) -> Result<Vec<Result<u64>>> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let (log_id, mut frontier) = lock_log_head(&tx, tenant).await?;
    let mut entries = EntryColumns::default();
    let mut decisions = DecisionColumns::default();
    let mut checkpoints = Vec::new();
    let mut results = Vec::with_capacity(items.len());
    let mut events = Vec::new();
    for (d, prepared, event) in items {
        let index = frontier.size();
        let built = match build_entry(
            &settings.redactor,
            tenant,
            index,
            "decision",
            &d.timestamp,
            EntryBody::Prepared(prepared.clone()),
        ) {
            Ok(b) => b,
            Err(e) => {
                results.push(Err(e.into()));
                continue;
            }
        };
        frontier.push(built.leaf);
        if frontier.size() % CHECKPOINT_EVERY == 0 {
            checkpoints.push(sign_checkpoint(
                &log_id,
                &frontier,
                &d.timestamp,
                &settings.signer,
            ));
        }
        entries.push(index, d, built);
        decisions.push(index, d);
        if let Some(e) = event {
            events.push((e, index));
        }
        results.push(Ok(index));
    }
    if !entries.idx.is_empty() {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) SELECT $1, idx, 'decision', ref_id, session_id, ts, entry, leaf FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[]) AS u(idx, ref_id, session_id, ts, entry, leaf)",
            )
            .await?,
            &[
                &tenant,
                &entries.idx,
                &entries.ref_id,
                &entries.session_id,
                &entries.timestamp,
                &entries.entry,
                &entries.leaf,
            ],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached(&format!(
                "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[])"
            ))
            .await?,
            &[
                &tenant,
                &decisions.decision_id,
                &decisions.session_id,
                &decisions.agent,
                &decisions.requested_by,
                &decisions.action_type,
                &decisions.decision,
                &decisions.rule_id,
                &decisions.timestamp,
                &decisions.fingerprint,
                &decisions.policy_digest,
                &decisions.log_index,
            ],
        )
        .await?;
        store_log_head(&tx, tenant, &frontier).await?;
        for cp in &checkpoints {
            insert_checkpoint(&tx, tenant, cp).await?;
        }
        crate::postgres_outbox::insert_events(&tx, tenant, &events).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Log entry columns of a group, as arrays for one `INSERT … SELECT … UNNEST`.
#[derive(Default)]
struct EntryColumns {
    idx: Vec<i64>,
    ref_id: Vec<String>,
    session_id: Vec<Option<String>>,
    timestamp: Vec<String>,
    entry: Vec<Vec<u8>>,
    leaf: Vec<Vec<u8>>,
}

impl EntryColumns {
    fn push(&mut self, index: u64, d: &NewDecision, built: crate::log::BuiltEntry) {
        self.idx.push(index as i64);
        self.ref_id.push(d.decision_id.clone());
        self.session_id.push(d.session_id.clone());
        self.timestamp.push(d.timestamp.clone());
        self.leaf.push(built.leaf.to_vec());
        self.entry.push(built.bytes);
    }
}

/// Decision columns of a group, in [`DECISION_COLUMNS`] order.
#[derive(Default)]
struct DecisionColumns {
    decision_id: Vec<String>,
    session_id: Vec<Option<String>>,
    agent: Vec<Option<String>>,
    requested_by: Vec<String>,
    action_type: Vec<String>,
    decision: Vec<String>,
    rule_id: Vec<String>,
    timestamp: Vec<String>,
    fingerprint: Vec<String>,
    policy_digest: Vec<String>,
    log_index: Vec<i64>,
}

impl DecisionColumns {
    fn push(&mut self, index: u64, d: &NewDecision) {
        self.decision_id.push(d.decision_id.clone());
        self.session_id.push(d.session_id.clone());
        self.agent.push(d.agent.clone());
        self.requested_by.push(d.requested_by.clone());
        self.action_type.push(d.action_type.clone());
        self.decision.push(d.decision.clone());
        self.rule_id.push(d.rule_id.clone());
        self.timestamp.push(d.timestamp.clone());
        self.fingerprint.push(d.fingerprint.clone());
        self.policy_digest.push(d.policy_digest.clone());
        self.log_index.push(index as i64);
    }
}

/// Appends one entry to `tenant`'s log inside `tx`; returns its index. The log head's row
/// stays locked until `tx` ends, so appends of one tenant are serialised across replicas.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    kind: &str,
    ref_id: Option<&str>,
    session_id: Option<&str>,
    timestamp: &str,
    body: impl Into<EntryBody>,
) -> Result<u64> {
    let (log_id, mut frontier) = lock_log_head(tx, tenant).await?;
    let index = frontier.size();
    let built = build_entry(
        &settings.redactor,
        tenant,
        index,
        kind,
        timestamp,
        body.into(),
    )?;
    frontier.push(built.leaf);
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?,
        &[
            &tenant,
            &(index as i64),
            &kind,
            &ref_id,
            &session_id,
            &timestamp,
            &built.bytes,
            &built.leaf.as_slice(),
        ],
    )
    .await?;
    store_log_head(tx, tenant, &frontier).await?;
    if frontier.size() % CHECKPOINT_EVERY == 0 {
        insert_checkpoint(
            tx,
            tenant,
            &sign_checkpoint(&log_id, &frontier, timestamp, &settings.signer),
        )
        .await?;
    }
    Ok(index)
}

/// Writes `tenant`'s log head after appends (its row is locked by [`lock_log_head`]).
async fn store_log_head(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    frontier: &Frontier,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached("UPDATE log_meta SET size = $1, frontier = $2 WHERE tenant = $3")
            .await?,
        &[&(frontier.size() as i64), &frontier.to_bytes(), &tenant],
    )
    .await?;
    Ok(())
}

/// Locks `tenant`'s log head (creating it for the first entry) until `tx` ends; returns the
/// log's id and frontier.
async fn lock_log_head(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
) -> Result<(String, Frontier)> {
    let lock = tx
        .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1 FOR UPDATE")
        .await?;
    let row = match tx.query_opt(&lock, &[&tenant]).await? {
        Some(row) => row,
        None => {
            // The log's first entry: create its head (another replica may do so at the same
            // moment; whichever commits first wins and the other waits for its row lock).
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO log_meta (tenant, log_id, size, frontier) VALUES ($1, replace(gen_random_uuid()::text, '-', ''), 0, '\\x'::bytea) ON CONFLICT (tenant) DO NOTHING",
                )
                .await?,
                &[&tenant],
            )
            .await?;
            tx.query_one(&lock, &[&tenant]).await?
        }
    };
    let log_id: String = row.try_get(0)?;
    let size: i64 = row.try_get(1)?;
    let bytes: Vec<u8> = row.try_get(2)?;
    let frontier = Frontier::from_bytes(size as u64, &bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier of {tenant}: {e}")))?;
    Ok((log_id, frontier))
}

async fn insert_checkpoint(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    c: &CheckpointRecord,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, timestamp, key_id, envelope) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, tree_size) DO UPDATE SET root_hash = EXCLUDED.root_hash, timestamp = EXCLUDED.timestamp, key_id = EXCLUDED.key_id, envelope = EXCLUDED.envelope",
        )
        .await?,
        &[
            &tenant,
            &(c.tree_size as i64),
            &c.root_hash,
            &c.timestamp,
            &c.key_id,
            &c.envelope,
        ],
    )
    .await?;
    crate::postgres_outbox::insert_event(tx, tenant, &crate::outbox::checkpoint_event(c), None)
        .await?;
    Ok(())
}

const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, grant_use, uses, history";

fn approval_row(r: &Row) -> Result<Approval> {
    let id: String = r.try_get(0)?;
    let state: String = r.try_get(8)?;
    let history: String = r.try_get(15)?;
    let grant: String = r.try_get(13)?;
    Ok(Approval {
        state: state
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("approval {id}: {e}")))?,
        history: serde_json::from_str(&history)
            .map_err(|e| StoreError::Corrupt(format!("approval {id} history: {e}")))?,
        decision_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        session_id: r.try_get(3)?,
        approver_group: r.try_get(4)?,
        requested_by: r.try_get(5)?,
        requested_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        decided_by: r.try_get(9)?,
        decided_at: r.try_get(10)?,
        reason: r.try_get(11)?,
        summary: r.try_get(12)?,
        grant: GrantUse::parse(&grant),
        uses: r.try_get(14)?,
        id,
    })
}

async fn load_approval<C: GenericClient>(
    c: &C,
    tenant: &str,
    id: &str,
) -> Result<Option<Approval>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND id = $2"
        ))
        .await?;
    c.query_opt(&st, &[&tenant, &id])
        .await?
        .as_ref()
        .map(approval_row)
        .transpose()
}

/// Stores `after` if the approval is still as `before` (same state, same uses) and records
/// the change in the log; false when another write got there first.
async fn store_transition(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    before: &Approval,
    after: &Approval,
    actor: &str,
) -> Result<bool> {
    let changed = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4, expires_at = $5, grant_use = $6, uses = $7, history = $8 WHERE tenant = $9 AND id = $10 AND state = $11 AND uses = $12",
            )
            .await?,
            &[
                &after.state.as_str(),
                &after.decided_by,
                &after.decided_at,
                &after.reason,
                &after.expires_at,
                &after.grant.as_str(),
                &after.uses,
                &serde_json::to_string(&after.history)?,
                &tenant,
                &after.id,
                &before.state.as_str(),
                &before.uses,
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    let at = after
        .history
        .last()
        .map(|h| h.at.clone())
        .unwrap_or_else(|| after.requested_at.clone());
    let index = append(
        tx,
        settings,
        tenant,
        "approval",
        Some(&after.id),
        after.session_id.as_deref(),
        &at,
        approval_body(after, actor),
    )
    .await?;
    let event = crate::outbox::approval_event(after, approval_body(after, actor), &at);
    crate::postgres_outbox::insert_event(tx, tenant, &event, Some(index)).await?;
    Ok(true)
}

/// The decisions table's columns, as written.
const DECISION_COLUMNS: &str = "decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index";
/// A decision as read: its columns (`d`) and its log entry (`e`), in [`decision_row`]'s order.
const DECISION_SELECT: &str = "SELECT d.decision_id, d.session_id, d.agent, d.requested_by, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, d.policy_digest, d.log_index, e.entry FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index";

fn decision_row(r: &Row) -> Result<StoredDecision> {
    let decision_id: String = r.try_get(0)?;
    let entry: Vec<u8> = r.try_get(11)?;
    Ok(StoredDecision {
        record: crate::log::entry_record(&entry)
            .map_err(|e| StoreError::Corrupt(format!("decision {decision_id}: {e}")))?,
        session_id: r.try_get(1)?,
        agent: r.try_get(2)?,
        requested_by: r.try_get(3)?,
        action_type: r.try_get(4)?,
        decision: r.try_get(5)?,
        rule_id: r.try_get(6)?,
        timestamp: r.try_get(7)?,
        fingerprint: r.try_get(8)?,
        policy_digest: r.try_get(9)?,
        log_index: r.try_get::<_, Option<i64>>(10)?.map(|i| i as u64),
        decision_id,
    })
}

const TOKEN_COLUMNS: &str =
    "id, tenant, subject, roles, groups_json, digest, created_at, expires_at, revoked_at";

fn token_row(r: &Row) -> Result<TokenRecord> {
    let id: String = r.try_get(0)?;
    let roles: String = r.try_get(3)?;
    let groups: String = r.try_get(4)?;
    Ok(TokenRecord {
        roles: serde_json::from_str(&roles)
            .map_err(|e| StoreError::Corrupt(format!("token {id} roles: {e}")))?,
        groups: serde_json::from_str(&groups)
            .map_err(|e| StoreError::Corrupt(format!("token {id} groups: {e}")))?,
        tenant: r.try_get(1)?,
        subject: r.try_get(2)?,
        digest: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
        id,
    })
}

const PACK_COLUMNS: &str = "digest, pack_id, document, signed_by, uploaded_at, uploaded_by";

fn pack_row(r: &Row) -> Result<StoredPack> {
    let digest: String = r.try_get(0)?;
    let signed: Option<String> = r.try_get(3)?;
    Ok(StoredPack {
        signed_by: signed
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("pack {digest} signature: {e}")))?,
        pack_id: r.try_get(1)?,
        document: r.try_get(2)?,
        uploaded_at: r.try_get(4)?,
        uploaded_by: r.try_get(5)?,
        digest,
    })
}

fn tenant_row(r: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

const SESSION_SELECT: &str = "SELECT session_id, MAX(agent), MIN(timestamp), MAX(timestamp), COUNT(*), COUNT(*) FILTER (WHERE decision = 'block'), COUNT(*) FILTER (WHERE decision = 'require_approval'), COUNT(*) FILTER (WHERE decision = 'warn') FROM decisions";

fn session_row(r: &Row) -> Result<SessionSummary> {
    Ok(SessionSummary {
        id: r.try_get(0)?,
        agent: r.try_get(1)?,
        first_seen: r.try_get(2)?,
        last_seen: r.try_get(3)?,
        decisions: r.try_get(4)?,
        blocked: r.try_get(5)?,
        approvals: r.try_get(6)?,
        warned: r.try_get(7)?,
    })
}

fn registry_row(kind: RegistryKind, r: &Row) -> Result<RegistryRecord> {
    let name: String = r.try_get(0)?;
    let record: String = r.try_get(1)?;
    Ok(RegistryRecord {
        kind,
        record: serde_json::from_str(&record)
            .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
        name,
        updated_at: r.try_get(2)?,
        updated_by: r.try_get(3)?,
    })
}

fn frontier_of(size: i64, bytes: &[u8]) -> Result<Frontier> {
    Frontier::from_bytes(size as u64, bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))
}

async fn record_decision_in(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    w: DecisionWrite,
    prepared: crate::log::PreparedBody,
    event: Option<crate::outbox::NewEvent>,
) -> Result<Recorded> {
    let d = &w.decision;
    if let Some(id) = &w.use_grant {
        let current = load_approval(tx, tenant, id)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("approval {id} is gone")))?;
        let next = apply_use(&current, &d.requested_by, &d.timestamp).ok_or_else(|| {
            StoreError::Conflict(format!(
                "approval {id} is no longer usable ({})",
                current.state
            ))
        })?;
        // The compare-and-set is what keeps two replicas from both using a once-grant: the
        // second one's update finds the approval consumed (or its uses moved) and changes
        // nothing.
        if !store_transition(tx, settings, tenant, &current, &next, &d.requested_by).await? {
            return Err(StoreError::Conflict(format!(
                "approval {id} changed meanwhile"
            )));
        }
    }
    let log_index = append(
        tx,
        settings,
        tenant,
        "decision",
        Some(&d.decision_id),
        d.session_id.as_deref(),
        &d.timestamp,
        EntryBody::Prepared(prepared),
    )
    .await?;
    tx.execute(
        &tx.prepare_cached(&format!(
            "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .await?,
        &[
            &tenant,
            &d.decision_id,
            &d.session_id,
            &d.agent,
            &d.requested_by,
            &d.action_type,
            &d.decision,
            &d.rule_id,
            &d.timestamp,
            &d.fingerprint,
            &d.policy_digest,
            &(log_index as i64),
        ],
    )
    .await?;
    // In the decision's transaction: the event exists exactly when the decision does.
    if let Some(e) = &event {
        crate::postgres_outbox::insert_event(tx, tenant, e, Some(log_index)).await?;
    }
    let mut approval_id = None;
    if let Some(a) = &w.new_approval {
        let approval = pending_approval(d, a);
        tx.execute(
            &tx.prepare_cached(&format!(
                "INSERT INTO approvals (tenant, {APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ))
            .await?,
            &[
                &tenant,
                &approval.id,
                &approval.decision_id,
                &approval.fingerprint,
                &approval.session_id,
                &approval.approver_group,
                &approval.requested_by,
                &approval.requested_at,
                &approval.expires_at,
                &approval.state.as_str(),
                &approval.decided_by,
                &approval.decided_at,
                &approval.reason,
                &approval.summary,
                &approval.grant.as_str(),
                &approval.uses,
                &serde_json::to_string(&approval.history)?,
            ],
        )
        .await?;
        let index = append(
            tx,
            settings,
            tenant,
            "approval",
            Some(&approval.id),
            approval.session_id.as_deref(),
            &d.timestamp,
            approval_body(&approval, &approval.requested_by),
        )
        .await?;
        let e = crate::outbox::approval_event(
            &approval,
            approval_body(&approval, &approval.requested_by),
            &d.timestamp,
        );
        crate::postgres_outbox::insert_event(tx, tenant, &e, Some(index)).await?;
        approval_id = Some(approval.id);
    }
    Ok(Recorded {
        log_index,
        approval_id,
        record: serde_json::Value::Null,
    })
}

impl PgDb {
    pub(crate) async fn readiness(&self) -> Result<Readiness> {
        let c = self.client().await?;
        let v: i64 = c
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM cavra_schema_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        Ok(Readiness {
            schema_version: v,
            migrations_current: v == SCHEMA_VERSION,
        })
    }

    pub(crate) async fn create_tenant(&self, t: &Tenant) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        Ok(c.execute(&st, &[&t.id, &t.name, &t.created_at]).await? == 1)
    }

    pub(crate) async fn tenants(&self) -> Result<Vec<Tenant>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY id")
            .await?;
        c.query(&st, &[]).await?.iter().map(tenant_row).collect()
    }

    pub(crate) async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .await?;
        c.query_opt(&st, &[&id])
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    pub(crate) async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await?;
        c.execute(
            &st,
            &[
                &t.id,
                &t.tenant,
                &t.subject,
                &serde_json::to_string(&t.roles)?,
                &serde_json::to_string(&t.groups)?,
                &t.digest,
                &t.created_at,
                &t.expires_at,
                &t.revoked_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
            ))
            .await?;
        c.query_opt(&st, &[&id])
            .await?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    pub(crate) async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at, id"
            ))
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(token_row)
            .collect()
    }

    pub(crate) async fn revoke_token(
        &self,
        tenant: Option<&str>,
        id: &str,
        at: &str,
    ) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND ($3::text IS NULL OR tenant = $3) AND revoked_at IS NULL",
            )
            .await?;
        Ok(c.execute(&st, &[&at, &id, &tenant]).await? == 1)
    }

    pub(crate) async fn record_decision(
        &self,
        tenant: &str,
        mut w: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Recorded> {
        // Redacted and canonical before the transaction takes the log's lock.
        let (prepared, mut body) = crate::log::prepare_decision_body(
            &self.settings.redactor,
            rules,
            crate::log::decision_body(&mut w.decision),
        );
        let event = crate::outbox::decision_event(&body, &w.decision.timestamp);
        let mut recorded = if w.use_grant.is_none() && w.new_approval.is_none() {
            // A plain decision: appended with whatever else of this tenant is waiting, in
            // one transaction under one lock of the log head (one commit for the group).
            let (reply, answer) = oneshot::channel();
            let pending = Pending {
                decision: w.decision,
                prepared,
                event,
                reply,
            };
            self.appender(tenant)
                .send(pending)
                .await
                .map_err(|_| StoreError::Closed)?;
            Recorded {
                log_index: answer.await.map_err(|_| StoreError::Closed)??,
                approval_id: None,
                record: serde_json::Value::Null,
            }
        } else {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let recorded =
                record_decision_in(&tx, &self.settings, tenant, w, prepared, event).await?;
            tx.commit().await?;
            recorded
        };
        recorded.record = body["record"].take();
        Ok(recorded)
    }

    pub(crate) async fn decisions(
        &self,
        tenant: &str,
        f: &DecisionFilter,
    ) -> Result<Vec<StoredDecision>> {
        let c = self.client().await?;
        // One statement for every combination of filters (an absent filter is NULL), so it
        // is prepared once per connection.
        let st = c
            .prepare_cached(&format!(
                "{DECISION_SELECT} WHERE d.tenant = $1 AND ($2::text IS NULL OR d.session_id = $2) AND ($3::text IS NULL OR d.decision = $3) AND ($4::text IS NULL OR d.action_type = $4) AND ($5::text IS NULL OR d.timestamp >= $5) AND ($6::text IS NULL OR d.timestamp < $6) ORDER BY d.seq DESC LIMIT $7"
            ))
            .await?;
        c.query(
            &st,
            &[
                &tenant,
                &f.session_id,
                &f.decision,
                &f.action_type,
                &f.since,
                &f.until,
                &(f.limit.max(1) as i64),
            ],
        )
        .await?
        .iter()
        .map(decision_row)
        .collect()
    }

    pub(crate) async fn decision(&self, tenant: &str, id: &str) -> Result<Option<StoredDecision>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{DECISION_SELECT} WHERE d.tenant = $1 AND d.decision_id = $2"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &id])
            .await?
            .as_ref()
            .map(decision_row)
            .transpose()
    }

    pub(crate) async fn sessions(&self, tenant: &str, limit: usize) -> Result<Vec<SessionSummary>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = $1 AND session_id IS NOT NULL GROUP BY session_id ORDER BY MAX(timestamp) DESC LIMIT $2"
            ))
            .await?;
        c.query(&st, &[&tenant, &(limit.max(1) as i64)])
            .await?
            .iter()
            .map(session_row)
            .collect()
    }

    pub(crate) async fn session(&self, tenant: &str, id: &str) -> Result<Option<SessionSummary>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = $1 AND session_id = $2 GROUP BY session_id"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &id])
            .await?
            .as_ref()
            .map(session_row)
            .transpose()
    }

    pub(crate) async fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND ($2::text IS NULL OR state = $2) ORDER BY requested_at DESC, id LIMIT $3"
            ))
            .await?;
        let state = state.map(|s| s.as_str());
        c.query(&st, &[&tenant, &state, &(limit.max(1) as i64)])
            .await?
            .iter()
            .map(approval_row)
            .collect()
    }

    pub(crate) async fn approval(&self, tenant: &str, id: &str) -> Result<Option<Approval>> {
        let c = self.client().await?;
        load_approval(&c, tenant, id).await
    }

    pub(crate) async fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: &str,
    ) -> Result<Option<Approval>> {
        let c = self.client().await?;
        // Grants first, then open requests; newest first within each.
        let st = c
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND fingerprint = $2 AND requested_by = $3 AND expires_at > $4 AND state IN ('approved', 'break_glass', 'pending', 'denied') ORDER BY CASE state WHEN 'approved' THEN 0 WHEN 'break_glass' THEN 0 WHEN 'denied' THEN 1 ELSE 2 END, requested_at DESC LIMIT 1"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &fingerprint, &requested_by, &now])
            .await?
            .as_ref()
            .map(approval_row)
            .transpose()
    }

    pub(crate) async fn transition(
        &self,
        tenant: &str,
        id: &str,
        t: Transition,
    ) -> Result<TransitionOutcome> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(current) = load_approval(&tx, tenant, id).await? else {
            return Ok(TransitionOutcome::NotFound);
        };
        let Some(next) = apply_transition(&current, &t) else {
            return Ok(TransitionOutcome::Conflict(current));
        };
        if store_transition(&tx, &self.settings, tenant, &current, &next, &t.actor).await? {
            tx.commit().await?;
            return Ok(TransitionOutcome::Done(next));
        }
        // Another replica moved it between the read and the update; each statement reads
        // the latest committed state, so this is the approval as that write left it.
        let now = load_approval(&tx, tenant, id).await?;
        Ok(match now {
            Some(a) => TransitionOutcome::Conflict(a),
            None => TransitionOutcome::NotFound,
        })
    }

    pub(crate) async fn expire_due(&self, now: &str) -> Result<Vec<(String, String)>> {
        let mut c = self.client().await?;
        let due: Vec<(String, String)> = {
            let st = c
                .prepare_cached(
                    "SELECT tenant, id FROM approvals WHERE state IN ('pending', 'approved', 'break_glass') AND expires_at <= $1 ORDER BY tenant, id",
                )
                .await?;
            c.query(&st, &[&now])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_>>()?
        };
        let t = expiry_transition(now);
        let mut out = Vec::new();
        // One transaction per approval: each takes its approval's row and then its tenant's
        // log head, the same order as every other write, and a sweep on another replica
        // that got there first simply leaves nothing to change.
        for (tenant, id) in due {
            let tx = c.transaction().await?;
            let Some(current) = load_approval(&tx, &tenant, &id).await? else {
                continue;
            };
            if let Some(next) = apply_transition(&current, &t)
                && store_transition(&tx, &self.settings, &tenant, &current, &next, "cavra").await?
            {
                tx.commit().await?;
                out.push((tenant, id));
            }
        }
        Ok(out)
    }

    pub(crate) async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT tenant, approver_group, COUNT(*) FROM approvals WHERE state = 'pending' GROUP BY tenant, approver_group ORDER BY tenant, approver_group",
            )
            .await?;
        c.query(&st, &[])
            .await?
            .iter()
            .map(|r| {
                Ok(QueueDepth {
                    tenant: r.try_get(0)?,
                    approver_group: r.try_get(1)?,
                    pending: r.try_get(2)?,
                })
            })
            .collect()
    }

    pub(crate) async fn put_registry(&self, tenant: &str, r: &RegistryRecord) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO registry (tenant, kind, name, record, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, kind, name) DO UPDATE SET record = EXCLUDED.record, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
            )
            .await?,
            &[
                &tenant,
                &r.kind.as_str(),
                &r.name,
                &serde_json::to_string(&r.record)?,
                &r.updated_at,
                &r.updated_by,
            ],
        )
        .await?;
        append(
            &tx,
            &self.settings,
            tenant,
            "registry",
            Some(&r.name),
            None,
            &r.updated_at,
            serde_json::json!({"kind": r.kind, "name": r.name, "record": r.record, "by": r.updated_by}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn registry(
        &self,
        tenant: &str,
        kind: RegistryKind,
    ) -> Result<Vec<RegistryRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = $1 AND kind = $2 ORDER BY name",
            )
            .await?;
        c.query(&st, &[&tenant, &kind.as_str()])
            .await?
            .iter()
            .map(|r| registry_row(kind, r))
            .collect()
    }

    pub(crate) async fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = $1 AND kind = $2 AND name = $3",
            )
            .await?;
        c.query_opt(&st, &[&tenant, &kind.as_str(), &name])
            .await?
            .as_ref()
            .map(|r| registry_row(kind, r))
            .transpose()
    }

    pub(crate) async fn delete_registry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("DELETE FROM registry WHERE tenant = $1 AND kind = $2 AND name = $3")
            .await?;
        Ok(c.execute(&st, &[&tenant, &kind.as_str(), &name]).await? == 1)
    }

    pub(crate) async fn put_pack(&self, tenant: &str, p: &StoredPack) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "INSERT INTO policy_packs (tenant, {PACK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, digest) DO NOTHING"
            ))
            .await?;
        c.execute(
            &st,
            &[
                &tenant,
                &p.digest,
                &p.pack_id,
                &p.document,
                &p.signed_by.as_ref().map(|v| v.to_string()),
                &p.uploaded_at,
                &p.uploaded_by,
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn packs(&self, tenant: &str) -> Result<Vec<StoredPack>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {PACK_COLUMNS} FROM policy_packs WHERE tenant = $1 ORDER BY uploaded_at, digest"
            ))
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(pack_row)
            .collect()
    }

    pub(crate) async fn pack(&self, tenant: &str, digest: &str) -> Result<Option<StoredPack>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {PACK_COLUMNS} FROM policy_packs WHERE tenant = $1 AND digest = $2"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &digest])
            .await?
            .as_ref()
            .map(pack_row)
            .transpose()
    }

    pub(crate) async fn assign(&self, tenant: &str, a: &Assignment) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO policy_assignments (tenant, scope, pack, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, scope) DO UPDATE SET pack = EXCLUDED.pack, assigned_at = EXCLUDED.assigned_at, assigned_by = EXCLUDED.assigned_by",
            )
            .await?,
            &[&tenant, &a.scope, &a.pack, &a.assigned_at, &a.assigned_by],
        )
        .await?;
        append(
            &tx,
            &self.settings,
            tenant,
            "policy_assignment",
            Some(&a.pack),
            None,
            &a.assigned_at,
            serde_json::to_value(a)?,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn assignments(&self, tenant: &str) -> Result<Vec<Assignment>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT scope, pack, assigned_at, assigned_by FROM policy_assignments WHERE tenant = $1 ORDER BY scope",
            )
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(|r| {
                Ok(Assignment {
                    scope: r.try_get(0)?,
                    pack: r.try_get(1)?,
                    assigned_at: r.try_get(2)?,
                    assigned_by: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub(crate) async fn count_entries(
        &self,
        tenant: &str,
        q: &EntryQuery,
        cap: u64,
    ) -> Result<u64> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM log_entries WHERE tenant = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR ref_id = $4) AND ($5::text IS NULL OR timestamp >= $5) AND ($6::text IS NULL OR timestamp < $6) AND ($7::bigint IS NULL OR idx > $7) LIMIT $8) AS selected",
            )
            .await?;
        let after = q.after_index.map(|i| i as i64);
        let limit = cap.saturating_add(1).min(i64::MAX as u64) as i64;
        let row = c
            .query_one(
                &st,
                &[
                    &tenant,
                    &q.kind,
                    &q.session_id,
                    &q.ref_id,
                    &q.since,
                    &q.until,
                    &after,
                    &limit,
                ],
            )
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(n as u64)
    }

    pub(crate) async fn entries(&self, tenant: &str, q: &EntryQuery) -> Result<Vec<EntryRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT idx, kind, ref_id, session_id, timestamp, leaf_hash, entry FROM log_entries WHERE tenant = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR ref_id = $4) AND ($5::text IS NULL OR timestamp >= $5) AND ($6::text IS NULL OR timestamp < $6) AND ($7::bigint IS NULL OR idx > $7) ORDER BY idx LIMIT $8",
            )
            .await?;
        let after = q.after_index.map(|i| i as i64);
        let rows = c
            .query(
                &st,
                &[
                    &tenant,
                    &q.kind,
                    &q.session_id,
                    &q.ref_id,
                    &q.since,
                    &q.until,
                    &after,
                    &(q.limit.max(1) as i64),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let index: i64 = r.try_get(0)?;
                let leaf: Vec<u8> = r.try_get(5)?;
                let entry: Vec<u8> = r.try_get(6)?;
                Ok(EntryRecord {
                    index: index as u64,
                    kind: r.try_get(1)?,
                    ref_id: r.try_get(2)?,
                    session_id: r.try_get(3)?,
                    timestamp: r.try_get(4)?,
                    leaf_hash: hex::encode(leaf),
                    entry: serde_json::from_slice(&entry)
                        .map_err(|e| StoreError::Corrupt(format!("entry {index}: {e}")))?,
                })
            })
            .collect()
    }

    pub(crate) async fn log_head(&self, tenant: &str) -> Result<Option<LogHead>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1")
            .await?;
        let Some(row) = c.query_opt(&st, &[&tenant]).await? else {
            return Ok(None);
        };
        let size: i64 = row.try_get(1)?;
        let bytes: Vec<u8> = row.try_get(2)?;
        Ok(Some(LogHead {
            log_id: row.try_get(0)?,
            size: size as u64,
            root_hash: hex::encode(frontier_of(size, &bytes)?.root()),
        }))
    }

    pub(crate) async fn leaf_range(
        &self,
        tenant: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<[u8; 32]>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT idx, leaf_hash FROM log_entries WHERE tenant = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            )
            .await?;
        let rows = c
            .query(&st, &[&tenant, &(start as i64), &(end as i64)])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let idx: i64 = r.try_get(0)?;
            let leaf: Vec<u8> = r.try_get(1)?;
            if idx as u64 != start + out.len() as u64 {
                return Err(StoreError::Corrupt(format!(
                    "log entry {} is missing",
                    start + out.len() as u64
                )));
            }
            out.push(
                <[u8; 32]>::try_from(leaf.as_slice())
                    .map_err(|_| StoreError::Corrupt(format!("leaf hash {idx}")))?,
            );
        }
        Ok(out)
    }

    pub(crate) async fn checkpoint_now(
        &self,
        tenant: &str,
        at: &str,
    ) -> Result<Option<CheckpointRecord>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Locked so that no append moves the head between reading and signing it.
        let row = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1 FOR UPDATE",
                )
                .await?,
                &[&tenant],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let log_id: String = row.try_get(0)?;
        let size: i64 = row.try_get(1)?;
        let bytes: Vec<u8> = row.try_get(2)?;
        let frontier = frontier_of(size, &bytes)?;
        let cp = sign_checkpoint(&log_id, &frontier, at, &self.settings.signer);
        insert_checkpoint(&tx, tenant, &cp).await?;
        tx.commit().await?;
        Ok(Some(cp))
    }

    pub(crate) async fn latest_checkpoint(&self, tenant: &str) -> Result<Option<CheckpointRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT tree_size, root_hash, timestamp, key_id, envelope FROM checkpoints WHERE tenant = $1 ORDER BY tree_size DESC LIMIT 1",
            )
            .await?;
        c.query_opt(&st, &[&tenant])
            .await?
            .map(|r| {
                Ok(CheckpointRecord {
                    tree_size: r.try_get::<_, i64>(0)? as u64,
                    root_hash: r.try_get(1)?,
                    timestamp: r.try_get(2)?,
                    key_id: r.try_get(3)?,
                    envelope: r.try_get(4)?,
                })
            })
            .transpose()
    }
}
