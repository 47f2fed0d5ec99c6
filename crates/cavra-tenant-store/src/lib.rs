//! The API service's store: tenants, API tokens, decisions, approvals, the registry, policy
//! packs and one evidence log per tenant, behind one interface ([`Db`]) over two backends:
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

pub mod log;
pub mod outbox;
pub mod postgres;
mod postgres_outbox;
mod rules;
pub mod sqlite;
mod sqlite_outbox;
pub mod subtrees;
pub mod types;

use std::sync::Arc;

pub use cavra_store::LogSigner;
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
pub const SCHEMA_VERSION: i64 = 4;

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

/// The store: SQLite or PostgreSQL.
#[derive(Clone)]
pub enum Db {
    /// The embedded default.
    Sqlite(Arc<sqlite::SqliteDb>),
    /// Several replicas on one database.
    Postgres(Arc<postgres::PgDb>),
}

macro_rules! dispatch {
    ($self:ident . $m:ident ( $($a:expr),* )) => {
        match $self {
            Db::Sqlite(db) => db.$m($($a),*).await,
            Db::Postgres(db) => db.$m($($a),*).await,
        }
    };
}

impl Db {
    /// Opens the database at `url` and runs the migrations it lacks.
    pub async fn open(url: &str, settings: LogSettings) -> Result<Db> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let db = sqlite::SqliteDb::open(std::path::Path::new(path), settings).await?;
            Ok(Db::Sqlite(Arc::new(db)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let db = postgres::PgDb::open(url, settings).await?;
            Ok(Db::Postgres(Arc::new(db)))
        } else {
            Err(StoreError::Url(url.to_string()))
        }
    }

    /// Which backend (`sqlite` or `postgres`), for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers and its schema is current.
    pub async fn readiness(&self) -> Result<Readiness> {
        dispatch!(self.readiness())
    }

    /// Creates a tenant; false if it exists.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<bool> {
        dispatch!(self.create_tenant(tenant))
    }

    /// Every tenant.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        dispatch!(self.tenants())
    }

    /// One tenant.
    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        dispatch!(self.tenant(id))
    }

    /// Stores a new token record.
    pub async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        dispatch!(self.insert_token(token))
    }

    /// A token by its public id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        dispatch!(self.token(id))
    }

    /// Tokens of a tenant (all tenants: None).
    pub async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        dispatch!(self.tokens(tenant))
    }

    /// Revokes a token (of `tenant`, when given); false if there is none to revoke.
    pub async fn revoke_token(&self, tenant: Option<&str>, id: &str, at: &str) -> Result<bool> {
        dispatch!(self.revoke_token(tenant, id, at))
    }

    /// Records a decision, the approval it asks for or the grant it uses, and their
    /// evidence entries, in one transaction. The record is redacted with the store's rules.
    pub async fn record_decision(&self, tenant: &str, write: DecisionWrite) -> Result<Recorded> {
        dispatch!(self.record_decision(tenant, write, None))
    }

    /// [`Db::record_decision`], redacting the record with `rules` (a policy pack's) as well
    /// as the store's own: in one pass when `rules` already hold every rule of the store's,
    /// else one pass with each. [`Recorded::record`] is the record as stored.
    pub async fn record_decision_redacted(
        &self,
        tenant: &str,
        write: DecisionWrite,
        rules: &cavra_redact::Redactor,
    ) -> Result<Recorded> {
        dispatch!(self.record_decision(tenant, write, Some(rules)))
    }

    /// Decisions of a tenant, newest first.
    pub async fn decisions(
        &self,
        tenant: &str,
        filter: &DecisionFilter,
    ) -> Result<Vec<StoredDecision>> {
        dispatch!(self.decisions(tenant, filter))
    }

    /// One decision of a tenant.
    pub async fn decision(&self, tenant: &str, id: &str) -> Result<Option<StoredDecision>> {
        dispatch!(self.decision(tenant, id))
    }

    /// Sessions of a tenant, most recent first.
    pub async fn sessions(&self, tenant: &str, limit: usize) -> Result<Vec<SessionSummary>> {
        dispatch!(self.sessions(tenant, limit))
    }

    /// One session of a tenant.
    pub async fn session(&self, tenant: &str, id: &str) -> Result<Option<SessionSummary>> {
        dispatch!(self.session(tenant, id))
    }

    /// Approvals of a tenant (in one state), newest first.
    pub async fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        dispatch!(self.approvals(tenant, state, limit))
    }

    /// One approval of a tenant.
    pub async fn approval(&self, tenant: &str, id: &str) -> Result<Option<Approval>> {
        dispatch!(self.approval(tenant, id))
    }

    /// The approval that bears on a retry of the action `fingerprint` by `requested_by` at
    /// `now`: a usable grant (approved or break-glass, unexpired), else an open request
    /// (pending or denied, unexpired), newest first.
    pub async fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: &str,
    ) -> Result<Option<Approval>> {
        dispatch!(self.approval_for(tenant, fingerprint, requested_by, now))
    }

    /// Moves an approval to a new state if it is still in one of `t.from`, recording the
    /// change as an evidence entry in the same transaction.
    pub async fn transition(
        &self,
        tenant: &str,
        id: &str,
        t: Transition,
    ) -> Result<TransitionOutcome> {
        dispatch!(self.transition(tenant, id, t))
    }

    /// Expires every pending or granted approval past its expiry (all tenants); returns
    /// (tenant, approval id) of each.
    pub async fn expire_due(&self, now: &str) -> Result<Vec<(String, String)>> {
        dispatch!(self.expire_due(now))
    }

    /// Pending approvals by tenant and group.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        dispatch!(self.queue_depths())
    }

    /// Creates or replaces a registry record.
    pub async fn put_registry(&self, tenant: &str, record: &RegistryRecord) -> Result<()> {
        dispatch!(self.put_registry(tenant, record))
    }

    /// Registry records of one kind.
    pub async fn registry(&self, tenant: &str, kind: RegistryKind) -> Result<Vec<RegistryRecord>> {
        dispatch!(self.registry(tenant, kind))
    }

    /// One registry record.
    pub async fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        dispatch!(self.registry_entry(tenant, kind, name))
    }

    /// Deletes a registry record; false if there was none.
    pub async fn delete_registry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<bool> {
        dispatch!(self.delete_registry(tenant, kind, name))
    }

    /// Stores an uploaded pack (idempotent by digest).
    pub async fn put_pack(&self, tenant: &str, pack: &StoredPack) -> Result<()> {
        dispatch!(self.put_pack(tenant, pack))
    }

    /// The packs of a tenant.
    pub async fn packs(&self, tenant: &str) -> Result<Vec<StoredPack>> {
        dispatch!(self.packs(tenant))
    }

    /// One pack of a tenant.
    pub async fn pack(&self, tenant: &str, digest: &str) -> Result<Option<StoredPack>> {
        dispatch!(self.pack(tenant, digest))
    }

    /// Assigns a pack to the tenant (`scope` empty) or one of its repositories.
    pub async fn assign(&self, tenant: &str, assignment: &Assignment) -> Result<()> {
        dispatch!(self.assign(tenant, assignment))
    }

    /// The assignments of a tenant.
    pub async fn assignments(&self, tenant: &str) -> Result<Vec<Assignment>> {
        dispatch!(self.assignments(tenant))
    }

    /// Evidence entries of a tenant, oldest first.
    pub async fn entries(&self, tenant: &str, query: &EntryQuery) -> Result<Vec<EntryRecord>> {
        dispatch!(self.entries(tenant, query))
    }

    /// How many entries `query` selects (its `after_index` included, its `limit` ignored),
    /// counting no further than `cap + 1`: enough to refuse a selection over `cap` without
    /// reading it.
    pub async fn count_entries(&self, tenant: &str, query: &EntryQuery, cap: u64) -> Result<u64> {
        dispatch!(self.count_entries(tenant, query, cap))
    }

    /// The head of a tenant's log (None: the tenant has no entries yet).
    pub async fn log_head(&self, tenant: &str) -> Result<Option<LogHead>> {
        dispatch!(self.log_head(tenant))
    }

    /// The first `size` leaf hashes of a tenant's log.
    pub async fn leaf_hashes(&self, tenant: &str, size: u64) -> Result<Vec<[u8; 32]>> {
        dispatch!(self.leaf_range(tenant, 0, size))
    }

    /// The leaf hashes of entries `start..end` of a tenant's log, as far as it reaches (a gap
    /// inside is an error).
    pub async fn leaf_range(&self, tenant: &str, start: u64, end: u64) -> Result<Vec<[u8; 32]>> {
        dispatch!(self.leaf_range(tenant, start, end))
    }

    /// Signs a checkpoint of a tenant's whole log now (None: the tenant has no entries).
    pub async fn checkpoint_now(&self, tenant: &str, at: &str) -> Result<Option<CheckpointRecord>> {
        dispatch!(self.checkpoint_now(tenant, at))
    }

    /// The newest checkpoint of a tenant's log.
    pub async fn latest_checkpoint(&self, tenant: &str) -> Result<Option<CheckpointRecord>> {
        dispatch!(self.latest_checkpoint(tenant))
    }
}
