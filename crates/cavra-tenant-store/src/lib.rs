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

pub use backend::{
    Approvals, Configuration, Decisions, Directory, Evidence, Outbox, TenantBook, TenantStore,
};
pub use cavra_store::LogSigner;
pub use db::Db;
pub use decision_list::DecisionIndex;
pub use entry_bytes::EntryRange;
pub use inventory::{Inventory, InventoryItem, InventoryKind, InventoryVersion, NewInventory};
pub use posture_days::{BulkEntry, PostureDay};
pub use types::*;

/// The stores' one error ([`cavra_store::StoreError`]: the drivers' conversions, a duplicate
/// key as [`StoreError::Conflict`] on both backends) and its result.
pub use cavra_store::{Result, StoreError};

/// The schema version this build expects (the number of migrations).
pub const SCHEMA_VERSION: i64 = 10;

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
