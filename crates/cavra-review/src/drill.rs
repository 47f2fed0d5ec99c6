//! Step 4, the security advisory drill: a key compromise rehearsed on a copy of the trust
//! root. The key said to be compromised is revoked, a new key is generated and trusted, every
//! past record the old key signed is re-signed with the new one, and every record is verified
//! again: the old signatures must now be refused (`untrusted_key`), the new ones must verify.
//! The closeout is the drill's record, signed with the new key, beside the rotated trust root
//! to distribute. The trust root in use is read, never changed.

use std::path::{Path, PathBuf};

use cavra_evidence::dsse::Envelope;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::packet::{self, Expect, Packet, Reason, Refused};
use serde::Serialize;
use serde_json::json;

use crate::{FileDigest, Record, ReviewError, Step, Written};

/// What to rehearse.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The trust root in use (read only).
    pub trust_root: &'a Path,
    /// The key whose compromise is simulated.
    pub compromised: &'a str,
    /// The id of the key rotated to.
    pub new_key_id: &'a str,
    /// Who holds the new key.
    pub owner: &'a str,
    /// The past records to re-verify and re-sign (packets and review records).
    pub records: &'a [PathBuf],
    /// Where the new key pair goes (kept apart from the records: its private half is not
    /// archived with them).
    pub key_dir: &'a Path,
    /// Where the rotated trust root, the re-signed records and the drill's record go.
    pub output: &'a Path,
}

/// One past record through the drill.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// Its file name.
    pub name: String,
    /// The key that signed it.
    pub signed_by: Option<String>,
    /// Its verification under the trust root in use (`verified` or the reason).
    pub before: String,
    /// The same signature under the rotated trust root.
    pub after_revocation: String,
    /// The re-signed copy (for a record the compromised key signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resigned: Option<FileDigest>,
    /// The re-signed copy under the rotated trust root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resigned_verifies: Option<String>,
}

/// A packet's signature verdict: the content's own findings (open blockers, a step that did
/// not pass) do not concern the signature.
fn verdict(r: &Result<packet::Verified, Refused>) -> String {
    match r {
        Ok(_) => "verified".into(),
        Err(e) if e.reason == Reason::BlockersOpen => "verified".into(),
        Err(e) => e.reason.as_str().into(),
    }
}

/// A past record: a packet (readiness, review packet, review record) or an in-toto release
/// or rollback record (`cavra release record|rollback`).
enum Past {
    Packet(Box<Packet>),
    Statement(cavra_evidence::intoto::Statement),
}

fn past(text: &str) -> Option<Past> {
    let env = Envelope::from_json(text).ok()?;
    let bytes = env.payload_bytes().ok()?;
    if env.payload_type == cavra_evidence::intoto::PAYLOAD_TYPE {
        serde_json::from_slice(&bytes).ok().map(Past::Statement)
    } else {
        serde_json::from_slice(&bytes)
            .ok()
            .map(|p| Past::Packet(Box::new(p)))
    }
}

/// The signature verdict on `text` under `trust` (`verified` or a packet reason) and the
/// key the trust root says signed it.
fn check(text: &str, trust: &TrustRoot) -> (String, Option<String>, Option<Past>) {
    match past(text) {
        Some(Past::Packet(p)) => {
            let p = *p;
            let expect = Expect::new(p.kind, None, None);
            let r = packet::verify(text, trust, &expect);
            let by = match &r {
                Ok(v) => Some(v.key_id.clone()),
                _ => Some(p.key_id.clone()),
            };
            (verdict(&r), by, Some(Past::Packet(Box::new(p))))
        }
        Some(Past::Statement(st)) => {
            let by = st.predicate["key_id"].as_str().map(str::to_string);
            (
                statement_verdict(text, trust),
                by,
                Some(Past::Statement(st)),
            )
        }
        None => ("invalid".into(), None, None),
    }
}

/// A release or rollback record's verdict, in the packets' reasons: its signature against
/// `trust` as of its signed time (refusals named as for a packet), then the record itself.
fn statement_verdict(text: &str, trust: &TrustRoot) -> String {
    let Ok(env) = Envelope::from_json(text) else {
        return Reason::Invalid.as_str().into();
    };
    let at = |p: &[u8]| -> Option<String> {
        let s: cavra_evidence::intoto::Statement = serde_json::from_slice(p).ok()?;
        s.predicate.get("signed_at")?.as_str().map(str::to_string)
    };
    if let Err(e) = trust.verify(&env, cavra_evidence::intoto::PAYLOAD_TYPE, None, &at) {
        return packet::signature_refusal(e, &env, trust)
            .reason
            .as_str()
            .into();
    }
    match cavra_release::record::verify(text, trust, &[]) {
        Ok(_) => "verified".into(),
        Err(_) => Reason::Invalid.as_str().into(),
    }
}

/// The same content signed now by `signer`, in its own format.
fn resign(past: Past, signer: &cavra_runtime::keyfiles::LogSigner) -> Result<String, ReviewError> {
    let sign = |e: &dyn std::fmt::Display| ReviewError::Sign(e.to_string());
    match past {
        Past::Packet(mut p) => {
            p.key_id = signer.key_id.clone();
            p.signed_at = cavra_server::now_text();
            p.sign(&signer.key).map_err(|e| sign(&e))
        }
        Past::Statement(mut st) => {
            // The statement's own time and key are what its verifier reads.
            st.predicate["signed_at"] = json!(cavra_server::now_text());
            st.predicate["key_id"] = json!(signer.key_id);
            let mut env = Envelope::new(
                cavra_evidence::intoto::PAYLOAD_TYPE,
                &st.to_canonical_bytes(),
            );
            env.add_signature(&signer.key, signer.key_id.clone())
                .map_err(|e| sign(&e))?;
            Ok(format!("{}\n", env.to_json()))
        }
    }
}

/// Runs the drill; the record, signed by the operator's `recorder` (a key of the trust root
/// in use other than the one revoked), goes to `OUTPUT/drill.record.json`.
pub fn run(
    inputs: &Inputs<'_>,
    recorder: &cavra_runtime::keyfiles::LogSigner,
) -> Result<Written, ReviewError> {
    if recorder.key_id == inputs.compromised {
        return Err(ReviewError::Usage(format!(
            "the drill's record must be signed by another key than {}, the one it revokes",
            inputs.compromised
        )));
    }
    let trust = cavra_runtime::trust_file::read(inputs.trust_root)?;
    if trust.get(inputs.compromised).is_none() {
        return Err(ReviewError::Usage(format!(
            "the trust root holds no key {}",
            inputs.compromised
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    let generated = cavra_runtime::keyfiles::generate(inputs.key_dir, inputs.new_key_id)?;
    let signer = cavra_runtime::keyfiles::signer(&generated.private_key, Some(inputs.new_key_id))?;
    let mut rotated = trust.clone();
    let reason = "security advisory drill: simulated compromise";
    rotated
        .revoke(inputs.compromised, reason, now)
        .map_err(|e| ReviewError::Usage(e.to_string()))?;
    // A second back, so the re-signatures made just after are inside its validity.
    let record = KeyRecord::new(
        inputs.new_key_id,
        inputs.owner,
        &signer.key.verifying_key(),
        now - time::Duration::seconds(1),
        None,
    )
    .map_err(|e| ReviewError::Usage(e.to_string()))?;
    rotated
        .add(record)
        .map_err(|e| ReviewError::Usage(e.to_string()))?;
    let rotated_path = inputs.output.join("trust-root.json");
    cavra_runtime::trust_file::write(&rotated_path, &rotated)?;

    let mut problems = Vec::new();
    let mut checked = Vec::new();
    let mut files = vec![rotated_path.clone(), generated.public_key.clone()];
    let mut digests = Vec::new();
    for path in inputs.records {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = crate::read_file(path)?;
        digests.push(FileDigest::of(&name, &bytes));
        let text = String::from_utf8_lossy(&bytes);
        let (before, signed_by, content) = check(&text, &trust);
        let (after, _, _) = check(&text, &rotated);
        let mut item = Checked {
            name: name.clone(),
            signed_by: signed_by.clone(),
            before,
            after_revocation: after,
            resigned: None,
            resigned_verifies: None,
        };
        if item.before != "verified" {
            problems.push(format!(
                "{name}: did not verify before the drill ({})",
                item.before
            ));
        } else if signed_by.as_deref() == Some(inputs.compromised) {
            if item.after_revocation != Reason::UntrustedKey.as_str() {
                problems.push(format!(
                    "{name}: the revoked key's signature was not refused ({})",
                    item.after_revocation
                ));
            }
            if let Some(content) = content {
                let text = resign(content, &signer)?;
                let out = inputs.output.join("resigned").join(&name);
                crate::write_file(&out, text.as_bytes())?;
                let (v, _, _) = check(&text, &rotated);
                if v != "verified" {
                    problems.push(format!("{name}: the re-signed copy does not verify ({v})"));
                }
                item.resigned = Some(FileDigest::of(format!("resigned/{name}"), text.as_bytes()));
                item.resigned_verifies = Some(v);
                files.push(out);
            }
        } else if item.after_revocation != "verified" {
            problems.push(format!(
                "{name}: signed by another key, refused after the rotation ({})",
                item.after_revocation
            ));
        }
        checked.push(item);
    }
    let resigned = checked.iter().filter(|c| c.resigned.is_some()).count();
    if resigned == 0 {
        problems.push(format!(
            "no record given was signed by {}: nothing was re-signed",
            inputs.compromised
        ));
    }
    let body = json!({
        "revoked": {"key_id": inputs.compromised, "reason": reason, "at": cavra_evidence::trust::format_time(now)},
        "rotated_to": {"key_id": generated.key_id, "fingerprint": generated.fingerprint},
        "trust_root": FileDigest::of("trust-root.json", rotated.to_json().as_bytes()),
        "records": checked,
        "resigned": resigned,
    });
    let mut rec = Record::new(Step::Drill, problems, body);
    rec.inputs = digests;
    crate::write_record(
        &inputs.output.join("drill.record.json"),
        recorder,
        None,
        &rec,
        std::mem::take(&mut files),
    )
}
