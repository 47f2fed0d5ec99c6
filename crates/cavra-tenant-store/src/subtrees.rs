//! Stored hashes of complete power-of-two subtrees of a tenant's log.
//!
//! In an append-only log, the subtree `[start, start + 2^k)` (with `start` a multiple of `2^k`)
//! never changes once its last leaf exists, so its hash can be kept for good. Every inclusion
//! proof and every batch proof is made of such hashes (and of the Merkle hashes of ranges that
//! split into at most `log n` of them), so with them stored a proof reads O(log n) rows instead
//! of every leaf, and the saving survives a restart and is shared by every replica. The rows
//! are derived data: a missing row is recomputed from the leaves (and then stored).
//!
//! The backends store and read them through [`crate::backend::Evidence`].

use crate::{Result, StoreError};

/// A subtree: (first leaf index, number of leaves, a power of two).
pub type SubtreeRange = (u64, u64);

/// A stored subtree hash.
pub type SubtreeHash = (u64, u64, [u8; 32]);

/// A stored hash as 32 bytes (anything else is damage).
pub(crate) fn to_hash(bytes: &[u8], start: u64, size: u64) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("stored subtree hash [{start}, +{size})")))
}
