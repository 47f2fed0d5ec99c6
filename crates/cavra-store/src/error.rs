//! The one error of both stores: the repository's (`Store`) and the service's tenant store
//! (`cavra-tenant-store`, which re-exports it). A variant that only one store raises says so;
//! the drivers' conversions (`rusqlite`, and PostgreSQL's behind the `postgres` feature, which
//! the tenant store turns on) report a duplicate key the same way on every backend.

use crate::ApprovalState;
use std::path::PathBuf;

/// Everything that can go wrong with a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store database error: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed (the service's store).
    #[error("postgres: {0}")]
    Postgres(String),
    /// The database URL is not one the service's store speaks.
    #[error("unsupported database URL `{0}` (expected sqlite://PATH or postgres://…)")]
    Url(String),
    /// A file or folder of the store could not be created, inspected, read or written (the
    /// operating system refused: permissions, a read-only file system, a path through a
    /// file, nothing there). Not [`StoreError::Corrupt`]: nothing stored is wrong, the file
    /// system said no.
    #[error("{}: cannot {action}: {source}", path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What was attempted (`create the store folder`, `make it private (mode 644)`).
        action: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be (de)serialised.
    #[error("store record is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A time could not be formatted or parsed.
    #[error("store timestamp: {0}")]
    Time(String),
    /// Stored data does not read back (a hash, a checkpoint, the log's state, a word the
    /// engine does not know).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer cavra (the repository's store).
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
    /// but a read-only open does not (the repository's store).
    #[error(
        "the store schema is version {found}, older than this cavra's ({known}); the next recorded decision upgrades it"
    )]
    Outdated {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// No approval with this id (the repository's store; the service's answers `None`).
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
    /// A required text (reason, actor) was empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A write conflicted with another (a grant already used, a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused a value as data it cannot hold (PostgreSQL's class 22, "data
    /// exception": a NUL in text, an invalid escape in JSON, a number out of range). The
    /// request's fault, not the database's; the message is for the log only.
    #[error("the database refused a value: {0}")]
    InvalidInput(String),
    /// The writer stopped (the service's SQLite store).
    #[error("the store is shut down")]
    Closed,
    /// A store call made without an executor did not answer at once (the repository's store:
    /// its [`crate::DecisionBook`] futures are ready when returned, so this is a broken
    /// contract in code, never a state of the data).
    #[error("the store did not answer at once ({0})")]
    Waiting(&'static str),
}

/// Results of the stores.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What a duplicate key is reported as, on every backend (the database's own text names its
/// tables and constraints, which clients have no use for).
const DUPLICATE: &str = "a record with that id already exists";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // A duplicate key is a conflict with an earlier write (the same decision id twice),
        // reported the same way on every backend.
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            )
        {
            return StoreError::Conflict(DUPLICATE.into());
        }
        StoreError::Sqlite(e)
    }
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The source chain carries the server's message; the top level alone is often just
        // "db error".
        let mut msg = e.to_string();
        if let Some(db) = e.as_db_error() {
            msg = format!("{}: {}", db.code().code(), db.message());
            if *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
                return StoreError::Conflict(DUPLICATE.into());
            }
            if db.code().code().starts_with("22") {
                return StoreError::InvalidInput(msg);
            }
        }
        StoreError::Postgres(msg)
    }
}

#[cfg(feature = "postgres")]
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Postgres(e.to_string())
    }
}

impl StoreError {
    /// The operating system refused `action` on `path`.
    pub fn file(
        path: impl Into<PathBuf>,
        action: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let (path, action) = (path.into(), action.into());
        move |source| StoreError::File {
            path,
            action,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_is_a_conflict_and_other_sqlite_errors_stay_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');")
            .expect("create");
        let dup = conn
            .execute("INSERT INTO t VALUES ('a')", [])
            .map_err(StoreError::from);
        assert!(
            matches!(dup, Err(StoreError::Conflict(ref m)) if m == DUPLICATE),
            "{dup:?}"
        );
        let other = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .map_err(StoreError::from);
        assert!(matches!(other, Err(StoreError::Sqlite(_))), "{other:?}");
    }
}
