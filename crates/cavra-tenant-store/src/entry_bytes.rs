//! Entries as the canonical JSON bytes the log stores, for folds that deserialise only the
//! fields they use (the AISPM posture, `GET /v1/posture`): no JSON value is built per entry,
//! which is most of what [`crate::Evidence::entries`] costs on a large log.

use rusqlite::params_from_iter;

use crate::types::EntryQuery;
use crate::{Db, Result, StoreError, Timestamp};

/// One entry's index and stored bytes.
pub type EntryBytes = (u64, Vec<u8>);

impl Db {
    /// `tenant`'s entries matching `q` (its `since`, `until`, `after_index` and `limit`; the
    /// other filters are not applied), oldest first, as their stored bytes.
    pub async fn entry_bytes(&self, tenant: &str, q: &EntryQuery) -> Result<Vec<EntryBytes>> {
        let limit = q.limit.max(1) as i64;
        let after = q.after_index.map(|i| i as i64);
        match self {
            Db::Sqlite(db) => {
                let (tenant, q) = (tenant.to_string(), q.clone());
                db.read(move |c| {
                    let mut sql =
                        String::from("SELECT idx, entry FROM log_entries WHERE tenant = ?");
                    let mut args: Vec<rusqlite::types::Value> = vec![tenant.into()];
                    for (op, v) in [(">=", &q.since), ("<", &q.until)] {
                        if let Some(v) = v {
                            sql.push_str(&format!(" AND timestamp {op} ?"));
                            args.push(v.text().into());
                        }
                    }
                    if let Some(a) = after {
                        sql.push_str(" AND idx > ?");
                        args.push(a.into());
                    }
                    sql.push_str(&format!(" ORDER BY idx LIMIT {limit}"));
                    let mut st = c.prepare_cached(&sql)?;
                    let rows = st.query_map(params_from_iter(args.iter()), |r| {
                        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
                    })?;
                    rows.map(|r| r.map_err(StoreError::from)).collect()
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
                let st = c
                    .prepare_cached(
                        "SELECT idx, entry FROM log_entries WHERE tenant = $1 AND ($2::text IS NULL OR timestamp >= $2) AND ($3::text IS NULL OR timestamp < $3) AND ($4::bigint IS NULL OR idx > $4) ORDER BY idx LIMIT $5",
                    )
                    .await?;
                let rows = c
                    .query(
                        &st,
                        &[
                            &tenant,
                            &q.since.map(Timestamp::text),
                            &q.until.map(Timestamp::text),
                            &after,
                            &limit,
                        ],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let index: i64 = r.try_get(0)?;
                        Ok((index as u64, r.try_get::<_, Vec<u8>>(1)?))
                    })
                    .collect()
            }
        }
    }
}

/// Which entries [`Db::fold_entries`] reads: those of index `start..end` stamped at or after
/// `since` and before `until` (None: unbounded).
#[derive(Debug, Clone, Default)]
pub struct EntryRange {
    /// The first index.
    pub start: u64,
    /// The index after the last.
    pub end: u64,
    /// Entries stamped at or after this time.
    pub since: Option<crate::Timestamp>,
    /// Entries stamped before this time.
    pub until: Option<crate::Timestamp>,
}

impl Db {
    /// Folds `tenant`'s entries in `range`, oldest first, into `state` with `f(state, index,
    /// time, bytes)`, the bytes borrowed from the database's row (not copied), on a reader
    /// thread: several ranges can be folded at once, one per reader, and their states
    /// combined in log order afterwards.
    pub async fn fold_entries<S, F>(
        &self,
        tenant: &str,
        range: EntryRange,
        state: S,
        f: F,
    ) -> Result<S>
    where
        S: Send + 'static,
        F: Fn(&mut S, u64, &str, &[u8]) + Send + 'static,
    {
        let mut state = state;
        match self {
            Db::Sqlite(db) => {
                let tenant = tenant.to_string();
                db.read(move |c| {
                    let mut sql = String::from(
                        "SELECT idx, timestamp, entry FROM log_entries WHERE tenant = ? AND idx >= ? AND idx < ?",
                    );
                    let mut args: Vec<rusqlite::types::Value> = vec![
                        tenant.into(),
                        (range.start as i64).into(),
                        (range.end as i64).into(),
                    ];
                    for (op, v) in [(">=", range.since), ("<", range.until)] {
                        if let Some(v) = v {
                            sql.push_str(&format!(" AND timestamp {op} ?"));
                            args.push(v.text().into());
                        }
                    }
                    sql.push_str(" ORDER BY idx");
                    let mut st = c.prepare_cached(&sql)?;
                    let mut rows = st.query(params_from_iter(args.iter()))?;
                    while let Some(r) = rows.next()? {
                        let index = r.get::<_, i64>(0)? as u64;
                        let time = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                        let bytes = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
                        f(&mut state, index, time, bytes);
                    }
                    Ok(state)
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
                let st = c
                    .prepare_cached(
                        "SELECT idx, timestamp, entry FROM log_entries WHERE tenant = $1 AND idx >= $2 AND idx < $3 AND ($4::text IS NULL OR timestamp >= $4) AND ($5::text IS NULL OR timestamp < $5) ORDER BY idx",
                    )
                    .await?;
                let rows = c
                    .query(
                        &st,
                        &[
                            &tenant,
                            &(range.start as i64),
                            &(range.end as i64),
                            &range.since.map(Timestamp::text),
                            &range.until.map(Timestamp::text),
                        ],
                    )
                    .await?;
                drop(c);
                // Folded off the async threads, as SQLite's are.
                tokio::task::spawn_blocking(move || {
                    for r in &rows {
                        let index: i64 = r.try_get(0)?;
                        let time: &str = r.try_get(1)?;
                        let bytes: &[u8] = r.try_get(2)?;
                        f(&mut state, index as u64, time, bytes);
                    }
                    Ok(state)
                })
                .await
                .map_err(|e| StoreError::Corrupt(format!("entry fold: {e}")))?
            }
        }
    }
}
