//! The evidence log: entries, its head, leaf hashes and checkpoints.

use super::*;
use crate::subtrees::{SubtreeHash, SubtreeRange, to_hash};

impl Evidence for SqliteDb {
    async fn count_entries(&self, tenant: &str, q: &EntryQuery, cap: u64) -> Result<u64> {
        let (since, until) = (q.since.map(Timestamp::text), q.until.map(Timestamp::text));
        let tenant = tenant.to_string();
        let q = q.clone();
        self.read(move |c| {
            let mut sql = String::from("SELECT 1 FROM log_entries WHERE tenant = ?");
            let mut args: Vec<rusqlite::types::Value> = vec![tenant.into()];
            for (col, op, v) in [
                ("kind", "=", &q.kind),
                ("session_id", "=", &q.session_id),
                ("ref_id", "=", &q.ref_id),
                ("timestamp", ">=", &since),
                ("timestamp", "<", &until),
            ] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND {col} {op} ?"));
                    args.push(v.clone().into());
                }
            }
            if let Some(after) = q.after_index {
                sql.push_str(" AND idx > ?");
                args.push((after as i64).into());
            }
            let bounded = format!(
                "SELECT COUNT(*) FROM ({sql} LIMIT {})",
                cap.saturating_add(1).min(i64::MAX as u64)
            );
            let n: i64 = c.query_row(&bounded, params_from_iter(args.iter()), |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn entries(&self, tenant: &str, q: &EntryQuery) -> Result<Vec<EntryRecord>> {
        let (since, until) = (q.since.map(Timestamp::text), q.until.map(Timestamp::text));
        let tenant = tenant.to_string();
        let q = q.clone();
        self.read(move |c| {
            let mut sql = String::from(
                "SELECT idx, kind, ref_id, session_id, timestamp, leaf_hash, entry FROM log_entries WHERE tenant = ?",
            );
            let mut args: Vec<rusqlite::types::Value> = vec![tenant.into()];
            for (col, op, v) in [
                ("kind", "=", &q.kind),
                ("session_id", "=", &q.session_id),
                ("ref_id", "=", &q.ref_id),
                ("timestamp", ">=", &since),
                ("timestamp", "<", &until),
            ] {
                if let Some(v) = v {
                    sql.push_str(&format!(" AND {col} {op} ?"));
                    args.push(v.clone().into());
                }
            }
            if let Some(after) = q.after_index {
                sql.push_str(" AND idx > ?");
                args.push((after as i64).into());
            }
            sql.push_str(&format!(" ORDER BY idx LIMIT {}", q.limit.max(1)));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (index, kind, ref_id, session_id, timestamp, leaf, entry) = row?;
                out.push(EntryRecord {
                    index: index as u64,
                    kind,
                    ref_id,
                    session_id,
                    timestamp,
                    leaf_hash: hex::encode(leaf),
                    entry: serde_json::from_slice(&entry)
                        .map_err(|e| StoreError::Corrupt(format!("entry {index}: {e}")))?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn log_head(&self, tenant: &str) -> Result<Option<LogHead>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let row: Option<(String, i64, Vec<u8>)> = c
                .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
                .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            row.map(|(log_id, size, bytes)| {
                let frontier = Frontier::from_bytes(size as u64, &bytes)
                    .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
                Ok(LogHead {
                    log_id,
                    size: size as u64,
                    root_hash: hex::encode(frontier.root()),
                })
            })
            .transpose()
        })
        .await
    }

    async fn leaf_range(&self, tenant: &str, start: u64, end: u64) -> Result<Vec<[u8; 32]>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT idx, leaf_hash FROM log_entries WHERE tenant = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
            )?;
            let rows = st.query_map(params![tenant, start as i64, end as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
            for row in rows {
                let (idx, leaf) = row?;
                if idx as u64 != start + out.len() as u64 {
                    return Err(StoreError::Corrupt(format!(
                        "log entry {} is missing",
                        start + out.len() as u64
                    )));
                }
                out.push(
                    <[u8; 32]>::try_from(leaf.as_slice())
                        .map_err(|_| StoreError::Corrupt(format!("leaf hash {idx}")))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn checkpoint_now(&self, tenant: &str, at: &str) -> Result<Option<CheckpointRecord>> {
        let (tenant, at) = (tenant.to_string(), at.to_string());
        self.write(move |c, settings| {
            let row: Option<(String, i64, Vec<u8>)> = c
                .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = ?1")?
                .query_row(params![tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((log_id, size, bytes)) = row else {
                return Ok(None);
            };
            let frontier = Frontier::from_bytes(size as u64, &bytes)
                .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
            let cp = sign_checkpoint(&log_id, &frontier, &at, &settings.signer);
            insert_checkpoint(c, &tenant, &cp)?;
            Ok(Some(cp))
        })
        .await
    }

    async fn latest_checkpoint(&self, tenant: &str) -> Result<Option<CheckpointRecord>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT tree_size, root_hash, timestamp, key_id, envelope FROM checkpoints WHERE tenant = ?1 ORDER BY tree_size DESC LIMIT 1",
            )?
            .query_row(params![tenant], |r| {
                Ok(CheckpointRecord {
                    tree_size: r.get::<_, i64>(0)? as u64,
                    root_hash: r.get(1)?,
                    timestamp: r.get(2)?,
                    key_id: r.get(3)?,
                    envelope: r.get(4)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn stored_subtrees(
        &self,
        tenant: &str,
        ranges: &[SubtreeRange],
    ) -> Result<Vec<Option<[u8; 32]>>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let (tenant, ranges) = (tenant.to_string(), ranges.to_vec());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT hash FROM log_subtrees WHERE tenant = ?1 AND start = ?2 AND size = ?3",
            )?;
            let mut out = Vec::with_capacity(ranges.len());
            for (start, size) in ranges {
                let row: Option<Vec<u8>> = st
                    .query_row(params![tenant, start as i64, size as i64], |r| r.get(0))
                    .optional()?;
                out.push(row.map(|h| to_hash(&h, start, size)).transpose()?);
            }
            Ok(out)
        })
        .await
    }

    async fn insert_subtrees(&self, tenant: &str, hashes: &[SubtreeHash]) -> Result<()> {
        let (tenant, hashes) = (tenant.to_string(), hashes.to_vec());
        self.write(move |c, _| {
            let mut st = c.prepare_cached(
                "INSERT OR IGNORE INTO log_subtrees (tenant, start, size, hash) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (start, size, hash) in hashes {
                st.execute(params![tenant, start as i64, size as i64, hash.as_slice()])?;
            }
            Ok(())
        })
        .await
    }

    async fn stored_subtree_count(&self, tenant: &str) -> Result<u64> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM log_subtrees WHERE tenant = ?1",
                params![tenant],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }
}
