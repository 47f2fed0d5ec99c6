//! The API service's store: tenants, API tokens, decisions, approvals, the registry, policy
//! packs and one evidence log per tenant, behind one set of traits ([`backend`]: [`Directory`],
//! [`Decisions`], [`Approvals`], [`Configuration`], [`Evidence`], [`TenantStore`]) that both
//! backends implement, and [`Db`], which picks one by URL:
//!
//! - **SQLite** (`sqlite://PATH`), the embedded default: WAL, `synchronous=FULL`, one writer
//!   thread that commits whatever writes are waiting in one transaction (group commit: one
//!   fsync for many decisions, each still acknowledged only after it is durable), and a pool
//!   of readers.
//! - **PostgreSQL** (`postgres://…`), for several service replicas on one database: each write
//!   is one transaction; appends to a tenant's log are serialised by a row lock on the log's
//!   head, approval transitions are compare-and-set, and migrations take an advisory lock, so
//!   replicas behave as one service.
//!
//! Every query takes the tenant: nothing here can return another tenant's rows.
//!
//! PostgreSQL URLs are libpq-style (`postgres://user@host:5432/db`, `postgresql://…`); the
//! tables go in the first schema of the connection's `search_path`, so one database can hold
//! several stores (`?options=-c%20search_path%3Dcavra`). Connections are made without TLS:
//! the database is expected on a trusted network. The backend test suite
//! (`tests/backend.rs`) runs every scenario on both backends, the PostgreSQL half against the
//! server named by `CAVRA_TEST_POSTGRES_URL`, each test in a schema of its own.

pub mod backend;
mod db;
pub mod decision_list;
pub mod entitlement;
pub mod entry_bytes;
pub mod inventory;
pub mod inventory_source;
pub mod log;
pub mod outbox;
pub mod postgres;
mod postgres_outbox;
pub mod posture_days;
mod redacting;
mod rules;
pub mod sqlite;
mod sqlite_outbox;
pub mod subtrees;
pub mod types;

use std::sync::Arc;

pub use backend::{Approvals, Configuration, Decisions, Directory, Evidence, Outbox, TenantStore};
pub use cavra_store::LogSigner;
pub use db::Db;
pub use decision_list::DecisionIndex;
pub use entry_bytes::EntryRange;
pub use inventory::{Inventory, InventoryItem, InventoryKind, InventoryVersion, NewInventory};
pub use posture_days::{BulkEntry, PostureDay};
pub use types::*;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one this store speaks.
    #[error("unsupported database URL `{0}` (expected sqlite://PATH or postgres://…)")]
    Url(String),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(String),
    /// Stored data does not read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A file of the store could not be created, inspected or made private (the operating
    /// system refused: permissions, a read-only file system, a path through a file). Not
    /// [`StoreError::Corrupt`]: nothing stored is wrong, the file system said no.
    #[error("{}: cannot {action}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What was attempted (`create it`, `read its permissions`, `make it private (mode 644)`).
        action: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A write conflicted with another (a grant already used, a duplicate id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused a value as data it cannot hold (PostgreSQL's class 22, "data
    /// exception": a NUL in text, an invalid escape in JSON, a number out of range). The
    /// request's fault, not the database's; the message is for the log only.
    #[error("the database refused a value: {0}")]
    InvalidInput(String),
    /// The writer stopped.
    #[error("the store is shut down")]
    Closed,
    /// JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a duplicate key is reported as, on both backends (the database's own text names its
/// tables and constraints, which clients have no use for).
const DUPLICATE: &str = "a record with that id already exists";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // A duplicate key is a conflict with an earlier write (the same decision id twice),
        // reported the same way on both backends.
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

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Postgres(e.to_string())
    }
}

/// Results of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The schema version this build expects (the number of migrations).
pub const SCHEMA_VERSION: i64 = 8;

/// How the store signs checkpoints and redacts entries.
#[derive(Clone)]
pub struct LogSettings {
    /// Signs tenant log checkpoints.
    pub signer: Arc<LogSigner>,
    /// Applied to every entry before it is hashed.
    pub redactor: Arc<cavra_redact::Redactor>,
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// The schema version found.
    pub schema_version: i64,
    /// Whether it is the one this build expects.
    pub migrations_current: bool,
}
