//! `POST /v1/decisions` evaluates and records; decisions and sessions are listed and read.

use cavra_tenant_store::{Approvals, Configuration, Decisions};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use cavra_engine::registry::{McpRegistry, McpServerEntry};
use cavra_engine::{ActionType, Decision, Mode, NoSymlinks, Request};
use cavra_identity::Role;
use cavra_store::ApprovalWrite;
use cavra_tenant_store::{
    Approval, DecidedRecord, DecisionFilter, RecordInput, SessionSummary, StoreError,
    StoredDecision, TenantBook,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{Params, check_id, query_time};
use crate::auth::Caller;
use crate::problem::{ApiResult, Body, Problem};
use crate::routing::RouteInput;
use cavra_runtime::approvals::{Asker, Route, Settled, approval_write, settle};

/// A request to evaluate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// The action, in the same JSON form as `cavra evaluate --request`.
    #[schema(value_type = Object)]
    pub request: Request,
    /// The pack to decide with: a built-in id or the digest of one of the tenant's packs.
    /// Default: the pack assigned to the request's repository, else to the tenant, else the
    /// service's default.
    #[serde(default)]
    pub policy: Option<String>,
}

/// The decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    /// The effective decision.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// Whether the agent may go ahead.
    pub may_proceed: bool,
    /// The full decision record (redacted).
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    /// The approval it asked for or used.
    #[schema(value_type = Option<crate::schemas::ApprovalSchema>)]
    pub approval: Option<Approval>,
    /// The action's fingerprint (an approval unlocks exactly this).
    pub fingerprint: String,
    /// Its entry in the tenant's evidence log.
    pub log_index: u64,
}

/// The answer's JSON: [`DecisionResponse`] as `serde_json` writes it, field for field, with
/// the record's stored text put in as it is rather than parsed and written again.
fn answer(
    decision: Decision,
    record: &str,
    approval: &Option<Approval>,
    fingerprint: &str,
    log_index: u64,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(record.len() + 256);
    out.extend_from_slice(b"{\"decision\":");
    serde_json::to_writer(&mut out, &decision)?;
    let may_proceed: &[u8] = if decision.may_proceed() {
        b",\"may_proceed\":true"
    } else {
        b",\"may_proceed\":false"
    };
    out.extend_from_slice(may_proceed);
    out.extend_from_slice(b",\"record\":");
    out.extend_from_slice(record.as_bytes());
    out.extend_from_slice(b",\"approval\":");
    serde_json::to_writer(&mut out, approval)?;
    out.extend_from_slice(b",\"fingerprint\":");
    serde_json::to_writer(&mut out, fingerprint)?;
    out.extend_from_slice(b",\"log_index\":");
    serde_json::to_writer(&mut out, &log_index)?;
    out.push(b'}');
    Ok(out)
}

/// The pack reference and compiled pack for a request.
async fn pack_for(
    state: &AppState,
    tenant: &str,
    explicit: Option<&str>,
    repository: Option<&str>,
) -> ApiResult<Arc<cavra_policy::CompiledPack>> {
    let (reference, assigned) = match explicit {
        Some(name) => (name.to_string(), false),
        None => {
            let assignments = state.assignments(tenant).await?;
            let pick = repository
                .and_then(|r| assignments.iter().find(|a| a.scope == r))
                .or_else(|| assignments.iter().find(|a| a.scope.is_empty()));
            match pick {
                Some(a) => (a.pack.clone(), true),
                None => (
                    format!("{}{}", crate::packs::BUILTIN, state.config.default_pack),
                    true,
                ),
            }
        }
    };
    if let Some(builtin) = crate::packs::builtin_reference(&reference) {
        return state.packs.builtin(&builtin).map_err(Problem::internal);
    }
    if let Some(p) = state.packs.get(&reference) {
        // The cache is shared by tenants: a pack named in the body must be this tenant's
        // own; an assigned pack was checked to be when it was assigned.
        if assigned || state.db.pack(tenant, &reference).await?.is_some() {
            return Ok(p);
        }
    }
    match state.db.pack(tenant, &reference).await? {
        Some(stored) => state
            .packs
            .uploaded(&stored.digest, &stored.document)
            .map_err(Problem::internal),
        None => Err(Problem::unprocessable(format!(
            "no policy pack `{reference}` in this tenant (give a built-in id or the digest of one of the tenant's packs)"
        ))),
    }
}

/// The tenant's MCP registry, when it has any server (as the CLI uses the local registry
/// whenever it has one). The console's sandbox reads it too.
pub async fn mcp_registry(state: &AppState, tenant: &str) -> ApiResult<Option<McpRegistry>> {
    let records = state
        .db
        .registry(tenant, cavra_tenant_store::RegistryKind::McpServer)
        .await?;
    if records.is_empty() {
        return Ok(None);
    }
    let mut entries = Vec::with_capacity(records.len());
    for r in records {
        let entry: McpServerEntry = serde_json::from_value(r.record).map_err(|e| {
            Problem::internal(format!("stored MCP registry record {}: {e}", r.name))
        })?;
        entries.push(entry);
    }
    Ok(Some(McpRegistry::from_entries(entries)))
}

/// Refuses request fields that would let an agent loosen its own policy. Returns the actor
/// the body names when it is not the caller and the caller is configured to act for others
/// (`act_for_others`); whether the deciding pack accepts it is checked once the pack is known.
fn check_request(
    caller: &Caller,
    state: &AppState,
    request: &mut Request,
) -> ApiResult<Option<String>> {
    state.config.limits.check_request(request)?;
    if let Some(t) = &request.tenant
        && t != caller.tenant()
    {
        return Err(Problem::forbidden(
            "the request names another tenant than the caller's",
        ));
    }
    request.tenant = Some(caller.tenant().to_string());
    // Identity comes from the credential, never the body: a pack's `when: {actor: …}` must
    // see who authenticated, and the record must say so. Naming the caller itself is
    // harmless; naming anyone else is an attempt to act as them.
    let mut claimed_actor = None;
    if let Some(claimed) = &request.actor
        && claimed != caller.subject()
    {
        if !state
            .config
            .may_act_for_others(caller.tenant(), caller.subject())
        {
            return Err(Problem::forbidden(format!(
                "the request names the actor `{claimed}`, but the credential is `{}`; the actor is always the authenticated caller (only accounts listed in the service's act_for_others may name another)",
                caller.subject()
            )));
        }
        claimed_actor = Some(claimed.clone());
    }
    request.actor = Some(caller.subject().to_string());
    if let Some(mode) = request.mode
        && !matches!(mode, Mode::Enforce | Mode::Strict)
        && !caller.has_any(&[Role::Admin])
    {
        return Err(Problem::forbidden(format!(
            "only an admin may ask for mode `{}`; agents may ask only for enforce or strict",
            mode.as_str()
        )));
    }
    if request.break_glass_actor.is_some() || request.break_glass_reason.is_some() {
        let group = &state.config.break_glass.group;
        // The role and the group, as on the approvals route: groups alone come with every
        // role a person holds at the identity provider.
        if !caller.has_any(&[Role::Approver, Role::Admin]) || !caller.0.in_group(group) {
            return Err(Problem::forbidden(format!(
                "break glass needs the approver or admin role and membership of `{group}`"
            )));
        }
        // The actor is who authenticated, never a name in the body.
        request.break_glass_actor = Some(caller.subject().to_string());
        if request
            .break_glass_reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(Problem::unprocessable("break glass needs a reason"));
        }
        log_line!(
            "cavra serve: BREAK GLASS by {} in tenant {}: {}",
            caller.subject(),
            caller.tenant(),
            request.break_glass_reason.as_deref().unwrap_or_default()
        );
    }
    Ok(claimed_actor)
}

/// Evaluate and record a decision.
#[utoipa::path(post, path = "/v1/decisions", tag = "decisions", operation_id = "decisions_create", request_body = DecisionBody,
    responses((status = 200, body = DecisionResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<DecisionBody>,
) -> ApiResult<Response> {
    caller.require(&[Role::Agent, Role::Admin], "evaluating a request")?;
    let started = Instant::now();
    let mut request = body.request;
    let claimed_actor = check_request(&caller, &state, &mut request)?;
    let tenant = caller.tenant().to_string();
    let pack = pack_for(
        &state,
        &tenant,
        body.policy.as_deref(),
        request.repository.as_deref(),
    )
    .await?;
    // An account allowed to act for others: the pack must accept it too, and then its
    // conditions on `actor` see the named actor (the record keeps both).
    if let Some(claimed) = &claimed_actor {
        if !pack.document.identity.accepts_claimed_actor() {
            return Err(Problem::forbidden(format!(
                "the request names the actor `{claimed}`; `{}` may act for others, but the pack `{}` does not accept a claimed actor (identity.accept_claimed_actor)",
                caller.subject(),
                pack.document.metadata.id
            )));
        }
        request.actor = Some(claimed.clone());
    }
    let by = caller.subject().to_string();
    let registry = if request.action == ActionType::McpToolCall {
        mcp_registry(&state, &tenant).await?
    } else {
        None
    };
    // A grant used concurrently elsewhere makes the write fail; deciding again then sees it.
    for _ in 0..3 {
        let stamp = cavra_tenant_store::Timestamp::now();
        let ts = stamp.to_string();
        let decision_id = uuid::Uuid::now_v7().to_string();
        // The engine's resolver is not Send; keep it out of the awaits below.
        let mut record = cavra_runtime::decide::decide_one(
            &pack,
            &request,
            registry.as_ref(),
            &ts,
            &decision_id,
            &NoSymlinks,
        );
        let mut write = ApprovalWrite::None;
        let mut approval = None;
        let mut book = TenantBook {
            store: &state.db,
            tenant: &tenant,
            rules: Some(pack.redactor()),
        };
        // An approval is bound to the whole context of the decision (see cavra-runtime):
        // looked up by that key, and applied by the one resolution step every entry point uses.
        let mut fingerprint = request.fingerprint();
        if record.decision == Decision::RequireApproval {
            let group = state.routing.route(&RouteInput {
                rule_id: &record.rule_id,
                action_type: record.action_type,
                severity: Some(record.severity),
                pack: &record.policy_pack,
                target: &record.target,
                pack_group: record.approver_group.as_deref(),
            });
            let asker = Asker {
                session_id: request.session_id.clone(),
                requested_by: by.clone(),
                summary: cavra_runtime::decide::summary(pack.redactor(), &record),
            };
            let ttl = time::Duration::minutes(state.config.approval_ttl_minutes as i64);
            let settled;
            (fingerprint, settled) = settle(
                &mut book,
                &request,
                &mut record,
                &group,
                asker,
                stamp,
                Some(ttl),
            )
            .await?;
            write = approval_write(&mut record, &settled, &by, Route::Approver);
            if let Settled::Use(a) | Settled::Denied(a) | Settled::Pending(a) = settled {
                approval = Some(a);
            }
        }
        // The store redacts the record (with the pack's rules and its own) on its way into
        // the log, writing it out once, and gives back what it stored, which is what the
        // caller sees.
        let decision = record.decision;
        if claimed_actor.is_some() {
            // Who authenticated stays the actor of record; the name is what it claimed.
            record.actor = Some(by.clone());
        }
        let used = matches!(write, ApprovalWrite::Use { .. });
        let one = cavra_runtime::record::new_decision(
            record,
            request.session_id.clone(),
            request.agent_id.clone(),
            stamp,
            fingerprint.clone(),
            |record| cavra_tenant_store::Caller {
                requested_by: by.clone(),
                policy_digest: record.policy_digest.clone(),
                record: RecordInput::Decided(Box::new(DecidedRecord {
                    record,
                    claimed_actor: claimed_actor.clone(),
                })),
            },
        );
        // `record_one` is `DecisionBook::record` of a call of this one decision, written
        // without that call's lists: this is every decision's path.
        match book.record_one(one, write).await {
            Ok(recorded) => {
                if let Some(id) = &recorded.approval_id {
                    approval = state.db.approval(&tenant, id).await?;
                } else if used && let Some(a) = &approval {
                    approval = state.db.approval(&tenant, &a.id).await?;
                }
                state
                    .metrics
                    .decision(decision, started.elapsed().as_secs_f64());
                let record = recorded.record_json.ok_or_else(|| {
                    Problem::internal("the store gave back no record for the decision")
                })?;
                let body = answer(
                    decision,
                    &record,
                    &approval,
                    &fingerprint,
                    recorded.log_index,
                )
                .map_err(Problem::internal)?;
                return Ok((
                    [(
                        axum::http::header::CONTENT_TYPE,
                        axum::http::HeaderValue::from_static("application/json"),
                    )],
                    body,
                )
                    .into_response());
            }
            Err(StoreError::Conflict(_)) if used => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Problem::conflict(
        "the approval for this action kept changing while deciding; retry",
    ))
}

/// Filters for listing decisions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this decision word.
    pub decision: Option<String>,
    /// Only this action type.
    pub action_type: Option<String>,
    /// At or after this time (RFC 3339).
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// Only decisions by this rule.
    pub rule_id: Option<String>,
    /// Only decisions asked for by this caller (the authenticated subject).
    pub requested_by: Option<String>,
    /// Only decisions whose request named this repository (`org/name`).
    pub repository: Option<String>,
    /// The next page: the decisions after this decision id in the list's order (the last id
    /// of the previous page). An id that is not one of the tenant's decisions gives none.
    pub before: Option<String>,
    /// At most this many (default 100, at most `limits.list_items`, 1000 by default).
    pub limit: Option<usize>,
}

/// List the tenant's decisions, newest first (by time, then by order of recording), a page
/// at a time: each filter reads an index of its own, and `before` continues after a page.
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions", operation_id = "decisions_list", params(DecisionQuery),
    responses((status = 200, body = Vec<crate::schemas::StoredDecisionSchema>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<DecisionQuery>,
) -> ApiResult<Json<Vec<StoredDecision>>> {
    let word = |e: cavra_policy::model::UnknownWord| Problem::bad_request(e.to_string());
    let filter = DecisionFilter {
        session_id: q.session_id,
        decision: q
            .decision
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(word)?,
        action_type: q
            .action_type
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(word)?,
        since: query_time("since", q.since)?,
        until: query_time("until", q.until)?,
        rule_id: q.rule_id,
        requested_by: q.requested_by,
        repository: q.repository,
        before: q.before,
        limit: Some(state.config.limits.page(q.limit)),
    };
    let rows = state.db.decisions(caller.tenant(), &filter).await?;
    Ok(Json(rows))
}

/// One decision of the tenant.
#[utoipa::path(get, path = "/v1/decisions/{id}", tag = "decisions", operation_id = "decisions_get_one", params(("id" = String, Path, description = "decision id")),
    responses((status = 200, body = crate::schemas::StoredDecisionSchema), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StoredDecision>> {
    check_id(&id)?;
    state
        .db
        .decision(caller.tenant(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("decision"))
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// At most this many (default 100, at most `limits.list_items`, 1000 by default).
    pub limit: Option<usize>,
}

/// The tenant's sessions, most recent first.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", operation_id = "sessions_sessions", params(LimitQuery),
    responses((status = 200, body = Vec<SessionSummary>), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn sessions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<LimitQuery>,
) -> ApiResult<Json<Vec<SessionSummary>>> {
    let rows = state
        .db
        .sessions(caller.tenant(), state.config.limits.page(q.limit))
        .await?;
    Ok(Json(rows))
}

/// One session of the tenant.
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", operation_id = "sessions_session", params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = SessionSummary), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionSummary>> {
    check_id(&id)?;
    state
        .db
        .session(caller.tenant(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("session"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_tenant_store::{ApprovalState, GrantUse, HistoryEntry};

    #[test]
    fn the_answer_is_the_response_as_serde_json_writes_it() {
        let record = serde_json::json!({"decision_id": "d1", "target": "a \"b\"\n\u{1}é", "n": [1, null, true], "o": {"z": 1, "a": 2}});
        let text = serde_json::to_string(&record).unwrap();
        let approval = Approval {
            id: "apr_1".into(),
            decision_id: "d1".into(),
            fingerprint: "sha256:ab".into(),
            session_id: None,
            approver_group: "Platform Security".into(),
            requested_by: "agent".into(),
            requested_at: "2026-01-01T00:00:00.000Z".parse().unwrap(),
            expires_at: "2026-01-01T01:00:00.000Z".parse().unwrap(),
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            reason: Some("because".into()),
            summary: "write_file: x".into(),
            extra: cavra_tenant_store::Grant {
                grant: GrantUse::Once,
                uses: 0,
            },
            history: vec![HistoryEntry {
                at: "2026-01-01T00:00:00.000Z".parse().expect("time"),
                state: ApprovalState::Pending,
                actor: "agent".into(),
                reason: None,
            }],
        };
        for (decision, approval) in [
            (Decision::Allow, None),
            (Decision::Block, None),
            (Decision::RequireApproval, Some(approval)),
        ] {
            let expected = serde_json::to_vec(&DecisionResponse {
                decision,
                may_proceed: decision.may_proceed(),
                record: record.clone(),
                approval: approval.clone(),
                fingerprint: "sha256:\"x\"".into(),
                log_index: 18_446_744_073_709_551_615,
            })
            .unwrap();
            let got = answer(
                decision,
                &text,
                &approval,
                "sha256:\"x\"",
                18_446_744_073_709_551_615,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
