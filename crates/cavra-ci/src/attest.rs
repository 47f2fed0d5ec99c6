//! Pull-request attestations: an in-toto Statement whose subjects are the head commit and the
//! evidence bundle's manifest, saying which policy judged the change and what covered it,
//! signed in a DSSE envelope and checked offline.

use std::path::Path;

use cavra_evidence::dsse::Envelope;
use cavra_evidence::intoto::{PAYLOAD_TYPE, Statement, Subject};
use cavra_evidence::keys::SigningKey;
use cavra_evidence::trust::TrustRoot;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{CheckReport, CiError, git};

/// The predicate type of a cavra pull-request attestation.
pub const PREDICATE_TYPE: &str = "https://cavra.dev/pull-request/v1";

/// The approvals and break-glass events recorded in a bundle.
fn covering_events(bundle: &Path) -> Result<(Vec<Value>, Vec<Value>), CiError> {
    let approvals_text = std::fs::read_to_string(bundle.join(cavra_bundle::files::APPROVALS))
        .map_err(|e| CiError::Evidence(format!("reading approvals: {e}")))?;
    let approvals = approvals_text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|a| {
            json!({
                "id": a["id"], "state": a["state"], "approver_group": a["approver_group"],
                "decided_by": a["decided_by"], "decided_at": a["decided_at"],
            })
        })
        .collect();
    let entries = std::fs::read_to_string(bundle.join(cavra_bundle::files::ENTRIES))
        .map_err(|e| CiError::Evidence(format!("reading entries: {e}")))?;
    let break_glass = entries
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| !e["body"]["record"]["break_glass"].is_null() && e["kind"] == "decision")
        .map(|e| {
            json!({
                "decision_id": e["body"]["decision_id"],
                "actor": e["body"]["record"]["break_glass"]["actor"],
                "reason": e["body"]["record"]["break_glass"]["reason"],
                "time": e["time"],
            })
        })
        .collect();
    Ok((approvals, break_glass))
}

/// Builds and signs the attestation of a check that passed.
pub fn attest(
    report: &CheckReport,
    bundle: &Path,
    decisions: &std::collections::BTreeMap<String, u64>,
    key: &SigningKey,
    key_id: &str,
    signed_at: &str,
) -> Result<Envelope, CiError> {
    if !report.ok() {
        return Err(CiError::Evidence(format!(
            "the check has {} finding(s); only a passing check is attested",
            report.findings.len()
        )));
    }
    let manifest = std::fs::read(bundle.join(cavra_bundle::files::MANIFEST))
        .map_err(|e| CiError::Evidence(format!("reading the bundle manifest: {e}")))?;
    let (approvals, break_glass) = covering_events(bundle)?;
    let mut commit = Subject::with_sha256("git-commit", "0".repeat(64));
    commit.digest.clear();
    commit
        .digest
        .insert("gitCommit".into(), report.head.clone());
    let statement = Statement::new(
        vec![
            commit,
            Subject::with_sha256(
                "evidence-bundle/manifest.json",
                hex::encode(Sha256::digest(&manifest)),
            ),
        ],
        PREDICATE_TYPE,
        json!({
            "signed_at": signed_at,
            "base": report.base,
            "head": report.head,
            "policy": report.policy,
            "policy_digest": report.policy_digest,
            "changed_paths": report.changes.len(),
            "decisions": decisions,
            "approvals": approvals,
            "break_glass": break_glass,
            "key_id": key_id,
        }),
    );
    statement
        .validate()
        .map_err(|e| CiError::Evidence(e.to_string()))?;
    let mut env = Envelope::new(PAYLOAD_TYPE, &statement.to_canonical_bytes());
    env.add_signature(key, key_id)
        .map_err(|e| CiError::Evidence(e.to_string()))?;
    Ok(env)
}

/// What a verified attestation says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifiedAttestation {
    /// The key that signed it.
    pub key_id: String,
    /// The attested head commit.
    pub head: String,
    /// The predicate.
    pub predicate: Value,
}

impl VerifiedAttestation {
    /// What people read.
    pub fn to_text(&self) -> String {
        format!(
            "verified: commit {} attested by {} (policy {})\n",
            self.head,
            self.key_id,
            self.predicate["policy_digest"].as_str().unwrap_or("?")
        )
    }
}

/// Checks an attestation offline: signature and key status against the trust root, the
/// subject commit against `head`, and (with a bundle) the bundle's manifest digest.
pub fn verify_attestation(
    envelope: &Envelope,
    trust: &TrustRoot,
    repo: &Path,
    head: &str,
    bundle: Option<&Path>,
) -> Result<VerifiedAttestation, String> {
    let at = |p: &[u8]| -> Option<String> {
        let s: Statement = serde_json::from_slice(p).ok()?;
        s.predicate.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(envelope, PAYLOAD_TYPE, None, &at)
        .map_err(|e| format!("signature: {e}"))?;
    let statement: Statement =
        serde_json::from_slice(&by.payload).map_err(|e| format!("not a statement: {e}"))?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(format!(
            "predicate type {:?} is not {PREDICATE_TYPE}",
            statement.predicate_type
        ));
    }
    let commit = git::resolve(repo, head).map_err(|e| e.to_string())?;
    let attested = statement
        .subject
        .iter()
        .find_map(|s| s.digest.get("gitCommit").cloned())
        .ok_or("the statement names no commit")?;
    if attested != commit {
        // Name the ref only when it is not the commit itself ("X is X" says nothing).
        let head_is = if head == commit {
            "the head is".to_string()
        } else {
            format!("the head {head} is")
        };
        return Err(format!(
            "subject mismatch: the attestation is for commit {attested}, {head_is} {commit}"
        ));
    }
    if let Some(dir) = bundle {
        let manifest = std::fs::read(dir.join(cavra_bundle::files::MANIFEST))
            .map_err(|e| format!("reading the bundle manifest: {e}"))?;
        let digest = hex::encode(Sha256::digest(&manifest));
        let named = statement
            .subject
            .iter()
            .find(|s| s.name == "evidence-bundle/manifest.json")
            .and_then(|s| s.digest.get("sha256"))
            .ok_or("the statement names no evidence bundle")?;
        if *named != digest {
            return Err("evidence digest mismatch: the bundle is not the one attested".into());
        }
    }
    Ok(VerifiedAttestation {
        key_id: by.key_id,
        head: commit,
        predicate: statement.predicate,
    })
}
