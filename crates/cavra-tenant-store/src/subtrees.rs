//! Stored hashes of complete power-of-two subtrees of a tenant's log.
//!
//! In an append-only log, the subtree `[start, start + 2^k)` (with `start` a multiple of `2^k`)
//! never changes once its last leaf exists, so its hash can be kept for good. Every inclusion
//! proof and every batch proof is made of such hashes (and of the Merkle hashes of ranges that
//! split into at most `log n` of them), so with them stored a proof reads O(log n) rows instead
//! of every leaf, and the saving survives a restart and is shared by every replica. The rows
//! are derived data: a missing row is recomputed from the leaves (and then stored).

use crate::{Db, Result, StoreError};

/// A subtree: (first leaf index, number of leaves, a power of two).
pub type SubtreeRange = (u64, u64);

/// A stored subtree hash.
pub type SubtreeHash = (u64, u64, [u8; 32]);

impl Db {
    /// The stored hashes of `ranges` of `tenant`'s log, in the same order (None: not stored).
    pub async fn stored_subtrees(
        &self,
        tenant: &str,
        ranges: &[SubtreeRange],
    ) -> Result<Vec<Option<[u8; 32]>>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Db::Sqlite(db) => {
                let (tenant, ranges) = (tenant.to_string(), ranges.to_vec());
                db.read(move |c| {
                    let mut st = c.prepare_cached(
                        "SELECT hash FROM log_subtrees WHERE tenant = ?1 AND start = ?2 AND size = ?3",
                    )?;
                    let mut out = Vec::with_capacity(ranges.len());
                    for (start, size) in ranges {
                        let row: Option<Vec<u8>> = rusqlite::OptionalExtension::optional(
                            st.query_row(
                                rusqlite::params![tenant, start as i64, size as i64],
                                |r| r.get(0),
                            ),
                        )?;
                        out.push(row.map(|h| to_hash(&h, start, size)).transpose()?);
                    }
                    Ok(out)
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
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
        }
    }

    /// Stores subtree hashes of `tenant`'s log (a hash already stored is kept). The caller
    /// computed each from leaves the log holds; only complete, aligned power-of-two subtrees
    /// are accepted.
    pub async fn store_subtrees(&self, tenant: &str, hashes: &[SubtreeHash]) -> Result<()> {
        for &(start, size, _) in hashes {
            if !size.is_power_of_two() || start % size != 0 {
                return Err(StoreError::Corrupt(format!(
                    "[{start}, {start}+{size}) is not an aligned power-of-two subtree"
                )));
            }
        }
        if hashes.is_empty() {
            return Ok(());
        }
        match self {
            Db::Sqlite(db) => {
                let (tenant, hashes) = (tenant.to_string(), hashes.to_vec());
                db.write(move |c, _| {
                    let mut st = c.prepare_cached(
                        "INSERT OR IGNORE INTO log_subtrees (tenant, start, size, hash) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for (start, size, hash) in hashes {
                        st.execute(rusqlite::params![
                            tenant,
                            start as i64,
                            size as i64,
                            hash.as_slice()
                        ])?;
                    }
                    Ok(())
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
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
        }
    }

    /// How many subtree hashes of `tenant`'s log are stored (for operators and tests).
    pub async fn stored_subtree_count(&self, tenant: &str) -> Result<u64> {
        match self {
            Db::Sqlite(db) => {
                let tenant = tenant.to_string();
                db.read(move |c| {
                    let n: i64 = c.query_row(
                        "SELECT COUNT(*) FROM log_subtrees WHERE tenant = ?1",
                        rusqlite::params![tenant],
                        |r| r.get(0),
                    )?;
                    Ok(n as u64)
                })
                .await
            }
            Db::Postgres(db) => {
                let c = db.client().await?;
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
    }
}

fn to_hash(bytes: &[u8], start: u64, size: u64) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("stored subtree hash [{start}, +{size})")))
}
