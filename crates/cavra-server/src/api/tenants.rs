//! Tenants (the operator tenant's admins only) and a tenant's own posture.

use cavra_tenant_store::{Approvals, Decisions, Directory, Evidence};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use cavra_identity::Role;
use cavra_tenant_store::{ApprovalState, DecisionFilter, Entitlement, Tenant, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::check_id;
use crate::auth::Caller;
use crate::entitlement::EntitlementView;
use crate::problem::{ApiResult, Body, Problem};

fn operator(state: &AppState, caller: &Caller) -> ApiResult<()> {
    if caller.tenant() == state.config.operator_tenant && caller.has_any(&[Role::Admin]) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "managing tenants needs an admin of the operator tenant",
        ))
    }
}

/// A tenant as returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
        }
    }
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantBody {
    /// Id: lowercase letters, digits, `-` and `_`, starting with a letter or digit.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Whether `id` is a valid tenant id.
pub fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Every tenant (operator admins).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", operation_id = "tenants_list",
    responses((status = 200, body = Vec<TenantView>), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<TenantView>>> {
    operator(&state, &caller)?;
    Ok(Json(
        state
            .db
            .tenants()
            .await?
            .into_iter()
            .map(TenantView::from)
            .collect(),
    ))
}

/// Create a tenant (operator admins).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", operation_id = "tenants_create", request_body = NewTenantBody,
    responses((status = 201, body = TenantView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<NewTenantBody>,
) -> ApiResult<(axum::http::StatusCode, Json<TenantView>)> {
    operator(&state, &caller)?;
    if !valid_tenant_id(&body.id) {
        return Err(Problem::unprocessable(
            "a tenant id is 1-64 lowercase letters, digits, - or _",
        ));
    }
    let name = body.name.unwrap_or_else(|| body.id.clone());
    if !state.create_tenant(&body.id, &name).await? {
        return Err(Problem::conflict(format!("tenant `{}` exists", body.id)));
    }
    let t = state
        .db
        .tenant(&body.id)
        .await?
        .ok_or_else(|| Problem::internal("a created tenant is missing"))?;
    Ok((axum::http::StatusCode::CREATED, Json(t.into())))
}

/// One tenant: the caller's own, or any for operator admins.
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", operation_id = "tenants_get_one", params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    check_id(&id)?;
    if id != caller.tenant() && operator(&state, &caller).is_err() {
        return Err(Problem::not_found("tenant"));
    }
    state
        .db
        .tenant(&id)
        .await?
        .map(|t| Json(t.into()))
        .ok_or_else(|| Problem::not_found("tenant"))
}

/// A tenant's entitlement (operator admins): its status, expiry, features and limits, and
/// the status in force now.
#[utoipa::path(get, path = "/v1/tenants/{id}/entitlement", tag = "tenants", operation_id = "tenants_entitlement", params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = EntitlementView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn entitlement(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EntitlementView>> {
    operator(&state, &caller)?;
    check_id(&id)?;
    let found = state
        .db
        .entitlement(&id)
        .await?
        .ok_or_else(|| Problem::not_found("tenant"))?;
    Ok(Json(EntitlementView::new(
        &id,
        found,
        time::OffsetDateTime::now_utc(),
    )))
}

/// Replace a tenant's entitlement (operator admins). Takes effect at once on this replica and
/// within `ENTITLEMENT_CACHE` (2 s) on the others.
#[utoipa::path(put, path = "/v1/tenants/{id}/entitlement", tag = "tenants", operation_id = "tenants_entitle", params(("id" = String, Path, description = "tenant id")),
    request_body = Entitlement,
    responses((status = 200, body = EntitlementView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn entitle(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<Entitlement>,
) -> ApiResult<Json<EntitlementView>> {
    operator(&state, &caller)?;
    check_id(&id)?;
    crate::entitlement::check(&state.config.operator_tenant, &id, &body)
        .map_err(Problem::unprocessable)?;
    if !state.db.set_entitlement(&id, &body).await? {
        return Err(Problem::not_found("tenant"));
    }
    state.forget_entitlement(&id);
    Ok(Json(EntitlementView::new(
        &id,
        body,
        time::OffsetDateTime::now_utc(),
    )))
}

/// A tenant's posture, from its own records only.
#[derive(Debug, Serialize, ToSchema)]
pub struct Posture {
    /// The tenant.
    pub tenant: String,
    /// Decisions by effective decision, over the newest `window` decisions.
    #[schema(value_type = Object)]
    pub decisions: std::collections::BTreeMap<String, u64>,
    /// How many decisions the counts cover.
    pub window: usize,
    /// Pending approvals.
    pub pending_approvals: usize,
    /// Entries in the tenant's evidence log.
    pub log_size: u64,
    /// Connector deliveries of this tenant given up on (counted up to `limits.list_items`).
    pub dead_letters: usize,
    /// What stands in the way of this tenant's readiness, in words: one line per connector
    /// with dead letters. Another tenant's failures never appear here.
    pub blockers: Vec<String>,
    /// The AISPM posture, computed from this tenant's evidence log alone (factors, weights,
    /// contributions, score); `cavra aispm posture --from-bundle` gives the same figures
    /// from a bundle of the whole log. See docs/aispm.md.
    #[schema(value_type = Object)]
    pub aispm: cavra_aispm::Posture,
    /// The period `aispm` covers, as asked (normalised to UTC); the other figures are the
    /// tenant's as they are now.
    pub period: Period,
}

/// A period of the evidence log: entries written at or after `since` and before `until`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// From this time (RFC 3339, e.g. 2026-11-01T00:00:00Z); none: the log's start.
    pub since: Option<String>,
    /// Up to, not including, this time (RFC 3339); none: now.
    pub until: Option<String>,
    /// Only the log's first `tree_size` entries: the log as a checkpoint of that size signed
    /// it (a bundle's `manifest.json` gives its `tree_size`), so the figures can be recomputed
    /// offline from that bundle however the log has grown since; none: up to the head. More
    /// than the log holds is a 422 problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
}

/// The caller's tenant posture; `since` and `until` bound the evidence the AISPM posture is
/// computed from (422 when either is not an RFC 3339 time or `since` is not before `until`).
#[utoipa::path(get, path = "/v1/posture", tag = "tenants", operation_id = "tenants_posture",
    params(Period),
    responses((status = 200, body = Posture), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn posture(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(period): Query<Period>,
) -> ApiResult<Json<Posture>> {
    let since = crate::api::query_time("since", period.since)?;
    let until = crate::api::query_time("until", period.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(Problem::unprocessable("`since` must be before `until`"));
    }
    // Given back in the stores' one UTC form, the text the posture compares with.
    let period = Period {
        since: since.map(Timestamp::text),
        until: until.map(Timestamp::text),
        tree_size: period.tree_size,
    };
    let tenant = caller.tenant();
    // Checked before anything else is read: a size beyond the head is the caller's mistake.
    let log_size = state
        .db
        .log_head(tenant)
        .await?
        .map(|h| h.size)
        .unwrap_or(0);
    if let Some(n) = period.tree_size
        && n > log_size
    {
        return Err(Problem::unprocessable(format!(
            "`tree_size` {n} is beyond the log, which holds {log_size} entries"
        )));
    }
    let recent = state
        .db
        .decisions(
            tenant,
            &DecisionFilter {
                limit: Some(state.config.limits.list_items),
                ..DecisionFilter::default()
            },
        )
        .await?;
    let mut counts = std::collections::BTreeMap::new();
    for d in &recent {
        *counts
            .entry(d.decision.as_str().to_string())
            .or_insert(0u64) += 1;
    }
    let pending = state
        .db
        .approvals(
            tenant,
            Some(ApprovalState::Pending),
            state.config.limits.list_items,
        )
        .await?
        .len();
    // One blocker per connector with dead letters: the readiness gate's own validator.
    let dead =
        crate::readiness::dead_letters(&state.db, tenant, state.config.limits.list_items).await?;
    let dead_letters = dead.iter().map(|b| b.count).sum();
    let blockers = dead
        .into_iter()
        .map(|b| format!("{}; {}", b.problem, b.fix))
        .collect();
    let mut aispm = crate::aispm::posture_at(
        &state.db,
        tenant,
        period.since.as_deref(),
        period.until.as_deref(),
        period.tree_size,
    )
    .await?;
    crate::inventory::apply_to_posture(
        &state.db,
        tenant,
        &state.config.inventory,
        &mut aispm,
        period.since.as_deref(),
        period.until.as_deref(),
    )
    .await?;
    Ok(Json(Posture {
        aispm,
        period,
        tenant: tenant.to_string(),
        decisions: counts,
        window: recent.len(),
        pending_approvals: pending,
        log_size,
        dead_letters,
        blockers,
    }))
}

/// The days of a posture trend: the last `days` days up to today, or `since` to `until`.
#[derive(Debug, Default, Clone, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendQuery {
    /// How many days, ending today (1–400; 30 when neither this nor `since` is given).
    pub days: Option<i64>,
    /// The first day (`YYYY-MM-DD`, UTC).
    pub since: Option<String>,
    /// The last day, inclusive (`YYYY-MM-DD`, UTC; default today).
    pub until: Option<String>,
}

/// The caller's tenant posture day by day (UTC days): each closed day's posture is stored
/// once computed from the log and read back after; today's is computed live. 422 for days
/// that are not `YYYY-MM-DD`, a span over 400 days, `until` after today or both `days` and
/// `since`.
#[utoipa::path(get, path = "/v1/posture/trend", tag = "tenants", operation_id = "tenants_posture_trend",
    params(TrendQuery),
    responses((status = 200, body = crate::aispm::trend::Trend), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn posture_trend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<TrendQuery>,
) -> ApiResult<Json<crate::aispm::trend::Trend>> {
    let now = time::OffsetDateTime::now_utc();
    let (first, last) =
        crate::aispm::trend::span(q.days, q.since.as_deref(), q.until.as_deref(), now.date())
            .map_err(Problem::unprocessable)?;
    Ok(Json(
        crate::aispm::trend::trend(&state.db, caller.tenant(), first, last, now).await?,
    ))
}

/// The readiness gate for the caller's tenant (admins and auditors): its blockers, and those
/// of the service's trusted keys, each with the validator that found it and the fix.
#[utoipa::path(get, path = "/v1/readiness", tag = "tenants", operation_id = "tenants_readiness",
    responses((status = 200, body = crate::readiness::Readiness), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn readiness(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<crate::readiness::Readiness>> {
    caller.require(&[Role::Admin, Role::Auditor], "the readiness gate")?;
    let tenants = [caller.tenant().to_string()];
    let gate =
        crate::readiness::Gate::of_service(&state, &tenants, time::OffsetDateTime::now_utc());
    Ok(Json(crate::readiness::check(&state.db, &gate).await?))
}

/// Who the caller is here: what `cavra doctor` shows as "who you are there".
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The stable subject (`token:<id>`, or the OIDC subject).
    pub subject: String,
    /// The tenant every request of this credential is scoped to.
    pub tenant: String,
    /// The roles this credential holds.
    pub roles: Vec<String>,
    /// The approver groups this credential belongs to.
    pub approver_groups: Vec<String>,
    /// How it was verified: `api_token` or `oidc`.
    pub method: String,
}

/// The caller's own identity (any authenticated caller).
#[utoipa::path(get, path = "/v1/whoami", tag = "tenants", operation_id = "tenants_whoami",
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    let principal = &caller.0;
    Json(WhoAmI {
        subject: principal.subject.clone(),
        tenant: principal.tenant.clone(),
        roles: principal
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        approver_groups: principal.approver_groups.iter().cloned().collect(),
        method: match &principal.method {
            cavra_identity::AuthMethod::ApiToken { .. } => "api_token".into(),
            cavra_identity::AuthMethod::Oidc { .. } => "oidc".into(),
            cavra_identity::AuthMethod::Integration { .. } => "integration".into(),
        },
    })
}
