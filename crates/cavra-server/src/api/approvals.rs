//! Approvals: list, read, approve, deny, expire, break glass. Only members of an approval's
//! group decide it; nobody decides their own request; expiry is enforced in the store's
//! conditions, not just by the sweep; every change is an evidence entry.

use cavra_tenant_store::Approvals;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use cavra_identity::Role;
use cavra_runtime::approvals::{Step, break_glass_minutes, refusal, transition};
use cavra_tenant_store::{Approval, ApprovalState, GrantUse, TransitionOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::{Params, check_id};
use crate::auth::Caller;
use crate::problem::{ApiResult, Body, Problem};

/// Filters for listing approvals.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalQuery {
    /// Only this state: pending, approved, denied, expired, break_glass, consumed.
    pub state: Option<String>,
    /// At most this many (default 100, at most `limits.list_items`, 1000 by default).
    pub limit: Option<usize>,
}

/// List the tenant's approvals, newest first.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", operation_id = "approvals_list", params(ApprovalQuery),
    responses((status = 200, body = Vec<crate::schemas::Approval>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<ApprovalQuery>,
) -> ApiResult<Json<Vec<Approval>>> {
    let wanted = q
        .state
        .as_deref()
        .map(|s| s.parse::<ApprovalState>().map_err(Problem::bad_request))
        .transpose()?;
    Ok(Json(
        state
            .db
            .approvals(caller.tenant(), wanted, state.config.limits.page(q.limit))
            .await?,
    ))
}

/// One approval of the tenant.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "approvals", operation_id = "approvals_get_one", params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = crate::schemas::Approval), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Approval>> {
    check_id(&id)?;
    state
        .db
        .approval(caller.tenant(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("approval"))
}

/// A decision on an approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// Why (required).
    pub reason: String,
    /// For approvals: unlock one retry (`once`, the default) or every retry until expiry
    /// (`until_expiry`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub grant: Option<GrantUse>,
}

/// Break glass on an approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassBody {
    /// Why (required; recorded loudly).
    pub reason: String,
    /// How long the grant lasts, in minutes (capped by the service's maximum).
    #[serde(default)]
    pub minutes: Option<u64>,
}

/// Loads the approval and checks the caller may decide it as a member of `group_of`.
async fn decidable(
    state: &AppState,
    caller: &Caller,
    id: &str,
    group: Option<&str>,
    step: Step,
) -> ApiResult<Approval> {
    check_id(id)?;
    let a = state
        .db
        .approval(caller.tenant(), id)
        .await?
        .ok_or_else(|| Problem::not_found("approval"))?;
    let group = group.unwrap_or(&a.approver_group);
    if !caller.0.in_group(group) {
        return Err(Problem::forbidden(format!(
            "only members of `{group}` can decide this approval"
        )));
    }
    // While the approval can still take this step, its requester is refused; once it has
    // moved on, the store's answer (409, the state conflict) is the same for everyone.
    if a.requested_by == caller.subject() && step.refuses_requester(a.state) {
        return Err(Problem::forbidden("nobody decides their own request"));
    }
    Ok(a)
}

/// The store's answer to a transition: the approval as it is now, or why it did not move
/// ([`cavra_runtime::approvals::refusal`]).
fn outcome(o: TransitionOutcome, caller: &Caller, step: Step) -> ApiResult<Approval> {
    match o {
        TransitionOutcome::Done(a) => Ok(a),
        TransitionOutcome::NotFound => Err(Problem::not_found("approval")),
        TransitionOutcome::Conflict(a) => {
            let why = refusal(
                step,
                a.state,
                &a.requested_by,
                a.expires_at,
                caller.subject(),
                cavra_tenant_store::Timestamp::now(),
            );
            let message = why.message(&a.id, step);
            Err(match why {
                cavra_runtime::approvals::Refusal::OwnRequest => Problem::forbidden(message),
                _ => Problem::conflict(message),
            })
        }
    }
}

/// Takes `step` on approval `id` as `caller` (already checked) for `why`: the runtime's terms,
/// the store's compare-and-set, and its answer.
async fn take(
    state: &AppState,
    caller: &Caller,
    id: &str,
    step: Step,
    why: &str,
) -> ApiResult<Approval> {
    let t = transition(step, caller.subject(), why, time::OffsetDateTime::now_utc())
        .map_err(Problem::internal)?;
    outcome(
        state.db.transition(caller.tenant(), id, t).await?,
        caller,
        step,
    )
}

/// What a decision on a pending approval does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Approve it, unlocking one retry or every retry until expiry.
    Approve(GrantUse),
    /// Deny it.
    Deny,
}

/// Approves or denies a pending approval as `caller`, with `reason`: the one path every
/// channel takes (the API's approve and deny routes, a chat button press), so the same
/// rules hold everywhere: the approver or admin role, membership of the approval's group,
/// never the requester, never after expiry, only from pending.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    reason: &str,
) -> ApiResult<Approval> {
    let verb = match verdict {
        Verdict::Approve(_) => "approving",
        Verdict::Deny => "denying",
    };
    caller.require(&[Role::Approver, Role::Admin], verb)?;
    let why = state.config.limits.reason(reason)?;
    let step = match verdict {
        Verdict::Approve(grant) => Step::Approve(grant),
        Verdict::Deny => Step::Deny,
    };
    decidable(state, caller, id, None, step).await?;
    take(state, caller, id, step, &why).await
}

/// Approve a pending approval (members of its group only; not the requester).
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "approvals", operation_id = "approvals_approve", request_body = DecideBody,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = crate::schemas::Approval), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecideBody>,
) -> ApiResult<Json<Approval>> {
    let grant = body.grant.unwrap_or_default();
    decide(&state, &caller, &id, Verdict::Approve(grant), &body.reason)
        .await
        .map(Json)
}

/// Deny a pending approval (members of its group only; not the requester).
#[utoipa::path(post, path = "/v1/approvals/{id}/deny", tag = "approvals", operation_id = "approvals_deny", request_body = DecideBody,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = crate::schemas::Approval), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn deny(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecideBody>,
) -> ApiResult<Json<Approval>> {
    decide(&state, &caller, &id, Verdict::Deny, &body.reason)
        .await
        .map(Json)
}

/// Expire an approval now (withdraw a request, or end a grant early).
#[utoipa::path(post, path = "/v1/approvals/{id}/expire", tag = "approvals", operation_id = "approvals_expire", request_body = DecideBody,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = crate::schemas::Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn expire(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<DecideBody>,
) -> ApiResult<Json<Approval>> {
    let why = state.config.limits.reason(&body.reason)?;
    check_id(&id)?;
    let a = state
        .db
        .approval(caller.tenant(), &id)
        .await?
        .ok_or_else(|| Problem::not_found("approval"))?;
    let may = caller.has_any(&[Role::Admin])
        || (caller.has_any(&[Role::Approver]) && caller.0.in_group(&a.approver_group))
        || a.requested_by == caller.subject();
    if !may {
        return Err(Problem::forbidden(format!(
            "only the requester, members of `{}` or an admin can expire this approval",
            a.approver_group
        )));
    }
    take(&state, &caller, &id, Step::Expire, &why)
        .await
        .map(Json)
}

/// Break glass: grant a pending or denied approval at once, for a short time. Approvers (or
/// admins) who are also members of the break-glass group only; never the requester; recorded
/// loudly.
#[utoipa::path(post, path = "/v1/approvals/{id}/break-glass", tag = "approvals", operation_id = "approvals_break_glass", request_body = BreakGlassBody,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = crate::schemas::Approval), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn break_glass(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<BreakGlassBody>,
) -> ApiResult<Json<Approval>> {
    // Break glass is an approval that skips the approver group: it needs the authority to
    // approve at all (the role) *and* membership of the break-glass group. A group alone is
    // not enough, since an identity provider hands a person's groups to every role they hold.
    caller.require(&[Role::Approver, Role::Admin], "breaking glass")?;
    caller
        .entitlement()
        .require_feature(cavra_tenant_store::entitlement::FEATURE_BREAK_GLASS)?;
    let why = state.config.limits.reason(&body.reason)?;
    let group = state.config.break_glass.group.clone();
    let max = state.config.break_glass.max_minutes;
    // Who may take the step does not depend on how long it lasts: the approval is read and
    // the caller checked first, then the minutes.
    decidable(
        &state,
        &caller,
        &id,
        Some(&group),
        Step::BreakGlass { minutes: max },
    )
    .await?;
    let minutes = break_glass_minutes(body.minutes, max).map_err(Problem::unprocessable)?;
    let step = Step::BreakGlass { minutes };
    let result = take(&state, &caller, &id, step, &why).await.map(Json);
    if result.is_ok() {
        log_line!(
            "cavra serve: BREAK GLASS on approval {id} in tenant {} by {} for {minutes} min: {why}",
            caller.tenant(),
            caller.subject()
        );
    }
    result
}

/// What the sweep expired.
#[derive(Debug, Serialize, ToSchema)]
pub struct SweepResult {
    /// Approval ids of the caller's tenant that expired.
    pub expired: Vec<String>,
}

/// Expire every overdue approval now (the service also does this every few seconds).
#[utoipa::path(post, path = "/v1/approvals/expire", tag = "approvals", operation_id = "approvals_sweep",
    responses((status = 200, body = SweepResult), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn sweep(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<SweepResult>> {
    caller.require(&[Role::Approver, Role::Admin], "expiring approvals")?;
    let done = state
        .db
        .expire_due(cavra_tenant_store::Timestamp::now())
        .await?;
    Ok(Json(SweepResult {
        expired: done
            .into_iter()
            .filter(|(t, _)| t == caller.tenant())
            .map(|(_, id)| id)
            .collect(),
    }))
}
