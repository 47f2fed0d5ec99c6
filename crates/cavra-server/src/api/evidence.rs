//! Evidence: entry search, the log head, and inclusion proofs in the same file format as
//! `cavra evidence prove` (checked offline with `cavra evidence check-proof`).

use cavra_tenant_store::Evidence;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use cavra_evidence::canonical::to_canonical;
use cavra_tenant_store::{CheckpointRecord, EntryQuery, EntryRecord, LogHead};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{Params, query_time};
use crate::auth::Caller;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now_text};

/// Filters for evidence entries (oldest first).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntryParams {
    /// Only this kind: decision, approval, registry, policy_assignment.
    pub kind: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only entries about this decision or approval id.
    pub ref_id: Option<String>,
    /// At or after this time.
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// Only entries after this index (paging).
    pub after: Option<u64>,
    /// At most this many (default 100, at most `limits.list_items`, 1000 by default).
    pub limit: Option<usize>,
}

/// Search the tenant's evidence entries.
#[utoipa::path(get, path = "/v1/evidence/entries", tag = "evidence", operation_id = "evidence_entries", params(EntryParams),
    responses((status = 200, body = Vec<EntryRecord>), (status = 400, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn entries(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<EntryParams>,
) -> ApiResult<Json<Vec<EntryRecord>>> {
    // Indexes are stored as signed 64-bit numbers: nothing comes after one past them (the
    // stores would otherwise read it as negative, so as "from the start").
    if q.after.is_some_and(|a| a >= i64::MAX as u64) {
        query_time("since", q.since)?;
        query_time("until", q.until)?;
        return Ok(Json(Vec::new()));
    }
    let query = EntryQuery {
        kind: q.kind,
        session_id: q.session_id,
        ref_id: q.ref_id,
        since: query_time("since", q.since)?,
        until: query_time("until", q.until)?,
        after_index: q.after,
        limit: state.config.limits.page(q.limit),
    };
    let rows = state.db.entries(caller.tenant(), &query).await?;
    Ok(Json(rows))
}

/// The tenant log's head and newest checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeadView {
    /// Log id.
    pub log_id: Option<String>,
    /// Entries.
    pub size: u64,
    /// Hex tree head.
    pub root_hash: Option<String>,
    /// The newest signed checkpoint (DSSE envelope JSON).
    pub checkpoint: Option<String>,
    /// The key that signs checkpoints and bundles.
    pub key_id: String,
    /// Its public key (PEM), to add to a verifier's trust root after checking its fingerprint
    /// out of band.
    pub public_key: String,
    /// The public key's fingerprint.
    pub fingerprint: String,
}

/// The head of the tenant's evidence log.
#[utoipa::path(get, path = "/v1/evidence/head", tag = "evidence", operation_id = "evidence_head",
    responses((status = 200, body = HeadView)),
    security(("bearer" = [])))]
pub async fn head(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<HeadView>> {
    let head: Option<LogHead> = state.db.log_head(caller.tenant()).await?;
    let cp = state.db.latest_checkpoint(caller.tenant()).await?;
    Ok(Json(HeadView {
        log_id: head.as_ref().map(|h| h.log_id.clone()),
        size: head.as_ref().map(|h| h.size).unwrap_or(0),
        root_hash: head.map(|h| h.root_hash),
        checkpoint: cp.map(|c| c.envelope),
        key_id: state.signing_key_id.clone(),
        public_key: cavra_evidence::keys::public_key_to_pem(&state.signer.key.verifying_key())
            .map_err(Problem::internal)?,
        fingerprint: cavra_evidence::trust::fingerprint(&state.signer.key.verifying_key()),
    }))
}

/// An inclusion proof (`cavra-inclusion-proof/v1`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProofView {
    /// Always `cavra-inclusion-proof/v1`.
    pub format: String,
    /// The entry's index.
    pub index: u64,
    /// The entry's canonical JSON.
    pub entry: String,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: String,
    /// The proof's hashes (hex).
    pub hashes: Vec<String>,
}

/// An inclusion proof of one entry against a signed checkpoint of the tenant's log.
#[utoipa::path(get, path = "/v1/evidence/entries/{index}/proof", tag = "evidence", operation_id = "evidence_proof",
    params(("index" = u64, Path, description = "entry index")),
    responses((status = 200, body = ProofView), (status = 400, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn proof(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(index): Path<String>,
) -> ApiResult<Json<ProofView>> {
    let index: u64 = index
        .parse()
        .map_err(|_| Problem::bad_request("the entry index must be a whole number"))?;
    let tenant = caller.tenant();
    let head = state.db.log_head(tenant).await?;
    if head.as_ref().is_none_or(|h| index >= h.size) {
        return Err(Problem::not_found("evidence entry"));
    }
    let mut cp: Option<CheckpointRecord> = state.db.latest_checkpoint(tenant).await?;
    if cp.as_ref().is_none_or(|c| c.tree_size <= index) {
        cp = state.db.checkpoint_now(tenant, &now_text()).await?;
    }
    let cp = cp.ok_or_else(|| Problem::not_found("evidence entry"))?;
    let log_id = head.map(|h| h.log_id).unwrap_or_default();
    let hashes = state
        .subtrees
        .proof(&state.db, tenant, &log_id, index, cp.tree_size)
        .await?;
    let entry = state
        .db
        .entries(
            tenant,
            &EntryQuery {
                after_index: index.checked_sub(1),
                limit: 1,
                ..EntryQuery::default()
            },
        )
        .await?
        .into_iter()
        .find(|e| e.index == index)
        .ok_or_else(|| Problem::not_found("evidence entry"))?;
    Ok(Json(ProofView {
        format: "cavra-inclusion-proof/v1".into(),
        index,
        entry: to_canonical(&entry.entry),
        checkpoint: cp.envelope,
        hashes: hashes.iter().map(hex::encode).collect(),
    }))
}

/// Which entries a bundle holds.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BundleParams {
    /// Only this session.
    pub session_id: Option<String>,
    /// At or after this time.
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// Days the bundle must be kept (default 365).
    pub retention_days: Option<u32>,
}

/// A signed evidence bundle of the tenant's log (a tar archive of the folder
/// `cavra evidence verify` checks).
#[utoipa::path(get, path = "/v1/evidence/bundle", tag = "evidence", operation_id = "evidence_bundle", params(BundleParams),
    responses((status = 200, description = "tar archive holding bundle/", body = Vec<u8>, content_type = "application/x-tar"),
              (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn bundle(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Params(q): Params<BundleParams>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    caller
        .entitlement()
        .require_feature(cavra_tenant_store::entitlement::FEATURE_EVIDENCE_BUNDLE)?;
    let selection = cavra_bundle::Selection {
        session_id: q.session_id,
        since: query_time("since", q.since)?,
        until: query_time("until", q.until)?,
    };
    crate::bundle::check_selection_size(
        &state.db,
        caller.tenant(),
        &selection,
        state.config.limits.bundle_entries,
    )
    .await?;
    // A bundle is written to a temporary folder and streamed from there (memory stays at a
    // page of entries and a few chunks), but each costs a blocking thread, disk and database
    // reads for as long as its client takes: only so many at once, the rest told when to retry.
    let permit = state
        .bundles
        .clone()
        .try_acquire_owned()
        .map_err(|_| Problem::too_many(5, "the bundles the service assembles at once"))?;
    let log = crate::bundle::TenantLog::open(
        state.clone(),
        caller.tenant(),
        &now_text(),
        state.config.limits.bundle_entries,
    )
    .await?;
    let signer = state.signer.clone();
    let days = q.retention_days.unwrap_or(365).clamp(1, 36500);
    let dir = tokio::task::spawn_blocking(move || {
        crate::bundle::write_bundle(log, selection, &signer, days)
    })
    .await
    .map_err(Problem::internal)??;
    let chunks = crate::bundle::stream_tar(dir, move || drop(permit));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-tar"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"cavra-evidence-bundle.tar\"",
            ),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}
