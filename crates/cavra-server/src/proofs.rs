//! Inclusion and batch proofs without reading the whole log: a proof is made of the hashes of
//! subtrees that hold none of the proved leaves, and each of those splits into at most
//! `log n` power-of-two subtrees `[start, start + 2^k)`, which never change once their leaves
//! exist. Their hashes are stored in the database (`log_subtrees`, both backends: shared by
//! replicas, kept across restarts) and kept in memory; a subtree no proof has needed yet is
//! computed from its halves, down to blocks of 64 leaves read from the log, and stored. A
//! proof of a warm log reads O(log n) stored hashes (O(k log n) for a batch of k leaves) and
//! at most two blocks of 64 leaves: the one around the proved leaf and the one at the log's
//! right edge.

use cavra_tenant_store::Evidence;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cavra_evidence::merkle::{Hash, node_hash, root};
use cavra_tenant_store::Db;
use cavra_tenant_store::subtrees::SubtreeHash;

use crate::problem::Problem;

/// Subtrees smaller than this are computed from their leaves each time, not stored (a few
/// KiB of leaves, read with their chunk).
const MIN_KEPT: u64 = 64;

/// How many subtree hashes are kept in memory at most; past this the memory cache starts
/// over (the database still holds them, so forgetting costs one query).
const MAX_KEPT: usize = 200_000;

/// Subtree hashes by (tenant/log id, start, size), in front of the database's.
#[derive(Default)]
pub struct SubtreeCache {
    kept: Mutex<HashMap<(String, u64, u64), Hash>>,
    leaves_read: AtomicU64,
}

/// The largest power of two strictly smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The sibling ranges `(start, size)` of the audit path of leaf `index` in a tree of `size`
/// leaves, in the order RFC 6962's PATH lists their hashes (nearest the leaf first).
pub fn path_ranges(mut index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut n) = (0u64, size);
    let mut out = Vec::new();
    while n > 1 {
        let k = split(n);
        if index < k {
            out.push((lo + k, n - k));
            n = k;
        } else {
            out.push((lo, k));
            index -= k;
            lo += k;
            n -= k;
        }
    }
    out.reverse();
    out
}

/// The ranges whose Merkle hashes make up the batch proof of `indices` (strictly increasing,
/// all below `size`) in a tree of `size` leaves, in the order
/// `cavra_evidence::compact::batch_proof` emits them: the maximal subtrees holding none of
/// the indices, left to right.
pub fn batch_ranges(size: u64, indices: &[u64]) -> Vec<(u64, u64)> {
    fn walk(offset: u64, n: u64, indices: &[u64], out: &mut Vec<(u64, u64)>) {
        if indices.is_empty() {
            out.push((offset, n));
            return;
        }
        if n == 1 {
            return;
        }
        let k = split(n);
        let cut = indices.partition_point(|&i| i < offset + k);
        walk(offset, k, &indices[..cut], out);
        walk(offset + k, n - k, &indices[cut..], out);
    }
    let mut out = Vec::new();
    if size > 0 {
        walk(0, size, indices, &mut out);
    }
    out
}

/// `[start, start + size)` as the power-of-two subtrees MTH splits it into, left to right.
pub fn pieces(mut start: u64, mut size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    while !size.is_power_of_two() {
        let k = split(size);
        out.push((start, k));
        start += k;
        size -= k;
    }
    out.push((start, size));
    out
}

/// One proof's walk over a tenant's log: the chunk of leaves last read, and the subtree
/// hashes computed on the way (stored together at the end).
struct Walk<'a> {
    cache: &'a SubtreeCache,
    db: &'a Db,
    tenant: &'a str,
    key: String,
    chunk: Option<(u64, Vec<Hash>)>,
    computed: Vec<SubtreeHash>,
}

impl Walk<'_> {
    fn remembered(&self, start: u64, size: u64) -> Option<Hash> {
        self.cache
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(self.key.clone(), start, size))
            .copied()
    }

    fn remember(&mut self, start: u64, size: u64, hash: Hash, new: bool) {
        if size < MIN_KEPT {
            return;
        }
        let mut kept = self.cache.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert((self.key.clone(), start, size), hash);
        if new {
            self.computed.push((start, size, hash));
        }
    }

    /// The leaves `[start, start + size)` of an aligned power-of-two subtree of at most
    /// MIN_KEPT leaves, read with the aligned block of MIN_KEPT leaves that holds it (the
    /// pieces near one leaf, or at the log's right edge, share one block; the last block read
    /// is reused). A complete block's hash is kept too, so no later proof reads it again.
    async fn leaves(&mut self, start: u64, size: u64) -> Result<&[Hash], Problem> {
        let first = start - start % MIN_KEPT;
        if self.chunk.as_ref().is_none_or(|(f, _)| *f != first) {
            let read = self
                .db
                .leaf_range(self.tenant, first, first + MIN_KEPT)
                .await?;
            self.cache
                .leaves_read
                .fetch_add(read.len() as u64, Ordering::Relaxed);
            if read.len() as u64 == MIN_KEPT && self.remembered(first, MIN_KEPT).is_none() {
                self.remember(first, MIN_KEPT, root(&read), true);
            }
            self.chunk = Some((first, read));
        }
        let (f, block) = self
            .chunk
            .as_ref()
            .ok_or_else(|| Problem::internal("block"))?;
        let (from, to) = ((start - f) as usize, (start - f + size) as usize);
        block.get(from..to).ok_or_else(|| {
            Problem::internal(format!(
                "tenant {}: the log holds fewer than {} entries",
                self.tenant,
                start + size
            ))
        })
    }

    /// The hash of the aligned power-of-two subtree `[start, start + size)`: from memory, the
    /// database (unless `looked_up` there already), or its halves, down to blocks of MIN_KEPT
    /// leaves read from the log. What is computed is kept and stored.
    async fn subtree(&mut self, start: u64, size: u64, looked_up: bool) -> Result<Hash, Problem> {
        if size >= MIN_KEPT {
            if let Some(h) = self.remembered(start, size) {
                return Ok(h);
            }
            if !looked_up
                && let Some(Some(h)) = self
                    .db
                    .stored_subtrees(self.tenant, &[(start, size)])
                    .await?
                    .first()
                    .copied()
            {
                self.remember(start, size, h, false);
                return Ok(h);
            }
        }
        if size <= MIN_KEPT {
            // (A whole block's hash is kept by `leaves`.)
            return Ok(root(self.leaves(start, size).await?));
        }
        let half = size / 2;
        let left = Box::pin(self.subtree(start, half, false)).await?;
        let right = Box::pin(self.subtree(start + half, half, false)).await?;
        let h = node_hash(&left, &right);
        self.remember(start, size, h, true);
        Ok(h)
    }

    /// The Merkle hashes of `ranges` (each within the log), looking up every stored piece in
    /// one query first.
    async fn ranges(&mut self, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, Problem> {
        let split_up: Vec<Vec<(u64, u64)>> = ranges.iter().map(|&(s, n)| pieces(s, n)).collect();
        let wanted: Vec<(u64, u64)> = split_up
            .iter()
            .flatten()
            .copied()
            .filter(|&(s, n)| n >= MIN_KEPT && self.remembered(s, n).is_none())
            .collect();
        for (range, found) in wanted
            .iter()
            .zip(self.db.stored_subtrees(self.tenant, &wanted).await?)
        {
            if let Some(h) = found {
                self.remember(range.0, range.1, h, false);
            }
        }
        let mut out = Vec::with_capacity(ranges.len());
        for parts in split_up {
            let mut hashes = Vec::with_capacity(parts.len());
            for (s, n) in parts {
                hashes.push(self.subtree(s, n, true).await?);
            }
            let mut acc = hashes
                .pop()
                .ok_or_else(|| Problem::internal("empty range"))?;
            while let Some(left) = hashes.pop() {
                acc = node_hash(&left, &acc);
            }
            out.push(acc);
        }
        self.db
            .store_subtrees(self.tenant, &std::mem::take(&mut self.computed))
            .await?;
        Ok(out)
    }
}

impl SubtreeCache {
    fn walk<'a>(&'a self, db: &'a Db, tenant: &'a str, log_id: &str) -> Walk<'a> {
        Walk {
            cache: self,
            db,
            tenant,
            key: format!("{tenant}/{log_id}"),
            chunk: None,
            computed: Vec::new(),
        }
    }

    /// How many leaf hashes proofs have read from the database since the service started.
    pub fn leaves_read(&self) -> u64 {
        self.leaves_read.load(Ordering::Relaxed)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves of `tenant`'s log.
    pub async fn proof(
        &self,
        db: &Db,
        tenant: &str,
        log_id: &str,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, Problem> {
        self.walk(db, tenant, log_id)
            .ranges(&path_ranges(index, size))
            .await
    }

    /// The batch inclusion proof of `indices` (strictly increasing, below `size`) in the tree
    /// of `size` leaves of `tenant`'s log: what `cavra_evidence::compact::batch_proof` gives
    /// from all leaves, without reading them.
    pub async fn batch_proof(
        &self,
        db: &Db,
        tenant: &str,
        log_id: &str,
        size: u64,
        indices: &[u64],
    ) -> Result<Vec<Hash>, Problem> {
        if indices.windows(2).any(|w| w[0] >= w[1]) || indices.last().is_some_and(|&i| i >= size) {
            return Err(Problem::internal(
                "batch proof indices out of order or range",
            ));
        }
        self.walk(db, tenant, log_id)
            .ranges(&batch_ranges(size, indices))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_evidence::merkle::{inclusion_proof, leaf_hash};

    fn mth_of(leaves: &[Hash], start: u64, size: u64) -> Hash {
        let parts = pieces(start, size);
        let mut hashes: Vec<Hash> = parts
            .iter()
            .map(|(s, n)| root(&leaves[*s as usize..(*s + *n) as usize]))
            .collect();
        let mut acc = hashes.pop().unwrap();
        while let Some(left) = hashes.pop() {
            acc = node_hash(&left, &acc);
        }
        acc
    }

    #[test]
    fn ranges_and_pieces_give_the_same_path_as_the_whole_tree() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in [1u64, 2, 3, 5, 8, 13, 64, 65, 127, 128, 129, 255, 300] {
            for index in (0..size).step_by(7).chain([size - 1]) {
                let want = inclusion_proof(&leaves[..size as usize], index as usize).unwrap();
                let got: Vec<Hash> = path_ranges(index, size)
                    .into_iter()
                    .map(|(s, n)| mth_of(&leaves, s, n))
                    .collect();
                assert_eq!(got, want, "size {size} index {index}");
            }
        }
    }

    #[test]
    fn batch_ranges_give_the_same_hashes_as_the_batch_proof() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in [1u64, 2, 3, 64, 65, 129, 300] {
            for picks in [
                vec![],
                vec![0],
                vec![size - 1],
                (0..size).step_by(5).collect(),
            ] {
                let want =
                    cavra_evidence::compact::batch_proof(&leaves[..size as usize], &picks).unwrap();
                let got: Vec<Hash> = batch_ranges(size, &picks)
                    .into_iter()
                    .map(|(s, n)| mth_of(&leaves, s, n))
                    .collect();
                assert_eq!(got, want, "size {size} picks {picks:?}");
            }
        }
    }

    #[test]
    fn pieces_are_powers_of_two_covering_the_range() {
        for (start, size) in [(0u64, 1u64), (4, 3), (16, 100), (64, 64)] {
            let p = pieces(start, size);
            assert!(p.iter().all(|(_, n)| n.is_power_of_two()));
            assert_eq!(p.iter().map(|(_, n)| n).sum::<u64>(), size);
            assert_eq!(p[0].0, start);
        }
    }
}
