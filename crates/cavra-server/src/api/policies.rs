//! Policy packs: upload (signed), list, read by digest, assign to the tenant or a repository.

use cavra_tenant_store::Configuration;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use cavra_identity::Role;
use cavra_tenant_store::{Assignment, StoredPack};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::check_id;
use crate::auth::Caller;
use crate::packs::{UploadError, builtin_reference};
use crate::problem::{ApiResult, Body, Problem};

/// A pack to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    /// The pack's YAML text.
    pub document: String,
    /// Its detached signature (`cavra policy sign` output: a DSSE envelope, JSON text).
    #[serde(default)]
    pub signature: Option<String>,
}

/// A pack as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackView {
    /// `sha256:…` of the document's canonical form.
    pub digest: String,
    /// Its id.
    pub pack_id: String,
    /// The verified signature.
    #[schema(value_type = Option<Object>)]
    pub signed_by: Option<serde_json::Value>,
    /// When.
    #[schema(value_type = String)]
    pub uploaded_at: cavra_tenant_store::Timestamp,
    /// By whom.
    pub uploaded_by: String,
    /// The YAML (only when one pack is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

fn view(p: StoredPack, with_document: bool) -> PackView {
    PackView {
        digest: p.digest,
        pack_id: p.pack_id,
        signed_by: p.signed_by,
        uploaded_at: p.uploaded_at,
        uploaded_by: p.uploaded_by,
        document: with_document.then_some(p.document),
    }
}

/// Upload a policy pack (admins). It must validate, inherit only built-in packs and, unless
/// the service is configured otherwise, carry a signature by a key of the service's trust root.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", operation_id = "policies_upload", request_body = UploadBody,
    responses((status = 200, body = PackView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<UploadBody>,
) -> ApiResult<Json<PackView>> {
    caller.require(&[Role::Admin], "uploading a policy pack")?;
    let checked = state
        .packs
        .check_upload(
            &body.document,
            body.signature.as_deref(),
            state.config.require_signed_packs,
            state.trust.as_ref(),
        )
        .map_err(|e| match e {
            UploadError::Invalid(m) => Problem::unprocessable(format!("invalid pack: {m}")),
            UploadError::Signature(m) => Problem::unprocessable(m),
        })?;
    // A limit counts packs: uploading one the tenant holds (by digest) is not creating one.
    let limit = cavra_tenant_store::entitlement::LIMIT_POLICY_PACKS;
    if caller.entitlement().entitlement().limit(limit).is_some()
        && state
            .db
            .pack(caller.tenant(), &checked.digest)
            .await?
            .is_none()
    {
        let held = state.db.packs(caller.tenant()).await?.len();
        caller.entitlement().check_limit(limit, held)?;
    }
    let stored = StoredPack {
        digest: checked.digest,
        pack_id: checked.pack_id,
        document: body.document,
        signed_by: checked.signed_by,
        uploaded_at: cavra_tenant_store::Timestamp::now(),
        uploaded_by: caller.subject().to_string(),
    };
    state.db.put_pack(caller.tenant(), &stored).await?;
    Ok(Json(view(stored, false)))
}

/// The tenant's packs.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", operation_id = "policies_list",
    responses((status = 200, body = Vec<PackView>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<PackView>>> {
    let packs = state.db.packs(caller.tenant()).await?;
    Ok(Json(packs.into_iter().map(|p| view(p, false)).collect()))
}

/// One of the tenant's packs, with its text.
#[utoipa::path(get, path = "/v1/policies/{digest}", tag = "policies", operation_id = "policies_get_one",
    params(("digest" = String, Path, description = "sha256:…")),
    responses((status = 200, body = PackView), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(digest): Path<String>,
) -> ApiResult<Json<PackView>> {
    check_id(&digest)?;
    state
        .db
        .pack(caller.tenant(), &digest)
        .await?
        .map(|p| Json(view(p, true)))
        .ok_or_else(|| Problem::not_found("policy pack"))
}

/// An assignment to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The repository it applies to; absent: the whole tenant.
    #[serde(default)]
    pub repository: Option<String>,
    /// A built-in pack id or the digest of one of the tenant's packs.
    pub pack: String,
}

/// An assignment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    /// The repository, or absent for the tenant.
    pub repository: Option<String>,
    /// The pack.
    pub pack: String,
    /// When.
    #[schema(value_type = String)]
    pub assigned_at: cavra_tenant_store::Timestamp,
    /// By whom.
    pub assigned_by: String,
}

fn assignment_view(a: Assignment) -> AssignmentView {
    AssignmentView {
        repository: (!a.scope.is_empty()).then_some(a.scope),
        pack: a.pack,
        assigned_at: a.assigned_at,
        assigned_by: a.assigned_by,
    }
}

/// The tenant's pack assignments.
#[utoipa::path(get, path = "/v1/policy-assignments", tag = "policies", operation_id = "policies_assignments",
    responses((status = 200, body = Vec<AssignmentView>)),
    security(("bearer" = [])))]
pub async fn assignments(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<AssignmentView>>> {
    let rows = state.db.assignments(caller.tenant()).await?;
    Ok(Json(rows.into_iter().map(assignment_view).collect()))
}

/// Assign a pack to the tenant or one repository (admins). The pack must be built in or the
/// tenant's own.
#[utoipa::path(put, path = "/v1/policy-assignments", tag = "policies", operation_id = "policies_assign", request_body = AssignBody,
    responses((status = 200, body = AssignmentView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn assign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<AssignBody>,
) -> ApiResult<Json<AssignmentView>> {
    caller.require(&[Role::Admin], "assigning a policy pack")?;
    let pack = match builtin_reference(&body.pack) {
        Some(b) => b,
        None => {
            check_id(&body.pack)?;
            if state.db.pack(caller.tenant(), &body.pack).await?.is_none() {
                return Err(Problem::unprocessable(format!(
                    "no policy pack `{}` in this tenant",
                    body.pack
                )));
            }
            body.pack
        }
    };
    let scope = body.repository.unwrap_or_default();
    if scope.len() > 400 {
        return Err(Problem::unprocessable("repository name too long"));
    }
    let a = Assignment {
        scope,
        pack,
        assigned_at: cavra_tenant_store::Timestamp::now(),
        assigned_by: caller.subject().to_string(),
    };
    state.db.assign(caller.tenant(), &a).await?;
    state.forget_assignments(caller.tenant());
    Ok(Json(assignment_view(a)))
}
