//! Two pieces that make a large log cheap to extend and to verify:
//!
//! * [`Frontier`]: the compact range of an RFC 6962 tree — the roots of the perfect
//!   subtrees that make up its `n` leaves, largest first (one per set bit of `n`). Appending
//!   a leaf and computing the tree head both take `O(log n)` hashes, so a log never has to
//!   re-read its entries to sign a checkpoint.
//! * Batch inclusion proofs ([`batch_proof`], [`verify_batch`]): one proof that a *set* of
//!   leaves is in a tree, made of the roots of the subtrees that hold none of them, in
//!   left-to-right order. It replaces one audit path per leaf: for a bundle that holds
//!   every entry it is empty, for a sparse selection it is at most `k·log n` hashes, and
//!   checking it hashes each node of the tree at most once.
//!
//! The tree shape is RFC 6962's: a range of `n > 1` leaves splits at the largest power of
//! two strictly smaller than `n`.

use crate::merkle::{Hash, MerkleError, empty_root, node_hash};

/// The roots of the perfect subtrees of a tree of `size` leaves, largest (leftmost) first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its size and subtree roots (as stored by [`Frontier::to_bytes`]).
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Result<Self, MerkleError> {
        if roots.len() != size.count_ones() as usize {
            return Err(MerkleError::MalformedProof);
        }
        Ok(Self { size, roots })
    }

    /// Decodes `size` and the concatenated 32-byte subtree roots.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, MerkleError> {
        if !bytes.len().is_multiple_of(32) {
            return Err(MerkleError::MalformedProof);
        }
        let roots = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Self::from_parts(size, roots)
    }

    /// The subtree roots, concatenated (for storage).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.roots.concat()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Appends one leaf (its leaf hash).
    pub fn push(&mut self, leaf: Hash) {
        self.roots.push(leaf);
        // Each trailing 1 bit of the old size is a pair of equal subtrees to merge.
        let mut carries = self.size.trailing_ones();
        while carries > 0 {
            let right = self.roots.pop();
            let left = self.roots.pop();
            if let (Some(left), Some(right)) = (left, right) {
                self.roots.push(node_hash(&left, &right));
            }
            carries -= 1;
        }
        self.size += 1;
    }

    /// The tree head `MTH` of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.roots.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

fn split(n: u64) -> u64 {
    1u64 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// The batch inclusion proof for the leaves at `indices` (strictly increasing) of the tree
/// whose leaf hashes are given: the heads of the maximal subtrees holding none of them,
/// in left-to-right order.
pub fn batch_proof(leaf_hashes: &[Hash], indices: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    check_indices(indices, leaf_hashes.len() as u64)?;
    let mut out = Vec::new();
    if !leaf_hashes.is_empty() {
        prove(leaf_hashes, 0, indices, &mut out);
    }
    Ok(out)
}

fn prove(d: &[Hash], offset: u64, indices: &[u64], out: &mut Vec<Hash>) {
    if indices.is_empty() {
        out.push(crate::merkle::root(d));
        return;
    }
    if d.len() == 1 {
        return;
    }
    let k = split(d.len() as u64);
    let cut = indices.partition_point(|&i| i < offset + k);
    prove(&d[..k as usize], offset, &indices[..cut], out);
    prove(&d[k as usize..], offset + k, &indices[cut..], out);
}

fn check_indices(indices: &[u64], size: u64) -> Result<(), MerkleError> {
    for pair in indices.windows(2) {
        if pair[0] >= pair[1] {
            return Err(MerkleError::MalformedProof);
        }
    }
    match indices.last() {
        Some(&last) if last >= size => Err(MerkleError::IndexOutOfRange { index: last, size }),
        _ => Ok(()),
    }
}

/// Checks a batch inclusion proof: that the leaves (index, leaf hash), in strictly
/// increasing index order, are the leaves at those positions of the tree of `size` leaves
/// whose head is `root`. Every proof hash must be used exactly once.
pub fn verify_batch(
    size: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let indices: Vec<u64> = leaves.iter().map(|(i, _)| *i).collect();
    check_indices(&indices, size)?;
    if size == 0 {
        return if proof.is_empty() && leaves.is_empty() && *root == empty_root() {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let mut proof_iter = proof.iter();
    let computed = rebuild(size, 0, leaves, &mut proof_iter)?;
    if proof_iter.next().is_some() {
        return Err(MerkleError::MalformedProof);
    }
    if computed != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

fn rebuild<'a>(
    n: u64,
    offset: u64,
    leaves: &[(u64, Hash)],
    proof: &mut impl Iterator<Item = &'a Hash>,
) -> Result<Hash, MerkleError> {
    if leaves.is_empty() {
        return proof.next().copied().ok_or(MerkleError::MalformedProof);
    }
    if n == 1 {
        // check_indices guarantees one leaf here, at `offset`.
        return match leaves {
            [(i, h)] if *i == offset => Ok(*h),
            _ => Err(MerkleError::MalformedProof),
        };
    }
    let k = split(n);
    let cut = leaves.partition_point(|(i, _)| *i < offset + k);
    let left = rebuild(k, offset, &leaves[..cut], proof)?;
    let right = rebuild(n - k, offset + k, &leaves[cut..], proof)?;
    Ok(node_hash(&left, &right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root};
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn frontier_matches_the_tree_head_at_every_size() {
        let all = leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            f.push(*leaf);
            assert_eq!(f.size(), i as u64 + 1);
            assert_eq!(f.root(), root(&all[..=i]), "size {}", i + 1);
            let back = Frontier::from_bytes(f.size(), &f.to_bytes()).expect("round trip");
            assert_eq!(back, f);
        }
        assert!(Frontier::from_bytes(5, &[0u8; 32]).is_err());
        assert!(Frontier::from_bytes(1, &[0u8; 31]).is_err());
    }

    #[test]
    fn whole_tree_needs_no_proof_hashes() {
        let all = leaves(37);
        let idx: Vec<u64> = (0..37).collect();
        let proof = batch_proof(&all, &idx).expect("proof");
        assert!(proof.is_empty());
        let pairs: Vec<(u64, Hash)> = idx.iter().map(|&i| (i, all[i as usize])).collect();
        verify_batch(37, &pairs, &proof, &root(&all)).expect("verifies");
    }

    #[test]
    fn unordered_or_out_of_range_indices_are_refused() {
        let all = leaves(8);
        assert!(batch_proof(&all, &[3, 2]).is_err());
        assert!(batch_proof(&all, &[2, 2]).is_err());
        assert!(batch_proof(&all, &[8]).is_err());
        let r = root(&all);
        let proof = batch_proof(&all, &[2, 3]).expect("proof");
        let swapped = [(3, all[3]), (2, all[2])];
        assert!(verify_batch(8, &swapped, &proof, &r).is_err());
    }

    proptest! {
        #[test]
        fn batch_proofs_verify_and_any_change_fails(
            n in 1usize..200,
            picks in proptest::collection::btree_set(0usize..200, 0..20),
            flip in any::<usize>(),
        ) {
            let all = leaves(n);
            let idx: Vec<u64> = picks.into_iter().filter(|&i| i < n).map(|i| i as u64).collect();
            let r = root(&all);
            let proof = batch_proof(&all, &idx).expect("proof");
            let pairs: Vec<(u64, Hash)> = idx.iter().map(|&i| (i, all[i as usize])).collect();
            prop_assert!(verify_batch(n as u64, &pairs, &proof, &r).is_ok());
            // A changed proof hash, a changed leaf, a dropped or an extra hash all fail. (The size
            // is not bound by the proof alone; verifiers take it from the signed checkpoint.)
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = flip % bad.len();
                bad[at][0] ^= 1;
                prop_assert!(verify_batch(n as u64, &pairs, &bad, &r).is_err());
                prop_assert!(verify_batch(n as u64, &pairs, &proof[1..], &r).is_err());
                let mut longer = proof.clone();
                longer.push([0u8; 32]);
                prop_assert!(verify_batch(n as u64, &pairs, &longer, &r).is_err());
            }
            if !pairs.is_empty() {
                let mut bad = pairs.clone();
                let at = flip % bad.len();
                bad[at].1[5] ^= 0x80;
                prop_assert!(verify_batch(n as u64, &bad, &proof, &r).is_err());
            }
        }
    }
}
