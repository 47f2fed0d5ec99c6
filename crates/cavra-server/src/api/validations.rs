//! `POST /v1/validations`: records a signed validation report in the caller's evidence log —
//! a tenant isolation report (`cavra validate tenants`) or a runtime validation report
//! (`cavra validate runtime`). The signature must verify against the service's trust root;
//! the tenant is the caller's (a tenant isolation report about another tenant is refused),
//! never the body's. The readiness gate reads these entries (`tenants.isolation_validation`,
//! `runtime.validation`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use cavra_identity::Role;
use cavra_tenant_store::Outbox as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest as _;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiResult, Body, Problem};

/// The evidence entry kind of a recorded validation.
pub const ENTRY_KIND: &str = "validation";
/// A recorded tenant isolation validation's `validation` field.
pub const TENANT_ISOLATION: &str = "tenant_isolation";
/// A recorded runtime validation's `validation` field.
pub const RUNTIME: &str = "runtime";

/// A signed report to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// The report file's text: a signed envelope.
    pub report: String,
}

/// What was recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recorded {
    /// `tenant_isolation` or `runtime`.
    pub validation: String,
    /// Whether the report says passed.
    pub passed: bool,
    /// The signing key's id.
    pub key_id: String,
    /// The entry's index in the tenant's log.
    pub log_index: u64,
}

/// Record a signed validation report (admins) as an evidence entry of the caller's tenant.
#[utoipa::path(post, path = "/v1/validations", tag = "tenants", operation_id = "validations_record", request_body = RecordBody,
    responses((status = 200, body = Recorded), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn record(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body<RecordBody>,
) -> ApiResult<Json<Recorded>> {
    caller.require(&[Role::Admin], "recording a validation")?;
    let trust = state.trust.as_ref().ok_or_else(|| {
        Problem::unprocessable("the service has no trust root to verify reports against")
    })?;
    let tenant = caller.tenant();
    let (validation, passed, key_id, signed_at) = match crate::validation::report::verify(
        &body.report,
        trust,
    ) {
        Ok(v) => {
            if v.report.tenant != tenant {
                return Err(Problem::unprocessable(
                    "the report is about another tenant than the caller's",
                ));
            }
            (
                TENANT_ISOLATION,
                v.report.passed,
                v.key_id,
                v.report.signed_at,
            )
        }
        Err(tenant_error) => match cavra_validate::report::verify(&body.report, trust, None) {
            Ok(v) => (RUNTIME, v.report.passed(), v.key_id, v.report.signed_at),
            Err(runtime_error) => {
                return Err(Problem::unprocessable(format!(
                    "not a verified validation report (as a tenant report: {tenant_error}; as a runtime report: {runtime_error})"
                )));
            }
        },
    };
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(body.report.as_bytes()))
    );
    let entry = json!({
        "validation": validation,
        "passed": passed,
        "key_id": key_id,
        "signed_at": signed_at,
        "report_digest": digest,
        "recorded_by": caller.subject(),
    });
    let log_index = state
        .db
        .append_entry(
            tenant,
            ENTRY_KIND,
            Some(&digest),
            cavra_store::Timestamp::now(),
            entry,
        )
        .await?;
    Ok(Json(Recorded {
        validation: validation.into(),
        passed,
        key_id,
        log_index,
    }))
}
