//! Offline install bundles: everything an air-gapped site needs, in one signed tar file.
//!
//! ```text
//! release/<cavra-V-target>.tar.gz   release archives (each signed inside, see crate::archive)
//! trust/trust-package.json          the trust package (`cavra trust export`)
//! packs/<pack>.yaml, <pack>.yaml.sig  extra signed policy packs
//! images/<name>.tar                 container images as OCI archives
//! bundle.intoto.json                DSSE envelope: an in-toto statement naming every file above
//! ```
//!
//! Verification trusts the local trust root, or the key of the fingerprint told out of band —
//! never a key the bundle merely brings along. With that anchor it opens the trust package
//! (its signature and every pack in it), then checks the bundle's signature and every file
//! against the trust root an import would produce ([`trust_package::merged`]): no file missing,
//! extra or changed; every release archive's own signature and sums; every extra pack's
//! signature; every image a well-formed OCI archive. Installing does nothing until all of that
//! held.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cavra_evidence::intoto::{Statement, Subject};
use cavra_evidence::trust::TrustRoot;
use cavra_runtime::keyfiles::LogSigner;
use cavra_runtime::trust_package::{self, TrustPackageError};
use serde::Serialize;
use serde_json::json;

use crate::tarball::{self, Entry, Files};
use crate::{ReleaseError, sha256_hex, verify_failed};

/// The predicate type of a bundle's statement.
pub const PREDICATE_TYPE: &str = "https://cavra.dev/offline-bundle/v1";
/// The signature's name inside the bundle.
pub const SIGNATURE: &str = "bundle.intoto.json";
/// The trust package's name inside the bundle.
pub const TRUST_PACKAGE: &str = "trust/trust-package.json";

/// What goes into a bundle.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// Release archives (from `scripts/build-release`).
    pub archives: &'a [PathBuf],
    /// The trust package (`cavra trust export`).
    pub trust_package: &'a Path,
    /// Extra policy packs, each with its signature beside it (PACK.sig).
    pub packs: &'a [PathBuf],
    /// Container images as OCI archives (`podman save --format oci-archive`).
    pub images: &'a [PathBuf],
    /// The signed time (RFC 3339).
    pub signed_at: &'a str,
}

/// What a bundle holds, as verified or as written.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The key that signed the bundle.
    pub signed_by: String,
    /// When.
    pub signed_at: String,
    /// Every file, with its SHA-256.
    pub files: BTreeMap<String, String>,
    /// The release archives' versions and targets.
    pub releases: Vec<String>,
    /// The key that signed the trust package.
    pub trust_package_signed_by: String,
}

impl Summary {
    /// What people read of a bundle written to `output`.
    pub fn written_text(&self, output: &Path) -> String {
        format!(
            "offline bundle of {} files ({}) signed by {}: {}\n",
            self.files.len(),
            self.releases.join(", "),
            self.signed_by,
            output.display()
        )
    }

    /// What people read of a bundle that verified.
    pub fn to_text(&self) -> String {
        format!(
            "verified: offline bundle of {} files ({}) signed by {} at {}; trust package signed by {}\n",
            self.files.len(),
            self.releases.join(", "),
            self.signed_by,
            self.signed_at,
            self.trust_package_signed_by
        )
    }
}

fn file_name(path: &Path) -> Result<String, ReleaseError> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| tarball::safe_name(n))
        .ok_or_else(|| ReleaseError::Input(format!("{} has no usable file name", path.display())))
}

fn add(files: &mut Files, name: String, bytes: Vec<u8>) -> Result<(), ReleaseError> {
    if files
        .insert(
            name.clone(),
            Entry {
                bytes,
                executable: false,
            },
        )
        .is_some()
    {
        return Err(ReleaseError::Input(format!("{name} is given twice")));
    }
    Ok(())
}

fn package_error(e: TrustPackageError) -> ReleaseError {
    crate::package_error(TRUST_PACKAGE, e)
}

/// Builds the bundle, signed by `signer` (an active key of `trust`). Everything it holds is
/// verified first, as the receiving side will: a bundle that would not install is not written.
pub fn bundle(
    inputs: &Inputs<'_>,
    trust: &TrustRoot,
    trust_path: &Path,
    signer: &LogSigner,
) -> Result<(Vec<u8>, Summary), ReleaseError> {
    if inputs.archives.is_empty() {
        return Err(ReleaseError::Input(
            "no release archive given (--archive)".into(),
        ));
    }
    let mut files = Files::new();
    for a in inputs.archives {
        add(
            &mut files,
            format!("release/{}", file_name(a)?),
            crate::read(a)?,
        )?;
    }
    add(
        &mut files,
        TRUST_PACKAGE.into(),
        crate::read(inputs.trust_package)?,
    )?;
    for p in inputs.packs {
        let sig = cavra_runtime::signature::signature_path(p);
        add(
            &mut files,
            format!("packs/{}", file_name(p)?),
            crate::read(p)?,
        )?;
        add(
            &mut files,
            format!("packs/{}", file_name(&sig)?),
            crate::read(&sig)?,
        )?;
    }
    for i in inputs.images {
        add(
            &mut files,
            format!("images/{}", file_name(i)?),
            crate::read(i)?,
        )?;
    }
    let subject: Vec<Subject> = files
        .iter()
        .map(|(name, e)| Subject::sha256_of(name.clone(), &e.bytes))
        .collect();
    let statement = Statement::new(
        subject,
        PREDICATE_TYPE,
        json!({"signed_at": inputs.signed_at, "key_id": signer.key_id}),
    );
    let env = crate::sign_statement(&statement, signer)?;
    add(
        &mut files,
        SIGNATURE.into(),
        format!("{}\n", env.to_json()).into_bytes(),
    )?;
    let bytes = tarball::write_tar(&files, 0)?;
    // What the receiving side does, here first: nothing unverifiable leaves.
    let checked = check(&tarball::read_tar(&bytes)?, None, trust.clone(), trust_path)?;
    Ok((bytes, checked.summary))
}

/// A verified bundle and what installing it needs.
pub struct Checked {
    /// What it holds.
    pub summary: Summary,
    files: Files,
    archives: Vec<crate::archive::Verified>,
    opened: trust_package::Opened,
}

/// Whether `bytes` is an OCI image layout in a tar (`oci-layout` and `index.json` at the top).
fn is_oci_archive(bytes: &[u8]) -> Result<(), String> {
    let files = tarball::read_tar(bytes).map_err(|e| e.to_string())?;
    let layout = files
        .get("oci-layout")
        .ok_or("no oci-layout file (not an OCI archive)")?;
    let layout: serde_json::Value =
        serde_json::from_slice(&layout.bytes).map_err(|e| format!("oci-layout: {e}"))?;
    if layout["imageLayoutVersion"].as_str().is_none() {
        return Err("oci-layout has no imageLayoutVersion".into());
    }
    let index = files.get("index.json").ok_or("no index.json")?;
    let index: serde_json::Value =
        serde_json::from_slice(&index.bytes).map_err(|e| format!("index.json: {e}"))?;
    if index["manifests"].as_array().is_none_or(|m| m.is_empty()) {
        return Err("index.json lists no manifest".into());
    }
    Ok(())
}

fn check(
    files: &Files,
    fingerprint: Option<&str>,
    local: TrustRoot,
    trust_path: &Path,
) -> Result<Checked, ReleaseError> {
    let package = files
        .get(TRUST_PACKAGE)
        .ok_or_else(|| verify_failed(format!("missing file: {TRUST_PACKAGE}")))?;
    let opened = trust_package::open_text(
        &String::from_utf8_lossy(&package.bytes),
        fingerprint,
        local,
        trust_path,
    )
    .map_err(package_error)?;
    let trust = trust_package::merged(&opened).map_err(package_error)?;
    let envelope = files
        .get(SIGNATURE)
        .ok_or_else(|| verify_failed(format!("unsigned: {SIGNATURE} is missing")))?;
    let (signed_by, statement) = crate::open_statement(
        &String::from_utf8_lossy(&envelope.bytes),
        &format!("{SIGNATURE}: "),
        &trust,
        &[PREDICATE_TYPE],
    )?;
    let mut digests = BTreeMap::new();
    for s in &statement.subject {
        let want = s.digest.get("sha256").cloned().unwrap_or_default();
        let file = files
            .get(&s.name)
            .ok_or_else(|| verify_failed(format!("missing file: {}", s.name)))?;
        if sha256_hex(&file.bytes) != want {
            return Err(verify_failed(format!(
                "checksum mismatch: {} is not the file signed",
                s.name
            )));
        }
        digests.insert(s.name.clone(), want);
    }
    for name in files.keys() {
        if name != SIGNATURE && !digests.contains_key(name) {
            return Err(verify_failed(format!(
                "extra file: {name} is not named by the bundle's signature"
            )));
        }
    }
    let mut archives = Vec::new();
    for (name, file) in files {
        if let Some(rest) = name.strip_prefix("release/") {
            let verified = crate::archive::verify(&file.bytes, &trust)
                .map_err(|e| verify_failed(format!("{name}: {e}")))?;
            if !rest.starts_with(&verified.folder) {
                return Err(verify_failed(format!(
                    "{name}: holds {}, not what its name says",
                    verified.folder
                )));
            }
            archives.push(verified);
        } else if let Some(rest) = name.strip_prefix("packs/") {
            if rest.ends_with(".sig") {
                continue;
            }
            let sig = files
                .get(&format!("{name}.sig"))
                .ok_or_else(|| verify_failed(format!("unsigned pack: {name}.sig is missing")))?;
            cavra_runtime::signature::verify_text(
                &String::from_utf8_lossy(&file.bytes),
                rest,
                &String::from_utf8_lossy(&sig.bytes),
                &trust,
            )
            .map_err(|e| verify_failed(format!("{name}: {e}")))?;
        } else if name.starts_with("images/") {
            is_oci_archive(&file.bytes).map_err(|e| verify_failed(format!("{name}: {e}")))?;
        } else if name != SIGNATURE && name != TRUST_PACKAGE {
            return Err(verify_failed(format!(
                "unexpected file {name} (not a release, trust package, pack or image)"
            )));
        }
    }
    if archives.is_empty() {
        return Err(verify_failed("the bundle holds no release archive"));
    }
    // A pack signature with no pack is extra, not harmless.
    for name in files.keys() {
        if let Some(pack) = name
            .strip_prefix("packs/")
            .and_then(|n| n.strip_suffix(".sig"))
            && !files.contains_key(&format!("packs/{pack}"))
        {
            return Err(verify_failed(format!("extra file: {name} signs no pack")));
        }
    }
    Ok(Checked {
        summary: Summary {
            signed_by,
            signed_at: statement.predicate["signed_at"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            files: digests,
            releases: archives.iter().map(|a| a.folder.clone()).collect(),
            trust_package_signed_by: opened.signed_by.clone(),
        },
        files: files.clone(),
        archives,
        opened,
    })
}

/// Verifies a bundle offline against the trust root at `trust_path` (when it exists) or the key
/// of `fingerprint` in the bundle's trust package.
pub fn verify(
    bytes: &[u8],
    fingerprint: Option<&str>,
    trust_path: &Path,
) -> Result<Checked, ReleaseError> {
    let local = trust_package::local_trust_root(trust_path).map_err(|e| match e {
        TrustPackageError::Invalid(m) => ReleaseError::Input(m),
        other => ReleaseError::Input(other.to_string()),
    })?;
    let files = tarball::read_tar(bytes)?;
    check(&files, fingerprint, local, trust_path)
}

/// What an install wrote.
#[derive(Debug, Serialize)]
pub struct Installed {
    /// What the bundle held.
    pub bundle: Summary,
    /// Every file written.
    pub written: Vec<PathBuf>,
    /// The trust root written.
    pub trust_root: PathBuf,
}

impl Installed {
    /// What people read of an install under `prefix`: the bundle verified, then what was
    /// written.
    pub fn to_text(&self, prefix: &Path) -> String {
        format!(
            "{}installed {} files under {}; trust root {}\n",
            self.bundle.to_text(),
            self.written.len(),
            prefix.display(),
            self.trust_root.display()
        )
    }
}

fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), ReleaseError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|error| ReleaseError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            error,
        })?;
    }
    crate::write(path, bytes)?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|error| {
        ReleaseError::Io {
            what: "writing",
            path: path.to_path_buf(),
            error,
        }
    })
}

/// Installs a verified bundle under `prefix`: `bin/` (the first release archive's binaries),
/// `share/cavra/` (its packs, SBOM and sums), `policies/` (the trust package's packs and the
/// bundle's extra packs, each with its signature), `images/`; and merges the trust package
/// into the trust root at `trust_path`.
pub fn install(
    checked: Checked,
    prefix: &Path,
    trust_path: &Path,
) -> Result<Installed, ReleaseError> {
    let mut written = Vec::new();
    if checked.archives.len() > 1 {
        return Err(ReleaseError::Input(format!(
            "the bundle holds {} release archives ({}); install one bundle per platform",
            checked.archives.len(),
            checked.summary.releases.join(", ")
        )));
    }
    let archive = &checked.archives[0];
    for (name, entry) in &archive.contents {
        let path = match name.strip_prefix("bin/") {
            Some(bin) => prefix.join("bin").join(bin),
            None => prefix.join("share/cavra").join(name),
        };
        write_file(&path, &entry.bytes, entry.executable)?;
        written.push(path);
    }
    for (name, entry) in &checked.files {
        let target = if let Some(p) = name.strip_prefix("packs/") {
            prefix.join("policies").join(p)
        } else if name.starts_with("images/") {
            prefix.join(name)
        } else {
            continue;
        };
        write_file(&target, &entry.bytes, false)?;
        written.push(target);
    }
    let policies = prefix.join("policies");
    let imported = trust_package::install(checked.opened, trust_path, Some(&policies))
        .map_err(|e| ReleaseError::Input(e.to_string()))?;
    written.extend(imported.policies.iter().map(|p| policies.join(p)));
    Ok(Installed {
        bundle: checked.summary,
        written,
        trust_root: trust_path.to_path_buf(),
    })
}
