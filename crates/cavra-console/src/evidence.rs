//! Evidence: the tenant's log (size, tree head, latest signed checkpoint and whether its
//! signature holds), the newest entries, and evidence bundles: downloaded through the API's
//! own handler, or assembled and verified here with the same verifier as
//! `cavra evidence verify-bundle`, the result shown check by check.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::api::Params;
use cavra_server::api::evidence::BundleParams;
use cavra_tenant_store::{EntryQuery, Evidence};
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::session::Signed;
use crate::{Console, PREFIX};

/// Entries shown.
pub const NEWEST: u64 = 20;

/// The service's log key as a trust root (what its checkpoints and bundles are signed with).
pub fn service_trust(console: &Console) -> Result<TrustRoot, String> {
    let mut trust = TrustRoot::default();
    trust
        .add(
            KeyRecord::new(
                console.state.signing_key_id.clone(),
                "this service",
                &console.state.signer.key.verifying_key(),
                time::OffsetDateTime::UNIX_EPOCH,
                None,
            )
            .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    Ok(trust)
}

/// A bundle's selection, from the page's form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct BundleForm {
    /// One agent session.
    pub session: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// `1`: assemble and verify it here.
    pub verify: Option<String>,
}

impl BundleForm {
    fn params(&self) -> BundleParams {
        let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        BundleParams {
            session_id: given(&self.session),
            since: given(&self.since),
            until: given(&self.until),
            retention_days: None,
        }
    }
}

/// `GET /console/evidence` (with `verify=1`, also a bundle's verification).
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<BundleForm>,
) -> Response {
    let tenant = signed.caller.tenant();
    let db = &console.state.db;
    let head = match db.log_head(tenant).await {
        Ok(h) => h,
        Err(e) => return layout::store_error(e),
    };
    let checkpoint = db.latest_checkpoint(tenant).await.ok().flatten();
    let trust = service_trust(&console);
    let signature = match (&checkpoint, &trust) {
        (Some(cp), Ok(trust)) => Some(
            Envelope::from_json(&cp.envelope)
                .map_err(|e| e.to_string())
                .and_then(|env| Checkpoint::open(&env, trust).map_err(|e| e.to_string())),
        ),
        _ => None,
    };
    let size = head.as_ref().map_or(0, |h| h.size);
    let newest = db
        .entries(
            tenant,
            &EntryQuery {
                after_index: size.checked_sub(NEWEST + 1),
                limit: NEWEST as usize,
                ..EntryQuery::default()
            },
        )
        .await
        .unwrap_or_default();
    let verified = if form.verify.as_deref() == Some("1") {
        Some(verify_bundle(&console, &signed, &form).await)
    } else {
        None
    };
    let key = console.state.signer.key.verifying_key();
    let body = html! {
        h1 { "Evidence" }
        h2 { "The log" }
        dl.facts {
            dt { "Log id" } dd { code { (head.as_ref().map_or("—", |h| h.log_id.as_str())) } }
            dt { "Entries" } dd { (size) }
            dt { "Tree head" } dd { code { (head.as_ref().map_or("—", |h| h.root_hash.as_str())) } }
            dt { "Signing key" } dd { code { (console.state.signing_key_id) } " · fingerprint " code { (cavra_evidence::trust::fingerprint(&key)) } }
        }
        h2 { "Latest checkpoint" }
        @match (&checkpoint, &signature) {
            (Some(cp), Some(Ok((_, by)))) => {
                p.notice role="status" { "Signature verified with key " code { (by.key_id) } "." }
                (checkpoint_facts(cp))
            }
            (Some(cp), Some(Err(e))) => {
                p.error role="alert" { "The checkpoint's signature does NOT verify: " (e) }
                (checkpoint_facts(cp))
            }
            _ => p.muted { "No checkpoint yet (one is signed with the first proof or bundle)." }
        }
        details {
            summary { "The log's public key (PEM)" }
            pre { (cavra_evidence::keys::public_key_to_pem(&key).unwrap_or_default()) }
        }
        h2 { "Newest entries" }
        table {
            thead { tr { th scope="col" { "Index" } th scope="col" { "Kind" } th scope="col" { "Time" } th scope="col" { "Refers to" } th scope="col" { "Leaf hash" } } }
            tbody {
                @if newest.is_empty() { tr { td colspan="5" { "No entries yet." } } }
                @for e in newest.iter().rev() {
                    tr {
                        td.num { (e.index) }
                        td { (e.kind) }
                        td { (e.timestamp) }
                        td {
                            @match (&e.ref_id, e.kind.as_str()) {
                                (Some(r), "decision") => a href={ (PREFIX) "/decisions/" (r) } { code { (r) } },
                                (Some(r), _) => code { (r) },
                                (None, _) => "—",
                            }
                        }
                        td { code { (e.leaf_hash.get(..16).unwrap_or(&e.leaf_hash)) "…" } }
                    }
                }
            }
        }
        h2 #bundles { "Evidence bundles" }
        p { "A bundle holds the selected entries, the packs that decided them, a signed checkpoint and the proofs that tie them together; " code { "cavra evidence verify-bundle" } " checks it offline." }
        form.filters method="get" action={ (PREFIX) "/evidence" } aria-label="Select a bundle" {
            div { label for="b-session" { "Session" } input #b-session name="session" value=(form.session.as_deref().unwrap_or("")); }
            div { label for="b-since" { "Since" } input #b-since name="since" value=(form.since.as_deref().unwrap_or("")) placeholder="2026-01-31T09:00:00Z"; }
            div { label for="b-until" { "Until" } input #b-until name="until" value=(form.until.as_deref().unwrap_or("")) placeholder="2026-02-01T00:00:00Z"; }
            button type="submit" name="verify" value="1" { "Assemble and verify" }
            button.secondary type="submit" formaction={ (PREFIX) "/evidence/bundle" } { "Download" }
        }
        @if let Some(v) = &verified { (v) }
    };
    layout::page(&signed, Section::Evidence, "Evidence", body)
}

fn checkpoint_facts(cp: &cavra_tenant_store::CheckpointRecord) -> Markup {
    html! {
        dl.facts {
            dt { "Tree size" } dd { (cp.tree_size) }
            dt { "Root hash" } dd { code { (cp.root_hash) } }
            dt { "Signed at" } dd { (cp.timestamp) }
            dt { "Key" } dd { code { (cp.key_id) } }
        }
    }
}

/// Assembles the selected bundle exactly as the API's bundle route does (entitlement, size
/// bound, the same writer) and verifies it with the service's key.
async fn verify_bundle(console: &Arc<Console>, signed: &Signed, form: &BundleForm) -> Markup {
    let state = console.state.clone();
    let caller = &signed.caller;
    let result: Result<cavra_bundle::VerifyReport, String> = async {
        caller
            .entitlement()
            .require_feature(cavra_tenant_store::entitlement::FEATURE_EVIDENCE_BUNDLE)
            .map_err(|p| p.detail)?;
        let p = form.params();
        let selection = cavra_bundle::Selection {
            session_id: p.session_id,
            since: cavra_server::api::query_time("since", p.since).map_err(|p| p.detail)?,
            until: cavra_server::api::query_time("until", p.until).map_err(|p| p.detail)?,
        };
        let max = state.config.limits.bundle_entries;
        cavra_server::bundle::check_selection_size(&state.db, caller.tenant(), &selection, max)
            .await
            .map_err(|p| p.detail)?;
        let permit = state.bundles.clone().try_acquire_owned().map_err(|_| {
            "the service is assembling as many bundles as it may; try again in a few seconds"
                .to_string()
        })?;
        let log = cavra_server::bundle::TenantLog::open(
            state.clone(),
            caller.tenant(),
            &cavra_server::now_text(),
            max,
        )
        .await
        .map_err(|p| p.detail)?;
        let trust = service_trust(console)?;
        let signer = state.signer.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let dir = cavra_server::bundle::write_bundle(log, selection, &signer, 365)
                .map_err(|p| p.detail)?;
            Ok(cavra_bundle::verify_bundle(
                &dir.path().join("bundle"),
                &trust,
                &cavra_bundle::VerifyOptions::default(),
            ))
        })
        .await
        .map_err(|e| e.to_string())?
    }
    .await;
    html! {
        section aria-labelledby="verify-h" {
            h3 #verify-h { "Verification of the selected bundle" }
            @match &result {
                Err(e) => p.error role="alert" { "No bundle: " (e) },
                Ok(report) => {
                    @if report.ok() {
                        p.notice role="status" { "Verified: " (report.entries) " entries, checkpoint of " (report.tree_size.unwrap_or(0)) " entries, signed by " code { (report.signed_by.as_deref().unwrap_or("—")) } "." }
                    } @else {
                        p.error role="alert" { "NOT verified: " (report.failures.join("; ")) }
                    }
                    table {
                        thead { tr { th scope="col" { "Check" } th scope="col" { "Result" } th scope="col" { "Detail" } } }
                        tbody {
                            @for c in &report.checks {
                                tr { td { (c.name) } td { (badge(if c.ok { "ok" } else { "fail" })) } td { (c.detail) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/evidence/bundle`: the bundle as the API's own handler streams it.
pub async fn bundle(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(form): Query<BundleForm>,
) -> Response {
    match cavra_server::api::evidence::bundle(
        State(console.state.clone()),
        signed.caller.clone(),
        Params(form.params()),
    )
    .await
    {
        Ok(resp) => resp,
        Err(p) => layout::error_page(
            StatusCode::from_u16(p.status).ok(),
            &format!("no bundle: {}", p.detail),
        )
        .into_response(),
    }
}
