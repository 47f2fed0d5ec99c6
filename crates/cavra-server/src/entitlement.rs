//! Tenants' entitlements on the service (docs/operations.md): every authenticated request of a
//! tenant passes its [`Gate`], read with the tenant's row and cached beside it; a suspended or
//! expired tenant's requests are refused with a machine-readable reason, except reads by its
//! auditors; features gate their routes; limits refuse creating records beyond them.

use std::sync::Arc;

use axum::http::Method;
use cavra_identity::{Principal, Role};
use cavra_tenant_store::{Entitlement, EntitlementStatus};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::problem::Problem;

/// A tenant's entitlement as a request checks it: the expiry read once, when it was cached,
/// not on every request.
#[derive(Debug)]
pub struct Gate {
    tenant: String,
    entitlement: Entitlement,
    /// The expiry as a time; one that does not read counts as passed (fail closed).
    expiry: Option<OffsetDateTime>,
}

impl Gate {
    /// The gate of `tenant`'s `entitlement`.
    pub fn new(tenant: &str, entitlement: Entitlement) -> Arc<Gate> {
        let expiry = entitlement
            .expiry()
            .unwrap_or(Some(OffsetDateTime::UNIX_EPOCH));
        Arc::new(Gate {
            tenant: tenant.to_string(),
            entitlement,
            expiry,
        })
    }

    /// The entitlement.
    pub fn entitlement(&self) -> &Entitlement {
        &self.entitlement
    }

    /// Admits a request of `principal` by `method`: any request while the tenant is active;
    /// while it is suspended or expired, only reads (GET, HEAD) by its auditors, everything
    /// else refused with 403 and the reason (`tenant-suspended`, `tenant-expired`).
    pub fn admit(&self, method: &Method, principal: &Principal) -> Result<(), Problem> {
        // The common case reads no clock.
        if self.entitlement.status == EntitlementStatus::Active && self.expiry.is_none() {
            return Ok(());
        }
        let status = self
            .entitlement
            .status
            .at(self.expiry, OffsetDateTime::now_utc());
        let Some(reason) = status.refusal() else {
            return Ok(());
        };
        if (method == Method::GET || method == Method::HEAD) && principal.has_role(Role::Auditor) {
            return Ok(());
        }
        let (title, why) = match status {
            EntitlementStatus::Expired => ("Tenant expired", "its entitlement has expired"),
            _ => ("Tenant suspended", "it is suspended"),
        };
        Err(Problem::refused(
            reason,
            title,
            format!(
                "{reason}: tenant `{}` cannot act: {why} (a platform admin restores it with \
                 `cavra tenant entitle {} --status active`); its auditors can still read",
                self.tenant, self.tenant
            ),
        ))
    }

    /// Refuses unless the tenant's entitlement includes `feature` (403, `feature-not-entitled`).
    pub fn require_feature(&self, feature: &str) -> Result<(), Problem> {
        if self.entitlement.allows(feature) {
            return Ok(());
        }
        Err(Problem::refused(
            "feature-not-entitled",
            "Feature not entitled",
            format!(
                "feature-not-entitled: tenant `{}` is not entitled to {feature}",
                self.tenant
            ),
        ))
    }

    /// Refuses creating one more record of `kind` when the tenant holds `held` already and
    /// its limit is reached (403, `limit-reached`). Checked before the write: creations racing
    /// each other on several replicas can overshoot by as many as run at once.
    pub fn check_limit(&self, kind: &str, held: usize) -> Result<(), Problem> {
        match self.entitlement.limit(kind) {
            Some(limit) if held as u64 >= limit => Err(Problem::refused(
                "limit-reached",
                "Limit reached",
                format!(
                    "limit-reached: tenant `{}` holds {held} {kind} of its limit of {limit}",
                    self.tenant
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A tenant's entitlement as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct EntitlementView {
    /// The tenant.
    pub tenant: String,
    /// The entitlement as stored.
    #[serde(flatten)]
    pub entitlement: Entitlement,
    /// The status in force now (an active tenant past its expiry is expired).
    pub in_force: EntitlementStatus,
    /// Why its requests are refused now (`tenant-suspended`, `tenant-expired`); none: they
    /// are not.
    pub refusal: Option<String>,
}

impl EntitlementView {
    /// The view of `tenant`'s `entitlement` at `now`.
    pub fn new(tenant: &str, entitlement: Entitlement, now: OffsetDateTime) -> EntitlementView {
        let in_force = entitlement.status_at(now);
        EntitlementView {
            tenant: tenant.to_string(),
            entitlement,
            in_force,
            refusal: in_force.refusal().map(str::to_string),
        }
    }

    /// The view in words (what `cavra tenant entitlement` prints).
    pub fn describe(&self) -> String {
        let e = &self.entitlement;
        let features = match &e.features {
            None => "all".to_string(),
            Some(f) if f.is_empty() => "none".to_string(),
            Some(f) => f.iter().cloned().collect::<Vec<_>>().join(", "),
        };
        let limits = if e.limits.is_empty() {
            "none".to_string()
        } else {
            e.limits
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "tenant {}: {} (in force: {})\nexpires: {}\nfeatures: {features}\nlimits: {limits}",
            self.tenant,
            e.status.as_str(),
            self.in_force.as_str(),
            e.expires_at.as_deref().unwrap_or("never"),
        );
        if let Some(reason) = &self.refusal {
            text.push_str(&format!(
                "\nrefused: {reason} (only its auditors' reads are answered)"
            ));
        }
        text
    }
}

/// Refuses an entitlement that cannot be stored for `tenant`: unknown features or limits, an
/// expiry that is not a time, or the operator tenant made anything but active without expiry
/// (its admins manage every tenant, this one's entitlement included: nobody could undo it).
pub fn check(operator_tenant: &str, tenant: &str, e: &Entitlement) -> Result<(), String> {
    e.check()?;
    if tenant == operator_tenant
        && (e.status != EntitlementStatus::Active || e.expires_at.is_some())
    {
        return Err(format!(
            "the operator tenant `{tenant}` stays active without expiry: its admins manage every tenant's entitlement"
        ));
    }
    Ok(())
}
