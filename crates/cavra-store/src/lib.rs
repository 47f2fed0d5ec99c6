//! The local cavra store: `<repo>/.cavra/cavra.db`.
//!
//! SQLite in WAL mode with `synchronous=FULL`: when [`Store::record_decision`] returns, the
//! record is in the write-ahead log *and* fsynced, so a decision the hook has acknowledged
//! survives `kill -9` and power loss. Migrations are versioned through `PRAGMA user_version`;
//! concurrent hook processes wait on each other through the busy timeout.
//!
//! The clock is always passed in (`now`): nothing here reads the time, so tests control expiry.
//!
//! Approval semantics: an approval is bound to an action fingerprint
//! ([`cavra_engine::Request::fingerprint`] upstream). Once approved by someone other than the
//! requester, it unlocks exactly one request with that fingerprint before `expires_at`;
//! [`Store::consume_approval`] marks it consumed in the same immediate transaction that finds
//! it, so two racing hooks cannot both use it. Denied and expired approvals unlock nothing.

mod log;
mod prompt;
mod read_only;
mod registry;

pub use log::{
    ENTRY_FORMAT, EntryFilter, EntryKind, LogEntry, LogReport, LogSigner, SignerLoader,
    StoredCheckpoint, log_key_id,
};

use cavra_redact::Redactor;
use log::Appender;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The folder, under the repository root, that holds the policy and the store.
pub const STORE_DIR: &str = ".cavra";
/// The WAL size above which [`Store::maintain`] checkpoints and truncates it.
pub const WAL_LIMIT_BYTES: u64 = 512 * 1024;

/// What cavra keeps under [`STORE_DIR`] for this machine only, as `.gitignore` patterns: the
/// decision store (evidence for this machine, not source), the private key that signs its
/// evidence log, and evidence bundles written under `.cavra/evidence/` (CI artifacts).
pub const LOCAL_STATE: &[&str] = &[
    "cavra.db",
    "cavra.db-wal",
    "cavra.db-shm",
    "cavra.db-journal",
    "keys/",
    "evidence/",
];

/// The `.gitignore` cavra writes in [`STORE_DIR`]: [`LOCAL_STATE`], with why.
pub const GITIGNORE: &str = "# cavra's local state: the decision store, the key that signs its log, evidence bundles\ncavra.db\ncavra.db-wal\ncavra.db-shm\ncavra.db-journal\nkeys/\nevidence/\n";

/// Whether a repository-relative path (`/`-separated) is cavra's own local state or the
/// `.gitignore` that keeps it out of git: never source, so the CI gate does not judge it.
pub fn is_local_state(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix(STORE_DIR)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    rest == ".gitignore"
        || LOCAL_STATE
            .iter()
            .any(|entry| match entry.strip_suffix('/') {
                Some(dir) => rest.strip_prefix(dir).is_some_and(|r| r.starts_with('/')),
                None => rest == *entry,
            })
}

/// The `.gitignore` of [`STORE_DIR`] as it should be: [`GITIGNORE`] when there is none, else
/// `existing` with the missing [`LOCAL_STATE`] patterns appended (kept as is when complete).
pub fn completed_gitignore(existing: Option<&str>) -> String {
    let Some(text) = existing else {
        return GITIGNORE.to_string();
    };
    let mut updated = text.to_string();
    for p in LOCAL_STATE {
        if !text.lines().any(|l| l.trim() == *p) {
            if !updated.is_empty() && !updated.ends_with('\n') {
                updated.push('\n');
            }
            updated.push_str(p);
            updated.push('\n');
        }
    }
    updated
}

/// Writes `<dir>/.gitignore` (dir is a repository's [`STORE_DIR`]) so that [`LOCAL_STATE`]
/// is never committed, completing one written by an older cavra or by hand (see
/// [`completed_gitignore`]). Returns whether the file changed.
pub fn ensure_gitignore(dir: &Path) -> Result<bool> {
    let ignore = dir.join(".gitignore");
    let io = |source| StoreError::Io {
        path: ignore.clone(),
        source,
    };
    let existing = match std::fs::read_to_string(&ignore) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let wanted = completed_gitignore(existing.as_deref());
    if existing.as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    std::fs::write(&ignore, wanted).map_err(io)?;
    Ok(true)
}

/// The database file name inside [`STORE_DIR`].
pub const DB_FILE: &str = "cavra.db";

/// The store path for a repository root.
pub fn store_path(repo_root: &Path) -> PathBuf {
    repo_root.join(STORE_DIR).join(DB_FILE)
}

pub use registry::ToolPin;

/// Everything that can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store folder could not be created or written.
    #[error("store folder {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be (de)serialised.
    #[error("store record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A time could not be formatted or parsed.
    #[error("store timestamp: {0}")]
    Time(String),
    /// The database was written by a newer cavra.
    #[error(
        "the store schema is version {found}, newer than this cavra understands ({known}); upgrade cavra"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// The database predates this cavra's schema; the next write (any hook call) migrates it,
    /// but a read-only open does not.
    #[error(
        "the store schema is version {found}, older than this cavra's ({known}); the next recorded decision upgrades it"
    )]
    Outdated {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// No approval with this id.
    #[error("no approval with id `{0}`")]
    NoSuchApproval(String),
    /// The requester tried to approve their own request.
    #[error(
        "`{actor}` requested approval `{id}` and cannot approve it; another member of the approver group must"
    )]
    SelfApproval {
        /// The approval.
        id: String,
        /// The actor.
        actor: String,
    },
    /// The approval is not in a state that allows this.
    #[error("approval `{id}` is {state}; only a pending approval can be {wanted}")]
    WrongState {
        /// The approval.
        id: String,
        /// Its state.
        state: ApprovalState,
        /// What was attempted.
        wanted: &'static str,
    },
    /// The approval expired before it was decided.
    #[error("approval `{0}` has expired; the agent must ask again")]
    Expired(String),
    /// The approval is answered by the person at the agent's prompt, not by an approver.
    #[error(
        "approval `{0}` was asked in the agent's own permission prompt; the person there answers it (the agent's tool result closes it)"
    )]
    AnsweredAtPrompt(String),
    /// Stored evidence is damaged (a hash, a checkpoint or the log state cannot be read).
    #[error("damaged evidence log: {0}")]
    Corrupt(String),
    /// A required text (reason, actor) was empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Formats a time as fixed-width RFC 3339 UTC with milliseconds, so that text order is time
/// order (queries compare these strings).
pub fn format_time(t: OffsetDateTime) -> Result<String> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).map_err(|e| StoreError::Time(e.to_string()))
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Time(format!("`{s}`: {e}")))
}

/// The state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved; unlocks one matching request before it expires.
    Approved,
    /// Denied; unlocks nothing.
    Denied,
    /// Past `expires_at` before it was used; unlocks nothing.
    Expired,
    /// Approved under break glass (recorded by other entry points).
    BreakGlass,
    /// Used once; unlocks nothing more.
    Consumed,
}

impl ApprovalState {
    /// Every state.
    pub const ALL: [ApprovalState; 6] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Denied,
        ApprovalState::Expired,
        ApprovalState::BreakGlass,
        ApprovalState::Consumed,
    ];

    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::BreakGlass => "break_glass",
            ApprovalState::Consumed => "consumed",
        }
    }
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ApprovalState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown approval state `{s}` (expected one of: {})",
                    ApprovalState::ALL.map(|x| x.as_str()).join(", ")
                )
            })
    }
}

/// Who answers an approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalRoute {
    /// A member of the approver group, with `cavra approval approve|deny`.
    #[default]
    Approver,
    /// The person at the agent's own permission prompt (the hook's ask mode): the agent's
    /// tool result closes it as approved, and no result before expiry closes it as declined
    /// or abandoned. It records the question and its answer; it unlocks nothing.
    AgentPrompt,
}

impl ApprovalRoute {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalRoute::Approver => "approver",
            ApprovalRoute::AgentPrompt => "agent_prompt",
        }
    }
}

impl FromStr for ApprovalRoute {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [ApprovalRoute::Approver, ApprovalRoute::AgentPrompt]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown approval route `{s}`"))
    }
}

/// One entry of an approval's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: String,
    /// The state entered.
    pub state: ApprovalState,
    /// Who (or `cavra` for automatic transitions).
    pub actor: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id (`apr_…`).
    pub id: String,
    /// The decision that asked for it.
    pub decision_id: String,
    /// The action fingerprint it unlocks.
    pub fingerprint: String,
    /// The agent session that asked.
    pub session_id: Option<String>,
    /// Who may approve.
    pub approver_group: String,
    /// Who asked (the agent and session).
    pub requested_by: String,
    /// When it was asked for.
    pub requested_at: String,
    /// After this it unlocks nothing.
    pub expires_at: String,
    /// Its state.
    pub state: ApprovalState,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// What is asked for, redacted, for the approver (`execute_command: make deploy`).
    pub summary: String,
    /// Every transition.
    pub history: Vec<HistoryEntry>,
    /// Who answers it.
    #[serde(default)]
    pub route: ApprovalRoute,
    /// The agent's id of the tool call asked about (agent-prompt approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
}

/// A decision to record. `record` is the full decision record, already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Agent (`claude-code`).
    pub agent: Option<String>,
    /// The agent's working folder.
    pub cwd: Option<String>,
    /// The agent's tool call id.
    pub tool_use_id: Option<String>,
    /// Action type word.
    pub action_type: String,
    /// Effective decision word.
    pub decision: String,
    /// Deciding rule.
    pub rule_id: String,
    /// The record's timestamp (RFC 3339).
    pub timestamp: String,
    /// Action fingerprint.
    pub fingerprint: String,
    /// The full (redacted) decision record.
    pub record: Value,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredDecision {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Tool call id.
    pub tool_use_id: Option<String>,
    /// Action type.
    pub action_type: String,
    /// Effective decision.
    pub decision: String,
    /// Deciding rule.
    pub rule_id: String,
    /// Timestamp.
    pub timestamp: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// The full (redacted) record.
    pub record: Value,
}

/// A session's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Agent.
    pub agent: Option<String>,
    /// First decision.
    pub first_seen: String,
    /// Latest decision.
    pub last_seen: String,
    /// Working folder.
    pub cwd: Option<String>,
    /// Decisions recorded.
    pub decisions: i64,
    /// Of which blocked.
    pub blocked: i64,
    /// Of which routed for approval.
    pub approvals: i64,
    /// Of which warned.
    pub warned: i64,
    /// Outcomes recorded (PostToolUse).
    pub outcomes: i64,
}

/// A tool call's outcome (PostToolUse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Tool call id.
    pub tool_use_id: Option<String>,
    /// The decision it followed, when known.
    pub decision_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Whether the tool reported success (None: not reported).
    pub success: Option<bool>,
    /// For writes: `sha256:…` of the file after the write.
    pub sha256: Option<String>,
    /// The file written, when any.
    pub path: Option<String>,
    /// When.
    pub timestamp: String,
}

/// Filters for [`Store::decisions`].
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this decision word.
    pub decision: Option<String>,
    /// At most this many (newest first); None: all.
    pub limit: Option<usize>,
}

/// What is needed to ask for an approval.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// The decision that asked.
    pub decision_id: String,
    /// The action fingerprint.
    pub fingerprint: String,
    /// The session.
    pub session_id: Option<String>,
    /// Who may approve.
    pub approver_group: String,
    /// Who asks.
    pub requested_by: String,
    /// What is asked for, redacted.
    pub summary: String,
    /// How long it stays valid.
    pub ttl: Duration,
}

const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        agent TEXT,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        cwd TEXT,
        decisions INTEGER NOT NULL DEFAULT 0,
        blocked INTEGER NOT NULL DEFAULT 0,
        approvals INTEGER NOT NULL DEFAULT 0,
        warned INTEGER NOT NULL DEFAULT 0,
        outcomes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        decision_id TEXT NOT NULL UNIQUE,
        session_id TEXT,
        tool_use_id TEXT,
        action_type TEXT NOT NULL,
        decision TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX decisions_session ON decisions(session_id, seq);
    CREATE INDEX decisions_tool_use ON decisions(tool_use_id);
    CREATE INDEX decisions_decision ON decisions(decision);
    CREATE INDEX decisions_fingerprint ON decisions(fingerprint);
    CREATE TABLE outcomes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tool_use_id TEXT,
        decision_id TEXT,
        session_id TEXT,
        success INTEGER,
        sha256 TEXT,
        path TEXT,
        timestamp TEXT NOT NULL
    );
    CREATE INDEX outcomes_tool_use ON outcomes(tool_use_id);
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
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
        history TEXT NOT NULL
    );
    CREATE INDEX approvals_fingerprint ON approvals(fingerprint, state);
    CREATE INDEX approvals_state ON approvals(state);
    "#,
    // 2: the evidence log, its checkpoints and the packs that decided.
    r#"
    CREATE TABLE log_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        log_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        frontier BLOB NOT NULL
    );
    INSERT INTO log_meta (id, log_id, size, frontier) VALUES (1, lower(hex(randomblob(16))), 0, x'');
    CREATE TABLE log_entries (
        idx INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref_id TEXT,
        session_id TEXT,
        timestamp TEXT NOT NULL,
        entry BLOB NOT NULL,
        leaf_hash BLOB NOT NULL
    );
    CREATE INDEX log_entries_session ON log_entries(session_id, idx);
    CREATE INDEX log_entries_time ON log_entries(timestamp, idx);
    CREATE INDEX log_entries_ref ON log_entries(ref_id);
    CREATE TABLE checkpoints (
        tree_size INTEGER PRIMARY KEY,
        root_hash TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        key_id TEXT NOT NULL,
        envelope TEXT NOT NULL
    );
    CREATE TABLE policies (
        digest TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        document TEXT NOT NULL,
        first_used TEXT NOT NULL
    );
    "#,
    // 3: the local MCP registry (one JSON entry per server) and the tool fingerprints the MCP
    // proxy has seen, for rug-pull detection.
    r#"
    CREATE TABLE mcp_servers (
        name TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT
    );
    CREATE TABLE mcp_tool_pins (
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (server, tool)
    );
    "#,
    // 4: who answers an approval (an approver, or the person at the agent's prompt), and the
    // tool call an agent-prompt approval asks about.
    r#"
    ALTER TABLE approvals ADD COLUMN route TEXT NOT NULL DEFAULT 'approver';
    ALTER TABLE approvals ADD COLUMN tool_use_id TEXT;
    CREATE INDEX approvals_tool_use ON approvals(tool_use_id, state);
    "#,
];

/// Borrows the store's log settings beside an open transaction (disjoint fields).
macro_rules! appender {
    ($store:ident) => {
        Appender {
            redactor: match &$store.redactor {
                Some(r) => r.as_ref(),
                None => Redactor::builtin(),
            },
            signer: &mut $store.signer_loader,
            checkpoint_every: $store.checkpoint_every,
        }
    };
}

fn approval_event(a: &Approval, state: ApprovalState, actor: &str, reason: Option<&str>) -> Value {
    let mut event = json!({
        "approval_id": a.id,
        "decision_id": a.decision_id,
        "fingerprint": a.fingerprint,
        "session_id": a.session_id,
        "approver_group": a.approver_group,
        "requested_by": a.requested_by,
        "expires_at": a.expires_at,
        "summary": a.summary,
        "state": state.as_str(),
        "actor": actor,
        "reason": reason,
    });
    // Approver-routed events keep the shape they have always had in the log.
    if a.route == ApprovalRoute::AgentPrompt {
        event["route"] = json!(a.route.as_str());
        event["tool_use_id"] = json!(a.tool_use_id);
    }
    event
}

/// The store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    redactor: Option<Arc<Redactor>>,
    signer_loader: Option<SignerLoader>,
    checkpoint_every: u64,
    /// Whether recording a decision also bounds the WAL ([`Store::maintain`]) before it
    /// returns; a long-lived caller turns this off and maintains between calls.
    maintain_on_commit: bool,
}

/// Checkpoints are signed every this many entries unless [`Store::checkpoint_every`] says
/// otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 64;

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store of a repository: `<repo_root>/.cavra/cavra.db`.
    /// Also writes `.cavra/.gitignore` so that the database is never committed.
    pub fn open_repo(repo_root: &Path) -> Result<Store> {
        let dir = repo_root.join(STORE_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        // Best effort: a read-only .gitignore must not stop a decision from being recorded.
        let _ = ensure_gitignore(&dir);
        Store::open(&dir.join(DB_FILE))
    }

    /// Opens (creating if needed) a store at a path.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        // Several hook processes may write at once (parallel tool calls): wait, don't fail.
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Time(format!(
                "could not switch the store to WAL (got `{mode}`)"
            )));
        }
        // FULL: every commit fsyncs the WAL, so an acknowledged decision is on disk.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each hook call is a short-lived process. Checkpointing on close would cost two more
        // fsyncs on every call; instead the WAL is kept across processes and truncated by
        // [`Store::maintain`] once it passes WAL_LIMIT_BYTES. SQLite's own auto-checkpoint is
        // off: across processes it never gets to restart the log (each new process rebuilds the
        // WAL index and sees every frame as not yet copied), so the file would only grow.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            redactor: None,
            signer_loader: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            maintain_on_commit: true,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Copies the WAL into the database and truncates it once it is larger than
    /// [`WAL_LIMIT_BYTES`], bounding what every later open reads. Cheap when there is nothing to
    /// do (one `stat`).
    pub fn maintain(&mut self) -> Result<bool> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size <= WAL_LIMIT_BYTES {
            return Ok(false);
        }
        // Busy (another process reading) is not an error: the next call tries again.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(true)
    }

    /// How durable a commit is when it returns. `true` (the default): the WAL is fsynced, so a
    /// record survives power loss. `false` (`synchronous=NORMAL`): a record survives the
    /// process being killed but may be lost with the machine's power; for callers that trade
    /// that for latency on a hot path, by explicit choice.
    pub fn set_power_loss_durable(&mut self, durable: bool) -> Result<()> {
        self.conn
            .pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        Ok(())
    }

    /// Makes every commit made so far durable against power loss, with one fsync: a small write
    /// committed with `synchronous=FULL` syncs the whole WAL, and with it the frames of earlier
    /// commits that were made without their own fsync. (A checkpoint would not do: it skips the
    /// sync when a reader in another process pins an old snapshot.)
    pub fn sync_durable(&mut self) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("UPDATE log_meta SET size = size WHERE id = 1", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Sets the redaction rules applied to every log entry (default: the built-in rules).
    pub fn set_redactor(&mut self, redactor: Arc<Redactor>) {
        self.redactor = Some(redactor);
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        if version == known {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read inside the write lock: another process may have migrated meanwhile.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`: `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows.join("\n"))
    }

    /// Records a decision and updates its session, durably, in one transaction.
    pub fn record_decision(&mut self, d: &NewDecision) -> Result<()> {
        self.record_decisions(std::slice::from_ref(d))
    }

    /// Records several decisions in one transaction (one fsync for all: group commit). Either
    /// all are recorded, or none.
    pub fn record_decisions(&mut self, decisions: &[NewDecision]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for d in decisions {
            let record = serde_json::to_string(&d.record)?;
            insert_decision(&tx, d, &record)?;
            appender!(self).append(
                &tx,
                EntryKind::Decision,
                Some(&d.decision_id),
                d.session_id.as_deref(),
                &d.timestamp,
                json!({
                    "decision_id": d.decision_id,
                    "session_id": d.session_id,
                    "agent": d.agent,
                    "cwd": d.cwd,
                    "tool_use_id": d.tool_use_id,
                    "action_type": d.action_type,
                    "decision": d.decision,
                    "rule_id": d.rule_id,
                    "fingerprint": d.fingerprint,
                    "record": d.record,
                }),
            )?;
        }
        tx.commit()?;
        // The records are durable here; keeping the log short is best effort.
        if self.maintain_on_commit {
            let _ = self.maintain();
        }
        Ok(())
    }

    /// Whether recording a decision also truncates a long WAL before returning (the default).
    /// The hook server turns it off and calls [`Store::maintain`] after it has answered, so
    /// that the checkpoint's fsyncs are not on an agent's wait.
    pub fn set_maintain_on_commit(&mut self, on: bool) {
        self.maintain_on_commit = on;
    }

    /// Records a tool call's outcome. The decision it followed is looked up by tool call id.
    pub fn record_outcome(&mut self, o: &Outcome) -> Result<Outcome> {
        self.record_outcome_with_result(o, None)
    }

    /// Records a tool call's outcome with what the tool returned (an MCP tool result). The
    /// result goes into the log entry only, under `result`, through the log's redaction like
    /// every entry.
    pub fn record_outcome_with_result(
        &mut self,
        o: &Outcome,
        result: Option<&Value>,
    ) -> Result<Outcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let decision_id = match (&o.decision_id, &o.tool_use_id) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(t)) => tx
                .query_row(
                    "SELECT decision_id FROM decisions WHERE tool_use_id = ?1 ORDER BY seq DESC LIMIT 1",
                    params![t],
                    |r| r.get::<_, String>(0),
                )
                .optional()?,
            (None, None) => None,
        };
        tx.execute(
            "INSERT INTO outcomes (tool_use_id, decision_id, session_id, success, sha256, path, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![o.tool_use_id, decision_id, o.session_id, o.success, o.sha256, o.path, o.timestamp],
        )?;
        let mut entry = json!({
            "tool_use_id": o.tool_use_id,
            "decision_id": decision_id,
            "session_id": o.session_id,
            "success": o.success,
            "sha256": o.sha256,
            "path": o.path,
        });
        if let Some(r) = result {
            entry["result"] = r.clone();
        }
        appender!(self).append(
            &tx,
            EntryKind::Outcome,
            decision_id.as_deref(),
            o.session_id.as_deref(),
            &o.timestamp,
            entry,
        )?;
        if let Some(sid) = &o.session_id {
            tx.execute("UPDATE sessions SET outcomes = outcomes + 1, last_seen = max(last_seen, ?2) WHERE id = ?1", params![sid, o.timestamp])?;
        }
        tx.commit()?;
        Ok(Outcome {
            decision_id,
            ..o.clone()
        })
    }

    /// Outcomes, oldest first, optionally of one session.
    pub fn outcomes(&self, session_id: Option<&str>) -> Result<Vec<Outcome>> {
        let mut stmt = self.conn.prepare(
            "SELECT tool_use_id, decision_id, session_id, success, sha256, path, timestamp FROM outcomes
             WHERE (?1 IS NULL OR session_id = ?1) ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(Outcome {
                tool_use_id: r.get(0)?,
                decision_id: r.get(1)?,
                session_id: r.get(2)?,
                success: r.get(3)?,
                sha256: r.get(4)?,
                path: r.get(5)?,
                timestamp: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Decisions, newest first.
    pub fn decisions(&self, filter: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        let mut stmt = self.conn.prepare(
            "SELECT decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record
             FROM decisions WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR decision = ?2)
             ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![filter.session_id, filter.decision, limit],
            decision_row,
        )?;
        rows.map(|r| r.map_err(StoreError::from).and_then(finish_decision))
            .collect()
    }

    /// One decision.
    pub fn decision(&self, decision_id: &str) -> Result<Option<StoredDecision>> {
        let row = self
            .conn
            .query_row(
                "SELECT decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record
                 FROM decisions WHERE decision_id = ?1",
                params![decision_id],
                decision_row,
            )
            .optional()?;
        row.map(finish_decision).transpose()
    }

    /// How many decisions are stored.
    pub fn decision_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM decisions", [], |r| r.get(0))?)
    }

    /// Sessions, most recently active first.
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned, outcomes FROM sessions ORDER BY last_seen DESC, id",
        )?;
        let rows = stmt.query_map([], session_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One session.
    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned, outcomes FROM sessions WHERE id = ?1",
                params![id],
                session_row,
            )
            .optional()?)
    }

    /// Asks for an approval (state pending), answered by a member of the approver group.
    pub fn create_approval(&mut self, a: &NewApproval, now: OffsetDateTime) -> Result<Approval> {
        self.insert_approval(a, ApprovalRoute::Approver, None, now)
    }

    fn insert_approval(
        &mut self,
        a: &NewApproval,
        route: ApprovalRoute,
        tool_use_id: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Approval> {
        let requested_at = format_time(now)?;
        let ttl = time::Duration::try_from(a.ttl).map_err(|e| StoreError::Time(e.to_string()))?;
        let expires_at = format_time(now + ttl)?;
        let id = format!("apr_{}", uuid::Uuid::now_v7().simple());
        let history = vec![HistoryEntry {
            at: requested_at.clone(),
            state: ApprovalState::Pending,
            actor: a.requested_by.clone(),
            reason: None,
        }];
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO approvals (id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, summary, history, route, tool_use_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12)",
            params![id, a.decision_id, a.fingerprint, a.session_id, a.approver_group, a.requested_by, requested_at, expires_at, a.summary, serde_json::to_string(&history)?, route.as_str(), tool_use_id],
        )?;
        let created = tx
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_row,
            )
            .optional()?
            .map(finish_approval)
            .transpose()?
            .ok_or_else(|| StoreError::NoSuchApproval(id.clone()))?;
        appender!(self).append(
            &tx,
            EntryKind::Approval,
            Some(&id),
            a.session_id.as_deref(),
            &requested_at,
            approval_event(&created, ApprovalState::Pending, &a.requested_by, None),
        )?;
        tx.commit()?;
        Ok(created)
    }

    /// One approval.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_row,
            )
            .optional()?;
        row.map(finish_approval).transpose()
    }

    /// Approvals, newest first, optionally in one state.
    pub fn approvals(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR state = ?1) ORDER BY requested_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(params![state.map(|s| s.as_str())], approval_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(finish_approval))
            .collect()
    }

    /// The latest approver-routed approval for a fingerprint that still says something: pending
    /// or denied and not expired. (Approved ones are used through [`Store::consume_approval`];
    /// agent-prompt approvals record a question and unlock nothing.)
    pub fn open_approval(
        &self,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Approval>> {
        let now = format_time(now)?;
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE fingerprint = ?1 AND state IN ('pending', 'denied', 'approved')
                     AND route = 'approver' AND expires_at > ?2 ORDER BY requested_at DESC, id DESC LIMIT 1"
                ),
                params![fingerprint, now],
                approval_row,
            )
            .optional()?;
        row.map(finish_approval).transpose()
    }

    /// Approves a pending approval. The requester cannot approve their own request; an expired
    /// approval cannot be approved (it is marked expired instead).
    pub fn approve(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Approval> {
        self.decide(id, actor, reason, now, ApprovalState::Approved)
    }

    /// Denies a pending (or approved, not yet used) approval.
    pub fn deny(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Approval> {
        self.decide(id, actor, reason, now, ApprovalState::Denied)
    }

    fn decide(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
        to: ApprovalState,
    ) -> Result<Approval> {
        let actor = actor.trim();
        let reason = reason.trim();
        if actor.is_empty() {
            return Err(StoreError::Empty("the actor"));
        }
        if reason.is_empty() {
            return Err(StoreError::Empty("the reason"));
        }
        let now_s = format_time(now)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = tx
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchApproval(id.to_string()))?;
        let mut current = finish_approval(current)?;
        if current.route == ApprovalRoute::AgentPrompt {
            return Err(StoreError::AnsweredAtPrompt(id.to_string()));
        }
        let wanted = if to == ApprovalState::Approved {
            "approved"
        } else {
            "denied"
        };
        let allowed = match to {
            ApprovalState::Approved => current.state == ApprovalState::Pending,
            _ => matches!(
                current.state,
                ApprovalState::Pending | ApprovalState::Approved
            ),
        };
        if !allowed {
            return Err(StoreError::WrongState {
                id: id.to_string(),
                state: current.state,
                wanted,
            });
        }
        if current.expires_at <= now_s {
            push_history(
                &mut current,
                &now_s,
                ApprovalState::Expired,
                "cavra",
                Some("expired before it was decided"),
            );
            tx.execute(
                "UPDATE approvals SET state = 'expired', history = ?2 WHERE id = ?1",
                params![id, serde_json::to_string(&current.history)?],
            )?;
            appender!(self).append(
                &tx,
                EntryKind::Approval,
                Some(id),
                current.session_id.as_deref(),
                &now_s,
                approval_event(
                    &current,
                    ApprovalState::Expired,
                    "cavra",
                    Some("expired before it was decided"),
                ),
            )?;
            tx.commit()?;
            return Err(StoreError::Expired(id.to_string()));
        }
        if to == ApprovalState::Approved && actor == current.requested_by {
            return Err(StoreError::SelfApproval {
                id: id.to_string(),
                actor: actor.to_string(),
            });
        }
        push_history(&mut current, &now_s, to, actor, Some(reason));
        tx.execute(
            "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, reason = ?5, history = ?6 WHERE id = ?1",
            params![id, to.as_str(), actor, now_s, reason, serde_json::to_string(&current.history)?],
        )?;
        appender!(self).append(
            &tx,
            EntryKind::Approval,
            Some(id),
            current.session_id.as_deref(),
            &now_s,
            approval_event(&current, to, actor, Some(reason)),
        )?;
        tx.commit()?;
        self.approval(id)?
            .ok_or_else(|| StoreError::NoSuchApproval(id.to_string()))
    }

    /// Marks every pending or approved approval past its expiry as expired; returns their ids.
    pub fn expire(&mut self, now: OffsetDateTime) -> Result<Vec<String>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = expire_in(&tx, &format_time(now)?, &mut appender!(self))?;
        tx.commit()?;
        Ok(ids)
    }

    /// Uses an approved approval for this fingerprint, once: in one immediate transaction it
    /// expires overdue approvals, finds the oldest approved, unexpired one and marks it
    /// consumed. Returns it, or None when nothing unlocks the request.
    pub fn consume_approval(
        &mut self,
        fingerprint: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Approval>> {
        let now_s = format_time(now)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_in(&tx, &now_s, &mut appender!(self))?;
        let row = tx
            .query_row(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE fingerprint = ?1 AND state = 'approved' AND route = 'approver'
                     AND expires_at > ?2 ORDER BY decided_at, id LIMIT 1"
                ),
                params![fingerprint, now_s],
                approval_row,
            )
            .optional()?;
        let Some(row) = row else {
            tx.commit()?;
            return Ok(None);
        };
        let mut approval = finish_approval(row)?;
        push_history(
            &mut approval,
            &now_s,
            ApprovalState::Consumed,
            by,
            Some("used by the matching request"),
        );
        let changed = tx.execute(
            "UPDATE approvals SET state = 'consumed', history = ?2 WHERE id = ?1 AND state = 'approved'",
            params![approval.id, serde_json::to_string(&approval.history)?],
        )?;
        if changed == 1 {
            appender!(self).append(
                &tx,
                EntryKind::Approval,
                Some(&approval.id),
                approval.session_id.as_deref(),
                &now_s,
                approval_event(
                    &approval,
                    ApprovalState::Consumed,
                    by,
                    Some("used by the matching request"),
                ),
            )?;
        }
        tx.commit()?;
        if changed != 1 {
            return Ok(None);
        }
        approval.state = ApprovalState::Consumed;
        Ok(Some(approval))
    }
}

const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, history, route, tool_use_id";

/// An approval row with its state, history and route still as stored text.
type ApprovalRow = (Approval, String, String, String);

fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
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
            history: Vec::new(),
            route: ApprovalRoute::Approver,
            tool_use_id: r.get(15)?,
        },
        r.get(8)?,
        r.get(13)?,
        r.get(14)?,
    ))
}

fn finish_approval((mut a, state, history, route): ApprovalRow) -> Result<Approval> {
    a.state = state.parse().map_err(StoreError::Time)?;
    a.route = route.parse().map_err(StoreError::Time)?;
    a.history = serde_json::from_str(&history)?;
    Ok(a)
}

fn push_history(
    a: &mut Approval,
    at: &str,
    state: ApprovalState,
    actor: &str,
    reason: Option<&str>,
) {
    a.history.push(HistoryEntry {
        at: at.to_string(),
        state,
        actor: actor.to_string(),
        reason: reason.map(str::to_string),
    });
}

/// The decision row and its session's counters.
fn insert_decision(tx: &rusqlite::Transaction<'_>, d: &NewDecision, record: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO decisions (decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![d.decision_id, d.session_id, d.tool_use_id, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, record],
    )?;
    if let Some(sid) = &d.session_id {
        let blocked = i64::from(d.decision == "block");
        let approvals = i64::from(d.decision == "require_approval");
        let warned = i64::from(d.decision == "warn");
        tx.prepare_cached(
            "INSERT INTO sessions (id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned)
             VALUES (?1, ?2, ?3, ?3, ?4, 1, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET
                last_seen = max(last_seen, excluded.last_seen),
                agent = coalesce(sessions.agent, excluded.agent),
                cwd = coalesce(excluded.cwd, sessions.cwd),
                decisions = decisions + 1,
                blocked = blocked + excluded.blocked,
                approvals = approvals + excluded.approvals,
                warned = warned + excluded.warned",
        )?
        .execute(params![sid, d.agent, d.timestamp, d.cwd, blocked, approvals, warned])?;
    }
    Ok(())
}

fn expire_in(
    tx: &rusqlite::Transaction<'_>,
    now: &str,
    log: &mut Appender<'_>,
) -> Result<Vec<String>> {
    let overdue: Vec<ApprovalRow> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state IN ('pending', 'approved') AND expires_at <= ?1"
        ))?;
        stmt.query_map(params![now], approval_row)?
            .collect::<std::result::Result<_, _>>()?
    };
    let mut ids = Vec::new();
    for row in overdue {
        let mut a = finish_approval(row)?;
        let reason = prompt::expiry_reason(&a);
        push_history(&mut a, now, ApprovalState::Expired, "cavra", Some(reason));
        tx.execute(
            "UPDATE approvals SET state = 'expired', history = ?2 WHERE id = ?1",
            params![a.id, serde_json::to_string(&a.history)?],
        )?;
        log.append(
            tx,
            EntryKind::Approval,
            Some(&a.id),
            a.session_id.as_deref(),
            now,
            approval_event(&a, ApprovalState::Expired, "cavra", Some(reason)),
        )?;
        ids.push(a.id);
    }
    Ok(ids)
}

fn decision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredDecision, String)> {
    Ok((
        StoredDecision {
            decision_id: r.get(0)?,
            session_id: r.get(1)?,
            tool_use_id: r.get(2)?,
            action_type: r.get(3)?,
            decision: r.get(4)?,
            rule_id: r.get(5)?,
            timestamp: r.get(6)?,
            fingerprint: r.get(7)?,
            record: Value::Null,
        },
        r.get(8)?,
    ))
}

fn finish_decision((mut d, text): (StoredDecision, String)) -> Result<StoredDecision> {
    d.record = serde_json::from_str(&text)?;
    Ok(d)
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        agent: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        cwd: r.get(4)?,
        decisions: r.get(5)?,
        blocked: r.get(6)?,
        approvals: r.get(7)?,
        warned: r.get(8)?,
        outcomes: r.get(9)?,
    })
}

#[cfg(test)]
mod local_state_tests {
    use super::*;

    #[test]
    fn local_state_paths_are_recognised_and_nothing_else() {
        for p in [
            ".cavra/cavra.db",
            ".cavra/cavra.db-wal",
            ".cavra/keys/log.key",
            ".cavra/evidence/latest/manifest.json",
            ".cavra/.gitignore",
        ] {
            assert!(is_local_state(p), "{p}");
        }
        for p in [
            ".cavra/policy.yaml",
            ".cavra/policy.yaml.sig",
            ".cavra/trust-root.json",
            ".cavra/keys",
            ".cavra/evidence",
            ".cavra/cavra.db.bak",
            "src/.cavra/cavra.db",
            "cavra.db",
            ".cavra-other/cavra.db",
            ".cavra/keysx/a",
        ] {
            assert!(!is_local_state(p), "{p}");
        }
    }

    #[test]
    fn gitignore_is_written_then_completed_never_duplicated() {
        let dir = tempfile::tempdir().expect("tmp");
        let cavra = dir.path().join(STORE_DIR);
        assert!(ensure_gitignore(&cavra).expect("write"));
        assert!(!ensure_gitignore(&cavra).expect("again"));
        let ignore = cavra.join(".gitignore");
        std::fs::write(&ignore, "# mine\ncavra.db\nkeys/").expect("older");
        assert!(ensure_gitignore(&cavra).expect("complete"));
        let text = std::fs::read_to_string(&ignore).expect("read");
        assert!(text.starts_with("# mine\ncavra.db\nkeys/\n"), "{text}");
        for p in LOCAL_STATE {
            assert_eq!(text.lines().filter(|l| l == p).count(), 1, "{p}: {text}");
        }
    }
}
