//! Pure evidence core for cavra: the building blocks of verifiable evidence, with no
//! file, network or clock access.
//!
//! * [`canonical`]: canonical JSON (RFC 8785 style) for hashing and signing;
//! * [`merkle`]: RFC 6962 Merkle tree heads, inclusion and consistency proofs;
//! * [`keys`]: Ed25519 key generation, PKCS#8 / SPKI PEM and fingerprint key ids;
//! * [`dsse`]: DSSE v1 envelopes signed with Ed25519 and verified against trusted keys;
//! * [`intoto`]: in-toto Statement v1 wrapped in DSSE.
//!
//! The append-only log, checkpoints, trust-root files, bundles and the CLI are not part
//! of this crate yet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod dsse;
pub mod intoto;
pub mod keys;
pub mod merkle;
