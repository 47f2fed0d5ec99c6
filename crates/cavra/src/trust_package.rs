//! Offline trust packages: a trust root and signed policy packs, with checksums, in one signed
//! file that can be carried into an air-gapped environment and checked there with no network.
//!
//! The package is a DSSE envelope (`application/vnd.cavra.trust-package+json`). On import it
//! must verify under a key the importer already trusts — a key of the existing trust root, or
//! the key whose fingerprint the operator was told out of band (`--fingerprint`) — never under
//! a key the package merely brings along.

use crate::evidence_cmd::write_atomic;
use crate::keyfiles;
use crate::policy_sig;
use crate::support::Failure;
use anyhow::{Context as _, anyhow};
use cavra_evidence::dsse::Envelope;
use cavra_evidence::trust::{KeyStatus, TrustRoot, format_time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use time::OffsetDateTime;

/// DSSE payload type.
pub const PAYLOAD_TYPE: &str = "application/vnd.cavra.trust-package+json";
/// `format` of the package payload.
pub const FORMAT: &str = "cavra-trust-package/v1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Package {
    format: String,
    created_at: String,
    trust_root: TrustRoot,
    policies: Vec<PackagedPolicy>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackagedPolicy {
    name: String,
    sha256: String,
    content: String,
    signature: String,
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `cavra trust export`
pub fn export(
    trust_path: &Path,
    policies: &[std::path::PathBuf],
    sign_key: &Path,
    key_id: Option<&str>,
    output: &Path,
    json: bool,
) -> Result<i32, Failure> {
    let text = std::fs::read_to_string(trust_path)
        .with_context(|| format!("reading {}", trust_path.display()))?;
    let trust =
        TrustRoot::from_json(&text).map_err(|e| anyhow!("{}: {e}", trust_path.display()))?;
    let signer = keyfiles::signer(sign_key, key_id)?;
    match trust.get(&signer.key_id) {
        Some(k) if k.status == KeyStatus::Active => {
            let key = k.verifying_key().map_err(|e| anyhow!("{e}"))?;
            if key != signer.key.verifying_key() {
                return Err(anyhow!(
                    "{} is not the private half of the trusted key {}",
                    sign_key.display(),
                    signer.key_id
                )
                .into());
            }
        }
        _ => {
            return Err(anyhow!(
                "the signing key {} must be an active key of {}",
                signer.key_id,
                trust_path.display()
            )
            .into());
        }
    }
    let mut packaged = Vec::new();
    for p in policies {
        let content =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        // Only packs that verify here are worth carrying over.
        policy_sig::verify(p, &trust).map_err(|e| anyhow!("{e}"))?;
        let signature = std::fs::read_to_string(policy_sig::signature_path(p))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !safe_name(&name) || packaged.iter().any(|q: &PackagedPolicy| q.name == name) {
            return Err(anyhow!("pack file name {name:?} is unusable or repeated").into());
        }
        packaged.push(PackagedPolicy {
            name,
            sha256: hex::encode(Sha256::digest(content.as_bytes())),
            content,
            signature,
        });
    }
    let package = Package {
        format: FORMAT.into(),
        created_at: format_time(OffsetDateTime::now_utc()),
        trust_root: trust,
        policies: packaged,
    };
    let value = serde_json::to_value(&package).map_err(|e| anyhow!("{e}"))?;
    let mut env = Envelope::new(
        PAYLOAD_TYPE,
        &cavra_evidence::canonical::to_canonical_bytes(&value),
    );
    env.add_signature(&signer.key, signer.key_id.clone())
        .map_err(|e| anyhow!("{e}"))?;
    write_atomic(output, format!("{}\n", env.to_json()).as_bytes())?;
    let fingerprint = cavra_evidence::trust::fingerprint(&signer.key.verifying_key());
    crate::support::done(
        json,
        &serde_json::json!({
            "written": output,
            "keys": package.trust_root.keys.len(),
            "policies": package.policies.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "signed_by": signer.key_id,
            "fingerprint": fingerprint,
        }),
        &format!(
            "wrote {}: {} keys, {} signed pack(s), signed by {} ({fingerprint})",
            output.display(),
            package.trust_root.keys.len(),
            package.policies.len(),
            signer.key_id,
        ),
    )
}

/// `cavra trust import`
pub fn import(
    package_path: &Path,
    fingerprint: Option<&str>,
    trust_path: &Path,
    policies_dir: Option<&Path>,
    json: bool,
) -> Result<i32, Failure> {
    let text = std::fs::read_to_string(package_path)
        .with_context(|| format!("reading {}", package_path.display()))?;
    let env = Envelope::from_json(&text).map_err(|e| anyhow!("not a trust package: {e}"))?;
    // Read the payload only to find the out-of-band key; nothing in it is trusted yet.
    let unverified: Package =
        serde_json::from_slice(&env.payload_bytes().map_err(|e| anyhow!("{e}"))?)
            .map_err(|e| anyhow!("not a trust package: {e}"))?;
    let mut anchors = if trust_path.exists() {
        let t = std::fs::read_to_string(trust_path)?;
        TrustRoot::from_json(&t).map_err(|e| anyhow!("{}: {e}", trust_path.display()))?
    } else {
        TrustRoot::default()
    };
    let local = anchors.clone();
    if let Some(fp) = fingerprint {
        let record = unverified
            .trust_root
            .keys
            .iter()
            .find(|k| k.fingerprint == fp)
            .ok_or_else(|| anyhow!("no key with fingerprint {fp} in the package"))?;
        if anchors.get(&record.key_id).is_none() {
            anchors.add(record.clone()).map_err(|e| anyhow!("{e}"))?;
        }
    }
    if anchors.keys.is_empty() {
        return Err(Failure::Usage(format!(
            "nothing to check the package against: {} does not exist; give --fingerprint with the signing key's fingerprint, told to you out of band",
            trust_path.display()
        )));
    }
    let at = |p: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.get("created_at")?.as_str().map(str::to_string)
    };
    let by = anchors
        .verify(&env, PAYLOAD_TYPE, None, &at)
        .map_err(|e| anyhow!("the package signature does not hold: {e}"))?;
    let package: Package = serde_json::from_slice(&by.payload).map_err(|e| anyhow!("{e}"))?;
    if package.format != FORMAT {
        return Err(anyhow!("package format {:?} is not {FORMAT}", package.format).into());
    }
    // The package's trust root is now vouched for; every pack must verify against it.
    let incoming =
        TrustRoot::from_json(&package.trust_root.to_json()).map_err(|e| anyhow!("{e}"))?;
    for p in &package.policies {
        if !safe_name(&p.name) {
            return Err(anyhow!("the package names a pack {:?}", p.name).into());
        }
        if hex::encode(Sha256::digest(p.content.as_bytes())) != p.sha256 {
            return Err(anyhow!("checksum mismatch: {}", p.name).into());
        }
        policy_sig::verify_text(&p.content, &p.name, &p.signature, &incoming)
            .map_err(|e| anyhow!("{e}"))?;
    }
    // Merge: new keys are added; a key revoked locally stays revoked; status changes in the
    // package (retire, revoke) apply.
    let mut merged = local;
    for k in &incoming.keys {
        match merged.keys.iter_mut().find(|m| m.key_id == k.key_id) {
            None => merged.add(k.clone()).map_err(|e| anyhow!("{e}"))?,
            Some(m) => {
                if m.fingerprint != k.fingerprint {
                    return Err(anyhow!(
                        "the package's key {} differs from the one already trusted under that id",
                        k.key_id
                    )
                    .into());
                }
                if m.status != KeyStatus::Revoked {
                    *m = k.clone();
                }
            }
        }
    }
    write_atomic(trust_path, merged.to_json().as_bytes())?;
    if let Some(dir) = policies_dir {
        std::fs::create_dir_all(dir)?;
        for p in &package.policies {
            let path = dir.join(&p.name);
            write_atomic(&path, p.content.as_bytes())?;
            write_atomic(&policy_sig::signature_path(&path), p.signature.as_bytes())?;
        }
    }
    crate::support::done(
        json,
        &serde_json::json!({
            "imported": package_path,
            "signed_by": by.key_id,
            "trust_root": trust_path,
            "keys": merged.keys.len(),
            "policies": package.policies.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "policies_dir": policies_dir,
        }),
        &format!(
            "imported {} (signed by {}): {} keys in {}, {} signed pack(s){}",
            package_path.display(),
            by.key_id,
            merged.keys.len(),
            trust_path.display(),
            package.policies.len(),
            policies_dir
                .map(|d| format!(" written to {}", d.display()))
                .unwrap_or_default()
        ),
    )
}
