//! What both backends share about a tenant's evidence log: how an entry is built and hashed,
//! and how a checkpoint is signed. Each tenant has its own log (its own id, Merkle tree and
//! checkpoints), so a tenant's bundle and proofs never involve another tenant's entries.

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::compact::Frontier;
use cavra_evidence::merkle::{Hash, leaf_hash};
use cavra_redact::Redactor;
use serde_json::{Map, Value, json};

use crate::LogSigner;
use crate::types::CheckpointRecord;

/// The `format` of a service log entry.
pub const ENTRY_FORMAT: &str = "cavra-log-entry/v1";

/// A checkpoint is signed every this many entries of a tenant's log.
pub const CHECKPOINT_EVERY: u64 = 64;

/// One entry ready to store.
pub(crate) struct BuiltEntry {
    pub(crate) bytes: Vec<u8>,
    pub(crate) leaf: Hash,
}

/// An entry's body redacted and in canonical form, prepared outside the writer (which then
/// only splices it into the entry), so that the one writer does as little as it can.
#[derive(Clone)]
pub(crate) struct PreparedBody {
    canonical: Vec<u8>,
    findings: Vec<cavra_redact::Finding>,
}

/// The body of an entry, as given or prepared.
pub(crate) enum EntryBody {
    /// A value, redacted and canonicalised when the entry is built.
    Plain(Value),
    /// Already redacted and canonical.
    Prepared(PreparedBody),
}

impl From<Value> for EntryBody {
    fn from(v: Value) -> Self {
        EntryBody::Plain(v)
    }
}

/// Redacts a decision body with `extra` rules (a pack's) and the store's `own`, and
/// canonicalises it; also gives back the redacted body. One pass when `extra` holds every
/// rule of `own` (a pack that disables no built-in rule), else one pass with each.
pub(crate) fn prepare_decision_body(
    own: &Redactor,
    extra: Option<&Redactor>,
    mut body: Value,
) -> (PreparedBody, Value) {
    let findings = match extra {
        Some(extra) if extra.includes(own) => extra.redact_json_in_place(&mut body),
        Some(extra) => {
            let mut findings = extra.redact_json_in_place(&mut body);
            findings.extend(own.redact_json_in_place(&mut body));
            findings
        }
        None => own.redact_json_in_place(&mut body),
    };
    let value = body;
    let prepared = PreparedBody {
        canonical: to_canonical_bytes(&value),
        findings,
    };
    (prepared, value)
}

/// Redacts a body with the store's rules and makes it canonical, outside the writer.
pub(crate) fn prepare_body(own: &Redactor, body: Value) -> PreparedBody {
    prepare_decision_body(own, None, body).0
}

/// An entry to append with others of its tenant's log in one go.
pub(crate) struct NewEntry<'a> {
    pub(crate) kind: &'a str,
    pub(crate) ref_id: Option<&'a str>,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) timestamp: &'a str,
    pub(crate) body: EntryBody,
}

/// The entry [`build_entry`] would build from the original body, spliced from the prepared
/// one: the canonical form sorts the keys `body`, `format`, `index`, `kind`, `redactions`,
/// `tenant`, `time`, and a finding's pointer is the same with `/body` in front. None when a
/// top-level string would itself need masking (then the entry is built the long way).
fn splice_entry(
    redactor: &Redactor,
    tenant: &str,
    index: u64,
    kind: &str,
    timestamp: &str,
    p: &PreparedBody,
) -> Result<Option<Vec<u8>>, serde_json::Error> {
    for s in [tenant, kind, timestamp] {
        if !redactor.redact_text(s).findings.is_empty() {
            return Ok(None);
        }
    }
    let text = |s: &str| to_canonical_bytes(&Value::String(s.to_string()));
    let mut out = Vec::with_capacity(p.canonical.len() + 160);
    out.extend_from_slice(b"{\"body\":");
    out.extend_from_slice(&p.canonical);
    out.extend_from_slice(b",\"format\":");
    out.extend_from_slice(&text(ENTRY_FORMAT));
    out.extend_from_slice(b",\"index\":");
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(b",\"kind\":");
    out.extend_from_slice(&text(kind));
    if !p.findings.is_empty() {
        let mut findings = serde_json::to_value(&p.findings)?;
        if let Some(list) = findings.as_array_mut() {
            for f in list {
                if let Some(ptr) = f.get("pointer").and_then(Value::as_str) {
                    f["pointer"] = Value::String(format!("/body{ptr}"));
                }
            }
        }
        out.extend_from_slice(b",\"redactions\":");
        out.extend_from_slice(&to_canonical_bytes(&findings));
    }
    out.extend_from_slice(b",\"tenant\":");
    out.extend_from_slice(&text(tenant));
    out.extend_from_slice(b",\"time\":");
    out.extend_from_slice(&text(timestamp));
    out.push(b'}');
    Ok(Some(out))
}

/// Builds entry `index` of a tenant's log: the canonical JSON (redacted once more, whatever
/// the caller left in) and its leaf hash.
pub(crate) fn build_entry(
    redactor: &Redactor,
    tenant: &str,
    index: u64,
    kind: &str,
    timestamp: &str,
    body: EntryBody,
) -> Result<BuiltEntry, serde_json::Error> {
    let body = match body {
        EntryBody::Plain(v) => v,
        EntryBody::Prepared(p) => {
            if let Some(bytes) = splice_entry(redactor, tenant, index, kind, timestamp, &p)? {
                let leaf = leaf_hash(&bytes);
                return Ok(BuiltEntry { bytes, leaf });
            }
            serde_json::from_slice(&p.canonical)?
        }
    };
    let mut entry = Map::new();
    entry.insert("format".into(), json!(ENTRY_FORMAT));
    entry.insert("index".into(), json!(index));
    entry.insert("kind".into(), json!(kind));
    entry.insert("tenant".into(), json!(tenant));
    entry.insert("time".into(), json!(timestamp));
    entry.insert("body".into(), body);
    let redacted = redactor.redact_json(&Value::Object(entry));
    let mut entry = redacted.value;
    if !redacted.findings.is_empty() {
        entry["redactions"] = serde_json::to_value(&redacted.findings)?;
    }
    let bytes = to_canonical_bytes(&entry);
    let leaf = leaf_hash(&bytes);
    Ok(BuiltEntry { bytes, leaf })
}

/// Signs a checkpoint of `frontier`.
pub(crate) fn sign_checkpoint(
    log_id: &str,
    frontier: &Frontier,
    timestamp: &str,
    signer: &LogSigner,
) -> CheckpointRecord {
    let checkpoint = Checkpoint::new(
        log_id,
        frontier.size(),
        &frontier.root(),
        timestamp,
        signer.key_id.clone(),
    );
    let envelope = checkpoint.sign(&signer.key).to_json();
    CheckpointRecord {
        tree_size: frontier.size(),
        root_hash: checkpoint.root_hash,
        timestamp: timestamp.to_string(),
        key_id: signer.key_id.clone(),
        envelope,
    }
}

/// The body of a pack upload's entry: which pack, and who signed it (the signature the
/// service verified), so the log alone tells signed packs from unsigned ones.
pub(crate) fn pack_body(p: &crate::types::StoredPack) -> Value {
    json!({
        "digest": p.digest,
        "pack_id": p.pack_id,
        "signed_by": p.signed_by,
        "uploaded_by": p.uploaded_by,
    })
}

/// The body of an approval transition's entry.
pub(crate) fn approval_body(a: &crate::types::Approval, actor: &str) -> Value {
    json!({
        "approval_id": a.id,
        "decision_id": a.decision_id,
        "fingerprint": a.fingerprint,
        "session_id": a.session_id,
        "approver_group": a.approver_group,
        "requested_by": a.requested_by,
        "expires_at": a.expires_at,
        "summary": a.summary,
        "state": a.state.as_str(),
        "grant": a.grant.as_str(),
        "uses": a.uses,
        "actor": actor,
        "reason": a.reason,
    })
}

/// The body of a decision's entry: the same shape as the repository store's, so bundles,
/// exports and the CI gate read both alike.
/// The decision record held in a decision entry (`body.record`).
pub(crate) fn entry_record(entry: &[u8]) -> Result<Value, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        body: Body,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        record: Value,
    }
    serde_json::from_slice::<Entry>(entry)
        .map(|e| e.body.record)
        .map_err(|e| format!("its log entry holds no record: {e}"))
}

/// A decision entry's body. The record moves into it (the decision row does not keep one),
/// which spares a deep copy on every decision.
pub(crate) fn decision_body(d: &mut crate::types::NewDecision) -> Value {
    let record = std::mem::take(&mut d.record);
    json!({
        "decision_id": d.decision_id,
        "session_id": d.session_id,
        "agent": d.agent,
        "requested_by": d.requested_by,
        "action_type": d.action_type,
        "decision": d.decision,
        "rule_id": d.rule_id,
        "fingerprint": d.fingerprint,
        "policy_digest": d.policy_digest,
        "record": record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::for_pack(&[], &[]).expect("built-in rules")
    }

    #[test]
    fn a_spliced_entry_is_exactly_the_built_one() {
        let r = redactor();
        let bodies = [
            json!({"decision": "allow", "record": {"target": "src/main.rs", "n": 3, "x": null}}),
            json!({"record": {"target": "curl -H 'Authorization: Bearer ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' x", "password": "hunter2"}}),
            json!({"quote": "\"\\\u{1}é", "list": [1, 2.5, "AKIAIOSFODNN7EXAMPLE"]}),
            json!({}),
        ];
        for body in bodies {
            for (tenant, kind, time) in [
                ("acme", "decision", "2026-01-01T00:00:00.000Z"),
                ("t_1-x", "approval", "t"),
            ] {
                let plain =
                    build_entry(&r, tenant, 7, kind, time, EntryBody::Plain(body.clone())).unwrap();
                let prepared = build_entry(
                    &r,
                    tenant,
                    7,
                    kind,
                    time,
                    EntryBody::Prepared(prepare_decision_body(&r, None, body.clone()).0),
                )
                .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&plain.bytes),
                    String::from_utf8_lossy(&prepared.bytes),
                    "{body}"
                );
                assert_eq!(plain.leaf, prepared.leaf);
            }
        }
    }

    #[test]
    fn a_top_level_secret_takes_the_long_way() {
        let r = redactor();
        let body = json!({"a": 1});
        let tenant = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let plain = build_entry(
            &r,
            tenant,
            0,
            "decision",
            "t",
            EntryBody::Plain(body.clone()),
        )
        .unwrap();
        let prepared = build_entry(
            &r,
            tenant,
            0,
            "decision",
            "t",
            EntryBody::Prepared(prepare_decision_body(&r, None, body.clone()).0),
        )
        .unwrap();
        assert_eq!(plain.bytes, prepared.bytes);
        assert!(!String::from_utf8_lossy(&plain.bytes).contains(tenant));
    }
}
