//! The PostgreSQL backend, for several service replicas on one database.
//!
//! Every write is one transaction on a pooled connection; a tenant's plain decisions (no
//! approval asked or used) and the connectors' delivery attempts are group-committed by that
//! tenant's appender task, many in one transaction with one lock of the log head, two groups
//! in flight at once (see `group_commit`). What makes replicas behave as one service:
//!
//! - appends to a tenant's log lock that log's `log_meta` row (`SELECT … FOR UPDATE`) in the
//!   same transaction as the record they describe, so indexes are dense and the stored
//!   frontier always matches the entries;
//! - approval transitions and grant uses are compare-and-set on (state, uses): of two
//!   replicas racing on one approval, one updates a row and the other updates none;
//! - migrations run under a transaction-scoped advisory lock, so replicas starting together
//!   apply each migration once.
//!
//! Locks are always taken in the same order (the approval row, then the log head, then the
//! delivery rows an appender's group moves), so two writes never wait on each other in a
//! cycle (the outbox's claims take delivery rows with `SKIP LOCKED` and no log head).
//!
//! The queries are split by what they serve, each file implementing one of the store's traits
//! ([`crate::backend`]): `directory` (tenants, tokens), `decisions`, `approvals`, `config`
//! (registry, packs, assignments) and `evidence` (the log); `append` writes the log,
//! `group_commit` appends many plain decisions and delivery attempts at once, `rows` maps rows to records and
//! `schema` holds the migrations.

mod append;
mod approvals;
mod config;
mod decisions;
mod directory;
mod evidence;
mod group_commit;
mod inventory;
mod rows;
mod schema;

use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use cavra_evidence::compact::Frontier;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::backend::*;
use crate::log::{
    CHECKPOINT_EVERY, EntryBody, NewEntry, approval_body, approval_entry, build_entry,
    decision_entry, sign_checkpoint,
};
use crate::types::*;
use crate::{LogSettings, Readiness, Result, SCHEMA_VERSION, StoreError};

/// Connections per pool (per replica).
const POOL_SIZE: usize = 16;

/// The advisory lock migrations hold (`cavra` in ASCII, then 1), the same for every
/// replica so that only one migrates at a time.
pub const MIGRATION_LOCK: i64 = 0x6361_7672_6100_0001;
use append::*;
// The outbox (crate::postgres_outbox) appends to the log too: its events' entries, and its
// delivery attempts through the tenant's appender.
pub(crate) use append::{append, append_many};
pub(crate) use group_commit::Work;
use rows::*;
use schema::MIGRATIONS;

/// The PostgreSQL backend.
pub struct PgDb {
    pool: Pool,
    pub(crate) settings: LogSettings,
    /// Per tenant, the queue of its group-committing appender (plain decisions and delivery
    /// attempts; see `group_commit`).
    appenders: std::sync::Mutex<std::collections::HashMap<String, mpsc::Sender<Work>>>,
}

/// Work items (decisions, batches of delivery attempts) appended together at most.
const BATCH: usize = 512;

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
    pub(crate) fn appender(&self, tenant: &str) -> mpsc::Sender<Work> {
        let mut map = self.appenders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(tenant).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(group_commit::append_loop(
            self.pool.clone(),
            self.settings.clone(),
            tenant.to_string(),
            rx,
        ));
        map.insert(tenant.to_string(), tx.clone());
        tx
    }
}

impl TenantStore for PgDb {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn readiness(&self) -> Result<Readiness> {
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
}
