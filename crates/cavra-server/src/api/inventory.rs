//! A tenant's inventory: imports (admins), the current or an earlier version's items with
//! keyset pagination, the versions, and the coverage findings. Anyone in the tenant reads.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cavra_identity::Role;
use cavra_tenant_store::inventory_source::SourceFormat;
use cavra_tenant_store::{Inventory, InventoryItem, InventoryVersion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::Params;
use crate::auth::Caller;
use crate::inventory::coverage::{Coverage, Judging, coverage};
use crate::inventory::{ImportSource, InventoryError, import};
use crate::problem::{ApiResult, Problem};

/// An import: a source's text and where it came from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Where it came from (a file name or URL), recorded with the version.
    pub source: String,
    /// How to read `content`.
    pub format: SourceFormat,
    /// The HTTP source's ETag, sent as If-None-Match by the next import from it.
    #[serde(default)]
    pub etag: Option<String>,
    /// The source's text (JSON, CSV or osquery results), at most `inventory.max_bytes`.
    pub content: String,
}

/// A version stored, and its tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportView {
    /// The tenant.
    pub tenant: String,
    /// The version the import became.
    pub inventory: InventoryVersion,
}

/// Import an inventory (admins): a new version, with an evidence entry (`inventory`: its
/// digest, counts and source). A source that does not read is refused with 422 naming the
/// line (and column).
#[utoipa::path(post, path = "/v1/inventory", tag = "inventory", operation_id = "inventory_import",
    request_body = ImportRequest,
    responses((status = 201, body = ImportView), (status = 403, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn import_one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    crate::problem::Body(req): crate::problem::Body<ImportRequest>,
) -> ApiResult<(StatusCode, Json<ImportView>)> {
    caller.require(&[Role::Admin], "importing an inventory")?;
    if req.source.is_empty() || req.source.len() > 2048 || req.source.chars().any(char::is_control)
    {
        return Err(Problem::unprocessable(
            "`source`: 1-2048 printable characters",
        ));
    }
    let limits = state.config.inventory.limits();
    let version = import(
        &state.db,
        caller.tenant(),
        caller.subject(),
        cavra_store::Timestamp::now(),
        ImportSource {
            source: &req.source,
            format: req.format,
            bytes: req.content.as_bytes(),
            etag: req.etag.filter(|e| !e.is_empty() && e.len() <= 512),
        },
        &limits,
    )
    .await
    .map_err(|e| match e {
        InventoryError::Store(s) => Problem::from(s),
        InventoryError::Source(cavra_tenant_store::inventory_source::SourceError::TooLarge {
            ..
        }) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Inventory too large",
            e.to_string(),
        ),
        other => Problem::unprocessable(other.to_string()),
    })?;
    Ok((
        StatusCode::CREATED,
        Json(ImportView {
            tenant: caller.tenant().to_string(),
            inventory: version,
        }),
    ))
}

/// Which items to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// A version (default: the current one).
    pub version: Option<u64>,
    /// Only this kind (endpoint, repository, ci_runner, agent, mcp_server).
    pub kind: Option<String>,
    /// Items after this id (the previous page's `next`).
    pub after: Option<String>,
    /// At most this many (default 100, at most `limits.list_items`).
    pub limit: Option<usize>,
}

/// A page of an inventory version's items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InventoryPage {
    /// The tenant.
    pub tenant: String,
    /// The version listed (None: the tenant has no inventory).
    pub inventory: Option<InventoryVersion>,
    /// Its items, by id.
    pub items: Vec<InventoryItem>,
    /// Pass as `after` for the next page (None: this was the last).
    pub next: Option<String>,
}

/// The current inventory (or an earlier version), a page at a time.
#[utoipa::path(get, path = "/v1/inventory", tag = "inventory", operation_id = "inventory_get",
    params(ItemQuery),
    responses((status = 200, body = InventoryPage), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<ItemQuery>,
) -> ApiResult<Json<InventoryPage>> {
    let tenant = caller.tenant();
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            cavra_tenant_store::InventoryKind::parse(k)
                .ok_or_else(|| Problem::bad_request(format!("`kind` {k} is not an inventory kind")))
        })
        .transpose()?;
    let limit = q
        .limit
        .unwrap_or(100)
        .clamp(1, state.config.limits.list_items.max(1));
    let version = state.db.inventory_version(tenant, q.version).await?;
    let Some(version) = version else {
        if q.version.is_some() {
            return Err(Problem::not_found("inventory version"));
        }
        return Ok(Json(InventoryPage {
            tenant: tenant.to_string(),
            inventory: None,
            items: Vec::new(),
            next: None,
        }));
    };
    // A kind filter reads on past items of other kinds, a bounded number of pages.
    let mut items = Vec::new();
    let mut after = q.after.clone();
    let mut next = None;
    for _ in 0..64 {
        let page = state
            .db
            .inventory_items(tenant, version.version, after.as_deref(), limit)
            .await?;
        let full = page.len() == limit;
        let last = page.last().map(|i| i.id.clone());
        for item in page {
            if items.len() < limit && kind.is_none_or(|k| item.kind == k) {
                next = Some(item.id.clone());
                items.push(item);
            }
        }
        if !full {
            next = None;
            break;
        }
        if items.len() >= limit {
            break;
        }
        after = last.clone();
        next = last;
    }
    Ok(Json(InventoryPage {
        tenant: tenant.to_string(),
        inventory: Some(version),
        items,
        next,
    }))
}

/// The tenant's inventory versions, newest first (at most `limits.list_items`).
#[utoipa::path(get, path = "/v1/inventory/versions", tag = "inventory", operation_id = "inventory_versions",
    responses((status = 200, body = Vec<InventoryVersion>)),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<InventoryVersion>>> {
    Ok(Json(
        state
            .db
            .inventory_versions(caller.tenant(), state.config.limits.list_items)
            .await?,
    ))
}

/// The coverage findings of the current inventory: endpoints and repositories reporting
/// decisions, agents without hooks, MCP servers configured but unregistered, stale items.
#[utoipa::path(get, path = "/v1/inventory/coverage", tag = "inventory", operation_id = "inventory_coverage",
    responses((status = 200, body = Coverage), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn coverage_of(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Coverage>> {
    let judging = Judging {
        now: time::OffsetDateTime::now_utc(),
        stale_after_days: state.config.inventory.stale_after_days,
        list_max: state.config.limits.list_items,
        since: None,
        until: None,
    };
    coverage(&state.db, caller.tenant(), judging)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("inventory (none imported yet)"))
}
