//! cavra releases and air-gapped installs.
//!
//! * [`record`]: `cavra release record | rollback | verify` — in-toto statements, signed in
//!   DSSE envelopes with the project's trust roots, that bind a release's artefact digests to
//!   the CI attestations (and through them the evidence bundles) of the commits it contains,
//!   and that record a rollback from one recorded release to another;
//! * [`archive`]: the release archive `scripts/build-release` writes — both binaries, the
//!   built-in packs, a CycloneDX SBOM ([`sbom`]), `SHA256SUMS` and a DSSE signature over the
//!   sums — byte for byte the same when built again from the same inputs;
//! * [`offline`]: the signed offline install bundle (release archive, packs, trust package,
//!   container image) and its verification and installation;
//! * [`drift`]: the trust root in use compared with the distributed trust package and with
//!   what the service reports.
//!
//! Everything here verifies against a trust root the caller already holds, or a key whose
//! fingerprint was told out of band — never against a key a file merely brings along.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod drift;
pub mod offline;
pub mod record;
pub mod sbom;
pub mod tarball;
pub mod verify_file;

use std::path::{Path, PathBuf};

/// Why a release operation failed. Every message names the file or the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A file could not be read or written.
    #[error("{what} {}: {error}", path.display())]
    Io {
        /// `reading`, `writing` or `creating`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A key file could not be read.
    #[error(transparent)]
    Key(#[from] cavra_runtime::keyfiles::KeyFileError),
    /// The trust root could not be read.
    #[error(transparent)]
    Trust(#[from] cavra_runtime::trust_file::TrustFileError),
    /// The input is unusable (the message says which and why): a usage mistake, not a failed
    /// verification.
    #[error("{0}")]
    Input(String),
    /// Something did not verify: a signature, a digest, a missing or extra file (the message
    /// names it).
    #[error("{0}")]
    Verify(String),
}

impl ReleaseError {
    /// Whether this is a failed verification (a tampered, unsigned or untrusted input), as
    /// opposed to an input that could not be read.
    pub fn is_verification(&self) -> bool {
        matches!(self, ReleaseError::Verify(_))
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, ReleaseError> {
    std::fs::read(path).map_err(|error| ReleaseError::Io {
        what: "reading",
        path: path.to_path_buf(),
        error,
    })
}

/// Writes a record or bundle file whole or not at all, creating its folder first.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| ReleaseError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            error,
        })?;
    }
    write(path, bytes)
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    cavra_runtime::repo::write_atomic(path, bytes).map_err(|error| ReleaseError::Io {
        what: "writing",
        path: path.to_path_buf(),
        error,
    })
}

pub(crate) fn verify_failed(e: impl std::fmt::Display) -> ReleaseError {
    ReleaseError::Verify(e.to_string())
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The current time as trust roots and evidence write it (RFC 3339, UTC, whole seconds).
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    cavra_evidence::trust::format_time(t.replace_nanosecond(0).unwrap_or(t))
}

/// A trust package that did not open: a usage mistake when there was nothing to check it
/// against, else a failed verification of the file `label` names.
pub(crate) fn package_error(
    label: &str,
    e: cavra_runtime::trust_package::TrustPackageError,
) -> ReleaseError {
    match e {
        cavra_runtime::trust_package::TrustPackageError::NoAnchor(_) => {
            ReleaseError::Input(e.to_string())
        }
        other => verify_failed(format!("{label}: {other}")),
    }
}

/// Signs `statement` (validated first) into a DSSE envelope with `signer`'s key and id.
pub(crate) fn sign_statement(
    statement: &cavra_evidence::intoto::Statement,
    signer: &cavra_runtime::keyfiles::LogSigner,
) -> Result<cavra_evidence::dsse::Envelope, ReleaseError> {
    statement
        .validate()
        .map_err(|e| ReleaseError::Input(e.to_string()))?;
    let mut env = cavra_evidence::dsse::Envelope::new(
        cavra_evidence::intoto::PAYLOAD_TYPE,
        &statement.to_canonical_bytes(),
    );
    env.add_signature(&signer.key, signer.key_id.clone())
        .map_err(|e| ReleaseError::Input(e.to_string()))?;
    Ok(env)
}

/// Opens a signed statement: the envelope in `text` verified against `trust` as of the
/// `signed_at` its predicate names, the statement valid and of one of `predicate_types`.
/// Returns the signing key's id and the statement. Failures are prefixed with `label`.
pub(crate) fn open_statement(
    text: &str,
    label: &str,
    trust: &cavra_evidence::trust::TrustRoot,
    predicate_types: &[&str],
) -> Result<(String, cavra_evidence::intoto::Statement), ReleaseError> {
    use cavra_evidence::intoto::Statement;
    let envelope = cavra_evidence::dsse::Envelope::from_json(text)
        .map_err(|e| verify_failed(format!("{label}{e}")))?;
    let at = |p: &[u8]| -> Option<String> {
        let s: Statement = serde_json::from_slice(p).ok()?;
        s.predicate.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(&envelope, cavra_evidence::intoto::PAYLOAD_TYPE, None, &at)
        .map_err(|e| verify_failed(format!("{label}signature: {e}")))?;
    let statement: Statement = serde_json::from_slice(&by.payload)
        .map_err(|e| verify_failed(format!("{label}not a statement: {e}")))?;
    statement
        .validate()
        .map_err(|e| verify_failed(format!("{label}{e}")))?;
    if !predicate_types.contains(&statement.predicate_type.as_str()) {
        return Err(verify_failed(format!(
            "{label}predicate type {:?} is not {}",
            statement.predicate_type,
            predicate_types.join(" or ")
        )));
    }
    Ok((by.key_id, statement))
}
