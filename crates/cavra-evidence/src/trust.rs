//! Trust roots: the public keys a verifier accepts, with their owner, status and validity.
//!
//! A trust root file (JSON, `cavra-trust-root/v1`) holds many keys, so keys can be rotated
//! without downtime: a new key is added as `active`, the old one is `retired` (its
//! `valid_until` set to the retirement time) and evidence it signed while it was valid still
//! verifies. A `revoked` key never verifies anything, whatever the signed time says.
//!
//! A signature is accepted only when it verifies under a key of the trust root; the DSSE
//! `keyid` is never trusted alone. Each key's fingerprint (`sha256:<hex>` of the raw public
//! key) is checked against its public key when the file is read, so an edited key is noticed.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dsse::{DsseError, Envelope, TrustedKeys};
use crate::keys;

/// The `format` of a trust root file.
pub const TRUST_ROOT_FORMAT: &str = "cavra-trust-root/v1";

/// Errors from reading a trust root or checking a signature against it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The file is not a trust root.
    #[error("invalid trust root: {0}")]
    Invalid(String),
    /// A key id is used twice.
    #[error("key id `{0}` is already in the trust root")]
    Duplicate(String),
    /// No such key.
    #[error("no key `{0}` in the trust root")]
    NoSuchKey(String),
    /// The envelope has no signatures at all.
    #[error("missing signature")]
    MissingSignature,
    /// The envelope is malformed.
    #[error("{0}")]
    Envelope(#[from] DsseError),
    /// The only key that verifies the signature is revoked.
    #[error("key revoked: {0}")]
    Revoked(String),
    /// No key of the trust root verifies the signature.
    #[error("signature by an untrusted key (keyid hint {hint:?})")]
    Untrusted {
        /// The keyid hints the envelope carried.
        hint: String,
    },
    /// The key verified, but the signature's time is outside the key's validity.
    #[error("key {key_id} was not valid at {at} (valid {from} to {until})")]
    OutsideValidity {
        /// The key.
        key_id: String,
        /// The signed time.
        at: String,
        /// Start of validity.
        from: String,
        /// End of validity (`open` when none).
        until: String,
    },
    /// The key id required by the caller did not sign.
    #[error("not signed by the required key {0}")]
    WrongKey(String),
    /// A time could not be read.
    #[error("invalid time {0:?} (RFC 3339 expected)")]
    Time(String),
}

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs and verifies.
    Active,
    /// No longer signs; what it signed inside its validity still verifies.
    Retired,
    /// Verifies nothing.
    Revoked,
}

impl KeyStatus {
    /// The status word.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// One trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// The name signatures give as their keyid hint (`prod-2026`).
    pub key_id: String,
    /// Who holds the private key.
    pub owner: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// SPKI PEM.
    pub public_key: String,
    /// `sha256:<hex>` of the 32 raw public key bytes.
    pub fingerprint: String,
    /// Current state.
    pub status: KeyStatus,
    /// Signatures dated before this are not accepted (RFC 3339).
    pub valid_from: String,
    /// Signatures dated after this are not accepted (RFC 3339); none: open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Why the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<String>,
}

/// The fingerprint of a public key: `sha256:<hex>`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("sha256:{}", keys::key_id(key))
}

fn parse_time(s: &str) -> Result<OffsetDateTime, TrustError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| TrustError::Time(s.to_string()))
}

/// Formats a time the way trust roots and evidence store it (RFC 3339, UTC).
pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl KeyRecord {
    /// A new active record for `key`, valid from `valid_from`.
    pub fn new(
        key_id: impl Into<String>,
        owner: impl Into<String>,
        key: &VerifyingKey,
        valid_from: OffsetDateTime,
        valid_until: Option<OffsetDateTime>,
    ) -> Result<Self, TrustError> {
        let public_key =
            keys::public_key_to_pem(key).map_err(|e| TrustError::Invalid(e.to_string()))?;
        Ok(Self {
            key_id: key_id.into(),
            owner: owner.into(),
            algorithm: "ed25519".into(),
            public_key,
            fingerprint: fingerprint(key),
            status: KeyStatus::Active,
            valid_from: format_time(valid_from),
            valid_until: valid_until.map(format_time),
            status_reason: None,
            status_changed_at: None,
        })
    }

    /// The decoded public key, checked against the recorded fingerprint and algorithm.
    pub fn verifying_key(&self) -> Result<VerifyingKey, TrustError> {
        if self.algorithm != "ed25519" {
            return Err(TrustError::Invalid(format!(
                "key {}: unsupported algorithm {:?}",
                self.key_id, self.algorithm
            )));
        }
        let key = keys::public_key_from_pem(&self.public_key)
            .map_err(|e| TrustError::Invalid(format!("key {}: {e}", self.key_id)))?;
        if fingerprint(&key) != self.fingerprint {
            return Err(TrustError::Invalid(format!(
                "key {}: fingerprint does not match the public key",
                self.key_id
            )));
        }
        Ok(key)
    }

    /// Whether a signature dated `at` falls inside this key's validity.
    pub fn valid_at(&self, at: OffsetDateTime) -> Result<bool, TrustError> {
        let from = parse_time(&self.valid_from)?;
        let until = self.valid_until.as_deref().map(parse_time).transpose()?;
        Ok(at >= from && until.is_none_or(|u| at <= u))
    }
}

/// A set of trusted keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRoot {
    /// Always [`TRUST_ROOT_FORMAT`].
    pub format: String,
    /// The keys, in the order they were added.
    pub keys: Vec<KeyRecord>,
}

impl Default for TrustRoot {
    fn default() -> Self {
        Self {
            format: TRUST_ROOT_FORMAT.into(),
            keys: Vec::new(),
        }
    }
}

/// Who signed, as established by [`TrustRoot::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// The trust root's key id.
    pub key_id: String,
    /// The key's status.
    pub status: KeyStatus,
    /// The verified payload.
    pub payload: Vec<u8>,
}

impl TrustRoot {
    /// Parses and checks a trust root: format, unique key ids, every key decodable and
    /// matching its fingerprint, every time readable.
    pub fn from_json(text: &str) -> Result<Self, TrustError> {
        let root: TrustRoot =
            serde_json::from_str(text).map_err(|e| TrustError::Invalid(e.to_string()))?;
        if root.format != TRUST_ROOT_FORMAT {
            return Err(TrustError::Invalid(format!(
                "format is {:?}, expected {TRUST_ROOT_FORMAT:?}",
                root.format
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in &root.keys {
            if k.key_id.trim().is_empty() {
                return Err(TrustError::Invalid("a key has an empty key_id".into()));
            }
            if !seen.insert(k.key_id.as_str()) {
                return Err(TrustError::Duplicate(k.key_id.clone()));
            }
            k.verifying_key()?;
            parse_time(&k.valid_from)?;
            if let Some(u) = &k.valid_until {
                parse_time(u)?;
            }
        }
        Ok(root)
    }

    /// Pretty JSON, as written to a trust root file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The record for a key id.
    pub fn get(&self, key_id: &str) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    /// Adds a key; its id and its public key must both be new.
    pub fn add(&mut self, record: KeyRecord) -> Result<(), TrustError> {
        if self.get(&record.key_id).is_some() {
            return Err(TrustError::Duplicate(record.key_id));
        }
        if let Some(same) = self
            .keys
            .iter()
            .find(|k| k.fingerprint == record.fingerprint)
        {
            return Err(TrustError::Invalid(format!(
                "this public key is already trusted as {}",
                same.key_id
            )));
        }
        record.verifying_key()?;
        self.keys.push(record);
        Ok(())
    }

    /// Marks a key revoked: nothing it signed verifies any more.
    pub fn revoke(
        &mut self,
        key_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<&KeyRecord, TrustError> {
        let k = self
            .keys
            .iter_mut()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| TrustError::NoSuchKey(key_id.to_string()))?;
        k.status = KeyStatus::Revoked;
        k.status_reason = Some(reason.to_string());
        k.status_changed_at = Some(format_time(now));
        Ok(k)
    }

    /// Retires a key: it stops being valid at `now` (or earlier, if its validity already
    /// ended), and what it signed before still verifies.
    pub fn retire(
        &mut self,
        key_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<&KeyRecord, TrustError> {
        let k = self
            .keys
            .iter_mut()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| TrustError::NoSuchKey(key_id.to_string()))?;
        if k.status == KeyStatus::Revoked {
            return Err(TrustError::Revoked(key_id.to_string()));
        }
        let ends_earlier = match &k.valid_until {
            Some(u) => parse_time(u)? < now,
            None => false,
        };
        if !ends_earlier {
            k.valid_until = Some(format_time(now));
        }
        k.status = KeyStatus::Retired;
        k.status_reason = Some(reason.to_string());
        k.status_changed_at = Some(format_time(now));
        Ok(k)
    }

    /// Verifies an envelope of `payload_type` against this trust root, as of the signed time
    /// that `signed_at` reads from the verified payload.
    ///
    /// Fails when there is no signature, when no key of the trust root verifies it, when only
    /// a revoked key does, or when the signed time is outside the verifying key's validity.
    /// With `required_key`, that key must be the one that verified.
    pub fn verify(
        &self,
        envelope: &Envelope,
        payload_type: &str,
        required_key: Option<&str>,
        signed_at: &dyn Fn(&[u8]) -> Option<String>,
    ) -> Result<SignedBy, TrustError> {
        if envelope.signatures.is_empty() {
            return Err(TrustError::MissingSignature);
        }
        if envelope.payload_type != payload_type {
            return Err(DsseError::PayloadTypeMismatch {
                expected: payload_type.to_owned(),
                found: envelope.payload_type.clone(),
            }
            .into());
        }
        let mut usable = TrustedKeys::new();
        let mut revoked = TrustedKeys::new();
        for k in &self.keys {
            if required_key.is_some_and(|r| r != k.key_id) {
                continue;
            }
            let key = k.verifying_key()?;
            match k.status {
                KeyStatus::Revoked => revoked.insert(k.key_id.clone(), key),
                _ => usable.insert(k.key_id.clone(), key),
            }
        }
        let hint = envelope
            .signatures
            .iter()
            .map(|s| s.keyid.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let verified = match envelope.verify(&usable) {
            Ok(v) => v,
            Err(DsseError::NoTrustedSignature { .. }) => {
                if let Ok(v) = envelope.verify(&revoked) {
                    let id = v.key_ids.first().cloned().unwrap_or_default();
                    return Err(TrustError::Revoked(id));
                }
                if let Some(required) = required_key {
                    // Perhaps another trusted key signed: say which key was missing.
                    if self.get(required).is_none() {
                        return Err(TrustError::NoSuchKey(required.to_string()));
                    }
                    if self.verify(envelope, payload_type, None, signed_at).is_ok() {
                        return Err(TrustError::WrongKey(required.to_string()));
                    }
                }
                return Err(TrustError::Untrusted { hint });
            }
            Err(e) => return Err(e.into()),
        };
        // The hint is not trusted, but it must not lie either: a signature whose keyid names
        // another key than the one that verified it is refused (so no byte of an envelope can
        // change unnoticed).
        let honest = envelope
            .signatures
            .iter()
            .any(|s| verified.key_ids.contains(&s.keyid));
        if !honest {
            return Err(TrustError::Invalid(format!(
                "the signature names its key {hint:?}, but the trust root holds that key as {:?}; trust it under the id it signs with",
                verified.key_ids.join(",")
            )));
        }
        let at_text = signed_at(&verified.payload)
            .ok_or_else(|| TrustError::Invalid("the signed payload carries no time".into()))?;
        let at = parse_time(&at_text)?;
        // Any one signing key valid at the signed time is enough.
        let mut last_err = None;
        for id in &verified.key_ids {
            let Some(k) = self.get(id) else { continue };
            if k.valid_at(at)? {
                return Ok(SignedBy {
                    key_id: k.key_id.clone(),
                    status: k.status,
                    payload: verified.payload,
                });
            }
            last_err = Some(TrustError::OutsideValidity {
                key_id: k.key_id.clone(),
                at: at_text.clone(),
                from: k.valid_from.clone(),
                until: k.valid_until.clone().unwrap_or_else(|| "open".into()),
            });
        }
        Err(last_err.unwrap_or(TrustError::Untrusted { hint }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn key(seed: u8) -> ed25519_dalek::SigningKey {
        keys::from_seed(&[seed; 32])
    }

    fn signed(seed: u8, keyid: &str, at: &str) -> Envelope {
        let payload = serde_json::json!({"signed_at": at}).to_string();
        let mut env = Envelope::new("application/test", payload.as_bytes());
        env.add_signature(&key(seed), keyid).expect("sign");
        env
    }

    fn at(payload: &[u8]) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
        v.get("signed_at")?.as_str().map(str::to_string)
    }

    fn root() -> TrustRoot {
        let mut r = TrustRoot::default();
        r.add(
            KeyRecord::new(
                "old",
                "sec",
                &key(1).verifying_key(),
                datetime!(2025-01-01 0:00 UTC),
                None,
            )
            .expect("record"),
        )
        .expect("add");
        r.add(
            KeyRecord::new(
                "new",
                "sec",
                &key(2).verifying_key(),
                datetime!(2026-01-01 0:00 UTC),
                None,
            )
            .expect("record"),
        )
        .expect("add");
        r
    }

    #[test]
    fn rotation_retire_and_revoke() {
        let mut r = root();
        let old_sig = signed(1, "old", "2025-06-01T00:00:00Z");
        let late_sig = signed(1, "old", "2026-06-01T00:00:00Z");
        assert_eq!(
            r.verify(&old_sig, "application/test", None, &at)
                .expect("ok")
                .key_id,
            "old"
        );
        r.retire("old", "rotated", datetime!(2026-02-01 0:00 UTC))
            .expect("retire");
        // Signed inside its validity: still verifies; after retirement: refused.
        let by = r
            .verify(&old_sig, "application/test", None, &at)
            .expect("ok");
        assert_eq!(by.status, KeyStatus::Retired);
        assert!(matches!(
            r.verify(&late_sig, "application/test", None, &at),
            Err(TrustError::OutsideValidity { .. })
        ));
        r.revoke("old", "leaked", datetime!(2026-03-01 0:00 UTC))
            .expect("revoke");
        assert_eq!(
            r.verify(&old_sig, "application/test", None, &at),
            Err(TrustError::Revoked("old".into()))
        );
        // Before its validity starts, a key does not verify.
        let early = signed(2, "new", "2025-12-31T23:59:59Z");
        assert!(matches!(
            r.verify(&early, "application/test", None, &at),
            Err(TrustError::OutsideValidity { .. })
        ));
    }

    #[test]
    fn the_keyid_hint_is_never_trusted_alone() {
        let r = root();
        // Claims to be "new" but is signed by an unknown key.
        let forged = signed(9, "new", "2026-06-01T00:00:00Z");
        assert!(matches!(
            r.verify(&forged, "application/test", None, &at),
            Err(TrustError::Untrusted { .. })
        ));
        // Signed by "new" but hinting "old": the hint is not believed, and a lying hint fails.
        let mislabelled = signed(2, "old", "2026-06-01T00:00:00Z");
        assert!(matches!(
            r.verify(&mislabelled, "application/test", None, &at),
            Err(TrustError::Invalid(_))
        ));
        let honest = signed(2, "new", "2026-06-01T00:00:00Z");
        assert_eq!(
            r.verify(&honest, "application/test", None, &at)
                .expect("ok")
                .key_id,
            "new"
        );
        assert_eq!(
            r.verify(&honest, "application/test", Some("old"), &at),
            Err(TrustError::WrongKey("old".into()))
        );
        let mut unsigned = honest.clone();
        unsigned.signatures.clear();
        assert_eq!(
            r.verify(&unsigned, "application/test", None, &at),
            Err(TrustError::MissingSignature)
        );
        assert!(r.verify(&honest, "application/other", None, &at).is_err());
    }

    #[test]
    fn edited_trust_roots_are_refused() {
        let r = root();
        let text = r.to_json();
        assert_eq!(TrustRoot::from_json(&text).expect("parses"), r);
        // Swap in another public key but keep the fingerprint: noticed.
        let other = keys::public_key_to_pem(&key(7).verifying_key()).expect("pem");
        let mut edited = r.clone();
        edited.keys[0].public_key = other;
        assert!(TrustRoot::from_json(&edited.to_json()).is_err());
        let dup = text.replace("\"new\"", "\"old\"");
        assert!(matches!(
            TrustRoot::from_json(&dup),
            Err(TrustError::Duplicate(_))
        ));
        assert!(TrustRoot::from_json("{}").is_err());
        let mut again = r.clone();
        assert!(
            again
                .add(
                    KeyRecord::new(
                        "third",
                        "x",
                        &key(1).verifying_key(),
                        datetime!(2025-01-01 0:00 UTC),
                        None
                    )
                    .expect("record")
                )
                .is_err()
        );
    }
}
