//! Unauthenticated operational routes: liveness, readiness, metrics and the OpenAPI document.

use cavra_tenant_store::{Approvals, TenantStore};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::problem::Problem;

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "operations_healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The schema version.
    pub schema_version: i64,
    /// The checkpoint signing key.
    pub signing_key: String,
}

/// The database answers, its migrations are current and the signing key is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "operations_readyz",
    responses((status = 200, body = Ready), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Ready>, Problem> {
    let r = state
        .db
        .readiness()
        .await
        .map_err(|e| Problem::unavailable(format!("the database does not answer: {e}")))?;
    if !r.migrations_current {
        return Err(Problem::unavailable(format!(
            "the database schema is at version {}, this service needs {}",
            r.schema_version,
            cavra_tenant_store::SCHEMA_VERSION
        )));
    }
    Ok(Json(Ready {
        status: "ready".into(),
        database: state.db.backend().into(),
        schema_version: r.schema_version,
        signing_key: state.signing_key_id.clone(),
    }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "operations_metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let queue = match state.db.queue_depths().await {
        Ok(q) => q
            .into_iter()
            .map(|d| (d.tenant, d.approver_group, d.pending))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut text = state.metrics.render(&queue);
    text.push_str(
        "# HELP cavra_proof_leaves_read_total Leaf hashes read from the database to build proofs (stored subtree hashes spare the rest).\n",
    );
    text.push_str("# TYPE cavra_proof_leaves_read_total counter\n");
    text.push_str(&format!(
        "cavra_proof_leaves_read_total {}\n",
        state.subtrees.leaves_read()
    ));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "operations_openapi",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
}
