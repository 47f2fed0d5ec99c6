//! The registry: agents and MCP servers of a tenant. Anyone in the tenant reads; admins write.

use cavra_tenant_store::Configuration;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cavra_identity::Role;
use cavra_tenant_store::{RegistryKind, RegistryRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::check_id;
use crate::auth::Caller;
use crate::problem::{ApiResult, Problem};

/// An MCP server's registry record: the engine's own entry, so the service decides MCP tool
/// calls exactly as the CLI, the hook and the MCP proxy do. Its `name` is the path's.
pub type McpServerRecord = cavra_engine::registry::McpServerEntry;

/// An agent's registry record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRecord {
    /// What agent (claude-code, codex, cursor, …).
    pub kind: String,
    /// Who owns it.
    pub owner: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it may act (a disabled agent's tokens still authenticate; policies may use it).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A registry record as returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryView {
    /// `agent` or `mcp_server`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The record.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
    /// Last change.
    #[schema(value_type = String)]
    pub updated_at: cavra_tenant_store::Timestamp,
    /// By whom.
    pub updated_by: String,
}

impl From<RegistryRecord> for RegistryView {
    fn from(r: RegistryRecord) -> Self {
        RegistryView {
            kind: r.kind.as_str().into(),
            name: r.name,
            record: r.record,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

fn kind(path: &str) -> ApiResult<RegistryKind> {
    match path {
        "agents" => Ok(RegistryKind::Agent),
        "mcp-servers" => Ok(RegistryKind::McpServer),
        _ => Err(Problem::not_found("registry (use agents or mcp-servers)")),
    }
}

/// List registry records of one kind (`agents` or `mcp-servers`).
#[utoipa::path(get, path = "/v1/registry/{kind}", tag = "registry", operation_id = "registry_list",
    params(("kind" = String, Path, description = "agents or mcp-servers")),
    responses((status = 200, body = Vec<RegistryView>), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(k): Path<String>,
) -> ApiResult<Json<Vec<RegistryView>>> {
    let k = kind(&k)?;
    let rows = state.db.registry(caller.tenant(), k).await?;
    Ok(Json(rows.into_iter().map(RegistryView::from).collect()))
}

/// One registry record.
#[utoipa::path(get, path = "/v1/registry/{kind}/{name}", tag = "registry", operation_id = "registry_get_one",
    params(("kind" = String, Path, description = "agents or mcp-servers"), ("name" = String, Path, description = "name")),
    responses((status = 200, body = RegistryView), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((k, name)): Path<(String, String)>,
) -> ApiResult<Json<RegistryView>> {
    let k = kind(&k)?;
    check_id(&name)?;
    state
        .db
        .registry_entry(caller.tenant(), k, &name)
        .await?
        .map(|r| Json(r.into()))
        .ok_or_else(|| Problem::not_found("registry record"))
}

/// Create or replace a registry record (admins). The body is an `McpServerRecord` or an
/// `AgentRecord`, checked strictly.
#[utoipa::path(put, path = "/v1/registry/{kind}/{name}", tag = "registry", operation_id = "registry_put_one",
    params(("kind" = String, Path, description = "agents or mcp-servers"), ("name" = String, Path, description = "name")),
    request_body = Object,
    responses((status = 200, body = RegistryView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((k, name)): Path<(String, String)>,
    crate::problem::Body(body): crate::problem::Body<serde_json::Value>,
) -> ApiResult<Json<RegistryView>> {
    caller.require(&[Role::Admin], "changing the registry")?;
    let k = kind(&k)?;
    check_id(&name)?;
    let record = match k {
        RegistryKind::McpServer => {
            let mut body = body;
            if let Some(obj) = body.as_object_mut() {
                match obj.get("name") {
                    Some(n) if n.as_str() != Some(name.as_str()) => {
                        return Err(Problem::unprocessable(
                            "the record's name differs from the name in the path",
                        ));
                    }
                    _ => {
                        obj.insert("name".into(), serde_json::json!(name));
                    }
                }
            }
            serde_json::to_value(
                serde_json::from_value::<McpServerRecord>(body)
                    .map_err(|e| Problem::unprocessable(format!("MCP server record: {e}")))?,
            )
        }
        RegistryKind::Agent => serde_json::to_value(
            serde_json::from_value::<AgentRecord>(body)
                .map_err(|e| Problem::unprocessable(format!("agent record: {e}")))?,
        ),
    }
    .map_err(Problem::internal)?;
    // A limit counts records: replacing one is not creating one.
    let limit = match k {
        RegistryKind::Agent => cavra_tenant_store::entitlement::LIMIT_AGENTS,
        RegistryKind::McpServer => cavra_tenant_store::entitlement::LIMIT_MCP_SERVERS,
    };
    if caller.entitlement().entitlement().limit(limit).is_some()
        && state
            .db
            .registry_entry(caller.tenant(), k, &name)
            .await?
            .is_none()
    {
        let held = state.db.registry(caller.tenant(), k).await?.len();
        caller.entitlement().check_limit(limit, held)?;
    }
    let r = RegistryRecord {
        kind: k,
        name,
        record,
        updated_at: cavra_tenant_store::Timestamp::now(),
        updated_by: caller.subject().to_string(),
    };
    state.db.put_registry(caller.tenant(), &r).await?;
    Ok(Json(r.into()))
}

/// Delete a registry record (admins).
#[utoipa::path(delete, path = "/v1/registry/{kind}/{name}", tag = "registry", operation_id = "registry_delete_one",
    params(("kind" = String, Path, description = "agents or mcp-servers"), ("name" = String, Path, description = "name")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((k, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(&[Role::Admin], "changing the registry")?;
    let k = kind(&k)?;
    check_id(&name)?;
    if state.db.delete_registry(caller.tenant(), k, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("registry record"))
    }
}
