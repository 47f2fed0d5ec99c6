//! DSSE (Dead Simple Signing Envelope) v1 with Ed25519 signatures.
//!
//! The signature covers the pre-authentication encoding
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN`
//! is the byte length in ASCII decimal (see [`pae`]). The payload and signatures are
//! base64 (standard alphabet with padding when written; standard or URL-safe, padded
//! or not, accepted when read, as the DSSE spec allows).
//!
//! Verification ([`Envelope::verify`]) is against a caller-supplied set of
//! [`TrustedKeys`]. A signature's `keyid` is only a hint: it selects which trusted key
//! to try first, but a signature is accepted only if it verifies (strictly, RFC 8032)
//! under a trusted key, and the verified key id reported is the trusted one.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature as Ed25519Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::keys;

/// Errors from parsing or verifying an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// The envelope is not valid JSON of the DSSE shape.
    #[error("invalid DSSE envelope JSON: {0}")]
    Json(String),
    /// The payload is not valid base64.
    #[error("payload is not valid base64")]
    PayloadEncoding,
    /// The envelope carries no signatures.
    #[error("envelope has no signatures")]
    NoSignatures,
    /// No signature verified under a trusted key.
    #[error("no signature verifies under a trusted key ({signatures} signature(s) checked)")]
    NoTrustedSignature {
        /// How many signatures the envelope carried.
        signatures: usize,
    },
    /// Fewer distinct trusted keys signed than required.
    #[error("{found} trusted signature(s), {required} required")]
    ThresholdNotMet {
        /// Distinct trusted keys whose signatures verified.
        found: usize,
        /// The threshold asked for.
        required: usize,
    },
    /// The envelope's payload type is not the one expected.
    #[error("payload type {found:?}, expected {expected:?}")]
    PayloadTypeMismatch {
        /// The payload type the caller expected.
        expected: String,
        /// The payload type in the envelope.
        found: String,
    },
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Unauthenticated hint naming the key; empty when absent. Never trusted alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The base64 Ed25519 signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope: a typed payload and its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The payload type, e.g. `application/vnd.in-toto+json`.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The base64-encoded payload.
    pub payload: String,
    /// The signatures over `PAE(payload_type, payload)`.
    #[serde(default)]
    pub signatures: Vec<Signature>,
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The (authenticated) payload type.
    pub payload_type: String,
    /// The decoded, authenticated payload.
    pub payload: Vec<u8>,
    /// The ids (as named in [`TrustedKeys`]) of the distinct trusted keys that signed.
    pub key_ids: Vec<String>,
}

/// A set of trusted Ed25519 public keys, each under a key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    /// An empty set: nothing verifies against it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` under `key_id` (replacing any key of the same id).
    pub fn insert(&mut self, key_id: impl Into<String>, key: VerifyingKey) {
        self.keys.insert(key_id.into(), key);
    }

    /// Adds `key` under its fingerprint id ([`keys::key_id`]) and returns that id.
    pub fn insert_by_fingerprint(&mut self, key: VerifyingKey) -> String {
        let id = keys::key_id(&key);
        self.keys.insert(id.clone(), key);
        id
    }

    /// Number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key trusted under `key_id`, if any.
    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }
}

/// The DSSE v1 pre-authentication encoding of `payload_type` and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

impl Envelope {
    /// Creates an unsigned envelope holding `payload`.
    pub fn new(payload_type: impl Into<String>, payload: &[u8]) -> Self {
        Self {
            payload_type: payload_type.into(),
            payload: STANDARD.encode(payload),
            signatures: Vec::new(),
        }
    }

    /// Creates an envelope and signs it with each of `signers` (key ids are fingerprints).
    pub fn sign(payload_type: impl Into<String>, payload: &[u8], signers: &[&SigningKey]) -> Self {
        let mut env = Self::new(payload_type, payload);
        for key in signers {
            let id = keys::key_id(&key.verifying_key());
            env.signatures
                .push(sign_pae(&env.payload_type, payload, key, id));
        }
        env
    }

    /// Adds a signature by `key` with the given `keyid` hint.
    pub fn add_signature(
        &mut self,
        key: &SigningKey,
        keyid: impl Into<String>,
    ) -> Result<(), DsseError> {
        let payload = self.payload_bytes()?;
        let sig = sign_pae(&self.payload_type, &payload, key, keyid.into());
        self.signatures.push(sig);
        Ok(())
    }

    /// The decoded payload bytes (not authenticated; use [`Envelope::verify`]).
    pub fn payload_bytes(&self) -> Result<Vec<u8>, DsseError> {
        decode_b64(&self.payload).ok_or(DsseError::PayloadEncoding)
    }

    /// Parses an envelope from JSON.
    pub fn from_json(text: &str) -> Result<Self, DsseError> {
        serde_json::from_str(text).map_err(|e| DsseError::Json(e.to_string()))
    }

    /// Serialises the envelope as compact JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Verifies that at least one signature is valid under a trusted key.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<Verified, DsseError> {
        self.verify_threshold(trusted, 1)
    }

    /// Verifies the payload type is `expected` and at least one trusted signature.
    pub fn verify_typed(
        &self,
        trusted: &TrustedKeys,
        expected: &str,
    ) -> Result<Verified, DsseError> {
        if self.payload_type != expected {
            return Err(DsseError::PayloadTypeMismatch {
                expected: expected.to_owned(),
                found: self.payload_type.clone(),
            });
        }
        self.verify(trusted)
    }

    /// Verifies that at least `threshold` distinct trusted keys signed (a threshold of
    /// 0 is treated as 1). Signatures that do not verify are ignored.
    pub fn verify_threshold(
        &self,
        trusted: &TrustedKeys,
        threshold: usize,
    ) -> Result<Verified, DsseError> {
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        let mut key_ids: Vec<String> = Vec::new();
        let mut seen: Vec<[u8; 32]> = Vec::new();
        for sig in &self.signatures {
            let Some(signature) =
                decode_b64(&sig.sig).and_then(|bytes| Ed25519Signature::from_slice(&bytes).ok())
            else {
                continue;
            };
            // The keyid hint only orders the search; every candidate is a trusted key.
            let hinted = trusted.keys.get_key_value(sig.keyid.as_str());
            let candidates = hinted
                .into_iter()
                .chain(trusted.keys.iter().filter(|(id, _)| **id != sig.keyid));
            for (id, key) in candidates {
                if key.verify_strict(&message, &signature).is_ok() {
                    // Count each distinct key once, even if trusted under two ids.
                    if !seen.contains(key.as_bytes()) {
                        seen.push(*key.as_bytes());
                        key_ids.push(id.clone());
                    }
                    break;
                }
            }
        }
        let required = threshold.max(1);
        if key_ids.is_empty() {
            return Err(DsseError::NoTrustedSignature {
                signatures: self.signatures.len(),
            });
        }
        if key_ids.len() < required {
            return Err(DsseError::ThresholdNotMet {
                found: key_ids.len(),
                required,
            });
        }
        Ok(Verified {
            payload_type: self.payload_type.clone(),
            payload,
            key_ids,
        })
    }
}

fn sign_pae(payload_type: &str, payload: &[u8], key: &SigningKey, keyid: String) -> Signature {
    let sig = key.sign(&pae(payload_type, payload));
    Signature {
        keyid,
        sig: STANDARD.encode(sig.to_bytes()),
    }
}
