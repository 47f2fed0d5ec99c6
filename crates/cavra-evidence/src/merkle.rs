//! RFC 6962 / RFC 9162 Merkle tree hashing with inclusion and consistency proofs.
//!
//! * leaf hash: `SHA-256(0x00 ‖ entry)`;
//! * interior node: `SHA-256(0x01 ‖ left ‖ right)`;
//! * the tree head `MTH(D[n])` of `n` leaves splits at `k`, the largest power of two
//!   strictly smaller than `n` (RFC 6962 §2.1); the head of the empty tree is
//!   `SHA-256("")`.
//!
//! Functions that build trees take the *leaf hashes* (see [`leaf_hash`]) so that a
//! caller holding a log can hash each entry once. Verification functions implement the
//! algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) and need
//! only the hashes carried in the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree head.
pub type Hash = [u8; 32];

/// Errors from building or checking Merkle proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} out of range for tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The two tree sizes of a consistency proof are not `0 < old <= new`.
    #[error("invalid consistency sizes: old {old}, new {new}")]
    InvalidSizes {
        /// The older (smaller) tree size.
        old: u64,
        /// The newer (larger) tree size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the claimed sizes.
    #[error("malformed proof: wrong number of hashes")]
    MalformedProof,
    /// The proof does not lead to the expected tree head(s).
    #[error("proof does not match the expected root hash")]
    RootMismatch,
}

/// `SHA-256("")`, the head of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The RFC 6962 leaf hash `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The RFC 6962 interior node hash `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (requires `n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The tree head `MTH` over the given leaf hashes (`SHA-256("")` when empty).
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    if leaf_hashes.is_empty() {
        empty_root()
    } else {
        mth(leaf_hashes)
    }
}

/// The tree head over raw entries: hashes each entry with [`leaf_hash`] then [`root`].
pub fn root_of_entries<T: AsRef<[u8]>>(entries: &[T]) -> Hash {
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e.as_ref())).collect();
    root(&leaves)
}

fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// The audit path `PATH(index, D[n])` of RFC 6962 §2.1.1 for the leaf at `index`.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: usize) -> Result<Vec<Hash>, MerkleError> {
    if index >= leaf_hashes.len() {
        return Err(MerkleError::IndexOutOfRange {
            index: index as u64,
            size: leaf_hashes.len() as u64,
        });
    }
    let mut out = Vec::new();
    path(index, leaf_hashes, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(mth(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(mth(&d[..k]));
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that the leaf with hash `leaf` is at
/// `index` in the tree of `tree_size` leaves whose head is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let mut f = index;
    let mut s = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::MalformedProof);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::MalformedProof);
    }
    if &r != root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof `PROOF(old_size, D[n])` of RFC 6962 §2.1.2 between the tree
/// of the first `old_size` leaves and the tree of all `leaf_hashes`.
///
/// Requires `0 < old_size <= leaf_hashes.len()`; the proof for equal sizes is empty.
pub fn consistency_proof(leaf_hashes: &[Hash], old_size: usize) -> Result<Vec<Hash>, MerkleError> {
    let n = leaf_hashes.len();
    if old_size == 0 || old_size > n {
        return Err(MerkleError::InvalidSizes {
            old: old_size as u64,
            new: n as u64,
        });
    }
    let mut out = Vec::new();
    subproof(old_size, leaf_hashes, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(mth(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(mth(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(mth(&d[..k]));
    }
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `old_size` leaves
/// with head `old_root` is a prefix of the tree of `new_size` leaves with head
/// `new_root`.
///
/// Requires `0 < old_size <= new_size`; for equal sizes the proof must be empty and the
/// roots equal.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::InvalidSizes {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::MalformedProof);
        }
        if old_root != new_root {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(MerkleError::MalformedProof);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if s == 0 {
            return Err(MerkleError::MalformedProof);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::MalformedProof);
    }
    if &fr != old_root || &sr != new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}
