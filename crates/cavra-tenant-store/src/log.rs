//! What both backends share about a tenant's evidence log: how an entry is built and hashed,
//! and how a checkpoint is signed. Each tenant has its own log (its own id, Merkle tree and
//! checkpoints), so a tenant's bundle and proofs never involve another tenant's entries.

use std::fmt::Write as _;

use cavra_evidence::canonical::{self, to_canonical_bytes};
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
    canonical: String,
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
        canonical: canonical::to_canonical(&value),
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

/// A decision's entry, in either backend: about the decision, in its session, at its time
/// (`at`, its timestamp's text), with its prepared body.
pub(crate) fn decision_entry<'a>(
    d: &'a crate::types::NewDecision,
    at: &'a str,
    body: PreparedBody,
) -> NewEntry<'a> {
    NewEntry {
        kind: "decision",
        ref_id: Some(&d.decision_id),
        session_id: d.session_id.as_deref(),
        timestamp: at,
        body: EntryBody::Prepared(body),
    }
}

/// An approval step's entry, in either backend: about the approval, in its session, at `at`,
/// its body naming who acted ([`approval_body`]).
pub(crate) fn approval_entry<'a>(
    a: &'a crate::types::Approval,
    actor: &str,
    at: &'a str,
) -> NewEntry<'a> {
    NewEntry {
        kind: "approval",
        ref_id: Some(&a.id),
        session_id: a.session_id.as_deref(),
        timestamp: at,
        body: approval_body(a, actor).into(),
    }
}

/// The time of an approval's latest step (its history's last entry; when it was asked for
/// if it has none), as its entry and event say.
pub(crate) fn step_time(a: &crate::types::Approval) -> String {
    step_stamp(a).text()
}

/// [`step_time`] as the stores' time.
pub(crate) fn step_stamp(a: &crate::types::Approval) -> crate::Timestamp {
    a.history.last().map_or(a.requested_at, |h| h.at)
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
    // The one writer thread runs this for every entry: the checks allocate nothing for a
    // clean text, and the texts are escaped straight into the entry (not made values first).
    let mut findings = Vec::new();
    for s in [tenant, kind, timestamp] {
        if redactor
            .redact_json_string(s, "", false, &mut findings)
            .is_some()
        {
            return Ok(None);
        }
    }
    let mut out = String::with_capacity(p.canonical.len() + 160);
    out.push_str("{\"body\":");
    out.push_str(&p.canonical);
    out.push_str(",\"format\":");
    canonical::write_string(ENTRY_FORMAT, &mut out);
    out.push_str(",\"index\":");
    let _ = write!(out, "{index}");
    out.push_str(",\"kind\":");
    canonical::write_string(kind, &mut out);
    if !p.findings.is_empty() {
        let mut findings = serde_json::to_value(&p.findings)?;
        if let Some(list) = findings.as_array_mut() {
            for f in list {
                if let Some(ptr) = f.get("pointer").and_then(Value::as_str) {
                    f["pointer"] = Value::String(format!("/body{ptr}"));
                }
            }
        }
        out.push_str(",\"redactions\":");
        out.push_str(&canonical::to_canonical(&findings));
    }
    out.push_str(",\"tenant\":");
    canonical::write_string(tenant, &mut out);
    out.push_str(",\"time\":");
    canonical::write_string(timestamp, &mut out);
    out.push('}');
    Ok(Some(out.into_bytes()))
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
            serde_json::from_str(&p.canonical)?
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
        "grant": a.extra.grant.as_str(),
        "uses": a.extra.uses,
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

/// A decision entry's body with its record given as a value (moved in, not copied: `json!`
/// would serialise it into a new value).
pub(crate) fn decision_body(d: &crate::types::NewDecision, record: Value) -> Value {
    let mut body = json!({
        "decision_id": d.decision_id,
        "session_id": d.session_id,
        "agent": d.agent,
        "requested_by": d.extra.requested_by,
        "action_type": d.action_type,
        "decision": d.decision,
        "rule_id": d.rule_id,
        "fingerprint": d.fingerprint,
        "policy_digest": d.extra.policy_digest,
    });
    if let Some(map) = body.as_object_mut() {
        map.insert("record".into(), record);
    }
    body
}
/// A decision ready for the writer, prepared on the caller's thread: its entry's body
/// (redacted, canonical), the outbox event it makes, and the record as stored for the caller.
pub(crate) struct PreparedDecision {
    pub(crate) body: PreparedBody,
    pub(crate) event: Option<crate::outbox::NewEvent>,
    /// For a record given as a value: the value as stored.
    pub(crate) record: Value,
    /// For the engine's record: the record as stored, as JSON text in its own field order.
    pub(crate) record_json: Option<String>,
    /// The record's repository as stored (redacted like the rest of the record), for the
    /// decisions table's `repository` column that the decision list filters on.
    pub(crate) repository: Option<String>,
}

/// The body of a decision's entry with the engine's record, in the order of [`decision_body`]
/// (the field-order JSON of the two must be the same).
#[derive(serde::Serialize)]
struct DecidedBody<'a> {
    decision_id: &'a str,
    session_id: &'a Option<String>,
    agent: &'a Option<String>,
    requested_by: &'a str,
    action_type: crate::types::Subject,
    decision: cavra_engine::Decision,
    rule_id: &'a str,
    fingerprint: &'a str,
    policy_digest: &'a str,
    record: &'a crate::types::DecidedRecord,
}

/// Prepares a decision for the writer: redacted with `extra` rules (a pack's) and the store's
/// `own` (see [`prepare_decision_body`]), canonical, its event built. The engine's record is
/// written out once, redacted as it goes ([`crate::redacting`]); a record given as a value
/// takes the value path. Both give the same bytes for the same record.
pub(crate) fn prepare_decision(
    own: &Redactor,
    extra: Option<&Redactor>,
    d: &mut crate::types::NewDecision,
) -> Result<PreparedDecision, crate::StoreError> {
    let decided = match std::mem::take(&mut d.extra.record) {
        crate::types::RecordInput::Decided(r) => r,
        crate::types::RecordInput::Json(v) => {
            let (body, mut value) = prepare_decision_body(own, extra, decision_body(d, v));
            let event = crate::outbox::decision_event(&value, d.timestamp);
            let repository = value["record"]["repository"].as_str().map(str::to_string);
            return Ok(PreparedDecision {
                body,
                event,
                record: value["record"].take(),
                record_json: None,
                repository,
            });
        }
    };
    let (first, second) = match extra {
        Some(extra) if extra.includes(own) => (extra, None),
        Some(extra) => (extra, Some(own)),
        None => (own, None),
    };
    let body = DecidedBody {
        decision_id: &d.decision_id,
        session_id: &d.session_id,
        agent: &d.agent,
        requested_by: &d.extra.requested_by,
        action_type: d.action_type,
        decision: d.decision,
        rule_id: &d.rule_id,
        fingerprint: &d.fingerprint,
        policy_digest: &d.extra.policy_digest,
        record: &decided,
    };
    let written = crate::redacting::write(&body, first, second, "record")
        .map_err(|e| crate::StoreError::Corrupt(format!("the decision record: {e}")))?;
    // Only some decisions make an event; those read it from the body as stored (only the
    // members the event holds).
    let event = if crate::outbox::may_make_event(d.decision, decided.record.break_glass.is_some()) {
        crate::outbox::decision_event_of_json(&written.json, d.timestamp)?
    } else {
        None
    };
    // The record's text cut out of the body's in place (the body's text is not needed after
    // the event), not copied into a new string.
    let record_json = written
        .marked
        .map(|r| {
            let mut json = written.json;
            json.truncate(r.end);
            json.drain(..r.start);
            json
        })
        .ok_or_else(|| crate::StoreError::Corrupt("the decision body has no record".into()))?;
    // Nothing masked (the usual case): the repository is stored as given. Otherwise it may
    // be among what was masked, and the column must hold what the record holds: read back.
    let repository = match &decided.record.repository {
        None => None,
        Some(r) if written.findings.is_empty() => Some(r.clone()),
        Some(_) => stored_repository(&record_json)?,
    };
    Ok(PreparedDecision {
        body: PreparedBody {
            canonical: written.canonical,
            findings: written.findings,
        },
        event,
        record: Value::Null,
        record_json: Some(record_json),
        repository,
    })
}

/// The `repository` of a record's JSON text, reading no other member into memory.
fn stored_repository(record_json: &str) -> Result<Option<String>, crate::StoreError> {
    #[derive(serde::Deserialize)]
    struct Repository {
        repository: Option<String>,
    }
    let r: Repository = serde_json::from_str(record_json)?;
    Ok(r.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::for_pack(&[], &[]).expect("built-in rules")
    }

    /// Both backends take a decision's and an approval step's entries from here: about the
    /// record, in its session, at its time, the approval's body naming who acted.
    #[test]
    fn the_shared_entries_of_a_decision_and_an_approval_step() {
        let r = redactor();
        let at: crate::types::Timestamp = "2026-01-01T00:00:05.000Z".parse().expect("time");
        let d = crate::types::NewDecision {
            decision_id: "d1".into(),
            session_id: Some("s1".into()),
            agent: None,
            action_type: cavra_engine::ActionType::ExecuteCommand.into(),
            decision: cavra_engine::Decision::RequireApproval,
            rule_id: "r".into(),
            timestamp: at,
            fingerprint: "fp".into(),
            extra: crate::types::Caller {
                requested_by: "agent-1".into(),
                policy_digest: "sha256:p".into(),
                record: Value::Null.into(),
            },
        };
        let text = d.timestamp.to_string();
        let (body, _) = prepare_decision_body(&r, None, decision_body(&d, json!({"x": 1})));
        let e = decision_entry(&d, &text, body);
        assert_eq!(
            (e.kind, e.ref_id, e.session_id, e.timestamp),
            (
                "decision",
                Some("d1"),
                Some("s1"),
                "2026-01-01T00:00:05.000Z"
            )
        );
        let a = crate::rules::pending_approval(&crate::types::NewApproval {
            id: "apr_1".into(),
            decision_id: "d1".into(),
            fingerprint: "fp".into(),
            session_id: Some("s1".into()),
            approver_group: "sec".into(),
            requested_by: "agent-1".into(),
            summary: "run it".into(),
            requested_at: at,
            expires_at: "2026-01-01T01:00:05.000Z".parse().expect("time"),
        });
        let step = step_time(&a);
        assert_eq!(step, "2026-01-01T00:00:05.000Z");
        let e = approval_entry(&a, "bob", &step);
        assert_eq!(
            (e.kind, e.ref_id, e.session_id, e.timestamp),
            (
                "approval",
                Some("apr_1"),
                Some("s1"),
                "2026-01-01T00:00:05.000Z"
            )
        );
        let EntryBody::Plain(body) = e.body else {
            panic!("an approval's body is built with its entry");
        };
        assert_eq!(body["actor"], "bob");
        assert_eq!(body["expires_at"], "2026-01-01T01:00:05.000Z");
        assert_eq!(body["state"], "pending");
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

    use crate::redacting::tests::{rule_sets, text};

    fn record() -> impl proptest::strategy::Strategy<Value = crate::types::DecidedRecord> {
        use cavra_engine::{ActionType, Decision, DecisionRecord, RuleMatch};
        use cavra_engine::{Mode, Severity};
        use proptest::prelude::*;
        let opt = || proptest::option::of(text());
        let rule = (
            text(),
            proptest::sample::select(Decision::ALL),
            proptest::sample::select(Severity::ALL),
            proptest::option::of(text()),
            text(),
            any::<bool>(),
        )
            .prop_map(
                |(rule_id, decision, severity, pattern, subject, explicit)| RuleMatch {
                    rule_id,
                    decision,
                    severity,
                    pattern,
                    subject,
                    explicit,
                },
            );
        let ids = (
            text(),
            text(),
            text(),
            opt(),
            opt(),
            opt(),
            opt(),
            opt(),
            opt(),
        );
        let what = (
            proptest::sample::select(ActionType::ALL),
            text(),
            opt(),
            text(),
            text(),
            text(),
            text(),
            proptest::sample::select(Severity::ALL),
            text(),
            opt(),
        );
        let how = (
            proptest::sample::select(Mode::ALL),
            proptest::sample::select(Decision::ALL),
            proptest::sample::select(Decision::ALL),
            any::<bool>(),
            proptest::option::of((text(), text())),
            proptest::collection::vec(text(), 0..3),
            proptest::collection::vec(rule, 0..3),
            opt(),
        );
        (ids, what, how).prop_map(|(ids, what, how)| {
            let (
                decision_id,
                correlation_id,
                timestamp,
                session_id,
                agent_id,
                actor,
                tenant,
                repository,
                environment,
            ) = ids;
            let (
                action_type,
                target,
                requested_operation,
                policy_pack,
                policy_version,
                policy_digest,
                rule_id,
                severity,
                reason,
                approver_group,
            ) = what;
            let (
                mode,
                base_decision,
                decision,
                explicit,
                break_glass,
                evidence_refs,
                matched_rules,
                claimed_actor,
            ) = how;
            crate::types::DecidedRecord {
                record: DecisionRecord {
                    decision_id,
                    correlation_id,
                    timestamp,
                    session_id,
                    agent_id,
                    actor,
                    tenant,
                    repository,
                    environment,
                    branch: None,
                    action_type,
                    target,
                    requested_operation,
                    policy_pack,
                    policy_version,
                    policy_digest,
                    rule_id,
                    severity,
                    reason,
                    approver_group,
                    mode,
                    base_decision,
                    decision,
                    explicit,
                    break_glass: break_glass
                        .map(|(actor, reason)| cavra_engine::record::BreakGlass { actor, reason }),
                    evidence_refs,
                    matched_rules,
                },
                claimed_actor,
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The engine's record written out once, redacted as it goes, gives the bytes of the
        /// value path: the same canonical body and findings, the same entry (and so the same
        /// leaf hash), the same outbox event and the same answer text, with the store's rules
        /// alone, with a pack's that include them (one pass) and with a pack's that disable one
        /// (two passes).
        #[test]
        fn a_record_written_once_is_byte_for_byte_the_value_path(
            decided in record(),
            session_id in proptest::option::of(text()),
            requested_by in text(),
            pack in 0usize..3,
        ) {
            use crate::types::{NewDecision, RecordInput};
            let (own, packs) = rule_sets();
            let extra = packs[pack].as_ref();
            let new = |record: RecordInput| NewDecision {
                decision_id: decided.record.decision_id.clone(),
                session_id: session_id.clone(),
                agent: decided.record.agent_id.clone(),
                action_type: decided.record.action_type.into(),
                decision: decided.record.decision,
                rule_id: decided.record.rule_id.clone(),
                timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
                fingerprint: "sha256:00".into(),
                extra: crate::types::Caller {
                    requested_by: requested_by.clone(),
                    policy_digest: decided.record.policy_digest.clone(),
                    record,
                },
            };
            // Today's value path, as the service built the value before.
            let mut value = serde_json::to_value(&decided.record).unwrap();
            if let Some(claimed) = &decided.claimed_actor {
                value["claimed_actor"] = Value::String(claimed.clone());
            }
            let mut by_value = new(RecordInput::Json(value));
            let mut written = new(RecordInput::Decided(Box::new(decided.clone())));
            let a = prepare_decision(&own, extra, &mut by_value).unwrap();
            let b = prepare_decision(&own, extra, &mut written).unwrap();
            proptest::prop_assert_eq!(
                &a.body.canonical,
                &b.body.canonical
            );
            proptest::prop_assert_eq!(&a.body.findings, &b.body.findings);
            // The repository column holds the record's repository as stored, masked or not.
            proptest::prop_assert_eq!(&a.repository, &b.repository);
            proptest::prop_assert_eq!(
                a.repository.as_deref(),
                a.record.get("repository").and_then(Value::as_str)
            );
            proptest::prop_assert_eq!(
                Some(serde_json::to_string(&a.record).unwrap()),
                b.record_json.clone()
            );
            let event = |e: Option<crate::outbox::NewEvent>| {
                e.map(|e| (e.kind, e.ref_id, e.created_at, e.payload.to_string()))
            };
            proptest::prop_assert_eq!(event(a.event), event(b.event));
            let entry = |p: PreparedBody| {
                build_entry(&own, "acme", 9, "decision", "2026-01-01T00:00:00.000Z", EntryBody::Prepared(p))
                    .unwrap()
                    .bytes
            };
            proptest::prop_assert_eq!(entry(a.body), entry(b.body));
        }

        /// A decided record serialises as it did with `#[serde(flatten)]` around the engine's
        /// record (the record's members, then `claimed_actor` when there is one), to text and
        /// to a value alike, with a claimed actor or without.
        #[test]
        fn a_decided_record_is_the_flattened_record(
            mut decided in record(),
            claimed_actor in proptest::option::of(text()),
        ) {
            #[derive(serde::Serialize)]
            struct Flattened<'a> {
                #[serde(flatten)]
                record: &'a cavra_engine::DecisionRecord,
                #[serde(skip_serializing_if = "Option::is_none")]
                claimed_actor: &'a Option<String>,
            }
            decided.claimed_actor = claimed_actor;
            let flattened = Flattened {
                record: &decided.record,
                claimed_actor: &decided.claimed_actor,
            };
            proptest::prop_assert_eq!(
                serde_json::to_string(&decided).unwrap(),
                serde_json::to_string(&flattened).unwrap()
            );
            proptest::prop_assert_eq!(
                serde_json::to_value(&decided).unwrap(),
                serde_json::to_value(&flattened).unwrap()
            );
        }
    }
}
