//! The events connectors deliver, and the envelope every destination receives.
//!
//! The envelope (JSON) is the same for every kind; kinds wrap it (an HEC event, an OCSF
//! object's `unmapped`) or send it as is (queues):
//!
//! ```json
//! {"format": "cavra-event/v1", "id": "evt_…", "type": "decision.block", "tenant": "acme",
//!  "time": "2026-…Z", "subject": "dec_…", "log_index": 12, "destination": "siem",
//!  "idempotency_key": "…", "data": {…},
//!  "signature": {"key_id": "…", "alg": "ed25519", "sig": "<base64>"}}
//! ```
//!
//! `signature` signs the canonical JSON (RFC 8785 style, as the evidence log) of the envelope
//! without `signature`, with the service's log key: a receiver holding the service's public
//! key (`/v1/evidence/head`) can tell a cavra event from a forged one ([`verify_envelope`]).
//! The whole envelope passes the store's redaction before it is signed and sent.

use base64::Engine as _;
use cavra_evidence::canonical::to_canonical_bytes;
use cavra_tenant_store::outbox::OutboxEvent;
use ed25519_dalek::Verifier as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The envelope's `format`.
pub const ENVELOPE_FORMAT: &str = "cavra-event/v1";

/// The event types, by family. `*` families in routing (`approval.*`) match every type that
/// starts with the family and a dot.
pub struct EventType;

impl EventType {
    /// Every event type.
    pub const ALL: &'static [&'static str] = &[
        "decision.block",
        "decision.require_approval",
        "decision.warn",
        "decision.break_glass",
        "approval.requested",
        "approval.approved",
        "approval.denied",
        "approval.expired",
        "approval.break_glass",
        "approval.consumed",
        "evidence.checkpoint",
        "release.recorded",
        "release.rolled_back",
        "connector.failure",
        "connector.test",
    ];

    /// Checks a routing pattern: an exact type, `family.*` or `*`.
    pub fn check_pattern(p: &str) -> Result<(), String> {
        if p == "*" || Self::ALL.contains(&p) {
            return Ok(());
        }
        if let Some(family) = p.strip_suffix(".*")
            && Self::ALL
                .iter()
                .any(|t| t.split('.').next() == Some(family))
        {
            return Ok(());
        }
        Err(format!(
            "`{p}` is not an event type, a family (`approval.*`) or `*`; types: {}",
            Self::ALL.join(", ")
        ))
    }

    /// Whether `kind` matches pattern `p`.
    pub fn matches(p: &str, kind: &str) -> bool {
        if p == "*" {
            return true;
        }
        match p.strip_suffix(".*") {
            Some(family) => kind
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('.')),
            None => p == kind,
        }
    }
}

/// The key every receiver that deduplicates gets for one event at one destination: stable
/// across retries and replicas, different for each destination.
pub fn idempotency_key(tenant: &str, event_id: &str, destination: &str) -> String {
    let mut h = Sha256::new();
    for part in [tenant, event_id, destination] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Signs envelopes: the service's log key.
pub struct EnvelopeSigner {
    /// Key id (as in `/v1/evidence/head`).
    pub key_id: String,
    /// The key in aws-lc's form: its Ed25519 (assembly) signs in about half the CPU time of
    /// ed25519-dalek's, and one signature per delivered envelope was the largest part of a
    /// delivery's CPU (docs/benchmarks.md). Ed25519 is deterministic: the signature is the
    /// same bytes either way, and [`verify_envelope`] checks it with ed25519-dalek.
    pair: aws_lc_rs::signature::Ed25519KeyPair,
}

impl EnvelopeSigner {
    /// The signer of `key`, named `key_id`.
    pub fn new(
        key_id: impl Into<String>,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<EnvelopeSigner, crate::ConnectorError> {
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(
            key.as_bytes(),
            key.verifying_key().as_bytes(),
        )
        .map_err(|e| crate::ConnectorError::Config(format!("the envelope signing key: {e}")))?;
        Ok(EnvelopeSigner {
            key_id: key_id.into(),
            pair,
        })
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl std::fmt::Debug for EnvelopeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EnvelopeSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Builds the envelope of `event` for `destination`: redacted with `redactor`, then signed.
pub fn envelope(
    event: &OutboxEvent,
    destination: &str,
    redactor: &cavra_redact::Redactor,
    signer: Option<&EnvelopeSigner>,
) -> Value {
    envelope_with(
        event,
        destination,
        redactor,
        signer,
        &crate::template::Templates::default(),
    )
}

/// [`envelope`] with the connector's templates rendered into it before it is signed: `text`
/// (the `text` template) and `headline` (the `subject` template, for e-mail).
pub fn envelope_with(
    event: &OutboxEvent,
    destination: &str,
    redactor: &cavra_redact::Redactor,
    signer: Option<&EnvelopeSigner>,
    templates: &crate::template::Templates,
) -> Value {
    sealed(
        event,
        event.payload.clone(),
        destination,
        &idempotency_key(&event.tenant, &event.id, destination),
        redactor,
        signer,
        templates,
    )
}

/// [`envelope_with`] for a worker that already holds the event's `payload` apart (taken out
/// of the event, not copied) and its idempotency `key` for `destination`.
pub fn sealed(
    event: &OutboxEvent,
    payload: Value,
    destination: &str,
    key: &str,
    redactor: &cavra_redact::Redactor,
    signer: Option<&EnvelopeSigner>,
    templates: &crate::template::Templates,
) -> Value {
    let mut v = json!({
        "format": ENVELOPE_FORMAT,
        "id": event.id,
        "type": event.kind,
        "tenant": event.tenant,
        "time": event.created_at,
        "subject": event.ref_id,
        "log_index": event.log_index,
        "destination": destination,
        "idempotency_key": key,
        "data": payload,
    });
    // Whatever the store let through (an approver's free-text reason), nothing the rules
    // know as a secret leaves.
    redactor.redact_json_in_place(&mut v);
    // Rendered from the redacted envelope, and redacted again as they are rendered.
    use crate::template::{MAX_SUBJECT_CHARS, MAX_TEXT_BYTES};
    if let Some(t) = &templates.text {
        v["text"] = Value::String(t.render(&v, redactor, false, MAX_TEXT_BYTES));
    }
    if let Some(t) = &templates.subject {
        let line = t.render(&v, redactor, true, MAX_TEXT_BYTES);
        v["headline"] = Value::String(line.chars().take(MAX_SUBJECT_CHARS).collect());
    }
    if let Some(s) = signer {
        let sig = s.sign(&to_canonical_bytes(&v));
        v["signature"] = json!({
            "key_id": s.key_id,
            "alg": "ed25519",
            "sig": base64::engine::general_purpose::STANDARD.encode(sig),
        });
    }
    v
}

/// Checks an envelope's signature with `key`.
pub fn verify_envelope(envelope: &Value, key: &ed25519_dalek::VerifyingKey) -> Result<(), String> {
    let mut v = envelope.clone();
    let sig = v
        .as_object_mut()
        .and_then(|o| o.remove("signature"))
        .ok_or("the envelope is not signed")?;
    let bytes = sig
        .get("sig")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or("the signature is not base64")?;
    let sig = ed25519_dalek::Signature::from_slice(&bytes).map_err(|e| e.to_string())?;
    key.verify(&to_canonical_bytes(&v), &sig)
        .map_err(|_| "the signature does not verify".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OutboxEvent {
        OutboxEvent {
            tenant: "acme".into(),
            id: "evt_1".into(),
            kind: "decision.block".into(),
            ref_id: Some("dec_1".into()),
            log_index: Some(3),
            only_destination: None,
            not_destination: None,
            created_at: "2026-01-01T00:00:00Z".parse().expect("time"),
            payload: json!({"reason": "password=hunter2 in argv", "severity": "high"}),
        }
    }

    #[test]
    fn patterns_match_types_and_families() {
        assert!(EventType::matches("*", "decision.block"));
        assert!(EventType::matches("approval.*", "approval.approved"));
        assert!(!EventType::matches("approval.*", "approvals.x"));
        assert!(!EventType::matches("decision.block", "decision.blocked"));
        assert!(EventType::check_pattern("evidence.*").is_ok());
        assert!(EventType::check_pattern("nothing.*").is_err());
        assert!(EventType::check_pattern("decision.blok").is_err());
    }

    #[test]
    fn keys_differ_by_destination_and_are_stable() {
        let a = idempotency_key("acme", "evt_1", "siem");
        assert_eq!(a, idempotency_key("acme", "evt_1", "siem"));
        assert_ne!(a, idempotency_key("acme", "evt_1", "queue"));
        assert_ne!(a, idempotency_key("acm", "eevt_1", "siem"));
    }

    #[test]
    fn an_envelope_is_redacted_then_signed() {
        let key = cavra_evidence::keys::from_seed(&[9; 32]);
        let signer = EnvelopeSigner::new("k", &key).unwrap();
        let redactor = cavra_redact::Redactor::builtin();
        let env = envelope(&event(), "siem", redactor, Some(&signer));
        assert!(!env.to_string().contains("hunter2"), "{env}");
        assert_eq!(env["type"], "decision.block");
        assert_eq!(env["destination"], "siem");
        verify_envelope(&env, &key.verifying_key()).unwrap();
        let mut forged = env.clone();
        forged["data"]["severity"] = json!("low");
        assert!(verify_envelope(&forged, &key.verifying_key()).is_err());
    }

    #[test]
    fn the_signature_is_ed25519_dalek_s_byte_for_byte() {
        use ed25519_dalek::Signer as _;
        for seed in [[0u8; 32], [9; 32], [0xa7; 32]] {
            let key = cavra_evidence::keys::from_seed(&seed);
            let signer = EnvelopeSigner::new("k", &key).unwrap();
            for message in [&b""[..], b"{}", &[0x5a; 1500]] {
                assert_eq!(signer.sign(message), key.sign(message).to_bytes());
            }
        }
    }
}
