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

/// Builds entry `index` of a tenant's log: the canonical JSON (redacted once more, whatever
/// the caller left in) and its leaf hash.
pub(crate) fn build_entry(
    redactor: &Redactor,
    tenant: &str,
    index: u64,
    kind: &str,
    timestamp: &str,
    body: Value,
) -> Result<BuiltEntry, serde_json::Error> {
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
pub(crate) fn decision_body(d: &crate::types::NewDecision) -> Value {
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
        "record": d.record,
    })
}
