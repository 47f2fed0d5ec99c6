//! The evidence log: entries, its head, leaf hashes and checkpoints.

use super::*;
use crate::subtrees::{SubtreeHash, SubtreeRange, to_hash};

impl Evidence for PgDb {
    async fn count_entries(&self, tenant: &str, q: &EntryQuery, cap: u64) -> Result<u64> {
        let (since, until) = (q.since.map(Timestamp::text), q.until.map(Timestamp::text));
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM log_entries WHERE tenant = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR ref_id = $4) AND ($5::text IS NULL OR timestamp >= $5) AND ($6::text IS NULL OR timestamp < $6) AND ($7::bigint IS NULL OR idx > $7) LIMIT $8) AS selected",
            )
            .await?;
        let after = q.after_index.map(|i| i as i64);
        let limit = cap.saturating_add(1).min(i64::MAX as u64) as i64;
        let row = c
            .query_one(
                &st,
                &[
                    &tenant,
                    &q.kind,
                    &q.session_id,
                    &q.ref_id,
                    &since,
                    &until,
                    &after,
                    &limit,
                ],
            )
            .await?;
        let n: i64 = row.try_get(0)?;
        Ok(n as u64)
    }

    async fn entries(&self, tenant: &str, q: &EntryQuery) -> Result<Vec<EntryRecord>> {
        let (since, until) = (q.since.map(Timestamp::text), q.until.map(Timestamp::text));
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT idx, kind, ref_id, session_id, timestamp, leaf_hash, entry FROM log_entries WHERE tenant = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR session_id = $3) AND ($4::text IS NULL OR ref_id = $4) AND ($5::text IS NULL OR timestamp >= $5) AND ($6::text IS NULL OR timestamp < $6) AND ($7::bigint IS NULL OR idx > $7) ORDER BY idx LIMIT $8",
            )
            .await?;
        let after = q.after_index.map(|i| i as i64);
        let rows = c
            .query(
                &st,
                &[
                    &tenant,
                    &q.kind,
                    &q.session_id,
                    &q.ref_id,
                    &since,
                    &until,
                    &after,
                    &(q.limit.max(1) as i64),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let index: i64 = r.try_get(0)?;
                let leaf: Vec<u8> = r.try_get(5)?;
                let entry: Vec<u8> = r.try_get(6)?;
                Ok(EntryRecord {
                    index: index as u64,
                    kind: r.try_get(1)?,
                    ref_id: r.try_get(2)?,
                    session_id: r.try_get(3)?,
                    timestamp: r.try_get(4)?,
                    leaf_hash: hex::encode(leaf),
                    entry: serde_json::from_slice(&entry)
                        .map_err(|e| StoreError::Corrupt(format!("entry {index}: {e}")))?,
                })
            })
            .collect()
    }

    async fn log_head(&self, tenant: &str) -> Result<Option<LogHead>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1")
            .await?;
        let Some(row) = c.query_opt(&st, &[&tenant]).await? else {
            return Ok(None);
        };
        let size: i64 = row.try_get(1)?;
        let bytes: Vec<u8> = row.try_get(2)?;
        Ok(Some(LogHead {
            log_id: row.try_get(0)?,
            size: size as u64,
            root_hash: hex::encode(frontier_of(size, &bytes)?.root()),
        }))
    }

    async fn leaf_range(&self, tenant: &str, start: u64, end: u64) -> Result<Vec<[u8; 32]>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT idx, leaf_hash FROM log_entries WHERE tenant = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            )
            .await?;
        let rows = c
            .query(&st, &[&tenant, &(start as i64), &(end as i64)])
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let idx: i64 = r.try_get(0)?;
            let leaf: Vec<u8> = r.try_get(1)?;
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
    }

    async fn checkpoint_now(&self, tenant: &str, at: &str) -> Result<Option<CheckpointRecord>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Locked so that no append moves the head between reading and signing it.
        let row = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1 FOR UPDATE",
                )
                .await?,
                &[&tenant],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let log_id: String = row.try_get(0)?;
        let size: i64 = row.try_get(1)?;
        let bytes: Vec<u8> = row.try_get(2)?;
        let frontier = frontier_of(size, &bytes)?;
        let cp = sign_checkpoint(&log_id, &frontier, at, &self.settings.signer);
        insert_checkpoint(&tx, tenant, &cp).await?;
        tx.commit().await?;
        Ok(Some(cp))
    }

    async fn latest_checkpoint(&self, tenant: &str) -> Result<Option<CheckpointRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT tree_size, root_hash, timestamp, key_id, envelope FROM checkpoints WHERE tenant = $1 ORDER BY tree_size DESC LIMIT 1",
            )
            .await?;
        c.query_opt(&st, &[&tenant])
            .await?
            .map(|r| {
                Ok(CheckpointRecord {
                    tree_size: r.try_get::<_, i64>(0)? as u64,
                    root_hash: r.try_get(1)?,
                    timestamp: r.try_get(2)?,
                    key_id: r.try_get(3)?,
                    envelope: r.try_get(4)?,
                })
            })
            .transpose()
    }

    async fn stored_subtrees(
        &self,
        tenant: &str,
        ranges: &[SubtreeRange],
    ) -> Result<Vec<Option<[u8; 32]>>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let starts: Vec<i64> = ranges.iter().map(|r| r.0 as i64).collect();
        let sizes: Vec<i64> = ranges.iter().map(|r| r.1 as i64).collect();
        let st = c
            .prepare_cached(
                "SELECT s.start, s.size, s.hash FROM log_subtrees s \
                 JOIN unnest($2::BIGINT[], $3::BIGINT[]) AS w(start, size) \
                 ON s.start = w.start AND s.size = w.size WHERE s.tenant = $1",
            )
            .await?;
        let rows = c.query(&st, &[&tenant, &starts, &sizes]).await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let (start, size): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
            let hash: Vec<u8> = r.try_get(2)?;
            found.insert(
                (start as u64, size as u64),
                to_hash(&hash, start as u64, size as u64)?,
            );
        }
        Ok(ranges.iter().map(|r| found.get(r).copied()).collect())
    }

    async fn insert_subtrees(&self, tenant: &str, hashes: &[SubtreeHash]) -> Result<()> {
        let c = self.client().await?;
        let starts: Vec<i64> = hashes.iter().map(|h| h.0 as i64).collect();
        let sizes: Vec<i64> = hashes.iter().map(|h| h.1 as i64).collect();
        let values: Vec<Vec<u8>> = hashes.iter().map(|h| h.2.to_vec()).collect();
        let st = c
            .prepare_cached(
                "INSERT INTO log_subtrees (tenant, start, size, hash) \
                 SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::BYTEA[]) \
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(&st, &[&tenant, &starts, &sizes, &values]).await?;
        Ok(())
    }

    async fn stored_subtree_count(&self, tenant: &str) -> Result<u64> {
        let c = self.client().await?;
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM log_subtrees WHERE tenant = $1",
                &[&tenant],
            )
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }
}
