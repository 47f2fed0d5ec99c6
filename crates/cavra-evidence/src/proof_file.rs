//! Proof files: one log entry's inclusion proof, or the consistency proof between two signed
//! checkpoints of a log, carried with the signed checkpoint(s) they lead to, so that anyone
//! holding the trust root can check them offline (`cavra evidence check-proof`).

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::dsse::{DsseError, Envelope};
use crate::merkle::{self, Hash, MerkleError};
use crate::trust::TrustRoot;

/// `format` of an inclusion proof file.
pub const INCLUSION_FORMAT: &str = "cavra-inclusion-proof/v1";
/// `format` of a consistency proof file.
pub const CONSISTENCY_FORMAT: &str = "cavra-consistency-proof/v1";

/// A proof file: either kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// [`INCLUSION_FORMAT`] or [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// Inclusion: the entry's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Inclusion: the entry's canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Consistency: the older checkpoint (signed envelope JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_checkpoint: Option<String>,
    /// The checkpoint the proof leads to (signed envelope JSON).
    pub checkpoint: String,
    /// The proof's hashes (hex).
    pub hashes: Vec<String>,
}

/// Why a proof file does not prove what it claims. The texts are what `check-proof` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The text is not a proof file.
    #[error("not a proof file: {0}")]
    NotAProofFile(String),
    /// A hash is not 32 bytes of hex.
    #[error("a proof hash is not 32 bytes of hex")]
    BadHash,
    /// A checkpoint is not a DSSE envelope.
    #[error("checkpoint: {0}")]
    Envelope(DsseError),
    /// A checkpoint's signature or payload does not hold.
    #[error("{0}")]
    Checkpoint(CheckpointError),
    /// An inclusion proof without its index or entry.
    #[error("an inclusion proof needs index and entry")]
    IncompleteInclusion,
    /// The entry names another index than the proof.
    #[error("the entry's own index differs from the proof's")]
    IndexMismatch,
    /// The entry is not in the signed tree.
    #[error("entry {index} is not in the signed tree: {error}")]
    NotIncluded {
        /// The entry's index.
        index: u64,
        /// What the Merkle check said.
        error: MerkleError,
    },
    /// A consistency proof without its older checkpoint.
    #[error("a consistency proof needs old_checkpoint")]
    NoOldCheckpoint,
    /// The two checkpoints are of different logs.
    #[error("the two checkpoints are of different logs")]
    DifferentLogs,
    /// The later tree does not extend the earlier one.
    #[error("the later log does not extend the earlier one: {0}")]
    NotExtended(MerkleError),
    /// A `format` this version does not know.
    #[error("unknown proof format {0:?}")]
    UnknownFormat(String),
}

impl ProofFile {
    /// The inclusion proof of entry `index` (its canonical JSON `entry`) under `checkpoint`.
    pub fn inclusion(index: u64, entry: String, checkpoint: String, proof: &[Hash]) -> Self {
        Self {
            format: INCLUSION_FORMAT.into(),
            index: Some(index),
            entry: Some(entry),
            old_checkpoint: None,
            checkpoint,
            hashes: proof.iter().map(hex::encode).collect(),
        }
    }

    /// The consistency proof from `old_checkpoint` to `checkpoint`.
    pub fn consistency(old_checkpoint: String, checkpoint: String, proof: &[Hash]) -> Self {
        Self {
            format: CONSISTENCY_FORMAT.into(),
            index: None,
            entry: None,
            old_checkpoint: Some(old_checkpoint),
            checkpoint,
            hashes: proof.iter().map(hex::encode).collect(),
        }
    }

    /// Reads a proof file's text.
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        serde_json::from_str(text).map_err(|e| ProofError::NotAProofFile(e.to_string()))
    }

    /// The file's text: pretty JSON and a newline.
    pub fn to_text(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Checks the proof against `trust`; on success, what it proves, in a sentence.
    pub fn check(&self, trust: &TrustRoot) -> Result<String, ProofError> {
        let hashes: Vec<Hash> = self
            .hashes
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or(ProofError::BadHash)?;
        let (cp, root) = open_checkpoint(&self.checkpoint, trust)?;
        match self.format.as_str() {
            INCLUSION_FORMAT => {
                let (Some(index), Some(entry)) = (self.index, self.entry.as_deref()) else {
                    return Err(ProofError::IncompleteInclusion);
                };
                let embedded = serde_json::from_str::<serde_json::Value>(entry)
                    .ok()
                    .and_then(|v| v.get("index").and_then(|i| i.as_u64()));
                if embedded != Some(index) {
                    return Err(ProofError::IndexMismatch);
                }
                merkle::verify_inclusion(
                    &merkle::leaf_hash(entry.as_bytes()),
                    index,
                    cp.tree_size,
                    &hashes,
                    &root,
                )
                .map_err(|error| ProofError::NotIncluded { index, error })?;
                Ok(format!(
                    "entry {index} is in log {} of {} entries (tree head {})",
                    cp.log_id, cp.tree_size, cp.root_hash
                ))
            }
            CONSISTENCY_FORMAT => {
                let old_text = self
                    .old_checkpoint
                    .as_deref()
                    .ok_or(ProofError::NoOldCheckpoint)?;
                let (old, old_root) = open_checkpoint(old_text, trust)?;
                if old.log_id != cp.log_id {
                    return Err(ProofError::DifferentLogs);
                }
                merkle::verify_consistency(old.tree_size, cp.tree_size, &old_root, &root, &hashes)
                    .map_err(ProofError::NotExtended)?;
                Ok(format!(
                    "log {}: the tree of {} entries extends the tree of {} (nothing before was changed)",
                    cp.log_id, cp.tree_size, old.tree_size
                ))
            }
            other => Err(ProofError::UnknownFormat(other.to_string())),
        }
    }
}

fn open_checkpoint(text: &str, trust: &TrustRoot) -> Result<(Checkpoint, Hash), ProofError> {
    let env = Envelope::from_json(text).map_err(ProofError::Envelope)?;
    let (cp, _) = Checkpoint::open(&env, trust).map_err(ProofError::Checkpoint)?;
    let root = cp.root().map_err(ProofError::Checkpoint)?;
    Ok((cp, root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use crate::trust::KeyRecord;
    use time::macros::datetime;

    fn entry(i: u64) -> String {
        format!("{{\"index\":{i},\"kind\":\"decision\"}}")
    }

    /// A log of `n` entries, its leaves, and a checkpoint of its first `size` entries.
    fn log(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(entry(i).as_bytes()))
            .collect()
    }

    fn signed(leaves: &[Hash], size: usize, log_id: &str) -> (String, TrustRoot) {
        let key = keys::from_seed(&[7; 32]);
        let mut trust = TrustRoot::default();
        trust
            .add(
                KeyRecord::new(
                    "log",
                    "me",
                    &key.verifying_key(),
                    datetime!(2026-01-01 0:00 UTC),
                    None,
                )
                .unwrap(),
            )
            .unwrap();
        let root = merkle::root(&leaves[..size]);
        let cp = Checkpoint::new(log_id, size as u64, &root, "2026-06-01T00:00:00Z", "log");
        (cp.sign(&key).to_json(), trust)
    }

    #[test]
    fn an_inclusion_proof_checks_and_survives_its_text() {
        let leaves = log(10);
        let (cp, trust) = signed(&leaves, 10, "L");
        let proof = merkle::inclusion_proof(&leaves, 3).unwrap();
        let file = ProofFile::inclusion(3, entry(3), cp, &proof);
        let again = ProofFile::parse(&file.to_text()).unwrap();
        assert_eq!(again, file);
        assert_eq!(
            again.check(&trust).unwrap(),
            format!(
                "entry 3 is in log L of 10 entries (tree head {})",
                hex::encode(merkle::root(&leaves))
            )
        );
    }

    #[test]
    fn a_changed_entry_or_index_is_refused() {
        let leaves = log(10);
        let (cp, trust) = signed(&leaves, 10, "L");
        let proof = merkle::inclusion_proof(&leaves, 3).unwrap();
        let mut file =
            ProofFile::inclusion(3, entry(3).replace("decision", "Decision"), cp, &proof);
        assert!(matches!(
            file.check(&trust),
            Err(ProofError::NotIncluded { index: 3, .. })
        ));
        file.entry = Some(entry(4));
        assert_eq!(file.check(&trust), Err(ProofError::IndexMismatch));
        file.hashes[0] = "00".into();
        assert_eq!(file.check(&trust), Err(ProofError::BadHash));
    }

    #[test]
    fn a_consistency_proof_checks_only_within_one_log() {
        let leaves = log(12);
        let (old, trust) = signed(&leaves, 5, "L");
        let (new, _) = signed(&leaves, 12, "L");
        let proof = merkle::consistency_proof(&leaves, 5).unwrap();
        let file = ProofFile::consistency(old, new, &proof);
        assert!(
            file.check(&trust)
                .unwrap()
                .contains("extends the tree of 5")
        );
        let (other, _) = signed(&leaves, 5, "M");
        let mixed = ProofFile {
            old_checkpoint: Some(other),
            ..file
        };
        assert_eq!(mixed.check(&trust), Err(ProofError::DifferentLogs));
    }

    #[test]
    fn an_unsigned_checkpoint_or_an_unknown_format_is_refused() {
        let leaves = log(4);
        let (cp, _) = signed(&leaves, 4, "L");
        let file = ProofFile::inclusion(0, entry(0), cp, &[]);
        assert!(matches!(
            file.check(&TrustRoot::default()),
            Err(ProofError::Checkpoint(_))
        ));
        assert!(matches!(
            ProofFile::parse("{\"format\":1}"),
            Err(ProofError::NotAProofFile(_))
        ));
        let (cp, trust) = signed(&leaves, 4, "L");
        let odd = ProofFile {
            format: "x".into(),
            ..ProofFile::inclusion(0, entry(0), cp, &[])
        };
        assert_eq!(
            odd.check(&trust).unwrap_err().to_string(),
            "unknown proof format \"x\""
        );
    }
}
