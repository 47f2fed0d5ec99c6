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
//! requester, it unlocks exactly one request with that fingerprint before `expires_at`: the
//! decision that uses it marks it consumed in its own transaction ([`Store::record_call`],
//! [`ApprovalWrite::Use`]), by a compare-and-set on its state, so two racing hooks cannot both
//! use it (the second write is a conflict and writes nothing). Denied and expired approvals
//! unlock nothing.

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

mod approvals;
mod contract;
mod decisions;
mod error;
mod log;
mod model;
mod prompt;
mod read_only;
mod registry;
mod schema;
mod timestamp;

pub use log::{
    ENTRY_FORMAT, EntryFilter, EntryKind, LogEntry, LogReport, LogSigner, SignerLoader,
    StoredCheckpoint, log_key_id,
};

use approvals::*;
use cavra_redact::Redactor;
pub use contract::{ApprovalWrite, DecisionBook, Decisive, ToRecord, now_or_never};
pub use decisions::word;
use decisions::*;
pub use error::{Result, StoreError};
use log::{Appender, NewEntry};
pub use model::*;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use schema::MIGRATIONS;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
pub use timestamp::{TimeError, Timestamp};

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
    let io = |action: &'static str| StoreError::file(&ignore, action);
    let existing = match std::fs::read_to_string(&ignore) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("read it")(e)),
    };
    let wanted = completed_gitignore(existing.as_deref());
    if existing.as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(StoreError::file(dir, "create the store folder"))?;
    std::fs::write(&ignore, wanted).map_err(io("write it"))?;
    Ok(true)
}

/// The database file name inside [`STORE_DIR`].
pub const DB_FILE: &str = "cavra.db";

/// The store path for a repository root.
pub fn store_path(repo_root: &Path) -> PathBuf {
    repo_root.join(STORE_DIR).join(DB_FILE)
}

pub use registry::ToolPin;

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
        std::fs::create_dir_all(&dir).map_err(StoreError::file(&dir, "create the store folder"))?;
        // Best effort: a read-only .gitignore must not stop a decision from being recorded.
        let _ = ensure_gitignore(&dir);
        Store::open(&dir.join(DB_FILE))
    }

    /// Opens (creating if needed) a store at a path.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(StoreError::file(parent, "create the store folder"))?;
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
