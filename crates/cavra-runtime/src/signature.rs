//! Detached signatures of policy pack files (`PACK.sig`): a DSSE envelope over the pack's
//! canonical form — the parsed document as canonical JSON — so reformatting or comments do
//! not break a signature, and any change to what the pack says does.

use cavra_evidence::trust::{SignedBy, TrustRoot, format_time};
use cavra_store::LogSigner;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Where a pack's detached signature lives.
pub fn signature_path(pack: &Path) -> PathBuf {
    let mut name = pack.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The pack file's id and canonical digest (`sha256:…`), from its text.
pub fn canonical_digest(text: &str, origin: &str) -> Result<(String, String), String> {
    let document = cavra_policy::parse_document(text, origin).map_err(|e| e.to_string())?;
    let canonical = cavra_policy::canonical_document(&document).map_err(|e| e.message.clone())?;
    Ok((
        document.metadata.id.clone(),
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        ),
    ))
}

/// Signs a pack file; returns the envelope JSON.
pub fn sign(pack: &Path, signer: &LogSigner, now: OffsetDateTime) -> Result<String, String> {
    let text =
        std::fs::read_to_string(pack).map_err(|e| format!("reading {}: {e}", pack.display()))?;
    let (id, digest) = canonical_digest(&text, &pack.display().to_string())?;
    cavra_evidence::pack_signature::sign(
        &id,
        &digest,
        &signer.key,
        &signer.key_id,
        &format_time(now),
    )
    .map_err(|e| e.to_string())
}

/// Why a pack's signature does not hold.
pub fn verify(pack: &Path, trust: &TrustRoot) -> Result<SignedBy, String> {
    let text = std::fs::read_to_string(pack).map_err(|e| format!("{}: {e}", pack.display()))?;
    let sig_path = signature_path(pack);
    let sig = std::fs::read_to_string(&sig_path).map_err(|_| {
        format!(
            "{} is not signed: no {} (sign it with `cavra policy sign`)",
            pack.display(),
            sig_path.display()
        )
    })?;
    verify_text(&text, &pack.display().to_string(), &sig, trust)
}

/// Verifies a pack's text against its signature envelope.
pub fn verify_text(
    text: &str,
    origin: &str,
    signature: &str,
    trust: &TrustRoot,
) -> Result<SignedBy, String> {
    let (_, digest) = canonical_digest(text, origin)?;
    cavra_evidence::pack_signature::verify(signature, origin, &digest, trust)
}

/// Checks every file pack of an inheritance chain (built-in packs are part of the binary).
pub fn verify_chain(chain: &[String], trust: &TrustRoot) -> Result<Vec<SignedBy>, String> {
    let mut out = Vec::new();
    for origin in chain {
        if origin.starts_with("builtin:") {
            continue;
        }
        if origin == "<inline>" {
            return Err("an inline policy cannot be signed; use a pack file".into());
        }
        out.push(verify(Path::new(origin), trust)?);
    }
    Ok(out)
}

/// The trust root used to check packs: the explicit file, `CAVRA_TRUST_ROOT` (its value
/// given: the hook server decides with its client's environment), or
/// `.cavra/trust-root.json` in the repository.
pub fn trust_root_in(
    explicit: Option<&Path>,
    env_trust_root: Option<&std::ffi::OsStr>,
    repo_root: &Path,
) -> Result<TrustRoot, String> {
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| env_trust_root.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| repo_root.join(".cavra/trust-root.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "signed policies are required but the trust root {} cannot be read ({e}); give --trust-root or set CAVRA_TRUST_ROOT",
            path.display()
        )
    })?;
    TrustRoot::from_json(&text).map_err(|e| format!("the trust root {}: {e}", path.display()))
}

/// Whether this value of `CAVRA_REQUIRE_SIGNED_POLICY` requires signed policies.
pub fn required_by_value(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}
