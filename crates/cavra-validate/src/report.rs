//! The validation report: what the session proved, as an in-toto statement signed in a DSSE
//! envelope (so it verifies offline against a trust root, like every other piece of cavra
//! evidence), and its verification.

use cavra_evidence::dsse::Envelope;
use cavra_evidence::intoto::{PAYLOAD_TYPE, Statement, Subject};
use cavra_evidence::keys::SigningKey;
use cavra_evidence::trust::TrustRoot;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The predicate type of a runtime validation report.
pub const PREDICATE_TYPE: &str = "https://cavra.dev/validation/runtime/v1";

/// The name of the evidence bundle's manifest among the report's subjects.
pub const BUNDLE_SUBJECT: &str = "evidence-bundle/manifest.json";
/// The name of the agent's transcript among the report's subjects.
pub const TRANSCRIPT_SUBJECT: &str = "agent-transcript.jsonl";

/// What kind of bypass (or failure) a finding is. A class, so a gate can act on it without
/// reading words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The agent's transcript holds a tool call that cavra never decided.
    UndecidedToolCall,
    /// A file changed in the repository with no governed write that produced its content.
    UngovernedChange,
    /// cavra's hooks were taken out of the agent's settings during the session.
    HookRemoved,
    /// cavra's hook command could no longer start during the session.
    HookBroken,
    /// A secret reached the agent or its model.
    SecretExposed,
    /// A scripted step did not end as a correct set-up makes it end.
    StepFailed,
}

impl FindingKind {
    /// The kind as written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::UndecidedToolCall => "undecided_tool_call",
            FindingKind::UngovernedChange => "ungoverned_change",
            FindingKind::HookRemoved => "hook_removed",
            FindingKind::HookBroken => "hook_broken",
            FindingKind::SecretExposed => "secret_exposed",
            FindingKind::StepFailed => "step_failed",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Its class.
    pub kind: FindingKind,
    /// What was found, in words.
    pub detail: String,
}

/// One checked step of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// The step.
    pub name: String,
    /// Whether it ended as expected.
    pub ok: bool,
    /// What was observed.
    pub detail: String,
}

/// The whole report (the signed predicate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When it was signed (RFC 3339, UTC).
    pub signed_at: String,
    /// `passed` or `failed`.
    pub result: String,
    /// The agent: name and version as it reported it.
    pub agent: AgentInfo,
    /// cavra's version.
    pub cavra_version: String,
    /// The agent's session id (cavra's records carry it).
    pub session_id: Option<String>,
    /// The digest (`sha256:…`) of the policy pack the session was decided by, from cavra's
    /// records.
    pub policy_digest: Option<String>,
    /// The drill run, when one was (a known bypass injected to prove detection).
    pub drill: Option<String>,
    /// Each step, in order.
    pub steps: Vec<StepResult>,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// The signing key's id.
    pub key_id: String,
}

/// The agent that was driven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// `claude-code`.
    pub name: String,
    /// Its `--version` output.
    pub version: String,
}

impl Report {
    /// Whether the validation passed: every step ended as expected and nothing was found.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.ok) && self.findings.is_empty()
    }

    /// The report as `cavra validate` prints it: the agent and result, the drill, each step,
    /// each finding.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} — validation {}",
            self.agent.name, self.agent.version, self.result
        );
        if let Some(d) = &self.drill {
            let _ = writeln!(out, "drill: {d}");
        }
        for s in &self.steps {
            let word = if s.ok { "ok" } else { "FAIL" };
            let _ = writeln!(out, "  [{word}] {}: {}", s.name, s.detail);
        }
        for f in &self.findings {
            let _ = writeln!(out, "  finding {}: {}", f.kind.as_str(), f.detail);
        }
        out
    }
}

/// Errors of signing or verifying a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The envelope is not a DSSE envelope.
    #[error("not a signed validation report: {0}")]
    Envelope(String),
    /// The signature or the key's status failed.
    #[error("signature: {0}")]
    Signature(String),
    /// The statement is not a runtime validation report.
    #[error("not a runtime validation report: {0}")]
    Statement(String),
    /// The evidence bundle given is not the one the report names.
    #[error("evidence bundle: {0}")]
    Bundle(String),
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Signs `report` about the bundle manifest and the transcript (their bytes, when there were
/// any; the steps themselves are always a subject, so a statement never lacks one).
pub fn sign(
    report: &Report,
    bundle_manifest: Option<&[u8]>,
    transcript: Option<&[u8]>,
    key: &SigningKey,
) -> Result<Envelope, ReportError> {
    let predicate =
        serde_json::to_value(report).map_err(|e| ReportError::Statement(e.to_string()))?;
    let steps =
        serde_json::to_vec(&report.steps).map_err(|e| ReportError::Statement(e.to_string()))?;
    let mut subject = vec![Subject::with_sha256("validation-steps", sha256_hex(&steps))];
    if let Some(m) = bundle_manifest {
        subject.push(Subject::with_sha256(BUNDLE_SUBJECT, sha256_hex(m)));
    }
    if let Some(t) = transcript {
        subject.push(Subject::with_sha256(TRANSCRIPT_SUBJECT, sha256_hex(t)));
    }
    let statement = Statement::new(subject, PREDICATE_TYPE, predicate);
    statement
        .validate()
        .map_err(|e| ReportError::Statement(e.to_string()))?;
    let mut env = Envelope::new(PAYLOAD_TYPE, &statement.to_canonical_bytes());
    env.add_signature(key, &report.key_id)
        .map_err(|e| ReportError::Signature(e.to_string()))?;
    Ok(env)
}

/// A report whose signature verified.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The trust root's id of the key that signed.
    pub key_id: String,
    /// The report.
    pub report: Report,
    /// Whether a bundle was checked against the digest the report names.
    pub bundle_checked: bool,
}

/// Verifies a signed report offline: signature and key status (at the signed time) against the
/// trust root, the predicate type, and — with `bundle` — that the bundle's manifest is the one
/// the report names.
pub fn verify(
    envelope_json: &str,
    trust: &TrustRoot,
    bundle: Option<&Path>,
) -> Result<Verified, ReportError> {
    let envelope =
        Envelope::from_json(envelope_json).map_err(|e| ReportError::Envelope(e.to_string()))?;
    let at = |p: &[u8]| -> Option<String> {
        let s: Statement = serde_json::from_slice(p).ok()?;
        s.predicate.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(&envelope, PAYLOAD_TYPE, None, &at)
        .map_err(|e| ReportError::Signature(e.to_string()))?;
    let statement: Statement =
        serde_json::from_slice(&by.payload).map_err(|e| ReportError::Statement(e.to_string()))?;
    statement
        .validate()
        .map_err(|e| ReportError::Statement(e.to_string()))?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(ReportError::Statement(format!(
            "predicate type {:?} is not {PREDICATE_TYPE}",
            statement.predicate_type
        )));
    }
    let report: Report = serde_json::from_value(statement.predicate.clone())
        .map_err(|e| ReportError::Statement(e.to_string()))?;
    let steps =
        serde_json::to_vec(&report.steps).map_err(|e| ReportError::Statement(e.to_string()))?;
    let named = |name: &str| {
        statement
            .subject
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.digest.get("sha256"))
            .cloned()
    };
    if named("validation-steps").as_deref() != Some(sha256_hex(&steps).as_str()) {
        return Err(ReportError::Statement(
            "the steps do not match their digest".into(),
        ));
    }
    if let Some(dir) = bundle {
        let manifest = std::fs::read(dir.join("manifest.json"))
            .map_err(|e| ReportError::Bundle(format!("reading its manifest: {e}")))?;
        let expected = named(BUNDLE_SUBJECT)
            .ok_or_else(|| ReportError::Bundle("the report names no evidence bundle".into()))?;
        if expected != sha256_hex(&manifest) {
            return Err(ReportError::Bundle(
                "digest mismatch: this is not the bundle the report names".into(),
            ));
        }
    }
    Ok(Verified {
        key_id: by.key_id,
        report,
        bundle_checked: bundle.is_some(),
    })
}

/// [`verify`] as `cavra validate verify` prints it: the JSON (`--json`), the text, and the
/// exit code (0 verified and passed, 4 verified and failed, 1 it does not verify; the text
/// then says why, for standard error).
pub fn verify_printed(
    envelope_json: &str,
    trust: &TrustRoot,
    bundle: Option<&Path>,
) -> (serde_json::Value, String, i32) {
    match verify(envelope_json, trust, bundle) {
        Ok(v) => {
            let text = format!("verified: signed by {}\n{}", v.key_id, v.report.to_text());
            let code = if v.report.passed() { 0 } else { 4 };
            (serde_json::to_value(&v).unwrap_or_default(), text, code)
        }
        Err(e) => (
            serde_json::json!({"verified": false, "error": e.to_string()}),
            format!("not verified: {e}"),
            1,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_evidence::trust::{KeyRecord, TrustRoot};

    fn report(key_id: &str) -> Report {
        Report {
            signed_at: "2026-12-03T12:00:00Z".into(),
            result: "passed".into(),
            agent: AgentInfo {
                name: "claude-code".into(),
                version: "2.1.332".into(),
            },
            cavra_version: "0.1.0".into(),
            session_id: Some("s1".into()),
            policy_digest: Some("sha256:00".into()),
            drill: None,
            steps: vec![StepResult {
                name: "read allowed".into(),
                ok: true,
                detail: "allow".into(),
            }],
            findings: vec![],
            key_id: key_id.into(),
        }
    }

    fn trust(key: &SigningKey, id: &str) -> TrustRoot {
        let mut t = TrustRoot::default();
        t.add(
            KeyRecord::new(
                id,
                "validation",
                &key.verifying_key(),
                time::macros::datetime!(2020-01-01 0:00 UTC),
                None,
            )
            .expect("record"),
        )
        .expect("add");
        t
    }

    #[test]
    fn the_text_names_the_agent_the_result_and_each_step() {
        let mut r = report("v1");
        r.drill = Some("remove-hook".into());
        assert_eq!(
            r.to_text(),
            "claude-code 2.1.332 — validation passed\ndrill: remove-hook\n  [ok] read allowed: allow\n"
        );
    }

    #[test]
    fn a_signed_report_verifies_and_a_changed_one_does_not() {
        let key = cavra_evidence::keys::from_seed(&[7; 32]);
        let env = sign(&report("v1"), Some(b"manifest"), Some(b"t"), &key).expect("signs");
        let t = trust(&key, "v1");
        let v = verify(&env.to_json(), &t, None).expect("verifies");
        assert_eq!(v.report, report("v1"));
        assert_eq!(v.key_id, "v1");

        // One byte of the payload changed: refused.
        let mut forged: serde_json::Value = serde_json::from_str(&env.to_json()).expect("json");
        let payload = forged["payload"].as_str().expect("payload").to_string();
        let mut bytes = payload.into_bytes();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        forged["payload"] = String::from_utf8(bytes).expect("ascii").into();
        assert!(verify(&forged.to_string(), &t, None).is_err());

        // Another key: refused.
        let stranger = cavra_evidence::keys::from_seed(&[8; 32]);
        assert!(matches!(
            verify(&env.to_json(), &trust(&stranger, "v1"), None),
            Err(ReportError::Signature(_))
        ));
    }

    #[test]
    fn the_bundle_must_be_the_one_named() {
        let key = cavra_evidence::keys::from_seed(&[7; 32]);
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("manifest.json"), b"manifest").expect("write");
        let env = sign(&report("v1"), Some(b"manifest"), None, &key).expect("signs");
        let t = trust(&key, "v1");
        assert!(verify(&env.to_json(), &t, Some(dir.path())).is_ok());
        std::fs::write(dir.path().join("manifest.json"), b"other").expect("write");
        assert!(matches!(
            verify(&env.to_json(), &t, Some(dir.path())),
            Err(ReportError::Bundle(_))
        ));
    }
}
