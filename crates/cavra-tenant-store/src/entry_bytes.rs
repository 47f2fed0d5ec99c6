//! Entries as the canonical JSON bytes the log stores, for folds that deserialise only the
//! fields they use (the AISPM posture, `GET /v1/posture`): no JSON value is built per entry,
//! which is most of what [`crate::Evidence::entries`] costs on a large log.

use rusqlite::params_from_iter;

use crate::types::EntryQuery;
use crate::{Db, Result, StoreError};

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
                            args.push(v.clone().into());
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
                    .query(&st, &[&tenant, &q.since, &q.until, &after, &limit])
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
