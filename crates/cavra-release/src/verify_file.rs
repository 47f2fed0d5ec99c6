//! `cavra release verify FILE`: a release archive checked whole, or a release (or rollback)
//! record with its artefacts, as the JSON and text the CLI prints.

use std::path::{Path, PathBuf};

use cavra_evidence::trust::TrustRoot;
use serde_json::{Value, json};

use crate::ReleaseError;

/// What verified: the JSON `--json` prints and the text otherwise.
#[derive(Debug, Clone)]
pub struct Printed {
    /// `--json`'s output.
    pub json: Value,
    /// The text output.
    pub text: String,
}

/// Why `cavra release verify` fails.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFileError {
    /// Artefacts were given with an archive (an archive is checked whole).
    #[error("--artifact checks a record's artefacts; an archive is checked whole")]
    ArtifactsWithArchive,
    /// The file could not be read.
    #[error("reading {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// It does not verify.
    #[error("{name}: does not verify: {error}")]
    Verify {
        /// The file's name as given.
        name: String,
        /// Why.
        error: Box<ReleaseError>,
    },
}

/// Verifies the archive or record at `file` against `trust` (a record's `artifacts` too).
pub fn verify_file(
    file: &Path,
    trust: &TrustRoot,
    artifacts: &[PathBuf],
) -> Result<Printed, VerifyFileError> {
    let bytes = std::fs::read(file).map_err(|error| VerifyFileError::Read {
        path: file.to_path_buf(),
        error,
    })?;
    let failed = |error| VerifyFileError::Verify {
        name: file.display().to_string(),
        error: Box::new(error),
    };
    if crate::archive::is_archive(&bytes) {
        if !artifacts.is_empty() {
            return Err(VerifyFileError::ArtifactsWithArchive);
        }
        let verified = crate::archive::verify(&bytes, trust).map_err(failed)?;
        return Ok(Printed {
            text: verified.to_text(),
            json: json!({"verified": true, "kind": "release_archive", "archive": verified}),
        });
    }
    let verified = crate::record::verify(&String::from_utf8_lossy(&bytes), trust, artifacts)
        .map_err(failed)?;
    Ok(Printed {
        text: verified.to_text(),
        json: json!({"verified": true, "result": verified}),
    })
}
