//! Daily posture snapshots: the AISPM posture of each closed UTC day of a tenant's log, as
//! the service computed it from that day's entries (see `cavra_server::aispm::trend`).
//! Derived data: a snapshot is only ever computed from the log, a missing one is computed
//! again, and one already stored is kept (two replicas computing the same day write the same
//! figures).

use rusqlite::params;

use crate::log::NewEntry;
use crate::{Db, Result};

/// Migration 7 on SQLite.
pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE posture_days (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    posture TEXT NOT NULL,
    entries INTEGER NOT NULL,
    log_size INTEGER NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, day)
);
"#;

/// Migration 7 on PostgreSQL.
pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE posture_days (
    tenant TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL,
    posture TEXT NOT NULL,
    entries BIGINT NOT NULL,
    log_size BIGINT NOT NULL,
    computed_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, day)
);
"#;

/// One day's stored posture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The posture of the entries stamped that day, as JSON text.
    pub posture: String,
    /// How many entries it covers.
    pub entries: u64,
    /// The size of the tenant's log when it was computed.
    pub log_size: u64,
    /// When it was computed.
    pub computed_at: cavra_store::Timestamp,
}

/// A stored time read from PostgreSQL's text (a row of `of`).
pub(crate) fn pg_time(text: String, of: &str) -> Result<cavra_store::Timestamp> {
    cavra_store::Timestamp::parse(&text)
        .map_err(|e| crate::StoreError::Corrupt(format!("{of}: {e}")))
}

/// An entry for [`Db::append_entries`]: kind, the id it is about, time and body.
pub type BulkEntry = (String, Option<String>, String, serde_json::Value);

impl Db {
    /// `tenant`'s stored days from `first` to `last` (both `YYYY-MM-DD`, inclusive), oldest
    /// first.
    pub async fn posture_days(
        &self,
        tenant: &str,
        first: &str,
        last: &str,
    ) -> Result<Vec<PostureDay>> {
        const SQL: &str = "SELECT day, posture, entries, log_size, computed_at FROM posture_days WHERE tenant = $1 AND day >= $2 AND day <= $3 ORDER BY day";
        match self {
            Db::Sqlite(db) => {
                let (tenant, first, last) =
                    (tenant.to_string(), first.to_string(), last.to_string());
                db.read(move |c| {
                    let mut st = c.prepare_cached(&SQL.replace('$', "?"))?;
                    let rows = st.query_map(params![tenant, first, last], |r| {
                        Ok(PostureDay {
                            day: r.get(0)?,
                            posture: r.get(1)?,
                            entries: r.get::<_, i64>(2)? as u64,
                            log_size: r.get::<_, i64>(3)? as u64,
                            computed_at: r.get(4)?,
                        })
                    })?;
                    rows.map(|r| r.map_err(Into::into)).collect()
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
                let rows = c.query(SQL, &[&tenant, &first, &last]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(PostureDay {
                            day: r.try_get(0)?,
                            posture: r.try_get(1)?,
                            entries: r.try_get::<_, i64>(2)? as u64,
                            log_size: r.try_get::<_, i64>(3)? as u64,
                            computed_at: pg_time(r.try_get(4)?, "posture day")?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Stores days of `tenant` (a day already stored is kept); returns how many were new.
    pub async fn put_posture_days(&self, tenant: &str, days: Vec<PostureDay>) -> Result<u64> {
        match self {
            Db::Sqlite(db) => {
                let tenant = tenant.to_string();
                db.write(move |c, _| {
                    let mut st = c.prepare_cached(
                        "INSERT OR IGNORE INTO posture_days (tenant, day, posture, entries, log_size, computed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    let mut n = 0;
                    for d in &days {
                        n += st.execute(params![
                            tenant,
                            d.day,
                            d.posture,
                            d.entries as i64,
                            d.log_size as i64,
                            d.computed_at
                        ])? as u64;
                    }
                    Ok(n)
                })
                .await
            }
            Db::Postgres(db) => {
                let mut c = db.client().await?;
                let tx = c.transaction().await?;
                let st = tx
                    .prepare_cached(
                        "INSERT INTO posture_days (tenant, day, posture, entries, log_size, computed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, day) DO NOTHING",
                    )
                    .await?;
                let mut n = 0;
                for d in &days {
                    n += tx
                        .execute(
                            &st,
                            &[
                                &tenant,
                                &d.day,
                                &d.posture,
                                &(d.entries as i64),
                                &(d.log_size as i64),
                                &d.computed_at.to_string(),
                            ],
                        )
                        .await?;
                }
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Forgets `tenant`'s stored days (they are computed again from the log when next
    /// asked for); returns how many there were.
    pub async fn delete_posture_days(&self, tenant: &str) -> Result<u64> {
        match self {
            Db::Sqlite(db) => {
                let tenant = tenant.to_string();
                db.write(move |c, _| {
                    Ok(
                        c.prepare_cached("DELETE FROM posture_days WHERE tenant = ?1")?
                            .execute(params![tenant])? as u64,
                    )
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
                Ok(
                    c.execute("DELETE FROM posture_days WHERE tenant = $1", &[&tenant])
                        .await?,
                )
            }
        }
    }

    /// Appends `entries` to `tenant`'s log in one transaction, through the same appender as
    /// every other write (redaction, canonical form, leaf hashes, a signed checkpoint every
    /// [`crate::log::CHECKPOINT_EVERY`] entries): the log verifies as if each had been
    /// written alone. For seeding large logs (benchmarks, imports), where one durable
    /// write per entry would take hours. Returns the index of each.
    pub async fn append_entries(&self, tenant: &str, entries: Vec<BulkEntry>) -> Result<Vec<u64>> {
        fn new_entries(entries: &[BulkEntry]) -> Vec<NewEntry<'_>> {
            entries
                .iter()
                .map(|(kind, ref_id, at, body)| NewEntry {
                    kind,
                    ref_id: ref_id.as_deref(),
                    session_id: None,
                    timestamp: at,
                    body: body.clone().into(),
                })
                .collect()
        }
        match self {
            Db::Sqlite(db) => {
                let tenant = tenant.to_string();
                db.write(move |c, settings| {
                    crate::sqlite::atomic(c, |c| {
                        crate::sqlite::append_many(c, settings, &tenant, new_entries(&entries))
                    })
                })
                .await
            }
            Db::Postgres(db) => {
                let mut c = db.client().await?;
                let tx = c.transaction().await?;
                let indexes =
                    crate::postgres::append_many(&tx, &db.settings, tenant, new_entries(&entries))
                        .await?;
                tx.commit().await?;
                Ok(indexes)
            }
        }
    }
}
