//! in-toto Statement v1 and its DSSE wrapping.
//!
//! A [`Statement`] names its subjects by digest and carries a typed predicate. It is
//! signed as the canonical JSON ([`crate::canonical`]) payload of a DSSE envelope of
//! type [`PAYLOAD_TYPE`].

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::to_canonical;
use crate::dsse::{DsseError, Envelope, TrustedKeys};

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Errors from building, signing or opening a statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// The envelope did not verify.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// The payload is not a statement.
    #[error("invalid in-toto statement JSON: {0}")]
    Json(String),
    /// The statement is well-formed JSON but not a valid Statement v1.
    #[error("invalid in-toto statement: {0}")]
    Invalid(String),
}

/// A subject of a statement: a name and its digests by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The subject's name, e.g. a file path inside a bundle.
    pub name: String,
    /// Digests by algorithm name (`sha256` → lowercase hex).
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with the SHA-256 digest of `content`.
    pub fn sha256_of(name: impl Into<String>, content: &[u8]) -> Self {
        Self::with_sha256(name, hex::encode(Sha256::digest(content)))
    }

    /// A subject named `name` with a given lowercase hex SHA-256 digest.
    pub fn with_sha256(name: impl Into<String>, hex_digest: impl Into<String>) -> Self {
        let mut digest = BTreeMap::new();
        digest.insert("sha256".to_owned(), hex_digest.into());
        Self {
            name: name.into(),
            digest,
        }
    }
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The URI naming the predicate's schema.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate itself.
    #[serde(default)]
    pub predicate: Value,
}

impl Statement {
    /// A Statement v1 about `subject` with the given predicate.
    pub fn new(subject: Vec<Subject>, predicate_type: impl Into<String>, predicate: Value) -> Self {
        Self {
            statement_type: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// Checks the structural rules: the `_type`, at least one subject, each with at
    /// least one digest, `sha256` digests 64 lowercase hex characters, and a non-empty
    /// predicate type.
    pub fn validate(&self) -> Result<(), StatementError> {
        if self.statement_type != STATEMENT_TYPE {
            return Err(StatementError::Invalid(format!(
                "_type is {:?}",
                self.statement_type
            )));
        }
        if self.subject.is_empty() {
            return Err(StatementError::Invalid("no subjects".into()));
        }
        for s in &self.subject {
            if s.digest.is_empty() {
                return Err(StatementError::Invalid(format!(
                    "subject {:?} has no digest",
                    s.name
                )));
            }
            if let Some(d) = s.digest.get("sha256")
                && !(d.len() == 64
                    && d.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(StatementError::Invalid(format!(
                    "subject {:?} has a malformed sha256 digest",
                    s.name
                )));
            }
        }
        if self.predicate_type.is_empty() {
            return Err(StatementError::Invalid("empty predicateType".into()));
        }
        Ok(())
    }

    /// The canonical JSON bytes of the statement (the signed payload).
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        // A struct of strings, maps and a Value always converts to a Value.
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        to_canonical(&value).into_bytes()
    }

    /// Validates the statement and signs it into a DSSE envelope of type
    /// [`PAYLOAD_TYPE`].
    pub fn sign(&self, signers: &[&SigningKey]) -> Result<Envelope, StatementError> {
        self.validate()?;
        Ok(Envelope::sign(
            PAYLOAD_TYPE,
            &self.to_canonical_bytes(),
            signers,
        ))
    }

    /// Verifies `envelope` against `trusted` (payload type must be [`PAYLOAD_TYPE`]),
    /// then parses and validates the statement it carries. Returns the statement and
    /// the ids of the trusted keys that signed it.
    pub fn open(
        envelope: &Envelope,
        trusted: &TrustedKeys,
    ) -> Result<(Statement, Vec<String>), StatementError> {
        let verified = envelope.verify_typed(trusted, PAYLOAD_TYPE)?;
        let statement: Statement = serde_json::from_slice(&verified.payload)
            .map_err(|e| StatementError::Json(e.to_string()))?;
        statement.validate()?;
        Ok((statement, verified.key_ids))
    }
}
