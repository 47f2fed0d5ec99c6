//! Pure evidence core for cavra: the building blocks of verifiable evidence, with no
//! file, network or clock access.
//!
//! * [`canonical`]: canonical JSON (RFC 8785 style) for hashing and signing;
//! * [`merkle`]: RFC 6962 Merkle tree heads, inclusion and consistency proofs;
//! * [`keys`]: Ed25519 key generation, PKCS#8 / SPKI PEM and fingerprint key ids;
//! * [`dsse`]: DSSE v1 envelopes signed with Ed25519 and verified against trusted keys;
//! * [`intoto`]: in-toto Statement v1 wrapped in DSSE;
//! * [`compact`]: the compact range of a growing tree and batch inclusion proofs;
//! * [`checkpoint`]: signed checkpoints of a log (size, tree head, time, key);
//! * [`proof_file`]: inclusion and consistency proof files, checked offline;
//! * [`trust`]: trust roots — keys with owner, status and validity — and signature checks
//!   against them.
//!
//! Storing the log is `cavra-store`'s job; writing and verifying bundles on disk is
//! `cavra-bundle`'s.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod checkpoint;
pub mod compact;
pub mod dsse;
pub mod intoto;
pub mod keys;
pub mod merkle;
pub mod pack_signature;
pub mod proof_file;
pub mod trust;
