//! Signed checkpoints: a log's size and tree head at a moment, signed by the log's key.
//!
//! A checkpoint commits to every entry before it: with the entries (or a batch inclusion
//! proof) anyone can recompute the tree head and compare; with two checkpoints of the same
//! log, a consistency proof shows the later one extends the earlier one.

use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical_bytes;
use crate::dsse::Envelope;
use crate::keys::SigningKey;
use crate::merkle::Hash;
use crate::trust::{SignedBy, TrustError, TrustRoot};

/// DSSE payload type of a checkpoint.
pub const CHECKPOINT_PAYLOAD_TYPE: &str = "application/vnd.cavra.checkpoint+json";
/// The `format` of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "cavra-checkpoint/v1";

/// A log's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Which log (a random id fixed when the log was created).
    pub log_id: String,
    /// Entries in the log.
    pub tree_size: u64,
    /// Hex RFC 6962 tree head over those entries.
    pub root_hash: String,
    /// When it was signed (RFC 3339).
    pub timestamp: String,
    /// The signing key's id.
    pub key_id: String,
}

/// Errors from reading a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signature does not hold.
    #[error("checkpoint signature: {0}")]
    Trust(#[from] TrustError),
    /// The payload is not a checkpoint.
    #[error("invalid checkpoint: {0}")]
    Invalid(String),
}

impl Checkpoint {
    /// A checkpoint of `tree_size` entries with head `root`.
    pub fn new(
        log_id: impl Into<String>,
        tree_size: u64,
        root: &Hash,
        timestamp: impl Into<String>,
        key_id: impl Into<String>,
    ) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.into(),
            log_id: log_id.into(),
            tree_size,
            root_hash: hex::encode(root),
            timestamp: timestamp.into(),
            key_id: key_id.into(),
        }
    }

    /// The canonical JSON that is signed.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or_default();
        to_canonical_bytes(&value)
    }

    /// Signs the checkpoint with `key` (keyid hint: the checkpoint's `key_id`).
    pub fn sign(&self, key: &SigningKey) -> Envelope {
        let mut env = Envelope::new(CHECKPOINT_PAYLOAD_TYPE, &self.to_canonical_bytes());
        // A fresh envelope's payload always decodes, so adding a signature cannot fail.
        let _ = env.add_signature(key, self.key_id.clone());
        env
    }

    /// Parses an unverified payload (for display; use [`Checkpoint::open`] to trust it).
    pub fn from_payload(payload: &[u8]) -> Result<Self, CheckpointError> {
        let cp: Checkpoint =
            serde_json::from_slice(payload).map_err(|e| CheckpointError::Invalid(e.to_string()))?;
        if cp.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Invalid(format!(
                "format {:?}, expected {CHECKPOINT_FORMAT:?}",
                cp.format
            )));
        }
        cp.root()?;
        Ok(cp)
    }

    /// Verifies the envelope against `trust` and returns the checkpoint it carries. Any
    /// trusted signature counts: the log's own key (`key_id`), or a co-signature added when
    /// the checkpoint was put into a signed bundle.
    pub fn open(
        envelope: &Envelope,
        trust: &TrustRoot,
    ) -> Result<(Checkpoint, SignedBy), CheckpointError> {
        let by = trust.verify(envelope, CHECKPOINT_PAYLOAD_TYPE, None, &|p| {
            Checkpoint::from_payload(p).ok().map(|c| c.timestamp)
        })?;
        let cp = Checkpoint::from_payload(&by.payload)?;
        Ok((cp, by))
    }

    /// The tree head as bytes.
    pub fn root(&self) -> Result<Hash, CheckpointError> {
        let bytes = hex::decode(&self.root_hash)
            .map_err(|_| CheckpointError::Invalid("root_hash is not hex".into()))?;
        bytes
            .try_into()
            .map_err(|_| CheckpointError::Invalid("root_hash is not 32 bytes".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use crate::trust::KeyRecord;
    use time::macros::datetime;

    #[test]
    fn sign_and_open() {
        let key = keys::from_seed(&[3; 32]);
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
                .expect("record"),
            )
            .expect("add");
        let cp = Checkpoint::new("L1", 7, &[9; 32], "2026-05-01T00:00:00Z", "log");
        let env = cp.sign(&key);
        let (opened, by) = Checkpoint::open(&env, &trust).expect("opens");
        assert_eq!(opened, cp);
        assert_eq!(by.key_id, "log");
        assert_eq!(opened.root().expect("root"), [9; 32]);
        // Changing the payload breaks the signature.
        let mut other = cp.clone();
        other.tree_size = 8;
        let mut forged = env.clone();
        forged.payload =
            Envelope::new(CHECKPOINT_PAYLOAD_TYPE, &other.to_canonical_bytes()).payload;
        assert!(Checkpoint::open(&forged, &trust).is_err());
        // Signed by a key the trust root does not hold: refused.
        let other = Checkpoint::new("L1", 7, &[9; 32], "2026-05-01T00:00:00Z", "other")
            .sign(&keys::from_seed(&[4; 32]));
        assert!(Checkpoint::open(&other, &trust).is_err());
    }
}
