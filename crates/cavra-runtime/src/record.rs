//! The stored record, written once for every entry point that records in the repository's
//! store: the decision record plus what the entry point saw (the agent's tool input, the MCP
//! call), redacted as a whole with the pack's rules, and the list of what was masked.

use crate::RuntimeError;
use cavra_engine::{ActionType, CompiledPack, Decision, DecisionRecord, Request, Severity};
use cavra_policy::ResolvedPack;
use cavra_redact::Redactor;
use cavra_store::{NewDecision, Store};
use serde_json::{Value, json};

/// Who made a call, and from where, as stored beside each of its decisions.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The agent (`claude-code`, `mcp`, `mcp-proxy`, …).
    pub agent: String,
    /// The agent session.
    pub session_id: Option<String>,
    /// The folder the call came from (redacted before it is stored).
    pub cwd: Option<String>,
    /// The agent's id for the tool call (matches its later outcome).
    pub tool_use_id: Option<String>,
}

/// Fields stored beside the decision record, in this order: what the entry point saw of the
/// call (`tool_name`/`tool_input` for the hook, `mcp`/`arguments` for the MCP governor).
pub type Context = Vec<(String, Value)>;

/// The stored form of `record`: its fields, then `request` (the request the engine decided,
/// kept so that `cavra policy explain --decision` can decide it again under the kept pack;
/// none for decisions no rule of the policy made), then `context`'s fields, redacted as a
/// whole with `redactor` (every string: target, reason, matched subjects, request, tool
/// input), then `redactions`, the list of what was masked as `{pointer, rule}` (RFC 6901
/// pointers into the stored form).
pub fn stored_form(
    redactor: &Redactor,
    record: &DecisionRecord,
    request: Option<&Request>,
    context: &Context,
) -> Result<Value, RuntimeError> {
    let mut value = serde_json::to_value(record)?;
    if let Some(obj) = value.as_object_mut() {
        if let Some(request) = request {
            obj.insert("request".into(), serde_json::to_value(request)?);
        }
        for (key, field) in context {
            obj.insert(key.clone(), field.clone());
        }
    }
    let redacted = redactor.redact_json(&value);
    let mut value = redacted.value;
    let redactions: Vec<Value> = redacted
        .findings
        .iter()
        .map(|f| json!({"pointer": f.pointer, "rule": f.rule}))
        .collect();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("redactions".into(), Value::Array(redactions));
    }
    Ok(value)
}

/// One decided request as either store takes it, built here once for both: the record's own
/// words (its id, subject, decision and rule) with the call's `session_id` and `agent`, at
/// `timestamp`, under `fingerprint`, and what only that store takes, made from the record by
/// `extra` (the repository's store: the agent's tool call and the record's stored form; the
/// service: who asked and the record itself).
pub fn new_decision<R: std::borrow::Borrow<DecisionRecord>, E>(
    record: R,
    session_id: Option<String>,
    agent: Option<String>,
    timestamp: cavra_store::Timestamp,
    fingerprint: String,
    extra: impl FnOnce(R) -> E,
) -> NewDecision<E> {
    let r = record.borrow();
    let (decision_id, action_type, decision, rule_id) = (
        r.decision_id.clone(),
        r.action_type.into(),
        r.decision,
        r.rule_id.clone(),
    );
    NewDecision {
        decision_id,
        session_id,
        agent,
        action_type,
        decision,
        rule_id,
        timestamp,
        fingerprint,
        extra: extra(record),
    }
}

/// A decided call as either store records it ([`cavra_store::DecisionBook::record`]): its
/// decisions in order, which decides, and the approval step written with them
/// ([`crate::approvals::approval_write`]).
pub fn to_record<E>(
    decisions: Vec<NewDecision<E>>,
    deciding: usize,
    approval: cavra_store::ApprovalWrite,
) -> cavra_store::ToRecord<E> {
    cavra_store::ToRecord {
        decisions,
        deciding,
        approval,
    }
}

/// One decision as the repository's store takes it: [`new_decision`] with the caller's
/// session, agent, folder (redacted) and tool call, and the record's [`stored_form`] with
/// `context`. `request` gives the fingerprint; `policy_decided` says whether the policy's
/// rules decided it (then the request is kept with the record).
pub fn local_decision(
    redactor: &Redactor,
    caller: &Caller,
    context: &Context,
    request: &Request,
    record: &DecisionRecord,
    policy_decided: bool,
) -> Result<NewDecision, RuntimeError> {
    let value = stored_form(redactor, record, policy_decided.then_some(request), context)?;
    let timestamp = cavra_store::Timestamp::parse(&record.timestamp)
        .map_err(|e| RuntimeError::Record(cavra_store::StoreError::Time(e.to_string())))?;
    Ok(new_decision(
        record,
        caller.session_id.clone(),
        Some(caller.agent.clone()),
        timestamp,
        request.fingerprint(),
        |_| cavra_store::ToolCall {
            cwd: caller.cwd.as_deref().map(|c| redactor.redact_text(c).value),
            tool_use_id: caller.tool_use_id.clone(),
            record: value,
        },
    ))
}

/// Records a decided call in the repository's store, in one transaction
/// ([`cavra_store::DecisionBook::record`]); returns the approval written or used.
pub fn record_call(
    store: &mut Store,
    call: cavra_store::ToRecord<cavra_store::ToolCall>,
) -> Result<Option<cavra_store::Approval>, RuntimeError> {
    use cavra_store::DecisionBook as _;
    cavra_store::now_or_never(store.record(call))
        .ok_or(RuntimeError::Record(cavra_store::StoreError::Waiting(
            "recording the call",
        )))?
        .map_err(RuntimeError::Record)
}

/// Records one decision in the store, redacted, with the caller and context, and no
/// approval step ([`local_decision`], [`record_call`]).
pub fn record_decision(
    store: &mut Store,
    redactor: &Redactor,
    caller: &Caller,
    context: &Context,
    request: &Request,
    record: &DecisionRecord,
    policy_decided: bool,
) -> Result<(), RuntimeError> {
    let d = local_decision(redactor, caller, context, request, record, policy_decided)?;
    record_call(
        store,
        to_record(vec![d], 0, cavra_store::ApprovalWrite::None),
    )?;
    Ok(())
}

/// Keeps the merged pack that decides in the store (once per digest), so that evidence
/// bundles can carry the exact policy behind each decision.
pub fn remember_policy(
    store: &mut Store,
    resolved: &ResolvedPack,
    timestamp: &str,
) -> Result<(), RuntimeError> {
    if store.has_policy(&resolved.digest)? {
        return Ok(());
    }
    let canonical = cavra_policy::canonical_document(&resolved.document)
        .map_err(|e| RuntimeError::Policy(e.message.clone()))?;
    store
        .record_policy(&resolved.digest, &resolved.origin, &canonical, timestamp)
        .map_err(RuntimeError::Record)
}

/// A decision made without evaluating a request (a harmless tool, an unknown one, input that
/// cannot be judged), shaped like the engine's records so that every stored decision reads the
/// same, and the request its fingerprint is taken from.
pub struct Plain<'a> {
    /// The decision.
    pub decision: Decision,
    /// The built-in rule that made it (`agent.harmless_tool`, `agents.unknown_tool`, …).
    pub rule_id: &'a str,
    /// Why.
    pub reason: &'a str,
    /// What was called (`tool Bash`).
    pub target: String,
    /// The call's input, kept in the fingerprint.
    pub arguments: Value,
    /// The correlation id (the agent's tool call id).
    pub correlation_id: String,
}

/// The record and fingerprint request of a [`Plain`] decision under `pack`.
pub fn plain_record(
    pack: &CompiledPack,
    caller: &Caller,
    plain: Plain<'_>,
    timestamp: &str,
) -> (Request, DecisionRecord) {
    let record = DecisionRecord {
        decision_id: crate::new_decision_id(),
        correlation_id: plain.correlation_id,
        timestamp: timestamp.to_string(),
        session_id: caller.session_id.clone(),
        agent_id: Some(caller.agent.clone()),
        actor: None,
        tenant: None,
        repository: None,
        environment: None,
        branch: None,
        action_type: ActionType::ExecuteCommand,
        target: plain.target,
        requested_operation: None,
        policy_pack: pack.id.clone(),
        policy_version: pack.version.clone(),
        policy_digest: pack.digest.clone(),
        rule_id: plain.rule_id.to_string(),
        severity: if plain.decision == Decision::Block {
            Severity::High
        } else {
            Severity::Info
        },
        reason: plain.reason.to_string(),
        approver_group: None,
        mode: pack.mode,
        base_decision: plain.decision,
        decision: plain.decision,
        explicit: false,
        break_glass: None,
        evidence_refs: Vec::new(),
        matched_rules: Vec::new(),
    };
    let mut request = Request::new(ActionType::ExecuteCommand, record.target.clone());
    request.arguments = Some(plain.arguments);
    (request, record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::{Env, NoSymlinks};

    fn pack() -> CompiledPack {
        let resolved = cavra_policy::load_pack_str(
            "metadata: {id: t, version: '1'}\nrules:\n  - id: r\n    action: read_file\n    paths: ['**/.env']\n    decision: block\n",
            "t.yaml",
            std::path::Path::new("/"),
        )
        .expect("pack");
        cavra_policy::compile(&resolved).expect("compile")
    }

    #[test]
    fn the_stored_form_redacts_record_and_context_and_lists_what_was_masked() {
        let pack = pack();
        let mut request = Request::new(ActionType::ReadFile, ".env");
        request.cwd = Some("/r".into());
        request.repo_root = Some("/r".into());
        let env = Env {
            timestamp: "2026-01-01T00:00:00.000Z",
            decision_id: "d1",
            resolver: &NoSymlinks,
        };
        let record = cavra_engine::evaluate::evaluate(&pack, &request, &env);
        let context: Context = vec![
            ("tool_name".into(), json!("Read")),
            (
                "tool_input".into(),
                json!({"note": "password=hunter2hunter2"}),
            ),
        ];
        let stored =
            stored_form(pack.redactor(), &record, Some(&request), &context).expect("stored");
        let keys: Vec<&str> = stored
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        // The record's fields first, then the request, the context in order, the redactions.
        assert_eq!(keys[0], "decision_id");
        assert_eq!(
            &keys[keys.len() - 4..],
            ["request", "tool_name", "tool_input", "redactions"]
        );
        assert_eq!(stored["request"]["target"], ".env");
        assert!(!stored.to_string().contains("hunter2hunter2"), "{stored}");
        let masked = stored["redactions"].as_array().expect("list");
        assert!(
            masked.iter().any(|f| f["pointer"] == "/tool_input/note"),
            "{stored}"
        );
    }

    #[test]
    fn a_plain_record_reads_like_an_engine_record() {
        let pack = pack();
        let caller = Caller {
            agent: "codex".into(),
            session_id: Some("s".into()),
            ..Caller::default()
        };
        let (request, record) = plain_record(
            &pack,
            &caller,
            Plain {
                decision: Decision::Block,
                rule_id: "agents.invalid_input",
                reason: "bad",
                target: "tool X".into(),
                arguments: json!({"a": 1}),
                correlation_id: "tu".into(),
            },
            "2026-01-01T00:00:00.000Z",
        );
        assert_eq!(record.policy_digest, pack.digest);
        assert_eq!(record.severity, Severity::High);
        assert_eq!(record.agent_id.as_deref(), Some("codex"));
        assert_eq!(request.arguments, Some(json!({"a": 1})));
        assert_eq!(request.target, "tool X");
    }
}
