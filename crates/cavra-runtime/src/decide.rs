//! One decide entry for the entry points that record in the repository's store (the agent
//! hook, the hook server, the MCP governor): the API service first when one is named (and its
//! fallback when it cannot be reached), else the local policy with the repository's MCP
//! registry; the strictest of the requests decides; approvals; every request recorded,
//! redacted, before the caller answers.

use crate::local::{Ask, Asking, LocalStep, Outcome, settle_in_store};
use crate::record::{self, Caller, Context};
use crate::service::{self, CallError};
use crate::{RuntimeError, strictest};
use cavra_engine::{
    ActionType, CompiledPack, Decision, DecisionRecord, Env, McpRegistry, PathResolver, Request,
};
use cavra_policy::ResolvedPack;
use cavra_store::{Approval, ApprovalWrite, Store, StoreError};
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;

/// What the caller does when the service cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Decide with the local policy (and record locally).
    Local,
    /// Deny.
    Deny,
}

/// The API service that decides instead of the local policy.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its base URL.
    pub base: String,
    /// The agent token (`CAVRA_TOKEN`); none is a refusal, never a fallback.
    pub token: Option<String>,
    /// What happens when it cannot be reached.
    pub fallback: Fallback,
    /// How long one call may take.
    pub timeout: Duration,
}

/// One call to decide: who makes it, what is stored beside its records, and how approvals
/// are handled.
pub struct Call<'a> {
    /// Who calls, from where (stored with each record).
    pub caller: &'a Caller,
    /// What the entry point saw of the call, stored with each record.
    pub context: &'a Context,
    /// The requester an approval is asked for and usable by (`agent:session`).
    pub requested_by: String,
    /// How long a new approval stays valid.
    pub approval_ttl: Duration,
    /// Where a missing approval is asked for.
    pub ask: Ask,
    /// The service that decides, when one is named.
    pub service: Option<&'a Service>,
}

/// One decided request: the request as completed and its record. A call decides one request
/// or several derived from it (a command's parts, an MCP call's arguments), so a call's result
/// ([`Governed`]) holds a list of these.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The request as decided.
    pub request: Request,
    /// Its record (approval notes included).
    pub record: DecisionRecord,
}

/// Where the approval of the deciding request stands.
#[derive(Debug, Clone)]
pub enum ApprovalNote {
    /// Decided locally: what the store said.
    Local(Box<Outcome>),
    /// Decided by the service at `base`: its approval object (null when none).
    Service {
        /// The service's URL.
        base: String,
        /// The approval it asked for or used.
        approval: Value,
    },
}

/// A decided call, as every entry point that records in the repository's store gets it (the
/// hook, the hook server, the MCP server and proxy): each request with its record, which one
/// decides, its approval and whether the service was bypassed. What the caller answers is
/// derived from it ([`Governed::verdict`]), not kept beside it. The other shapes of a decided
/// request live where a boundary needs them: the tenant store's `DecisionWrite`/`Recorded`
/// (what one transaction writes, what it produced) and the API service's `DecisionResponse`
/// (the wire view).
#[derive(Debug, Clone)]
pub struct Governed {
    /// Every request, decided and recorded.
    pub decided: Vec<Decided>,
    /// The index of the strictest (the first on a tie): it decides the call.
    pub deciding: usize,
    /// Its approval.
    pub approval: ApprovalNote,
    /// Set when a service was named but could not be reached, so the local policy decided:
    /// why.
    pub fell_back: Option<String>,
}

impl Governed {
    /// The deciding record.
    pub fn record(&self) -> &DecisionRecord {
        &self.decided[self.deciding].record
    }

    /// The deciding request.
    pub fn request(&self) -> &Request {
        &self.decided[self.deciding].request
    }

    /// Whether the call may proceed now, and the message for the agent: what an approval made
    /// of the call when it changed anything ([`Governed::approval_verdict`]), else the deciding
    /// record's own decision. (The hook words its answer per agent instead, from the same
    /// parts.)
    pub fn verdict(&self) -> (bool, String) {
        self.approval_verdict().unwrap_or_else(|| {
            let record = self.record();
            (
                record.decision.exit_code() == 0,
                format!(
                    "cavra {}: {} (rule {})",
                    record.decision, record.reason, record.rule_id
                ),
            )
        })
    }

    /// The approval the repository's store asked for or used, when any. (A service's approval
    /// is the JSON it answered, in [`ApprovalNote::Service`].)
    pub fn approval(&self) -> Option<&Approval> {
        match &self.approval {
            ApprovalNote::Local(outcome) => match outcome.as_ref() {
                Outcome::Used(a)
                | Outcome::Denied(a)
                | Outcome::Pending(a)
                | Outcome::Created(a)
                | Outcome::Asked(a) => Some(a),
                Outcome::None => None,
            },
            ApprovalNote::Service { .. } => None,
        }
    }

    /// What an approval made of the call, when it changed anything: whether it may proceed,
    /// and the message for the agent. `None`: the record's own decision stands.
    pub fn approval_verdict(&self) -> Option<(bool, String)> {
        let record = self.record();
        match &self.approval {
            ApprovalNote::Local(outcome) => approval_verdict(outcome, record),
            ApprovalNote::Service { base, approval } => {
                let id = approval["id"].as_str()?;
                if record.decision != Decision::RequireApproval {
                    return None;
                }
                let group = approval["approver_group"].as_str().unwrap_or_default();
                Some((
                    false,
                    format!(
                        "cavra: {} — needs approval from {group}. Pending approval {id} on {base} (expires {}). \
                         A person in {group} approves it with: cavra approval approve {id} --reason \"…\" --server {base} ; then retry the same action (it is allowed once).",
                        record.reason,
                        approval["expires_at"].as_str().unwrap_or_default(),
                    ),
                ))
            }
        }
    }
}

/// What a local approval outcome makes of a decision that needed one (see
/// [`Governed::approval_verdict`]).
pub fn approval_verdict(outcome: &Outcome, record: &DecisionRecord) -> Option<(bool, String)> {
    match outcome {
        Outcome::Used(a) => Some((
            true,
            format!(
                "cavra: approved by {} ({}): {}; this approval is now used",
                a.decided_by.as_deref().unwrap_or_default(),
                a.id,
                a.reason.as_deref().unwrap_or_default()
            ),
        )),
        Outcome::Denied(_) => Some((false, format!("cavra: {}", record.reason))),
        Outcome::Pending(a) | Outcome::Created(a) => {
            let group = &a.approver_group;
            Some((
                false,
                format!(
                    "cavra: {} — needs approval from {group}. Pending approval {id} (expires {exp}). \
                     A person in {group} approves it with: cavra approval approve {id} --reason \"…\" ; then retry the same action (it is allowed once).",
                    record.reason,
                    id = a.id,
                    exp = a.expires_at,
                ),
            ))
        }
        // The agent's prompt asks: the record's own decision (ask) stands.
        Outcome::Asked(_) | Outcome::None => None,
    }
}

/// The repository's MCP registry, when it has entries; one that cannot be read fails the call
/// closed.
pub fn registry_of(store: &Store) -> Result<Option<McpRegistry>, RuntimeError> {
    let registry = store
        .mcp_registry()
        .map_err(|e| RuntimeError::Registry(e.to_string()))?;
    Ok((!registry.is_empty()).then_some(registry))
}

/// The MCP registry of the repository at `repo_root`, when its store exists and has one;
/// nothing is created to find out (`cavra evaluate` reads it, read-only).
pub fn local_registry(repo_root: &std::path::Path) -> Result<Option<McpRegistry>, RuntimeError> {
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Ok(None);
    }
    let store = Store::open_read_only(&path)
        .map_err(|e| RuntimeError::Registry(format!("cannot open the decision store: {e}")))?;
    registry_of(&store)
}

/// The engine's decision of one request under `pack` at `timestamp`, as `decision_id`, with
/// the MCP `registry` when one is given (the caller gives it for MCP tool calls): the one
/// decide step of every entry point. [`Governor::decide`] takes it for the hook, the hook
/// server and the MCP governor (through [`decide_all`]); `cavra evaluate`, the CI gate and the
/// API service, which record elsewhere or not at all, take it directly.
pub fn decide_one(
    pack: &CompiledPack,
    request: &Request,
    registry: Option<&McpRegistry>,
    timestamp: &str,
    decision_id: &str,
    resolver: &dyn PathResolver,
) -> DecisionRecord {
    let env = Env {
        timestamp,
        decision_id,
        resolver,
    };
    cavra_engine::evaluate_with_registry(pack, request, &env, registry)
}

/// Decides every request of one call ([`decide_one`], each under a fresh decision id) and
/// says which decides the call: the strictest (the first on a tie). `Err`: no request.
pub fn decide_all(
    pack: &CompiledPack,
    requests: Vec<Request>,
    registry: Option<&McpRegistry>,
    timestamp: &str,
    resolver: &dyn PathResolver,
) -> Result<(Vec<Decided>, usize), RuntimeError> {
    let decided: Vec<Decided> = requests
        .into_iter()
        .map(|request| {
            let decision_id = crate::new_decision_id();
            let record = decide_one(pack, &request, registry, timestamp, &decision_id, resolver);
            Decided { request, record }
        })
        .collect();
    let deciding = strictest(&decided, |d| d.record.decision).ok_or(RuntimeError::Nothing)?;
    Ok((decided, deciding))
}

/// Decides with the repository's store and policy.
pub struct Governor<'a> {
    /// The repository's store: approvals, the registry, the records.
    pub store: &'a mut Store,
    /// The policy that decides.
    pub pack: &'a CompiledPack,
    /// What it was resolved from (kept in the store once per digest).
    pub resolved: &'a ResolvedPack,
    /// Symlink resolution.
    pub resolver: &'a dyn PathResolver,
}

impl Governor<'_> {
    /// Decides `requests` as one call (see the module documentation). `adjust` changes the
    /// deciding record before approvals and recording (the MCP proxy's own checks).
    pub fn decide(
        &mut self,
        requests: Vec<Request>,
        call: &Call<'_>,
        now: OffsetDateTime,
        adjust: impl FnOnce(&mut DecisionRecord),
    ) -> Result<Governed, RuntimeError> {
        let timestamp = cavra_store::format_time(now)?;
        record::remember_policy(self.store, self.resolved, &timestamp)?;
        let mut fell_back = None;
        if let Some(service) = call.service {
            match decide_on_service(service, &requests) {
                Ok(remote) => return self.record_remote(service, remote, call),
                Err(CallError::Refused(message)) => return Err(RuntimeError::Refused(message)),
                Err(CallError::Unreachable(message)) => {
                    if service.fallback == Fallback::Deny {
                        return Err(RuntimeError::Refused(format!(
                            "{message}; CAVRA_SERVER_FALLBACK=deny, so nothing runs until it answers"
                        )));
                    }
                    fell_back = Some(message);
                }
            }
        }
        // MCP tool calls are also judged by the repository's MCP registry, when it has one.
        let registry = if requests.iter().any(|r| r.action == ActionType::McpToolCall) {
            registry_of(self.store)?
        } else {
            None
        };
        let (mut decided, deciding) = decide_all(
            self.pack,
            requests,
            registry.as_ref(),
            &timestamp,
            self.resolver,
        )?;
        adjust(&mut decided[deciding].record);
        // A grant used by another request between its lookup and this call's write makes the
        // write fail with nothing written; settling again then finds what is left.
        let before = decided[deciding].record.clone();
        let mut tries = 0;
        loop {
            tries += 1;
            let mut step = LocalStep::none();
            if decided[deciding].record.decision == Decision::RequireApproval {
                let d = &mut decided[deciding];
                let asking = Asking {
                    requested_by: call.requested_by.clone(),
                    session_id: call.caller.session_id.clone(),
                    ttl: call.approval_ttl,
                    ask: call.ask.clone(),
                    summary: summary(self.pack.redactor(), &d.record),
                };
                step = settle_in_store(self.store, &d.request, &mut d.record, &asking, now)?;
            }
            // The step keeps its write: what came of it depends on where it asked.
            match self.record_all(&decided, deciding, step.write.clone(), call) {
                Ok(written) => {
                    return Ok(Governed {
                        decided,
                        deciding,
                        approval: ApprovalNote::Local(Box::new(
                            step.outcome(written).map_err(RuntimeError::Record)?,
                        )),
                        fell_back,
                    });
                }
                Err(RuntimeError::Record(StoreError::Conflict(_))) if tries < 3 => {
                    decided[deciding].record = before.clone();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Records every decided request (the policy decided each), redacted with the local pack's
    /// rules, with the deciding one's approval step, in one transaction.
    fn record_all(
        &mut self,
        decided: &[Decided],
        deciding: usize,
        approval: ApprovalWrite,
        call: &Call<'_>,
    ) -> Result<Option<Approval>, RuntimeError> {
        let decisions = decided
            .iter()
            .map(|d| {
                record::local_decision(
                    self.pack.redactor(),
                    call.caller,
                    call.context,
                    &d.request,
                    &d.record,
                    true,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        record::record_call(self.store, record::to_record(decisions, deciding, approval))
    }

    /// Records the service's decisions locally too.
    fn record_remote(
        &mut self,
        service: &Service,
        remote: Vec<(Decided, Value)>,
        call: &Call<'_>,
    ) -> Result<Governed, RuntimeError> {
        let deciding =
            strictest(&remote, |(d, _)| d.record.decision).ok_or(RuntimeError::Nothing)?;
        let approval = remote[deciding].1.clone();
        let decided: Vec<Decided> = remote.into_iter().map(|(d, _)| d).collect();
        // The service asked for or used its approval in its own store: none is written here.
        self.record_all(&decided, deciding, ApprovalWrite::None, call)?;
        Ok(Governed {
            decided,
            deciding,
            approval: ApprovalNote::Service {
                base: service.base.clone(),
                approval,
            },
            fell_back: None,
        })
    }
}

/// What an approval asks for, redacted, for the approver's list (`execute_command: make deploy`).
pub fn summary(redactor: &cavra_redact::Redactor, record: &DecisionRecord) -> String {
    redactor
        .redact_text(&format!("{}: {}", record.action_type, record.target))
        .value
}

/// Asks the service to decide (and record) each request; each comes back with its approval
/// object (null when none).
fn decide_on_service(
    service: &Service,
    requests: &[Request],
) -> Result<Vec<(Decided, Value)>, CallError> {
    let base = &service.base;
    let token = service
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            CallError::Refused(format!(
                "CAVRA_SERVER is {base} but CAVRA_TOKEN is not set; set it to an agent token of the service"
            ))
        })?;
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let body = service::send(
            base,
            token,
            "POST",
            "/v1/decisions",
            Some(&json!({ "request": request })),
            service.timeout,
        )?;
        let record: DecisionRecord =
            serde_json::from_value(body["record"].clone()).map_err(|e| {
                CallError::Refused(format!(
                    "the cavra service at {base} answered without a decision record ({e})"
                ))
            })?;
        out.push((
            Decided {
                request: request.clone(),
                record,
            },
            body["approval"].clone(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::NoSymlinks;

    fn pack() -> CompiledPack {
        let resolved = cavra_policy::load_pack_str(
            "metadata: {id: t, version: '1'}\nfilesystem: {block_read: ['.env']}\n",
            "t.yaml",
            std::path::Path::new("/"),
        )
        .expect("pack");
        cavra_policy::compile(&resolved).expect("compile")
    }

    fn request(action: ActionType, target: &str) -> Request {
        let mut r = Request::new(action, target);
        r.repo_root = Some("/r".into());
        r.cwd = Some("/r".into());
        r
    }

    #[test]
    fn one_request_is_decided_exactly_as_the_engine_decides_it() {
        let pack = pack();
        for r in [
            request(ActionType::ReadFile, ".env"),
            request(ActionType::WriteFile, ".claude/settings.json"),
            request(
                ActionType::ExecuteCommand,
                "cavra approval approve apr_1 --reason ok",
            ),
        ] {
            let env = Env {
                timestamp: "2026-01-01T00:00:00.000Z",
                decision_id: "d",
                resolver: &NoSymlinks,
            };
            let engine = cavra_engine::evaluate_with_registry(&pack, &r, &env, None);
            let runtime = decide_one(&pack, &r, None, env.timestamp, "d", &NoSymlinks);
            assert_eq!(
                serde_json::to_value(&runtime).expect("json"),
                serde_json::to_value(&engine).expect("json")
            );
        }
    }

    #[test]
    fn the_strictest_request_decides_a_call_and_a_built_in_guard_applies() {
        let pack = pack();
        let requests = vec![
            request(ActionType::ReadFile, "README.md"),
            request(ActionType::WriteFile, ".claude/settings.json"),
            request(ActionType::ReadFile, ".env"),
        ];
        let (decided, deciding) = decide_all(
            &pack,
            requests,
            None,
            "2026-01-01T00:00:00.000Z",
            &NoSymlinks,
        )
        .expect("decided");
        assert_eq!(decided.len(), 3);
        // Two blocks: the first decides.
        assert_eq!(deciding, 1);
        assert_eq!(decided[1].record.rule_id, "cavra.protected");
        assert_eq!(decided[2].record.decision, Decision::Block);
        let ids: std::collections::HashSet<_> = decided
            .iter()
            .map(|d| d.record.decision_id.clone())
            .collect();
        assert_eq!(ids.len(), 3, "each request has its own decision id");
        assert!(matches!(
            decide_all(&pack, Vec::new(), None, "t", &NoSymlinks),
            Err(RuntimeError::Nothing)
        ));
    }
}
