//! Inclusion proofs without reading the whole log: a proof is O(log n) subtree hashes, and
//! every power-of-two subtree `[start, start + 2^k)` of an append-only log never changes once
//! its leaves exist, so their hashes are kept (per log) and reused by every later proof,
//! whatever the tree size. Only subtrees not yet seen are read, as their leaves.

use std::collections::HashMap;
use std::sync::Mutex;

use cavra_evidence::merkle::{Hash, node_hash, root};
use cavra_tenant_store::Db;

use crate::problem::Problem;

/// Subtrees smaller than this are read as leaves each time (a few KiB), not kept.
const MIN_KEPT: u64 = 64;

/// How many subtree hashes are kept at most; past this the cache starts over (it only ever
/// saves reads, so forgetting is safe).
const MAX_KEPT: usize = 200_000;

/// Subtree hashes by (tenant/log id, start, size).
#[derive(Default)]
pub struct SubtreeCache {
    kept: Mutex<HashMap<(String, u64, u64), Hash>>,
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

impl SubtreeCache {
    /// The hash of the power-of-two subtree `[start, start + size)` of `tenant`'s log.
    async fn subtree(
        &self,
        db: &Db,
        tenant: &str,
        log_id: &str,
        start: u64,
        size: u64,
    ) -> Result<Hash, Problem> {
        let key = (format!("{tenant}/{log_id}"), start, size);
        if let Some(h) = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*h);
        }
        let leaves = db.leaf_range(tenant, start, start + size).await?;
        if leaves.len() as u64 != size {
            return Err(Problem::internal(format!(
                "tenant {tenant}: the log holds fewer than {} entries",
                start + size
            )));
        }
        let h = root(&leaves);
        if size >= MIN_KEPT {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() >= MAX_KEPT {
                kept.clear();
            }
            kept.insert(key, h);
        }
        Ok(h)
    }

    /// MTH of `[start, start + size)`.
    async fn range(
        &self,
        db: &Db,
        tenant: &str,
        log_id: &str,
        start: u64,
        size: u64,
    ) -> Result<Hash, Problem> {
        let parts = pieces(start, size);
        let mut hashes = Vec::with_capacity(parts.len());
        for (s, n) in parts {
            hashes.push(self.subtree(db, tenant, log_id, s, n).await?);
        }
        let mut acc = hashes
            .pop()
            .ok_or_else(|| Problem::internal("empty range"))?;
        while let Some(left) = hashes.pop() {
            acc = node_hash(&left, &acc);
        }
        Ok(acc)
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
        let mut out = Vec::new();
        for (start, n) in path_ranges(index, size) {
            out.push(self.range(db, tenant, log_id, start, n).await?);
        }
        Ok(out)
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
    fn pieces_are_powers_of_two_covering_the_range() {
        for (start, size) in [(0u64, 1u64), (4, 3), (16, 100), (64, 64)] {
            let p = pieces(start, size);
            assert!(p.iter().all(|(_, n)| n.is_power_of_two()));
            assert_eq!(p.iter().map(|(_, n)| n).sum::<u64>(), size);
            assert_eq!(p[0].0, start);
        }
    }
}
