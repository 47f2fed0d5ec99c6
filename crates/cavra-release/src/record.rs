//! Release and rollback records: in-toto statements signed in DSSE envelopes.
//!
//! A **release record** (predicate [`RELEASE_PREDICATE`]) names each artefact by SHA-256 and
//! binds it to the commits of the release (`git rev-list FROM..TO`) and, per commit, the CI
//! checks that passed on it — cavra CI attestations (`cavra ci attest`), each verified against
//! the trust root, each naming the evidence bundle (by its manifest's digest) that covered the
//! change. Commits no attestation covers are listed as `unchecked`, never silently dropped.
//!
//! A **rollback record** (predicate [`ROLLBACK_PREDICATE`]) names the release records rolled
//! from and to (both verified first) and the artefacts rolled back to, with the reason
//! (redacted) and who decided.
//!
//! Both verify offline ([`verify`]) against a trust root: an unsigned, tampered or untrusted
//! record fails, naming what failed, and artefacts given to check must be the ones named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cavra_evidence::dsse::Envelope;
use cavra_evidence::intoto::{Statement, Subject};
use cavra_evidence::trust::TrustRoot;
use cavra_runtime::keyfiles::LogSigner;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ReleaseError, sha256_hex, verify_failed};

/// The predicate type of a release record.
pub const RELEASE_PREDICATE: &str = "https://cavra.dev/release/v1";
/// The predicate type of a rollback record.
pub const ROLLBACK_PREDICATE: &str = "https://cavra.dev/rollback/v1";
/// Where records go by default, under the repository root.
pub const RECORDS_DIR: &str = ".cavra/releases";

/// The subject name of a release record inside a rollback record.
fn record_subject(version: &str) -> String {
    format!("release-record/{version}")
}

/// The file name of the release record of `version`.
pub fn record_file_name(version: &str) -> String {
    format!("{version}.release.json")
}

/// The default file name of the rollback record from `from` to `to` signed at `signed_at`
/// (its letters and digits stamp the name, so rollbacks between the same versions differ).
pub fn rollback_file_name(from: &str, to: &str, signed_at: &str) -> String {
    let stamp: String = signed_at
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("rollback-{from}-to-{to}-{stamp}.json")
}

/// A CI check that passed on a commit of the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// SHA-256 of the attestation file (its DSSE envelope).
    pub attestation_sha256: String,
    /// The key that signed the attestation.
    pub signed_by: String,
    /// The policy the gate judged by.
    pub policy: Value,
    /// Its digest.
    pub policy_digest: Value,
    /// The evidence bundle that covered the change: its manifest's SHA-256.
    pub evidence_bundle_manifest_sha256: Option<String>,
}

/// A commit of the release and its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitChecks {
    /// The commit id.
    pub commit: String,
    /// The checks that passed on it.
    pub checks: Vec<Check>,
}

/// The predicate of a release record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePredicate {
    /// The version.
    pub version: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
    /// The signing key's id.
    pub key_id: String,
    /// The previous release's ref, when the range starts at one.
    pub from: Option<String>,
    /// The release commit.
    pub commit: String,
    /// Every commit of the release, newest first, with its checks.
    pub commits: Vec<CommitChecks>,
    /// The commits no check covers.
    pub unchecked: Vec<String>,
}

/// The predicate of a rollback record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackPredicate {
    /// The version rolled back from.
    pub from: String,
    /// The version rolled back to.
    pub to: String,
    /// Why (redacted).
    pub reason: String,
    /// Who decided.
    pub actor: String,
    /// When it was signed (RFC 3339).
    pub signed_at: String,
    /// The signing key's id.
    pub key_id: String,
}

/// What to record about a release.
#[derive(Debug)]
pub struct ReleaseInputs<'a> {
    /// The version.
    pub version: &'a str,
    /// The artefacts (named by their file names).
    pub artifacts: &'a [PathBuf],
    /// The repository.
    pub repo: &'a Path,
    /// The previous release's ref (the range starts after it), if any.
    pub from: Option<&'a str>,
    /// The release ref.
    pub to: &'a str,
    /// CI attestations of commits of the release.
    pub attestations: &'a [PathBuf],
    /// Refuse a release with a commit no attestation covers.
    pub require_checks: bool,
    /// The signed time (RFC 3339).
    pub signed_at: &'a str,
}

/// A record that was signed.
#[derive(Debug)]
pub struct Signed {
    /// The envelope.
    pub envelope: Envelope,
    /// The statement it carries.
    pub statement: Statement,
}

impl Signed {
    /// The envelope as written to a file.
    pub fn to_file_text(&self) -> String {
        format!("{}\n", self.envelope.to_json())
    }

    /// How many commits of a release record no CI check covers.
    pub fn unchecked(&self) -> usize {
        self.statement.predicate["unchecked"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// The sentence `cavra release record` prints for this record, written to `output`.
    pub fn release_text(&self, version: &str, signed_by: &str, output: &Path) -> String {
        let commits = self.statement.predicate["commits"]
            .as_array()
            .map_or(0, Vec::len);
        format!(
            "recorded release {version} ({} artefact(s), {commits} commit(s), {} without a CI check) signed by {signed_by}: {}",
            self.statement.subject.len(),
            self.unchecked(),
            output.display()
        )
    }
}

fn artifact_subjects(artifacts: &[PathBuf]) -> Result<Vec<Subject>, ReleaseError> {
    if artifacts.is_empty() {
        return Err(ReleaseError::Input("no --artifact given".into()));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for path in artifacts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ReleaseError::Input(format!("{} has no file name", path.display())))?;
        if !names.insert(name.clone()) {
            return Err(ReleaseError::Input(format!(
                "two artefacts are named {name}; release records name artefacts by file name"
            )));
        }
        out.push(Subject::sha256_of(name, &crate::read(path)?));
    }
    Ok(out)
}

fn sign(statement: Statement, signer: &LogSigner) -> Result<Signed, ReleaseError> {
    let envelope = crate::sign_statement(&statement, signer)?;
    Ok(Signed {
        envelope,
        statement,
    })
}

fn git_error(e: cavra_ci::CiError) -> ReleaseError {
    ReleaseError::Input(e.to_string())
}

/// The check an attestation file proves, and the commit it is about. The attestation must
/// verify against `trust` (`cavra ci verify-attestation`'s checks).
fn check_of(path: &Path, repo: &Path, trust: &TrustRoot) -> Result<(String, Check), ReleaseError> {
    let bytes = crate::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let envelope = Envelope::from_json(&text)
        .map_err(|e| verify_failed(format!("{}: not an attestation: {e}", path.display())))?;
    // The commit is read unverified only to ask the verification about it.
    let payload = envelope
        .payload_bytes()
        .map_err(|e| verify_failed(format!("{}: {e}", path.display())))?;
    let unverified: Statement = serde_json::from_slice(&payload)
        .map_err(|e| verify_failed(format!("{}: not a statement: {e}", path.display())))?;
    let commit = unverified
        .subject
        .iter()
        .find_map(|s| s.digest.get("gitCommit").cloned())
        .ok_or_else(|| verify_failed(format!("{}: names no commit", path.display())))?;
    let verified = cavra_ci::attest::verify_attestation(&envelope, trust, repo, &commit, None)
        .map_err(|e| verify_failed(format!("{}: {e}", path.display())))?;
    let bundle = unverified
        .subject
        .iter()
        .find(|s| s.name == "evidence-bundle/manifest.json")
        .and_then(|s| s.digest.get("sha256").cloned());
    Ok((
        verified.head,
        Check {
            attestation_sha256: sha256_hex(&bytes),
            signed_by: verified.key_id,
            policy: verified.predicate["policy"].clone(),
            policy_digest: verified.predicate["policy_digest"].clone(),
            evidence_bundle_manifest_sha256: bundle,
        },
    ))
}

/// Builds and signs the release record.
pub fn record_release(
    inputs: &ReleaseInputs<'_>,
    trust: &TrustRoot,
    signer: &LogSigner,
) -> Result<Signed, ReleaseError> {
    check_version(inputs.version)?;
    let subject = artifact_subjects(inputs.artifacts)?;
    let commit = cavra_ci::git::resolve(inputs.repo, inputs.to).map_err(git_error)?;
    let commits = cavra_ci::git::commits(inputs.repo, inputs.from, &commit).map_err(git_error)?;
    if commits.is_empty() {
        return Err(ReleaseError::Input(format!(
            "the release adds no commit ({}..{})",
            inputs.from.unwrap_or(""),
            inputs.to
        )));
    }
    let in_release: BTreeSet<&str> = commits.iter().map(String::as_str).collect();
    let mut checks: BTreeMap<String, Vec<Check>> = BTreeMap::new();
    for path in inputs.attestations {
        let (commit, check) = check_of(path, inputs.repo, trust)?;
        if !in_release.contains(commit.as_str()) {
            return Err(ReleaseError::Input(format!(
                "{} attests commit {commit}, which is not in the release",
                path.display()
            )));
        }
        checks.entry(commit).or_default().push(check);
    }
    let commits: Vec<CommitChecks> = commits
        .into_iter()
        .map(|c| CommitChecks {
            checks: checks.remove(&c).unwrap_or_default(),
            commit: c,
        })
        .collect();
    let unchecked: Vec<String> = commits
        .iter()
        .filter(|c| c.checks.is_empty())
        .map(|c| c.commit.clone())
        .collect();
    if inputs.require_checks && !unchecked.is_empty() {
        return Err(ReleaseError::Input(format!(
            "{} commit(s) of the release have no passing CI check: {}",
            unchecked.len(),
            unchecked.join(", ")
        )));
    }
    let predicate = ReleasePredicate {
        version: inputs.version.to_string(),
        signed_at: inputs.signed_at.to_string(),
        key_id: signer.key_id.clone(),
        from: inputs.from.map(str::to_string),
        commit,
        commits,
        unchecked,
    };
    let value = serde_json::to_value(&predicate).map_err(|e| ReleaseError::Input(e.to_string()))?;
    sign(Statement::new(subject, RELEASE_PREDICATE, value), signer)
}

fn check_version(version: &str) -> Result<(), ReleaseError> {
    let ok = !version.is_empty()
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ReleaseError::Input(format!(
            "version {version:?} must be letters, digits, '-', '_', '.' or '+' (it names files)"
        )))
    }
}

/// What to record about a rollback.
#[derive(Debug)]
pub struct RollbackInputs<'a> {
    /// The version rolled back from.
    pub from: &'a str,
    /// The version rolled back to.
    pub to: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Who decided.
    pub actor: &'a str,
    /// The release record of `from`.
    pub from_record: &'a Path,
    /// The release record of `to`.
    pub to_record: &'a Path,
    /// The signed time (RFC 3339).
    pub signed_at: &'a str,
}

/// Builds and signs the rollback record; both release records must verify against `trust` and
/// name the versions given.
pub fn record_rollback(
    inputs: &RollbackInputs<'_>,
    trust: &TrustRoot,
    signer: &LogSigner,
) -> Result<Signed, ReleaseError> {
    check_version(inputs.from)?;
    check_version(inputs.to)?;
    if inputs.from == inputs.to {
        return Err(ReleaseError::Input(
            "--from and --to name the same version".into(),
        ));
    }
    if inputs.reason.trim().is_empty() {
        return Err(ReleaseError::Input("--reason must say why".into()));
    }
    let mut subject = Vec::new();
    let mut to_artifacts = Vec::new();
    for (version, path) in [
        (inputs.from, inputs.from_record),
        (inputs.to, inputs.to_record),
    ] {
        let bytes = crate::read(path)?;
        let verified = verify(&String::from_utf8_lossy(&bytes), trust, &[])
            .map_err(|e| verify_failed(format!("{}: {e}", path.display())))?;
        match &verified.record {
            Record::Release(p) if p.version == version => {}
            Record::Release(p) => {
                return Err(ReleaseError::Input(format!(
                    "{} records release {}, not {version}",
                    path.display(),
                    p.version
                )));
            }
            Record::Rollback(_) => {
                return Err(ReleaseError::Input(format!(
                    "{} is a rollback record, not the release record of {version}",
                    path.display()
                )));
            }
        }
        subject.push(Subject::sha256_of(record_subject(version), &bytes));
        if version == inputs.to {
            to_artifacts = verified.subjects;
        }
    }
    subject.extend(to_artifacts);
    let reason = cavra_redact::Redactor::builtin()
        .redact_text(inputs.reason)
        .value;
    let predicate = RollbackPredicate {
        from: inputs.from.to_string(),
        to: inputs.to.to_string(),
        reason,
        actor: inputs.actor.to_string(),
        signed_at: inputs.signed_at.to_string(),
        key_id: signer.key_id.clone(),
    };
    let value = serde_json::to_value(&predicate).map_err(|e| ReleaseError::Input(e.to_string()))?;
    sign(Statement::new(subject, ROLLBACK_PREDICATE, value), signer)
}

/// What a record says.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A release.
    Release(ReleasePredicate),
    /// A rollback.
    Rollback(RollbackPredicate),
}

/// A record that verified.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The key that signed it.
    pub signed_by: String,
    /// Its subjects (artefacts; for a rollback also the two release records).
    pub subjects: Vec<Subject>,
    /// What it says.
    pub record: Record,
    /// The artefacts checked against their recorded digests.
    pub artifacts_checked: Vec<String>,
}

impl Verified {
    /// What people read: the record verified, and each artefact checked.
    pub fn to_text(&self) -> String {
        let mut out = match &self.record {
            Record::Release(p) => format!(
                "verified: release {} (commit {}, {} commit(s), {} without a CI check) signed by {} at {}\n",
                p.version,
                p.commit,
                p.commits.len(),
                p.unchecked.len(),
                self.signed_by,
                p.signed_at
            ),
            Record::Rollback(p) => format!(
                "verified: rollback {} -> {} by {} ({}) signed by {} at {}\n",
                p.from, p.to, p.actor, p.reason, self.signed_by, p.signed_at
            ),
        };
        for a in &self.artifacts_checked {
            out.push_str(&format!("  artefact {a}: digest matches\n"));
        }
        out
    }
}

/// Verifies a record offline: the signature against `trust` (key status and validity at the
/// signed time), the statement and its predicate, and each of `artifacts` against the digest
/// the record names for its file name.
pub fn verify(
    text: &str,
    trust: &TrustRoot,
    artifacts: &[PathBuf],
) -> Result<Verified, ReleaseError> {
    let (signed_by, statement) =
        crate::open_statement(text, "", trust, &[RELEASE_PREDICATE, ROLLBACK_PREDICATE])?;
    let bad = |e: serde_json::Error| verify_failed(format!("the predicate: {e}"));
    let record = match statement.predicate_type.as_str() {
        RELEASE_PREDICATE => {
            Record::Release(serde_json::from_value(statement.predicate.clone()).map_err(bad)?)
        }
        ROLLBACK_PREDICATE => {
            Record::Rollback(serde_json::from_value(statement.predicate.clone()).map_err(bad)?)
        }
        other => return Err(verify_failed(format!("predicate type {other:?}"))),
    };
    let mut artifacts_checked = Vec::new();
    for path in artifacts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let named = statement
            .subject
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.digest.get("sha256"))
            .ok_or_else(|| verify_failed(format!("artefact {name}: not named by the record")))?;
        if *named != sha256_hex(&crate::read(path)?) {
            return Err(verify_failed(format!(
                "artefact {name}: digest mismatch (not the artefact recorded)"
            )));
        }
        artifacts_checked.push(name);
    }
    Ok(Verified {
        signed_by,
        subjects: statement.subject,
        record,
        artifacts_checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_file_names_follow_the_versions_and_the_rollback_time() {
        assert_eq!(record_file_name("1.2.0"), "1.2.0.release.json");
        assert_eq!(
            rollback_file_name("1.2.0", "1.1.0", "2026-12-04T10:00:00.123Z"),
            "rollback-1.2.0-to-1.1.0-20261204T100000123Z.json"
        );
    }
}
