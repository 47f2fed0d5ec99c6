//! The release archive: `cavra-<version>-<target>.tar.gz`, one folder of that name holding
//!
//! ```text
//! bin/cavra, bin/cavra-hook     the static binaries (0755)
//! packs/<id>.yaml               the built-in policy packs
//! sbom.cdx.json                 CycloneDX SBOM of what the binaries link
//! SHA256SUMS                    `sha256sum -c` format, every file above
//! SHA256SUMS.intoto.json        DSSE envelope: an in-toto statement whose subjects are
//!                               SHA256SUMS and every file it lists, signed by cavra
//! ```
//!
//! Reproducible: entries sorted, one modification time (the release commit's, as
//! `SOURCE_DATE_EPOCH`), no owners, gzip without a time or name, and the statement dated that
//! same time — Ed25519 signatures are deterministic, so the same binaries, commit and key give
//! the same bytes.

use std::path::{Path, PathBuf};

use cavra_evidence::intoto::{Statement, Subject};
use cavra_evidence::trust::TrustRoot;
use cavra_runtime::keyfiles::LogSigner;
use serde::Serialize;
use serde_json::json;

use crate::tarball::{self, Entry, Files};
use crate::{ReleaseError, sha256_hex, verify_failed};

/// The predicate type of the statement over the sums.
pub const PREDICATE_TYPE: &str = "https://cavra.dev/release-archive/v1";
/// The sums file's name.
pub const SUMS: &str = "SHA256SUMS";
/// The signature's file name.
pub const SUMS_SIGNATURE: &str = "SHA256SUMS.intoto.json";
/// The SBOM's file name.
pub const SBOM: &str = "sbom.cdx.json";

/// What goes into an archive.
#[derive(Debug)]
pub struct Inputs {
    /// The release's version (`0.1.0`).
    pub version: String,
    /// The target triple the binaries were built for.
    pub target: String,
    /// The binaries (their file names are kept).
    pub binaries: Vec<PathBuf>,
    /// The SBOM (see [`crate::sbom`]).
    pub sbom: serde_json::Value,
    /// The release commit's time, seconds since the epoch: every entry's time and the signed
    /// time.
    pub source_date_epoch: u64,
}

/// What [`build`] made.
#[derive(Debug, Serialize)]
pub struct Built {
    /// The archive's file name.
    pub file_name: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The files inside (relative to the archive's folder), in order.
    pub files: Vec<String>,
    /// The key that signed the sums.
    pub signed_by: String,
    /// The signed time.
    pub signed_at: String,
    /// The bytes (not serialised).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

impl Built {
    /// What people read once the archive is written at `path`: its sum, then what it holds.
    pub fn to_text(&self, path: &Path) -> String {
        format!(
            "{}  {}\nrelease archive of {} files signed by {} at {}\n",
            self.sha256,
            path.display(),
            self.files.len(),
            self.signed_by,
            self.signed_at
        )
    }
}

fn folder_name(version: &str, target: &str) -> String {
    format!("cavra-{version}-{target}")
}

fn safe_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
        && !s.starts_with('.')
}

fn time_text(epoch: u64) -> Result<String, ReleaseError> {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .map_err(|e| ReleaseError::Input(format!("source date {epoch}: {e}")))?;
    Ok(cavra_evidence::trust::format_time(t))
}

/// The `SHA256SUMS` text of `files` (every file but the sums and their signature).
fn sums_text(files: &Files) -> String {
    files
        .iter()
        .filter(|(name, _)| name.as_str() != SUMS && name.as_str() != SUMS_SIGNATURE)
        .map(|(name, e)| format!("{}  {name}\n", sha256_hex(&e.bytes)))
        .collect()
}

/// Builds the archive, signed by `signer`.
pub fn build(inputs: &Inputs, signer: &LogSigner) -> Result<Built, ReleaseError> {
    if !safe_part(&inputs.version) || !safe_part(&inputs.target) {
        return Err(ReleaseError::Input(format!(
            "version {:?} and target {:?} must be letters, digits, '-', '_', '.' or '+'",
            inputs.version, inputs.target
        )));
    }
    let mut files = Files::new();
    for path in &inputs.binaries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| safe_part(n))
            .ok_or_else(|| {
                ReleaseError::Input(format!("{} has no usable file name", path.display()))
            })?;
        let bytes = crate::read(path)?;
        if files
            .insert(
                format!("bin/{name}"),
                Entry {
                    bytes,
                    executable: true,
                },
            )
            .is_some()
        {
            return Err(ReleaseError::Input(format!("two binaries named {name}")));
        }
    }
    if files.is_empty() {
        return Err(ReleaseError::Input("no binaries to release".into()));
    }
    for pack in cavra_policy::builtin::builtin_packs() {
        files.insert(
            format!("packs/{}.yaml", pack.id),
            Entry {
                bytes: pack.yaml.as_bytes().to_vec(),
                executable: false,
            },
        );
    }
    let sbom = serde_json::to_vec_pretty(&inputs.sbom)
        .map_err(|e| ReleaseError::Input(format!("the SBOM: {e}")))?;
    files.insert(
        SBOM.into(),
        Entry {
            bytes: sbom,
            executable: false,
        },
    );
    let sums = sums_text(&files);
    let signed_at = time_text(inputs.source_date_epoch)?;
    let mut subject = vec![Subject::sha256_of(SUMS, sums.as_bytes())];
    subject.extend(
        files
            .iter()
            .map(|(name, e)| Subject::sha256_of(name.clone(), &e.bytes)),
    );
    let statement = Statement::new(
        subject,
        PREDICATE_TYPE,
        json!({
            "version": inputs.version,
            "target": inputs.target,
            "signed_at": signed_at,
            "key_id": signer.key_id,
        }),
    );
    let env = crate::sign_statement(&statement, signer)?;
    files.insert(
        SUMS.into(),
        Entry {
            bytes: sums.into_bytes(),
            executable: false,
        },
    );
    files.insert(
        SUMS_SIGNATURE.into(),
        Entry {
            bytes: format!("{}\n", env.to_json()).into_bytes(),
            executable: false,
        },
    );
    let folder = folder_name(&inputs.version, &inputs.target);
    let listed: Vec<String> = files.keys().cloned().collect();
    let prefixed: Files = files
        .into_iter()
        .map(|(name, e)| (format!("{folder}/{name}"), e))
        .collect();
    let bytes = tarball::gzip(&tarball::write_tar(&prefixed, inputs.source_date_epoch)?)?;
    Ok(Built {
        file_name: format!("{folder}.tar.gz"),
        sha256: sha256_hex(&bytes),
        files: listed,
        signed_by: signer.key_id.clone(),
        signed_at,
        bytes,
    })
}

/// What a verified archive holds.
#[derive(Debug, Serialize)]
pub struct Verified {
    /// The version the signed statement names.
    pub version: String,
    /// The target it names.
    pub target: String,
    /// The key that signed the sums.
    pub signed_by: String,
    /// When.
    pub signed_at: String,
    /// Every file, checked against the sums.
    pub files: Vec<String>,
    /// The archive's folder name.
    #[serde(skip)]
    pub folder: String,
    /// The files' contents by name (relative to the folder).
    #[serde(skip)]
    pub contents: Files,
}

impl Verified {
    /// What people read.
    pub fn to_text(&self) -> String {
        format!(
            "verified: release archive {} {} ({} files) signed by {} at {}\n",
            self.version,
            self.target,
            self.files.len(),
            self.signed_by,
            self.signed_at
        )
    }
}

/// Verifies an archive offline against `trust`: the signature over the sums, every file against
/// its sum, and no file missing or extra. Fails naming what failed.
pub fn verify(bytes: &[u8], trust: &TrustRoot) -> Result<Verified, ReleaseError> {
    let all = tarball::read_tar(bytes)?;
    let mut folder: Option<String> = None;
    let mut files = Files::new();
    for (name, entry) in all {
        let (top, rest) = name.split_once('/').ok_or_else(|| {
            verify_failed(format!("{name:?} is outside the archive's one folder"))
        })?;
        match &folder {
            None => folder = Some(top.to_string()),
            Some(f) if f != top => {
                return Err(verify_failed(format!(
                    "the archive holds two folders, {f:?} and {top:?}"
                )));
            }
            Some(_) => {}
        }
        files.insert(rest.to_string(), entry);
    }
    let folder = folder.ok_or_else(|| verify_failed("the archive is empty"))?;
    let envelope = files
        .get(SUMS_SIGNATURE)
        .ok_or_else(|| verify_failed(format!("unsigned: {SUMS_SIGNATURE} is missing")))?;
    let (signed_by, statement) = crate::open_statement(
        &String::from_utf8_lossy(&envelope.bytes),
        &format!("{SUMS_SIGNATURE}: "),
        trust,
        &[PREDICATE_TYPE],
    )?;
    let signed = |name: &str| {
        statement
            .subject
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.digest.get("sha256"))
    };
    let sums = files
        .get(SUMS)
        .ok_or_else(|| verify_failed(format!("{SUMS} is missing")))?;
    if signed(SUMS).map(String::as_str) != Some(sha256_hex(&sums.bytes).as_str()) {
        return Err(verify_failed(format!("{SUMS} is not the one signed")));
    }
    let sums_text = String::from_utf8_lossy(&sums.bytes).into_owned();
    let mut listed = std::collections::BTreeSet::new();
    for (i, line) in sums_text.lines().enumerate() {
        let (digest, name) = line.split_once("  ").ok_or_else(|| {
            verify_failed(format!("{SUMS} line {}: not `<sha256>  <file>`", i + 1))
        })?;
        let file = files
            .get(name)
            .ok_or_else(|| verify_failed(format!("missing file: {name} (listed in {SUMS})")))?;
        if sha256_hex(&file.bytes) != digest || signed(name).map(String::as_str) != Some(digest) {
            return Err(verify_failed(format!(
                "checksum mismatch: {name} is not the file signed"
            )));
        }
        listed.insert(name.to_string());
    }
    for name in files.keys() {
        if name != SUMS && name != SUMS_SIGNATURE && !listed.contains(name) {
            return Err(verify_failed(format!(
                "extra file: {name} is not listed in {SUMS}"
            )));
        }
    }
    let text = |k: &str| {
        statement.predicate[k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Ok(Verified {
        version: text("version"),
        target: text("target"),
        signed_by,
        signed_at: text("signed_at"),
        files: listed.into_iter().collect(),
        folder,
        contents: files,
    })
}

/// Writes a built archive into `dir` (created if missing) and returns its path.
pub fn write(built: &Built, dir: &Path) -> Result<PathBuf, ReleaseError> {
    std::fs::create_dir_all(dir).map_err(|error| ReleaseError::Io {
        what: "creating",
        path: dir.to_path_buf(),
        error,
    })?;
    let path = dir.join(&built.file_name);
    crate::write(&path, &built.bytes)?;
    Ok(path)
}

/// An archive's inputs as `scripts/build-release` has them: the SBOM made from `cargo metadata`
/// and `Cargo.lock`.
#[derive(Debug)]
pub struct CargoInputs<'a> {
    /// The release's version.
    pub version: &'a str,
    /// The target triple.
    pub target: &'a str,
    /// The binaries.
    pub binaries: &'a [PathBuf],
    /// `cargo metadata --format-version 1` output.
    pub metadata: &'a [u8],
    /// `Cargo.lock`'s text.
    pub lock: &'a str,
    /// The release commit's time (seconds since the epoch).
    pub source_date_epoch: u64,
}

/// The package whose binaries a release ships.
const RELEASED_PACKAGE: &str = "cavra";

/// Builds the archive with the SBOM of the `cavra` package made from `inputs`.
pub fn build_from_cargo(
    inputs: &CargoInputs<'_>,
    signer: &LogSigner,
) -> Result<Built, ReleaseError> {
    let sbom = crate::sbom::cyclonedx(
        inputs.metadata,
        inputs.lock,
        RELEASED_PACKAGE,
        &time_text(inputs.source_date_epoch)?,
    )?;
    build(
        &Inputs {
            version: inputs.version.to_string(),
            target: inputs.target.to_string(),
            binaries: inputs.binaries.to_vec(),
            sbom,
            source_date_epoch: inputs.source_date_epoch,
        },
        signer,
    )
}

/// Whether `bytes` look like a release archive (gzip) rather than a record (JSON).
pub fn is_archive(bytes: &[u8]) -> bool {
    tarball::is_gzip(bytes)
}
