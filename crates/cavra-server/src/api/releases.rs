//! Release and rollback records (`cavra release record | rollback --server`) and the trust
//! root this replica uses (`cavra trust status --server`).
//!
//! A record is checked against the service's trust root before anything is written; it then
//! becomes an entry of the tenant's evidence log and, in the same transaction, an outbox event
//! (`release.recorded`, `release.rolled_back`) that the tenant's connectors deliver.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cavra_identity::Role;
use cavra_release::record::{self, Record};
use cavra_tenant_store::Outbox;
use cavra_tenant_store::outbox::NewEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiResult, Body, Problem};

/// A signed record to keep.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// The record file's text: a DSSE envelope of an in-toto release or rollback statement.
    pub record: String,
}

/// What the service kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseKept {
    /// `release.recorded` or `release.rolled_back`.
    pub event_type: String,
    /// The outbox event.
    pub event_id: String,
    /// The evidence entry that keeps the record.
    pub log_index: Option<u64>,
    /// The key that signed the record.
    pub signed_by: String,
}

/// Record a signed release or rollback: checked against the service's trust root, kept in the
/// tenant's evidence log and delivered by its connectors.
#[utoipa::path(post, path = "/v1/releases", tag = "releases", operation_id = "releases_record",
    request_body = ReleaseBody,
    responses((status = 201, body = ReleaseKept), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn record(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<ReleaseBody>,
) -> ApiResult<(StatusCode, Json<ReleaseKept>)> {
    caller.require(&[Role::Admin], "recording releases")?;
    let trust = state.trust.as_ref().ok_or_else(|| {
        Problem::conflict(
            "the service has no trust root (trust_root) to check release records against",
        )
    })?;
    let verified = record::verify(&body.record, trust, &[])
        .map_err(|e| Problem::unprocessable(format!("the record does not verify: {e}")))?;
    let digest = cavra_release::sha256_hex(body.record.as_bytes());
    let artifacts: Vec<Value> = verified
        .subjects
        .iter()
        .map(|s| json!({"name": s.name, "sha256": s.digest.get("sha256")}))
        .collect();
    let (kind, entry_kind, ref_id, payload) = match &verified.record {
        Record::Release(p) => (
            "release.recorded",
            "release",
            p.version.clone(),
            json!({
                "version": p.version, "commit": p.commit, "commits": p.commits.len(),
                "unchecked": p.unchecked, "artifacts": artifacts,
                "signed_by": verified.signed_by, "signed_at": p.signed_at,
                "record_sha256": digest, "recorded_by": caller.subject(),
            }),
        ),
        Record::Rollback(p) => (
            "release.rolled_back",
            "rollback",
            format!("{}->{}", p.from, p.to),
            json!({
                "from": p.from, "to": p.to, "reason": p.reason, "actor": p.actor,
                "artifacts": artifacts, "signed_by": verified.signed_by,
                "signed_at": p.signed_at, "record_sha256": digest,
                "recorded_by": caller.subject(),
            }),
        ),
    };
    let event = NewEvent::new(
        kind,
        Some(ref_id),
        cavra_store::Timestamp::now(),
        payload.clone(),
    );
    let event_id = event.id.clone();
    let mut entry = payload;
    entry["event_id"] = json!(event_id);
    entry["record"] = json!(body.record);
    let log_index = state
        .db
        .enqueue_event(caller.tenant(), event, Some((entry_kind.into(), entry)))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ReleaseKept {
            event_type: kind.into(),
            event_id,
            log_index,
            signed_by: verified.signed_by,
        }),
    ))
}

/// The trust root this replica uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustReport {
    /// The trust root (`cavra-trust-root/v1`), or null when the service uses none.
    #[schema(value_type = Option<Object>)]
    pub trust_root: Option<Value>,
    /// `sha256:` of its keys in canonical order (equal digests: equal trust).
    pub digest: Option<String>,
}

/// The trust root this replica checks signatures against, to compare for drift.
#[utoipa::path(get, path = "/v1/trust", tag = "releases", operation_id = "trust_get",
    responses((status = 200, body = TrustReport), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn trust(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<TrustReport> {
    Json(TrustReport {
        trust_root: state
            .trust
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok()),
        digest: state.trust.as_ref().map(cavra_release::drift::digest),
    })
}
