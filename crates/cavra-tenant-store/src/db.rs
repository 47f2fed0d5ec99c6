//! [`Db`]: the backend chosen by the database URL, behind the store's traits.

use std::sync::Arc;

use crate::backend::*;
use crate::subtrees::{SubtreeHash, SubtreeRange};
use crate::types::*;
use crate::{LogSettings, Readiness, Result, StoreError, postgres, sqlite};

/// The store: SQLite or PostgreSQL, chosen by the URL it is opened with. It implements every
/// trait of [`crate::backend`] by passing each call to its backend; the traits are the
/// contract (each backend implements them, and `tests/backend.rs` runs every scenario on
/// both), this enum only picks one at run time. Why an enum:
///
/// - not a `dyn` object: the traits' async methods are not object-safe without boxing each
///   call's future (an allocation per store call on the decision path);
/// - not a type parameter on the service (`AppState<S: TenantStore>`, chosen once at start):
///   every handler, the console, the connectors' worker and the readiness gate would be
///   generic, compiled twice into the one binary (whose size the release holds to a bound),
///   for the saving of one predictable `match` per call. Code that needs only part of the
///   contract is generic over the traits already (`crate::TenantBook<S>`).
#[derive(Clone)]
pub enum Db {
    /// The embedded default.
    Sqlite(Arc<sqlite::SqliteDb>),
    /// Several replicas on one database.
    Postgres(Arc<postgres::PgDb>),
}

impl Db {
    /// Opens the database at `url` (`sqlite://PATH`, `postgres://…` or `postgresql://…`) and
    /// runs the migrations it lacks.
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
}

impl TenantStore for Db {
    fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(db) => db.backend(),
            Db::Postgres(db) => db.backend(),
        }
    }

    async fn readiness(&self) -> Result<Readiness> {
        match self {
            Db::Sqlite(db) => db.readiness().await,
            Db::Postgres(db) => db.readiness().await,
        }
    }
}

impl Directory for Db {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<bool> {
        match self {
            Db::Sqlite(db) => db.create_tenant(tenant).await,
            Db::Postgres(db) => db.create_tenant(tenant).await,
        }
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        match self {
            Db::Sqlite(db) => db.tenants().await,
            Db::Postgres(db) => db.tenants().await,
        }
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        match self {
            Db::Sqlite(db) => db.tenant(id).await,
            Db::Postgres(db) => db.tenant(id).await,
        }
    }

    async fn entitlement(&self, tenant: &str) -> Result<Option<crate::Entitlement>> {
        match self {
            Db::Sqlite(db) => db.entitlement(tenant).await,
            Db::Postgres(db) => db.entitlement(tenant).await,
        }
    }

    async fn set_entitlement(&self, tenant: &str, e: &crate::Entitlement) -> Result<bool> {
        match self {
            Db::Sqlite(db) => db.set_entitlement(tenant, e).await,
            Db::Postgres(db) => db.set_entitlement(tenant, e).await,
        }
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        match self {
            Db::Sqlite(db) => db.insert_token(token).await,
            Db::Postgres(db) => db.insert_token(token).await,
        }
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        match self {
            Db::Sqlite(db) => db.token(id).await,
            Db::Postgres(db) => db.token(id).await,
        }
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        match self {
            Db::Sqlite(db) => db.tokens(tenant).await,
            Db::Postgres(db) => db.tokens(tenant).await,
        }
    }

    async fn revoke_token(&self, tenant: Option<&str>, id: &str, at: Timestamp) -> Result<bool> {
        match self {
            Db::Sqlite(db) => db.revoke_token(tenant, id, at).await,
            Db::Postgres(db) => db.revoke_token(tenant, id, at).await,
        }
    }
}

impl Decisions for Db {
    async fn record_decision_with(
        &self,
        tenant: &str,
        write: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Recorded> {
        match self {
            Db::Sqlite(db) => db.record_decision_with(tenant, write, rules).await,
            Db::Postgres(db) => db.record_decision_with(tenant, write, rules).await,
        }
    }

    async fn record_decisions_with(
        &self,
        tenant: &str,
        writes: Vec<DecisionWrite>,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Vec<Recorded>> {
        match self {
            Db::Sqlite(db) => db.record_decisions_with(tenant, writes, rules).await,
            Db::Postgres(db) => db.record_decisions_with(tenant, writes, rules).await,
        }
    }

    async fn decisions(
        &self,
        tenant: &str,
        filter: &DecisionFilter,
    ) -> Result<Vec<StoredDecision>> {
        match self {
            Db::Sqlite(db) => db.decisions(tenant, filter).await,
            Db::Postgres(db) => db.decisions(tenant, filter).await,
        }
    }

    async fn decision(&self, tenant: &str, id: &str) -> Result<Option<StoredDecision>> {
        match self {
            Db::Sqlite(db) => db.decision(tenant, id).await,
            Db::Postgres(db) => db.decision(tenant, id).await,
        }
    }

    async fn sessions(&self, tenant: &str, limit: usize) -> Result<Vec<SessionSummary>> {
        match self {
            Db::Sqlite(db) => db.sessions(tenant, limit).await,
            Db::Postgres(db) => db.sessions(tenant, limit).await,
        }
    }

    async fn session(&self, tenant: &str, id: &str) -> Result<Option<SessionSummary>> {
        match self {
            Db::Sqlite(db) => db.session(tenant, id).await,
            Db::Postgres(db) => db.session(tenant, id).await,
        }
    }
}

impl Approvals for Db {
    async fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        match self {
            Db::Sqlite(db) => db.approvals(tenant, state, limit).await,
            Db::Postgres(db) => db.approvals(tenant, state, limit).await,
        }
    }

    async fn approval(&self, tenant: &str, id: &str) -> Result<Option<Approval>> {
        match self {
            Db::Sqlite(db) => db.approval(tenant, id).await,
            Db::Postgres(db) => db.approval(tenant, id).await,
        }
    }

    async fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>> {
        match self {
            Db::Sqlite(db) => {
                db.approval_for(tenant, fingerprint, requested_by, now)
                    .await
            }
            Db::Postgres(db) => {
                db.approval_for(tenant, fingerprint, requested_by, now)
                    .await
            }
        }
    }

    async fn transition(&self, tenant: &str, id: &str, t: Transition) -> Result<TransitionOutcome> {
        match self {
            Db::Sqlite(db) => db.transition(tenant, id, t).await,
            Db::Postgres(db) => db.transition(tenant, id, t).await,
        }
    }

    async fn expire_due(&self, now: Timestamp) -> Result<Vec<(String, String)>> {
        match self {
            Db::Sqlite(db) => db.expire_due(now).await,
            Db::Postgres(db) => db.expire_due(now).await,
        }
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        match self {
            Db::Sqlite(db) => db.queue_depths().await,
            Db::Postgres(db) => db.queue_depths().await,
        }
    }
}

impl Configuration for Db {
    async fn put_registry(&self, tenant: &str, record: &RegistryRecord) -> Result<()> {
        match self {
            Db::Sqlite(db) => db.put_registry(tenant, record).await,
            Db::Postgres(db) => db.put_registry(tenant, record).await,
        }
    }

    async fn registry(&self, tenant: &str, kind: RegistryKind) -> Result<Vec<RegistryRecord>> {
        match self {
            Db::Sqlite(db) => db.registry(tenant, kind).await,
            Db::Postgres(db) => db.registry(tenant, kind).await,
        }
    }

    async fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        match self {
            Db::Sqlite(db) => db.registry_entry(tenant, kind, name).await,
            Db::Postgres(db) => db.registry_entry(tenant, kind, name).await,
        }
    }

    async fn delete_registry(&self, tenant: &str, kind: RegistryKind, name: &str) -> Result<bool> {
        match self {
            Db::Sqlite(db) => db.delete_registry(tenant, kind, name).await,
            Db::Postgres(db) => db.delete_registry(tenant, kind, name).await,
        }
    }

    async fn put_pack(&self, tenant: &str, pack: &StoredPack) -> Result<()> {
        match self {
            Db::Sqlite(db) => db.put_pack(tenant, pack).await,
            Db::Postgres(db) => db.put_pack(tenant, pack).await,
        }
    }

    async fn packs(&self, tenant: &str) -> Result<Vec<StoredPack>> {
        match self {
            Db::Sqlite(db) => db.packs(tenant).await,
            Db::Postgres(db) => db.packs(tenant).await,
        }
    }

    async fn pack(&self, tenant: &str, digest: &str) -> Result<Option<StoredPack>> {
        match self {
            Db::Sqlite(db) => db.pack(tenant, digest).await,
            Db::Postgres(db) => db.pack(tenant, digest).await,
        }
    }

    async fn assign(&self, tenant: &str, assignment: &Assignment) -> Result<()> {
        match self {
            Db::Sqlite(db) => db.assign(tenant, assignment).await,
            Db::Postgres(db) => db.assign(tenant, assignment).await,
        }
    }

    async fn assignments(&self, tenant: &str) -> Result<Vec<Assignment>> {
        match self {
            Db::Sqlite(db) => db.assignments(tenant).await,
            Db::Postgres(db) => db.assignments(tenant).await,
        }
    }
}

impl Evidence for Db {
    async fn entries(&self, tenant: &str, query: &EntryQuery) -> Result<Vec<EntryRecord>> {
        match self {
            Db::Sqlite(db) => db.entries(tenant, query).await,
            Db::Postgres(db) => db.entries(tenant, query).await,
        }
    }

    async fn count_entries(&self, tenant: &str, query: &EntryQuery, cap: u64) -> Result<u64> {
        match self {
            Db::Sqlite(db) => db.count_entries(tenant, query, cap).await,
            Db::Postgres(db) => db.count_entries(tenant, query, cap).await,
        }
    }

    async fn log_head(&self, tenant: &str) -> Result<Option<LogHead>> {
        match self {
            Db::Sqlite(db) => db.log_head(tenant).await,
            Db::Postgres(db) => db.log_head(tenant).await,
        }
    }

    async fn leaf_range(&self, tenant: &str, start: u64, end: u64) -> Result<Vec<[u8; 32]>> {
        match self {
            Db::Sqlite(db) => db.leaf_range(tenant, start, end).await,
            Db::Postgres(db) => db.leaf_range(tenant, start, end).await,
        }
    }

    async fn checkpoint_now(&self, tenant: &str, at: &str) -> Result<Option<CheckpointRecord>> {
        match self {
            Db::Sqlite(db) => db.checkpoint_now(tenant, at).await,
            Db::Postgres(db) => db.checkpoint_now(tenant, at).await,
        }
    }

    async fn latest_checkpoint(&self, tenant: &str) -> Result<Option<CheckpointRecord>> {
        match self {
            Db::Sqlite(db) => db.latest_checkpoint(tenant).await,
            Db::Postgres(db) => db.latest_checkpoint(tenant).await,
        }
    }

    async fn stored_subtrees(
        &self,
        tenant: &str,
        ranges: &[SubtreeRange],
    ) -> Result<Vec<Option<[u8; 32]>>> {
        match self {
            Db::Sqlite(db) => db.stored_subtrees(tenant, ranges).await,
            Db::Postgres(db) => db.stored_subtrees(tenant, ranges).await,
        }
    }

    async fn insert_subtrees(&self, tenant: &str, hashes: &[SubtreeHash]) -> Result<()> {
        match self {
            Db::Sqlite(db) => db.insert_subtrees(tenant, hashes).await,
            Db::Postgres(db) => db.insert_subtrees(tenant, hashes).await,
        }
    }

    async fn stored_subtree_count(&self, tenant: &str) -> Result<u64> {
        match self {
            Db::Sqlite(db) => db.stored_subtree_count(tenant).await,
            Db::Postgres(db) => db.stored_subtree_count(tenant).await,
        }
    }
}
