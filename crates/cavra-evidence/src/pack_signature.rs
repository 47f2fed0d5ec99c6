//! Detached signatures of policy packs: a DSSE envelope over a small payload that names the
//! pack's canonical digest (the parsed document as canonical JSON), so reformatting or
//! comments do not break a signature and any change to what the pack says does. The CLI signs
//! and checks pack files with it; the API service checks uploaded packs with it.

use serde_json::json;

use crate::canonical::to_canonical_bytes;
use crate::dsse::Envelope;
use crate::keys::SigningKey;
use crate::trust::{SignedBy, TrustRoot};

/// DSSE payload type of a pack signature.
pub const PAYLOAD_TYPE: &str = "application/vnd.cavra.policy-signature+json";
/// `format` of the signed payload.
pub const FORMAT: &str = "cavra-policy-signature/v1";

/// Signs a pack whose canonical digest is `digest`; returns the envelope JSON.
pub fn sign(
    pack_id: &str,
    digest: &str,
    key: &SigningKey,
    key_id: &str,
    signed_at: &str,
) -> Result<String, String> {
    let payload = json!({
        "format": FORMAT,
        "pack_id": pack_id,
        "digest": digest,
        "signed_at": signed_at,
        "key_id": key_id,
    });
    let mut env = Envelope::new(PAYLOAD_TYPE, &to_canonical_bytes(&payload));
    env.add_signature(key, key_id.to_string())
        .map_err(|e| e.to_string())?;
    Ok(env.to_json())
}

/// Checks that `signature` (envelope JSON) is a pack signature by a key of `trust` over
/// exactly `digest`; `origin` names the pack in messages.
pub fn verify(
    signature: &str,
    origin: &str,
    digest: &str,
    trust: &TrustRoot,
) -> Result<SignedBy, String> {
    let env = Envelope::from_json(signature)
        .map_err(|e| format!("the signature of {origin} is unreadable: {e}"))?;
    let at = |p: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(&env, PAYLOAD_TYPE, None, &at)
        .map_err(|e| format!("the signature of {origin} does not hold: {e}"))?;
    let payload: serde_json::Value = serde_json::from_slice(&by.payload)
        .map_err(|e| format!("the signature of {origin} carries no payload: {e}"))?;
    if payload.get("format").and_then(|v| v.as_str()) != Some(FORMAT)
        || payload.get("digest").and_then(|v| v.as_str()) != Some(digest)
    {
        return Err(format!(
            "{origin} was changed after it was signed (its canonical digest is {digest})"
        ));
    }
    Ok(by)
}
