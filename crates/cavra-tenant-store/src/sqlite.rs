//! The SQLite backend: one writer thread with group commit, a pool of readers.
//!
//! Every write is a closure run on the writer thread inside its own savepoint of a shared
//! transaction; the writer takes whatever writes are waiting (up to `BATCH`), commits them
//! together (`synchronous=FULL`: one fsync), and only then answers each caller. A failing
//! write rolls back to its savepoint without disturbing the others in its batch.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cavra_evidence::compact::Frontier;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::log::{CHECKPOINT_EVERY, EntryBody, approval_body, build_entry, sign_checkpoint};
use crate::rules::{apply_transition, apply_use, expiry_transition, pending_approval};
use crate::types::*;
use crate::{LogSettings, Readiness, Result, SCHEMA_VERSION, StoreError};

/// Writes committed together at most.
const BATCH: usize = 512;
/// Reader connections.
const READERS: usize = 4;
/// WAL pages after which the writer checkpoints (4 MiB with 4 KiB pages).
const WAL_RESTART_PAGES: i64 = 1024;
/// A WAL file larger than this is truncated to it when the WAL restarts.
const WAL_KEEP_BYTES: i64 = 16 * 1024 * 1024;

const MIGRATIONS: &[&str] = &[
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
];

type Finish = Box<dyn FnOnce(Option<&str>) + Send>;
/// A write of a group commit: runs, then says whether it left the group's transaction
/// unusable (it failed after changing rows it could not undo), and how to answer its caller.
type Job = Box<dyn FnOnce(&Connection, &LogSettings) -> (Option<String>, Finish) + Send>;

/// The SQLite backend.
pub struct SqliteDb {
    path: PathBuf,
    redactor: std::sync::Arc<cavra_redact::Redactor>,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
}

/// Creates the database file readable by its owner only (0600) when it does not exist yet:
/// it holds every tenant's decisions and token digests. SQLite gives its `-wal` and `-shm`
/// files the main file's permissions.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Corrupt(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "{} cannot use write-ahead logging (journal_mode={mode})",
            path.display()
        )));
    }
    // Durable before acknowledged: the writer answers only after its commit is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Each write in a group commit runs in its own savepoint, whose undo pages would
    // otherwise go to a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::Corrupt(format!(
            "the database's schema (version {version}) is newer than this cavra (version {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteDb {
    /// Opens (creating) the database and starts its writer.
    pub async fn open(path: &Path, settings: LogSettings) -> Result<SqliteDb> {
        let path = path.to_path_buf();
        let p = path.clone();
        let (conn, readers) = tokio::task::spawn_blocking(move || -> Result<_> {
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Corrupt(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            create_private(&p)?;
            let mut conn = connect(&p)?;
            migrate(&mut conn)?;
            let mut readers = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let r = connect(&p)?;
                r.pragma_update(None, "query_only", "ON")?;
                readers.push(r);
            }
            Ok((conn, readers))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("opening the store: {e}")))??;
        let redactor = settings.redactor.clone();
        let (tx, rx) = mpsc::channel::<Job>(8192);
        // The writer checkpoints (PASSIVE) after a commit that leaves more than
        // WAL_RESTART_PAGES in the WAL, and its next transaction restarts the WAL from the
        // beginning. Measured under load (docs/benchmarks.md): a small WAL keeps each
        // checkpoint short (p99 6–7 ms at 1,024 pages, 10 ms at 4,096, 40 ms at 32,768),
        // and a separate checkpointing thread made no difference, so there is none.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_RESTART_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)?;
        std::thread::Builder::new()
            .name("cavra-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, settings))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the writer: {e}")))?;
        Ok(SqliteDb {
            path,
            redactor,
            writer: tx,
            readers: Mutex::new(readers),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer thread; answers once it is committed. `f` undoes its own
    /// partial work when it fails (one statement, or [`atomic`]).
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &LogSettings) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(false, f).await
    }

    /// Runs `f` on the writer thread without a savepoint of its own, for the hot path (a
    /// savepoint per decision was about 3 % of the service's CPU). Should `f` fail after
    /// changing rows, the whole group commit is rolled back and every write in it answered
    /// with an error: nothing half-written is ever committed. `f` must make its checks that
    /// can fail in normal operation before it changes anything.
    async fn write_direct<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &LogSettings) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.submit(true, f).await
    }

    async fn submit<R: Send + 'static>(
        &self,
        direct: bool,
        f: impl FnOnce(&Connection, &LogSettings) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (reply, answer) = oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn, settings| {
            let changes = conn.total_changes();
            let result = f(conn, settings);
            let poison = match &result {
                Err(e) if direct && conn.total_changes() != changes => Some(format!(
                    "a write of the same group commit failed halfway ({e}); the group was rolled back"
                )),
                _ => None,
            };
            let finish: Finish = Box::new(move |commit_error: Option<&str>| {
                let out = match (result, commit_error) {
                    (Ok(v), None) => Ok(v),
                    (Ok(_), Some(e)) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
                    (Err(e), _) => Err(e),
                };
                let _ = reply.send(out);
            });
            (poison, finish)
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a reader connection off the async threads.
    pub(crate) async fn read<R: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = this.take_reader()?;
            let out = f(&conn);
            if let Ok(mut pool) = this.readers.lock() {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("reader task: {e}")))?
    }

    fn take_reader(&self) -> Result<Connection> {
        let pooled = self.readers.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(c) => Ok(c),
            None => {
                let c = connect(&self.path)?;
                c.pragma_update(None, "query_only", "ON")?;
                Ok(c)
            }
        }
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Job>, settings: LogSettings) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    let mut finishers: Vec<Finish> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs drops their reply channels: each caller gets an error, and
            // nothing was written.
            eprintln!("cavra: the store could not begin a transaction: {e}");
            batch.clear();
            continue;
        }
        let mut poisoned: Option<String> = None;
        for job in batch.drain(..) {
            // A job undoes its own partial work on failure (`atomic`), or fails before it
            // changes anything, so a failing job does not disturb the others in its batch;
            // one that fails halfway anyway poisons the batch, which is then rolled back.
            let (poison, finish) = job(&conn, &settings);
            if poisoned.is_none() {
                poisoned = poison;
            }
            finishers.push(finish);
        }
        let err = match poisoned {
            Some(p) => {
                eprintln!("cavra: {p}");
                let _ = conn.execute_batch("ROLLBACK");
                Some(p)
            }
            None => {
                let commit = conn.execute_batch("COMMIT");
                let err = commit.as_ref().err().map(|e| e.to_string());
                if err.is_some() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                err
            }
        };
        for finish in finishers.drain(..) {
            finish(err.as_deref());
        }
    }
    let _ = conn.close();
}

/// Runs `f` so that, if it fails, whatever it changed is undone (its own savepoint).
pub(crate) fn atomic<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    conn.prepare_cached("SAVEPOINT inner")?.execute([])?;
    match f(conn) {
        Ok(v) => {
            conn.prepare_cached("RELEASE inner")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO inner; RELEASE inner");
            Err(e)
        }
    }
}

/// Appends one entry to `tenant`'s log; returns its index.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append(
    conn: &Connection,
    settings: &LogSettings,
    tenant: &str,
    kind: &str,
    ref_id: Option<&str>,
    session_id: Option<&str>,
    timestamp: &str,
    body: impl Into<EntryBody>,
) -> Result<u64> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO log_meta (tenant, log_id, size, frontier) VALUES (?1, lower(hex(randomblob(16))), 0, x'')",
    )?
    .execute(params![tenant])?;
    let (log_id, size, bytes): (String, i64, Vec<u8>) = conn
        .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
        .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let mut frontier = Frontier::from_bytes(size as u64, &bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier of {tenant}: {e}")))?;
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
    conn.prepare_cached(
        "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        tenant,
        index as i64,
        kind,
        ref_id,
        session_id,
        timestamp,
        built.bytes,
        built.leaf.as_slice()
    ])?;
    conn.prepare_cached("UPDATE log_meta SET size = ?1, frontier = ?2 WHERE tenant = ?3")?
        .execute(params![frontier.size() as i64, frontier.to_bytes(), tenant])?;
    if frontier.size() % CHECKPOINT_EVERY == 0 {
        insert_checkpoint(
            conn,
            tenant,
            &sign_checkpoint(&log_id, &frontier, timestamp, &settings.signer),
        )?;
    }
    Ok(index)
}

fn insert_checkpoint(conn: &Connection, tenant: &str, c: &CheckpointRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoints (tenant, tree_size, root_hash, timestamp, key_id, envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        tenant,
        c.tree_size as i64,
        c.root_hash,
        c.timestamp,
        c.key_id,
        c.envelope
    ])?;
    crate::sqlite_outbox::insert_event(conn, tenant, &crate::outbox::checkpoint_event(c), None)?;
    Ok(())
}

const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, grant_use, uses, history";

fn approval_row(r: &Row<'_>) -> rusqlite::Result<(Approval, String, String)> {
    let state: String = r.get(8)?;
    let history: String = r.get(15)?;
    Ok((
        Approval {
            id: r.get(0)?,
            decision_id: r.get(1)?,
            fingerprint: r.get(2)?,
            session_id: r.get(3)?,
            approver_group: r.get(4)?,
            requested_by: r.get(5)?,
            requested_at: r.get(6)?,
            expires_at: r.get(7)?,
            state: ApprovalState::Pending,
            decided_by: r.get(9)?,
            decided_at: r.get(10)?,
            reason: r.get(11)?,
            summary: r.get(12)?,
            grant: GrantUse::parse(&r.get::<_, String>(13)?),
            uses: r.get(14)?,
            history: Vec::new(),
        },
        state,
        history,
    ))
}

fn finish_approval((mut a, state, history): (Approval, String, String)) -> Result<Approval> {
    a.state = state
        .parse()
        .map_err(|e: String| StoreError::Corrupt(format!("approval {}: {e}", a.id)))?;
    a.history = serde_json::from_str(&history)
        .map_err(|e| StoreError::Corrupt(format!("approval {} history: {e}", a.id)))?;
    Ok(a)
}

fn load_approval(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Approval>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND id = ?2"
        ))?
        .query_row(params![tenant, id], approval_row)
        .optional()?;
    row.map(finish_approval).transpose()
}

fn store_transition(
    conn: &Connection,
    settings: &LogSettings,
    tenant: &str,
    before: &Approval,
    after: &Approval,
    actor: &str,
) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE approvals SET state = ?1, decided_by = ?2, decided_at = ?3, reason = ?4, expires_at = ?5, grant_use = ?6, uses = ?7, history = ?8 WHERE tenant = ?9 AND id = ?10 AND state = ?11 AND uses = ?12",
        )?
        .execute(params![
            after.state.as_str(),
            after.decided_by,
            after.decided_at,
            after.reason,
            after.expires_at,
            after.grant.as_str(),
            after.uses,
            serde_json::to_string(&after.history)?,
            tenant,
            after.id,
            before.state.as_str(),
            before.uses,
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    let at = after
        .history
        .last()
        .map(|h| h.at.clone())
        .unwrap_or_else(|| after.requested_at.clone());
    let index = append(
        conn,
        settings,
        tenant,
        "approval",
        Some(&after.id),
        after.session_id.as_deref(),
        &at,
        approval_body(after, actor),
    )?;
    let event = crate::outbox::approval_event(after, approval_body(after, actor), &at);
    crate::sqlite_outbox::insert_event(conn, tenant, &event, Some(index))?;
    Ok(true)
}

fn decision_row(r: &Row<'_>) -> rusqlite::Result<(StoredDecision, Vec<u8>)> {
    Ok((
        StoredDecision {
            decision_id: r.get(0)?,
            session_id: r.get(1)?,
            agent: r.get(2)?,
            requested_by: r.get(3)?,
            action_type: r.get(4)?,
            decision: r.get(5)?,
            rule_id: r.get(6)?,
            timestamp: r.get(7)?,
            fingerprint: r.get(8)?,
            policy_digest: r.get(9)?,
            log_index: r.get::<_, Option<i64>>(10)?.map(|i| i as u64),
            record: Value::Null,
        },
        r.get(11)?,
    ))
}

/// Completes a decision read with its record, taken from its log entry.
fn finish_decision((mut d, entry): (StoredDecision, Vec<u8>)) -> Result<StoredDecision> {
    d.record = crate::log::entry_record(&entry)
        .map_err(|e| StoreError::Corrupt(format!("decision {}: {e}", d.decision_id)))?;
    Ok(d)
}

/// The decisions table's columns, as written.
const DECISION_COLUMNS: &str = "decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index";
/// A decision as read: its columns (`d`) and its log entry (`e`), in [`decision_row`]'s order.
const DECISION_SELECT: &str = "SELECT d.decision_id, d.session_id, d.agent, d.requested_by, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, d.policy_digest, d.log_index, e.entry FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index";

fn token_row(r: &Row<'_>) -> rusqlite::Result<(TokenRecord, String, String)> {
    Ok((
        TokenRecord {
            id: r.get(0)?,
            tenant: r.get(1)?,
            subject: r.get(2)?,
            roles: Vec::new(),
            groups: Vec::new(),
            digest: r.get(5)?,
            created_at: r.get(6)?,
            expires_at: r.get(7)?,
            revoked_at: r.get(8)?,
        },
        r.get(3)?,
        r.get(4)?,
    ))
}

fn finish_token((mut t, roles, groups): (TokenRecord, String, String)) -> Result<TokenRecord> {
    t.roles = serde_json::from_str(&roles)
        .map_err(|e| StoreError::Corrupt(format!("token {} roles: {e}", t.id)))?;
    t.groups = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Corrupt(format!("token {} groups: {e}", t.id)))?;
    Ok(t)
}

const TOKEN_COLUMNS: &str =
    "id, tenant, subject, roles, groups_json, digest, created_at, expires_at, revoked_at";

fn pack_row(r: &Row<'_>) -> rusqlite::Result<(StoredPack, Option<String>)> {
    Ok((
        StoredPack {
            digest: r.get(0)?,
            pack_id: r.get(1)?,
            document: r.get(2)?,
            signed_by: None,
            uploaded_at: r.get(4)?,
            uploaded_by: r.get(5)?,
        },
        r.get(3)?,
    ))
}

fn finish_pack((mut p, signed): (StoredPack, Option<String>)) -> Result<StoredPack> {
    p.signed_by = signed
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("pack {} signature: {e}", p.digest)))?;
    Ok(p)
}

impl SqliteDb {
    pub(crate) async fn readiness(self: &std::sync::Arc<Self>) -> Result<Readiness> {
        self.read(|c| {
            let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            Ok(Readiness {
                schema_version: v,
                migrations_current: v == SCHEMA_VERSION,
            })
        })
        .await
    }

    pub(crate) async fn create_tenant(self: &std::sync::Arc<Self>, t: &Tenant) -> Result<bool> {
        let t = t.clone();
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![t.id, t.name, t.created_at])?
                == 1)
        })
        .await
    }

    pub(crate) async fn tenants(self: &std::sync::Arc<Self>) -> Result<Vec<Tenant>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(Tenant {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(crate) async fn tenant(self: &std::sync::Arc<Self>, id: &str) -> Result<Option<Tenant>> {
        let id = id.to_string();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = ?1")?
                    .query_row(params![id], |r| {
                        Ok(Tenant {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            created_at: r.get(2)?,
                        })
                    })
                    .optional()?,
            )
        })
        .await
    }

    pub(crate) async fn insert_token(self: &std::sync::Arc<Self>, t: &TokenRecord) -> Result<()> {
        let t = t.clone();
        self.write(move |c, _| {
            c.prepare_cached(&format!(
                "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                t.id,
                t.tenant,
                t.subject,
                serde_json::to_string(&t.roles)?,
                serde_json::to_string(&t.groups)?,
                t.digest,
                t.created_at,
                t.expires_at,
                t.revoked_at
            ])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn token(
        self: &std::sync::Arc<Self>,
        id: &str,
    ) -> Result<Option<TokenRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"
                ))?
                .query_row(params![id], token_row)
                .optional()?;
            row.map(finish_token).transpose()
        })
        .await
    }

    pub(crate) async fn tokens(
        self: &std::sync::Arc<Self>,
        tenant: Option<&str>,
    ) -> Result<Vec<TokenRecord>> {
        let tenant = tenant.map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map(params![tenant], token_row)?;
            rows.map(|r| finish_token(r?)).collect()
        })
        .await
    }

    pub(crate) async fn revoke_token(
        self: &std::sync::Arc<Self>,
        tenant: Option<&str>,
        id: &str,
        at: &str,
    ) -> Result<bool> {
        let (tenant, id, at) = (tenant.map(str::to_string), id.to_string(), at.to_string());
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND (?3 IS NULL OR tenant = ?3) AND revoked_at IS NULL",
            )?
            .execute(params![at, id, tenant])?
                == 1)
        })
        .await
    }

    pub(crate) async fn record_decision(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        mut w: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Recorded> {
        let tenant = tenant.to_string();
        // Redacted and canonical here, on the caller's thread: the one writer only splices.
        let (prepared, mut body) = crate::log::prepare_decision_body(
            &self.redactor,
            rules,
            crate::log::decision_body(&mut w.decision),
        );
        // The outbox event, when the outcome makes one, is built here too.
        let event = crate::outbox::decision_event(&body, &w.decision.timestamp);
        // record_decision_in makes its checks (a grant still usable) before it writes.
        let mut recorded = self
            .write_direct(move |c, settings| {
                record_decision_in(c, settings, &tenant, w, prepared, event)
            })
            .await?;
        recorded.record = body["record"].take();
        Ok(recorded)
    }

    pub(crate) async fn decisions(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        f: &DecisionFilter,
    ) -> Result<Vec<StoredDecision>> {
        let tenant = tenant.to_string();
        let f = f.clone();
        self.read(move |c| {
            let mut sql = format!("{DECISION_SELECT} WHERE d.tenant = ?");
            let mut args: Vec<String> = vec![tenant];
            for (col, op, v) in [
                ("session_id", "=", &f.session_id),
                ("decision", "=", &f.decision),
                ("action_type", "=", &f.action_type),
                ("timestamp", ">=", &f.since),
                ("timestamp", "<", &f.until),
            ] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND d.{col} {op} ?"));
                    args.push(v.clone());
                }
            }
            sql.push_str(&format!(" ORDER BY d.seq DESC LIMIT {}", f.limit.max(1)));
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter()), decision_row)?;
            rows.map(|r| finish_decision(r?)).collect()
        })
        .await
    }

    pub(crate) async fn decision(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        id: &str,
    ) -> Result<Option<StoredDecision>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "{DECISION_SELECT} WHERE d.tenant = ?1 AND d.decision_id = ?2"
                ))?
                .query_row(params![tenant, id], decision_row)
                .optional()?;
            row.map(finish_decision).transpose()
        })
        .await
    }

    pub(crate) async fn sessions(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<SessionSummary>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = ?1 AND session_id IS NOT NULL GROUP BY session_id ORDER BY MAX(timestamp) DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![tenant, limit.max(1) as i64], session_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(crate) async fn session(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        id: &str,
    ) -> Result<Option<SessionSummary>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = ?1 AND session_id = ?2 GROUP BY session_id"
            ))?
            .query_row(params![tenant, id], session_row)
            .optional()?)
        })
        .await
    }

    pub(crate) async fn approvals(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        let tenant = tenant.to_string();
        let state = state.map(|s| s.as_str().to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY requested_at DESC, id LIMIT ?3"
            ))?;
            let rows = st.query_map(params![tenant, state, limit.max(1) as i64], approval_row)?;
            rows.map(|r| finish_approval(r?)).collect()
        })
        .await
    }

    pub(crate) async fn approval(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        id: &str,
    ) -> Result<Option<Approval>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| load_approval(c, &tenant, &id)).await
    }

    pub(crate) async fn approval_for(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: &str,
    ) -> Result<Option<Approval>> {
        let (tenant, fp, by, now) = (
            tenant.to_string(),
            fingerprint.to_string(),
            requested_by.to_string(),
            now.to_string(),
        );
        self.read(move |c| {
            // Grants first, then open requests; newest first within each.
            let row = c
                .prepare_cached(&format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND fingerprint = ?2 AND requested_by = ?3 AND expires_at > ?4 AND state IN ('approved', 'break_glass', 'pending', 'denied') ORDER BY CASE state WHEN 'approved' THEN 0 WHEN 'break_glass' THEN 0 WHEN 'denied' THEN 1 ELSE 2 END, requested_at DESC LIMIT 1"
                ))?
                .query_row(params![tenant, fp, by, now], approval_row)
                .optional()?;
            row.map(finish_approval).transpose()
        })
        .await
    }

    pub(crate) async fn transition(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        id: &str,
        t: Transition,
    ) -> Result<TransitionOutcome> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |c, settings| {
            atomic(c, |c| {
                let Some(current) = load_approval(c, &tenant, &id)? else {
                    return Ok(TransitionOutcome::NotFound);
                };
                let Some(next) = apply_transition(&current, &t) else {
                    return Ok(TransitionOutcome::Conflict(current));
                };
                if store_transition(c, settings, &tenant, &current, &next, &t.actor)? {
                    Ok(TransitionOutcome::Done(next))
                } else {
                    Ok(TransitionOutcome::Conflict(current))
                }
            })
        })
        .await
    }

    pub(crate) async fn expire_due(
        self: &std::sync::Arc<Self>,
        now: &str,
    ) -> Result<Vec<(String, String)>> {
        let now = now.to_string();
        self.write(move |c, settings| {
            atomic(c, |c| {
                let due: Vec<(String, String)> = {
                    let mut st = c.prepare_cached(
                        "SELECT tenant, id FROM approvals WHERE state IN ('pending', 'approved', 'break_glass') AND expires_at <= ?1",
                    )?;
                    let rows = st.query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                let mut out = Vec::new();
                for (tenant, id) in due {
                    let Some(current) = load_approval(c, &tenant, &id)? else {
                        continue;
                    };
                    let t = expiry_transition(&now);
                    if let Some(next) = apply_transition(&current, &t)
                        && store_transition(c, settings, &tenant, &current, &next, "cavra")?
                    {
                        out.push((tenant, id));
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    pub(crate) async fn queue_depths(self: &std::sync::Arc<Self>) -> Result<Vec<QueueDepth>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tenant, approver_group, COUNT(*) FROM approvals WHERE state = 'pending' GROUP BY tenant, approver_group ORDER BY tenant, approver_group",
            )?;
            let rows = st.query_map([], |r| {
                Ok(QueueDepth {
                    tenant: r.get(0)?,
                    approver_group: r.get(1)?,
                    pending: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(crate) async fn put_registry(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        r: &RegistryRecord,
    ) -> Result<()> {
        let (tenant, r) = (tenant.to_string(), r.clone());
        self.write(move |c, settings| {
            atomic(c, |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO registry (tenant, kind, name, record, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    tenant,
                    r.kind.as_str(),
                    r.name,
                    serde_json::to_string(&r.record)?,
                    r.updated_at,
                    r.updated_by
                ])?;
                append(
                    c,
                    settings,
                    &tenant,
                    "registry",
                    Some(&r.name),
                    None,
                    &r.updated_at,
                    serde_json::json!({"kind": r.kind, "name": r.name, "record": r.record, "by": r.updated_by}),
                )?;
                Ok(())
            })
        })
        .await
    }

    pub(crate) async fn registry(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        kind: RegistryKind,
    ) -> Result<Vec<RegistryRecord>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = ?1 AND kind = ?2 ORDER BY name",
            )?;
            let rows = st.query_map(params![tenant, kind.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, record, updated_at, updated_by) = row?;
                out.push(RegistryRecord {
                    kind,
                    record: serde_json::from_str(&record)
                        .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
                    name,
                    updated_at,
                    updated_by,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn registry_entry(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT record, updated_at, updated_by FROM registry WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
                )?
                .query_row(params![tenant, kind.as_str(), name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            row.map(|(record, updated_at, updated_by)| {
                Ok(RegistryRecord {
                    kind,
                    record: serde_json::from_str(&record)
                        .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
                    name: name.clone(),
                    updated_at,
                    updated_by,
                })
            })
            .transpose()
        })
        .await
    }

    pub(crate) async fn delete_registry(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<bool> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "DELETE FROM registry WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
            )?
            .execute(params![tenant, kind.as_str(), name])?
                == 1)
        })
        .await
    }

    pub(crate) async fn put_pack(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        p: &StoredPack,
    ) -> Result<()> {
        let (tenant, p) = (tenant.to_string(), p.clone());
        self.write(move |c, _| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO policy_packs (tenant, digest, pack_id, document, signed_by, uploaded_at, uploaded_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tenant,
                p.digest,
                p.pack_id,
                p.document,
                p.signed_by.as_ref().map(|v| v.to_string()),
                p.uploaded_at,
                p.uploaded_by
            ])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn packs(
        self: &std::sync::Arc<Self>,
        tenant: &str,
    ) -> Result<Vec<StoredPack>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT digest, pack_id, document, signed_by, uploaded_at, uploaded_by FROM policy_packs WHERE tenant = ?1 ORDER BY uploaded_at, digest",
            )?;
            let rows = st.query_map(params![tenant], pack_row)?;
            rows.map(|r| finish_pack(r?)).collect()
        })
        .await
    }

    pub(crate) async fn pack(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        digest: &str,
    ) -> Result<Option<StoredPack>> {
        let (tenant, digest) = (tenant.to_string(), digest.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT digest, pack_id, document, signed_by, uploaded_at, uploaded_by FROM policy_packs WHERE tenant = ?1 AND digest = ?2",
                )?
                .query_row(params![tenant, digest], pack_row)
                .optional()?;
            row.map(finish_pack).transpose()
        })
        .await
    }

    pub(crate) async fn assign(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        a: &Assignment,
    ) -> Result<()> {
        let (tenant, a) = (tenant.to_string(), a.clone());
        self.write(move |c, settings| {
            atomic(c, |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO policy_assignments (tenant, scope, pack, assigned_at, assigned_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![tenant, a.scope, a.pack, a.assigned_at, a.assigned_by])?;
                append(
                    c,
                    settings,
                    &tenant,
                    "policy_assignment",
                    Some(&a.pack),
                    None,
                    &a.assigned_at,
                    serde_json::to_value(&a)?,
                )?;
                Ok(())
            })
        })
        .await
    }

    pub(crate) async fn assignments(
        self: &std::sync::Arc<Self>,
        tenant: &str,
    ) -> Result<Vec<Assignment>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT scope, pack, assigned_at, assigned_by FROM policy_assignments WHERE tenant = ?1 ORDER BY scope",
            )?;
            let rows = st.query_map(params![tenant], |r| {
                Ok(Assignment {
                    scope: r.get(0)?,
                    pack: r.get(1)?,
                    assigned_at: r.get(2)?,
                    assigned_by: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(crate) async fn count_entries(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        q: &EntryQuery,
        cap: u64,
    ) -> Result<u64> {
        let tenant = tenant.to_string();
        let q = q.clone();
        self.read(move |c| {
            let mut sql = String::from("SELECT 1 FROM log_entries WHERE tenant = ?");
            let mut args: Vec<rusqlite::types::Value> = vec![tenant.into()];
            for (col, op, v) in [
                ("kind", "=", &q.kind),
                ("session_id", "=", &q.session_id),
                ("ref_id", "=", &q.ref_id),
                ("timestamp", ">=", &q.since),
                ("timestamp", "<", &q.until),
            ] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND {col} {op} ?"));
                    args.push(v.clone().into());
                }
            }
            if let Some(after) = q.after_index {
                sql.push_str(" AND idx > ?");
                args.push((after as i64).into());
            }
            let bounded = format!(
                "SELECT COUNT(*) FROM ({sql} LIMIT {})",
                cap.saturating_add(1).min(i64::MAX as u64)
            );
            let n: i64 = c.query_row(&bounded, params_from_iter(args.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    pub(crate) async fn entries(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        q: &EntryQuery,
    ) -> Result<Vec<EntryRecord>> {
        let tenant = tenant.to_string();
        let q = q.clone();
        self.read(move |c| {
            let mut sql = String::from(
                "SELECT idx, kind, ref_id, session_id, timestamp, leaf_hash, entry FROM log_entries WHERE tenant = ?",
            );
            let mut args: Vec<rusqlite::types::Value> = vec![tenant.into()];
            for (col, op, v) in [
                ("kind", "=", &q.kind),
                ("session_id", "=", &q.session_id),
                ("ref_id", "=", &q.ref_id),
                ("timestamp", ">=", &q.since),
                ("timestamp", "<", &q.until),
            ] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND {col} {op} ?"));
                    args.push(v.clone().into());
                }
            }
            if let Some(after) = q.after_index {
                sql.push_str(" AND idx > ?");
                args.push((after as i64).into());
            }
            sql.push_str(&format!(" ORDER BY idx LIMIT {}", q.limit.max(1)));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (index, kind, ref_id, session_id, timestamp, leaf, entry) = row?;
                out.push(EntryRecord {
                    index: index as u64,
                    kind,
                    ref_id,
                    session_id,
                    timestamp,
                    leaf_hash: hex::encode(leaf),
                    entry: serde_json::from_slice(&entry)
                        .map_err(|e| StoreError::Corrupt(format!("entry {index}: {e}")))?,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn log_head(
        self: &std::sync::Arc<Self>,
        tenant: &str,
    ) -> Result<Option<LogHead>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let row: Option<(String, i64, Vec<u8>)> = c
                .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
                .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            row.map(|(log_id, size, bytes)| {
                let frontier = Frontier::from_bytes(size as u64, &bytes)
                    .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
                Ok(LogHead {
                    log_id,
                    size: size as u64,
                    root_hash: hex::encode(frontier.root()),
                })
            })
            .transpose()
        })
        .await
    }

    pub(crate) async fn leaf_range(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<[u8; 32]>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT idx, leaf_hash FROM log_entries WHERE tenant = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
            )?;
            let rows = st.query_map(params![tenant, start as i64, end as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
            for row in rows {
                let (idx, leaf) = row?;
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
        })
        .await
    }

    pub(crate) async fn checkpoint_now(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        at: &str,
    ) -> Result<Option<CheckpointRecord>> {
        let (tenant, at) = (tenant.to_string(), at.to_string());
        self.write(move |c, settings| {
            let row: Option<(String, i64, Vec<u8>)> = c
                .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
                .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((log_id, size, bytes)) = row else {
                return Ok(None);
            };
            let frontier = Frontier::from_bytes(size as u64, &bytes)
                .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
            let cp = sign_checkpoint(&log_id, &frontier, &at, &settings.signer);
            insert_checkpoint(c, &tenant, &cp)?;
            Ok(Some(cp))
        })
        .await
    }

    pub(crate) async fn latest_checkpoint(
        self: &std::sync::Arc<Self>,
        tenant: &str,
    ) -> Result<Option<CheckpointRecord>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT tree_size, root_hash, timestamp, key_id, envelope FROM checkpoints WHERE tenant = ?1 ORDER BY tree_size DESC LIMIT 1",
            )?
            .query_row(params![tenant], |r| {
                Ok(CheckpointRecord {
                    tree_size: r.get::<_, i64>(0)? as u64,
                    root_hash: r.get(1)?,
                    timestamp: r.get(2)?,
                    key_id: r.get(3)?,
                    envelope: r.get(4)?,
                })
            })
            .optional()?)
        })
        .await
    }
}

const SESSION_SELECT: &str = "SELECT session_id, MAX(agent), MIN(timestamp), MAX(timestamp), COUNT(*), SUM(decision = 'block'), SUM(decision = 'require_approval'), SUM(decision = 'warn') FROM decisions";

fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    Ok(SessionSummary {
        id: r.get(0)?,
        agent: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        decisions: r.get(4)?,
        blocked: r.get(5)?,
        approvals: r.get(6)?,
        warned: r.get(7)?,
    })
}

fn record_decision_in(
    c: &Connection,
    settings: &LogSettings,
    tenant: &str,
    w: DecisionWrite,
    prepared: crate::log::PreparedBody,
    event: Option<crate::outbox::NewEvent>,
) -> Result<Recorded> {
    let d = &w.decision;
    if let Some(id) = &w.use_grant {
        let current = load_approval(c, tenant, id)?
            .ok_or_else(|| StoreError::Conflict(format!("approval {id} is gone")))?;
        let next = apply_use(&current, &d.requested_by, &d.timestamp).ok_or_else(|| {
            StoreError::Conflict(format!(
                "approval {id} is no longer usable ({})",
                current.state
            ))
        })?;
        if !store_transition(c, settings, tenant, &current, &next, &d.requested_by)? {
            return Err(StoreError::Conflict(format!(
                "approval {id} changed meanwhile"
            )));
        }
    }
    let log_index = append(
        c,
        settings,
        tenant,
        "decision",
        Some(&d.decision_id),
        d.session_id.as_deref(),
        &d.timestamp,
        EntryBody::Prepared(prepared),
    )?;
    c.prepare_cached(&format!(
        "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        tenant,
        d.decision_id,
        d.session_id,
        d.agent,
        d.requested_by,
        d.action_type,
        d.decision,
        d.rule_id,
        d.timestamp,
        d.fingerprint,
        d.policy_digest,
        log_index as i64,
    ])?;
    // In the decision's transaction: the event exists exactly when the decision does.
    if let Some(e) = &event {
        crate::sqlite_outbox::insert_event(c, tenant, e, Some(log_index))?;
    }
    let mut approval_id = None;
    if let Some(a) = &w.new_approval {
        let approval = pending_approval(d, a);
        c.prepare_cached(&format!(
            "INSERT INTO approvals (tenant, {APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ))?
        .execute(params![
            tenant,
            approval.id,
            approval.decision_id,
            approval.fingerprint,
            approval.session_id,
            approval.approver_group,
            approval.requested_by,
            approval.requested_at,
            approval.expires_at,
            approval.state.as_str(),
            approval.decided_by,
            approval.decided_at,
            approval.reason,
            approval.summary,
            approval.grant.as_str(),
            approval.uses,
            serde_json::to_string(&approval.history)?,
        ])?;
        let index = append(
            c,
            settings,
            tenant,
            "approval",
            Some(&approval.id),
            approval.session_id.as_deref(),
            &d.timestamp,
            approval_body(&approval, &approval.requested_by),
        )?;
        let e = crate::outbox::approval_event(
            &approval,
            approval_body(&approval, &approval.requested_by),
            &d.timestamp,
        );
        crate::sqlite_outbox::insert_event(c, tenant, &e, Some(index))?;
        approval_id = Some(approval.id);
    }
    Ok(Recorded {
        log_index,
        approval_id,
        record: Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tenant_ids(db: &SqliteDb) -> Vec<String> {
        let c = connect(db.path()).unwrap();
        let mut st = c.prepare("SELECT id FROM tenants ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn insert_tenant(c: &Connection, id: &str) -> Result<()> {
        c.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?1, '2026-01-01T00:00:00Z')",
            params![id],
        )?;
        Ok(())
    }

    /// A write without a savepoint that fails after changing rows takes its whole group
    /// commit down with it: nothing of the group is stored and every write in it is told so;
    /// the next group is unaffected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_direct_write_failing_halfway_rolls_back_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LogSettings {
            signer: Arc::new(crate::LogSigner {
                key_id: "k".into(),
                key: cavra_evidence::keys::from_seed(&[3; 32]),
            }),
            redactor: Arc::new(cavra_redact::Redactor::for_pack(&[], &[]).unwrap()),
        };
        let db = Arc::new(
            SqliteDb::open(&dir.path().join("t.db"), settings)
                .await
                .unwrap(),
        );
        // The first write holds the writer so that the next two queue up into one group.
        let first = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|c, _| {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    insert_tenant(c, "first")
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let failing = db.write_direct(|c, _| {
            insert_tenant(c, "half")?;
            Err::<(), _>(StoreError::Corrupt("failed halfway".into()))
        });
        let bystander = db.write(|c, _| insert_tenant(c, "bystander"));
        let (failing, bystander) = tokio::join!(failing, bystander);
        assert!(first.await.unwrap().is_ok());
        assert!(matches!(failing, Err(StoreError::Corrupt(ref m)) if m == "failed halfway"));
        assert!(bystander.is_err(), "the group was rolled back");
        assert_eq!(tenant_ids(&db), vec!["first".to_string()]);
        // A direct write failing before it changes anything leaves its group alone.
        let clean =
            db.write_direct(|_, _| Err::<(), _>(StoreError::Conflict("checked first".into())));
        let next = db.write(|c, _| insert_tenant(c, "next"));
        let (clean, next) = tokio::join!(clean, next);
        assert!(matches!(clean, Err(StoreError::Conflict(_))));
        assert!(next.is_ok());
        assert_eq!(
            tenant_ids(&db),
            vec!["first".to_string(), "next".to_string()]
        );
    }

    /// A database written by version 1 (records kept twice, entries WITHOUT ROWID) reads the
    /// same after migrating to version 2.
    #[test]
    fn version_1_data_survives_the_migration() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let record = serde_json::json!({"decision": "block", "target": ".env", "reason": "secret"});
        let entry = serde_json::json!({
            "body": {"decision_id": "d1", "record": record},
            "format": "cavra-log-entry/v1", "index": 0, "kind": "decision",
            "tenant": "acme", "time": "2026-11-26T06:00:00.000Z",
        });
        conn.execute(
            "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ('acme', 0, 'decision', 'd1', 's1', '2026-11-26T06:00:00.000Z', ?1, x'00')",
            params![serde_json::to_vec(&entry).unwrap()],
        )
        .unwrap();
        conn.execute(
            &format!("INSERT INTO decisions (tenant, {DECISION_COLUMNS}, record) VALUES ('acme', 'd1', 's1', 'a', 'wrk', 'read_file', 'block', 'secrets.read', '2026-11-26T06:00:00.000Z', 'sha256:f', 'sha256:p', 0, ?1)"),
            params![record.to_string()],
        )
        .unwrap();

        migrate(&mut conn).unwrap();

        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let d = conn
            .query_row(
                &format!("{DECISION_SELECT} WHERE d.tenant = 'acme' AND d.decision_id = 'd1'"),
                [],
                decision_row,
            )
            .map_err(StoreError::from)
            .and_then(finish_decision)
            .unwrap();
        assert_eq!(d.record, record);
        assert_eq!(d.log_index, Some(0));
        let rowid_table: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'log_entries' AND sql NOT LIKE '%WITHOUT ROWID%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rowid_table, 1);
    }
}
