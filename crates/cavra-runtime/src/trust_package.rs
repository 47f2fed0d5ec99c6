//! Offline trust packages: a trust root and signed policy packs, with checksums, in one signed
//! file that can be carried into an air-gapped environment and checked there with no network.
//!
//! The package is a DSSE envelope (`application/vnd.cavra.trust-package+json`). On import it
//! must verify under a key the importer already trusts — a key of the existing trust root, or
//! the key whose fingerprint the operator was told out of band — never under a key the package
//! merely brings along.

use crate::keyfiles::KeyFileError;
use crate::repo::write_atomic;
use crate::signature;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::trust::{KeyStatus, TrustRoot, format_time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// DSSE payload type.
pub const PAYLOAD_TYPE: &str = "application/vnd.cavra.trust-package+json";
/// `format` of the package payload.
pub const FORMAT: &str = "cavra-trust-package/v1";

/// Why a trust package could not be written or imported.
#[derive(Debug, thiserror::Error)]
pub enum TrustPackageError {
    /// The signing key could not be read.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// A file could not be read or written (the message names it).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Nothing to check the package against: no trust root and no fingerprint (a usage
    /// mistake, not a bad package).
    #[error("nothing to check the package against: {} does not exist; give --fingerprint with the signing key's fingerprint, told to you out of band", .0.display())]
    NoAnchor(PathBuf),
    /// The package, a pack, the trust root or the signing key does not hold (the message says
    /// which and why).
    #[error("{0}")]
    Invalid(String),
}

fn invalid(e: impl std::fmt::Display) -> TrustPackageError {
    TrustPackageError::Invalid(e.to_string())
}

fn read(path: &Path) -> Result<String, TrustPackageError> {
    std::fs::read_to_string(path).map_err(|e| {
        TrustPackageError::Io(std::io::Error::new(
            e.kind(),
            format!("reading {}: {e}", path.display()),
        ))
    })
}

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

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// How many keys the packaged trust root holds.
    pub keys: usize,
    /// The packs' file names, in order.
    pub policies: Vec<String>,
    /// The signing key's id.
    pub signed_by: String,
    /// `sha256:<hex>` of the signing key.
    pub fingerprint: String,
}

impl Exported {
    /// What `cavra trust export --json` prints for a package written to `output`.
    pub fn to_json(&self, output: &Path) -> serde_json::Value {
        serde_json::json!({
            "written": output,
            "keys": self.keys,
            "policies": self.policies,
            "signed_by": self.signed_by,
            "fingerprint": self.fingerprint,
        })
    }

    /// What people read of a package written to `output`.
    pub fn to_text(&self, output: &Path) -> String {
        format!(
            "wrote {}: {} keys, {} signed pack(s), signed by {} ({})",
            output.display(),
            self.keys,
            self.policies.len(),
            self.signed_by,
            self.fingerprint,
        )
    }
}

/// Writes a package of the trust root at `trust_path` and the signed `policies` to `output`,
/// signed by the private key at `sign_key` (its id `key_id`, else the file's stem), which must
/// be an active key of that trust root. Every pack must verify against it here: only packs that
/// verify are worth carrying over.
pub fn export(
    trust_path: &Path,
    policies: &[PathBuf],
    sign_key: &Path,
    key_id: Option<&str>,
    output: &Path,
) -> Result<Exported, TrustPackageError> {
    let text = read(trust_path)?;
    let trust = TrustRoot::from_json(&text)
        .map_err(|e| invalid(format!("{}: {e}", trust_path.display())))?;
    let signer =
        crate::keyfiles::trusted_signer(&trust, sign_key, key_id).map_err(|e| match e {
            KeyFileError::Invalid(m) => invalid(format!("{m} ({})", trust_path.display())),
            other => TrustPackageError::Key(other),
        })?;
    let mut packaged: Vec<PackagedPolicy> = Vec::new();
    for p in policies {
        let content = read(p)?;
        signature::verify(p, &trust).map_err(invalid)?;
        let signature = read(&signature::signature_path(p))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !safe_name(&name) || packaged.iter().any(|q| q.name == name) {
            return Err(invalid(format!(
                "pack file name {name:?} is unusable or repeated"
            )));
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
    let value = serde_json::to_value(&package).map_err(invalid)?;
    let mut env = Envelope::new(
        PAYLOAD_TYPE,
        &cavra_evidence::canonical::to_canonical_bytes(&value),
    );
    env.add_signature(&signer.key, signer.key_id.clone())
        .map_err(invalid)?;
    write_atomic(output, format!("{}\n", env.to_json()).as_bytes())?;
    Ok(Exported {
        keys: package.trust_root.keys.len(),
        policies: package.policies.into_iter().map(|p| p.name).collect(),
        signed_by: signer.key_id.clone(),
        fingerprint: cavra_evidence::trust::fingerprint(&signer.key.verifying_key()),
    })
}

/// A package whose signature held against the anchors it was checked with, and whose packs
/// all verify against its trust root.
#[derive(Debug)]
pub struct Opened {
    /// The key that signed the package.
    pub signed_by: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The trust root it distributes.
    pub trust_root: TrustRoot,
    /// Its packs: file name, content and signature.
    pub policies: Vec<(String, String, String)>,
    /// The local trust root the package was checked against (empty when there was none).
    local: TrustRoot,
}

/// Checks the package in `text` against `local` (or, with `fingerprint`, the package's key of
/// that fingerprint, told out of band) and every pack against the package's trust root;
/// `trust_path` only names the local trust root in messages. Nothing is written.
pub fn open_text(
    text: &str,
    fingerprint: Option<&str>,
    local: TrustRoot,
    trust_path: &Path,
) -> Result<Opened, TrustPackageError> {
    let env =
        Envelope::from_json(text).map_err(|e| invalid(format!("not a trust package: {e}")))?;
    // Read the payload only to find the out-of-band key; nothing in it is trusted yet.
    let unverified: Package = serde_json::from_slice(&env.payload_bytes().map_err(invalid)?)
        .map_err(|e| invalid(format!("not a trust package: {e}")))?;
    let mut anchors = local.clone();
    if let Some(fp) = fingerprint {
        let record = unverified
            .trust_root
            .keys
            .iter()
            .find(|k| k.fingerprint == fp)
            .ok_or_else(|| invalid(format!("no key with fingerprint {fp} in the package")))?;
        if anchors.get(&record.key_id).is_none() {
            anchors.add(record.clone()).map_err(invalid)?;
        }
    }
    if anchors.keys.is_empty() {
        return Err(TrustPackageError::NoAnchor(trust_path.to_path_buf()));
    }
    let at = |p: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.get("created_at")?.as_str().map(str::to_string)
    };
    let by = anchors
        .verify(&env, PAYLOAD_TYPE, None, &at)
        .map_err(|e| invalid(format!("the package signature does not hold: {e}")))?;
    let package: Package = serde_json::from_slice(&by.payload).map_err(invalid)?;
    if package.format != FORMAT {
        return Err(invalid(format!(
            "package format {:?} is not {FORMAT}",
            package.format
        )));
    }
    // The package's trust root is now vouched for; every pack must verify against it.
    let incoming = TrustRoot::from_json(&package.trust_root.to_json()).map_err(invalid)?;
    for p in &package.policies {
        if !safe_name(&p.name) {
            return Err(invalid(format!("the package names a pack {:?}", p.name)));
        }
        if hex::encode(Sha256::digest(p.content.as_bytes())) != p.sha256 {
            return Err(invalid(format!("checksum mismatch: {}", p.name)));
        }
        signature::verify_text(&p.content, &p.name, &p.signature, &incoming).map_err(invalid)?;
    }
    Ok(Opened {
        signed_by: by.key_id,
        created_at: package.created_at,
        trust_root: incoming,
        policies: package
            .policies
            .into_iter()
            .map(|p| (p.name, p.content, p.signature))
            .collect(),
        local,
    })
}

/// Reads the trust root at `trust_path`, or an empty one when there is no file.
pub fn local_trust_root(trust_path: &Path) -> Result<TrustRoot, TrustPackageError> {
    if trust_path.exists() {
        let t = read(trust_path)?;
        TrustRoot::from_json(&t).map_err(|e| invalid(format!("{}: {e}", trust_path.display())))
    } else {
        Ok(TrustRoot::default())
    }
}

/// What an import merged and wrote.
#[derive(Debug)]
pub struct Imported {
    /// The key that signed the package.
    pub signed_by: String,
    /// How many keys the merged trust root holds.
    pub keys: usize,
    /// The packs' file names, in order.
    pub policies: Vec<String>,
}

impl Imported {
    /// What `cavra trust import --json` prints.
    pub fn to_json(
        &self,
        package: &Path,
        trust_root: &Path,
        policies_dir: Option<&Path>,
    ) -> serde_json::Value {
        serde_json::json!({
            "imported": package,
            "signed_by": self.signed_by,
            "trust_root": trust_root,
            "keys": self.keys,
            "policies": self.policies,
            "policies_dir": policies_dir,
        })
    }

    /// What people read.
    pub fn to_text(
        &self,
        package: &Path,
        trust_root: &Path,
        policies_dir: Option<&Path>,
    ) -> String {
        format!(
            "imported {} (signed by {}): {} keys in {}, {} signed pack(s){}",
            package.display(),
            self.signed_by,
            self.keys,
            trust_root.display(),
            self.policies.len(),
            policies_dir
                .map(|d| format!(" written to {}", d.display()))
                .unwrap_or_default()
        )
    }
}

/// Checks the package at `package_path` against the trust root at `trust_path` (or, with
/// `fingerprint`, the package's key of that fingerprint, told out of band), then merges its
/// keys into that trust root — new keys added, a key revoked locally staying revoked, status
/// changes in the package applied — and writes its packs and their signatures into
/// `policies_dir`. Every pack must verify against the package's trust root.
pub fn import(
    package_path: &Path,
    fingerprint: Option<&str>,
    trust_path: &Path,
    policies_dir: Option<&Path>,
) -> Result<Imported, TrustPackageError> {
    let text = read(package_path)?;
    let opened = open_text(
        &text,
        fingerprint,
        local_trust_root(trust_path)?,
        trust_path,
    )?;
    install(opened, trust_path, policies_dir)
}

/// The trust root an import of `opened` would write: the local trust root with the package's
/// keys merged in — new keys added, a key revoked locally staying revoked, status changes in the
/// package applied. Fails when the package's key differs from one trusted under the same id.
pub fn merged(opened: &Opened) -> Result<TrustRoot, TrustPackageError> {
    let mut merged = opened.local.clone();
    for k in &opened.trust_root.keys {
        match merged.keys.iter_mut().find(|m| m.key_id == k.key_id) {
            None => merged.add(k.clone()).map_err(invalid)?,
            Some(m) => {
                if m.fingerprint != k.fingerprint {
                    return Err(invalid(format!(
                        "the package's key {} differs from the one already trusted under that id",
                        k.key_id
                    )));
                }
                if m.status != KeyStatus::Revoked {
                    *m = k.clone();
                }
            }
        }
    }
    Ok(merged)
}

/// Merges an opened package's keys into the trust root at `trust_path` ([`merged`]) and writes
/// its packs into `policies_dir` (see [`import`]).
pub fn install(
    opened: Opened,
    trust_path: &Path,
    policies_dir: Option<&Path>,
) -> Result<Imported, TrustPackageError> {
    let merged = merged(&opened)?;
    if let Some(dir) = trust_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(trust_path, merged.to_json().as_bytes())?;
    if let Some(dir) = policies_dir {
        std::fs::create_dir_all(dir)?;
        for (name, content, sig) in &opened.policies {
            let path = dir.join(name);
            write_atomic(&path, content.as_bytes())?;
            write_atomic(&signature::signature_path(&path), sig.as_bytes())?;
        }
    }
    Ok(Imported {
        signed_by: opened.signed_by,
        keys: merged.keys.len(),
        policies: opened.policies.into_iter().map(|p| p.0).collect(),
    })
}
