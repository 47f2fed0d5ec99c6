//! Step 1, publication validation: what is published is what was released. The release
//! record (`cavra release record`) is verified against the release trust root, every artefact
//! given is checked against the digest the record names for it, every artefact the record
//! names must be given, and a release archive's own signed sums are verified file by file.

use std::path::{Path, PathBuf};

use cavra_release::record::Record as ReleaseRecord;
use serde::Serialize;
use serde_json::json;

use crate::{FileDigest, Record, ReviewError, Step, Written};

/// What to validate.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The release record.
    pub release_record: &'a Path,
    /// The artefacts as published.
    pub artifacts: &'a [PathBuf],
    /// The trust root the release is signed under.
    pub trust_root: &'a Path,
}

/// One artefact checked.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// Its file name.
    pub name: String,
    /// Its digest.
    pub sha256: String,
    /// A release archive: its signed sums, verified (the key and how many files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<serde_json::Value>,
}

/// Validates the publication and writes the signed record to `output`.
pub fn run(
    inputs: &Inputs<'_>,
    signer: &cavra_runtime::keyfiles::LogSigner,
    output: &Path,
) -> Result<Written, ReviewError> {
    let trust = cavra_runtime::trust_file::read(inputs.trust_root)?;
    let record_bytes = crate::read_file(inputs.release_record)?;
    let text = String::from_utf8_lossy(&record_bytes);
    let mut problems = Vec::new();
    let mut artifacts = Vec::new();
    let mut digests = vec![FileDigest::of(
        file_name(inputs.release_record),
        &record_bytes,
    )];
    for path in inputs.artifacts {
        let bytes = crate::read_file(path)?;
        let name = file_name(path);
        digests.push(FileDigest::of(&name, &bytes));
        let archive = if cavra_release::archive::is_archive(&bytes) {
            match cavra_release::archive::verify(&bytes, &trust) {
                Ok(v) => Some(json!({
                    "version": v.version, "target": v.target, "signed_by": v.signed_by,
                    "signed_at": v.signed_at, "files": v.files.len(),
                })),
                Err(e) => {
                    problems.push(format!("archive {name}: {e}"));
                    None
                }
            }
        } else {
            None
        };
        artifacts.push(Artifact {
            sha256: crate::sha256(&bytes),
            name,
            archive,
        });
    }
    // The record and the artefacts' digests, through the release's own verifier.
    let body = match cavra_release::record::verify(&text, &trust, inputs.artifacts) {
        Ok(v) => {
            let named: Vec<&str> = v
                .subjects
                .iter()
                .map(|s| s.name.as_str())
                .filter(|n| !n.starts_with("release-record/"))
                .collect();
            for n in &named {
                if !v.artifacts_checked.iter().any(|c| c == n) {
                    problems.push(format!(
                        "artefact {n}: named by the release record, not given to check"
                    ));
                }
            }
            let (version, commit, unchecked) = match &v.record {
                ReleaseRecord::Release(p) => {
                    (p.version.clone(), Some(p.commit.clone()), p.unchecked.len())
                }
                ReleaseRecord::Rollback(p) => {
                    problems.push(format!(
                        "a rollback record ({} -> {}), not a release record",
                        p.from, p.to
                    ));
                    (p.to.clone(), None, 0)
                }
            };
            json!({
                "version": version, "commit": commit, "release_signed_by": v.signed_by,
                "commits_without_ci_check": unchecked, "artifacts": artifacts,
                "artifacts_checked": v.artifacts_checked,
            })
        }
        Err(e) if e.is_verification() => {
            problems.push(format!("release record: {e}"));
            json!({"artifacts": artifacts})
        }
        Err(cavra_release::ReleaseError::Input(m)) => return Err(ReviewError::Usage(m)),
        Err(e) => return Err(ReviewError::Release(e.to_string())),
    };
    let mut record = Record::new(Step::Publication, problems, body);
    record.inputs = digests;
    crate::write_record(output, signer, None, &record, Vec::new())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
