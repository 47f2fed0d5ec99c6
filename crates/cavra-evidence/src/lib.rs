//! Pure evidence core for cavra: the building blocks of verifiable evidence, with no
//! file, network or clock access.
//!
//! * [`canonical`]: canonical JSON (RFC 8785 style) for hashing and signing;
//! * [`merkle`]: RFC 6962 Merkle tree heads, inclusion and consistency proofs.
//!
//! The append-only log, checkpoints, bundles and the CLI are not part of this crate yet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod merkle;
