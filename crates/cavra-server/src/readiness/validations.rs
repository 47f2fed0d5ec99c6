//! The validators that look for recent passing validations and for trust-root drift:
//! `tenants.isolation_validation` and `runtime.validation` read the signed reports recorded
//! in the tenant's log (`POST /v1/validations`), `trust_root.drift` compares the trust root in
//! use with the distributed trust package and the replicas' (`cavra trust status`).

use cavra_evidence::trust::TrustRoot;
use cavra_release::drift::{self, Side};
use cavra_tenant_store::{Db, EntryQuery, Evidence as _, StoreError};
use time::OffsetDateTime;

use super::Blocker;
use crate::api::validations::{ENTRY_KIND, RUNTIME, TENANT_ISOLATION};

/// A tenant without a passing tenant isolation validation within
/// `readiness.validation_max_age_days`.
pub const ISOLATION_VALIDATION: &str = "tenants.isolation_validation";
/// A tenant without a passing runtime validation within `readiness.validation_max_age_days`.
pub const RUNTIME_VALIDATION: &str = "runtime.validation";
/// The trust root in use differs from the distributed trust package's or a replica's.
pub const TRUST_ROOT_DRIFT: &str = "trust_root.drift";

/// Blockers for a tenant whose log holds no passing validation of each kind recorded since
/// `max_age_days` before `now`.
pub async fn recent_validations(
    db: &Db,
    tenant: &str,
    now: OffsetDateTime,
    max_age_days: u32,
    limit: usize,
) -> Result<Vec<Blocker>, StoreError> {
    // Past the years the stores hold, nothing is too old.
    let since =
        cavra_tenant_store::Timestamp::at(now - time::Duration::days(i64::from(max_age_days)));
    let entries = db
        .entries(
            tenant,
            &EntryQuery {
                kind: Some(ENTRY_KIND.into()),
                since: since.ok(),
                limit,
                ..EntryQuery::default()
            },
        )
        .await?;
    let passed = |which: &str| {
        entries.iter().any(|e| {
            let body = e.entry.get("body").unwrap_or(&e.entry);
            let field = |k: &str| body.get(k).or_else(|| e.entry.get(k));
            field("validation").and_then(|v| v.as_str()) == Some(which)
                && field("passed").and_then(|v| v.as_bool()) == Some(true)
        })
    };
    let mut out = Vec::new();
    if !passed(TENANT_ISOLATION) {
        out.push(Blocker {
            validator: ISOLATION_VALIDATION.into(),
            tenant: Some(tenant.to_string()),
            count: 1,
            problem: format!("no passing tenant isolation validation in the last {max_age_days} day(s)"),
            fix: "run `cavra validate tenants --server URL --probe-a A --probe-b B --sign-key K` with this tenant as a probe; it records its signed report (POST /v1/validations)".into(),
        });
    }
    if !passed(RUNTIME) {
        out.push(Blocker {
            validator: RUNTIME_VALIDATION.into(),
            tenant: Some(tenant.to_string()),
            count: 1,
            problem: format!("no passing runtime validation in the last {max_age_days} day(s)"),
            fix: "run `cavra validate runtime` where the tenant's agents run and record its signed report (POST /v1/validations with {\"report\": <report.json>})".into(),
        });
    }
    Ok(out)
}

/// One blocker per side whose trust root differs from the one in use (`in_use` none: the
/// service checks no signatures, so there is nothing to drift from unless a side has one).
pub fn trust_drift(in_use: Option<&TrustRoot>, sides: &[Side]) -> Vec<Blocker> {
    let empty = TrustRoot::default();
    let status = drift::compare(in_use.unwrap_or(&empty), sides);
    let mut by_side = std::collections::BTreeMap::<&str, Vec<String>>::new();
    for f in &status.drift {
        by_side
            .entry(f.side.as_str())
            .or_default()
            .push(format!("{} {:?}: {}", f.key_id, f.kind, f.detail));
    }
    by_side
        .into_iter()
        .map(|(side, findings)| Blocker {
            validator: TRUST_ROOT_DRIFT.into(),
            tenant: None,
            count: findings.len(),
            problem: format!("{side} disagrees with the trust root in use: {}", findings.join("; ")),
            fix: "distribute one trust root: rebuild the trust package (`cavra trust package`) or restart the replicas with the same trust_root; check with `cavra trust status`".into(),
        })
        .collect()
}

/// The distributed trust package named by `readiness.trust_package`, as a drift side; a
/// package that cannot be opened is itself a blocker.
pub fn package_side(
    package: &std::path::Path,
    in_use: Option<&TrustRoot>,
    trust_path: Option<&std::path::Path>,
) -> Result<Side, Blocker> {
    let name = format!("package {}", package.display());
    let fail = |why: String| {
        Blocker {
        validator: TRUST_ROOT_DRIFT.into(),
        tenant: None,
        count: 1,
        problem: format!("{name}: {why}"),
        fix: "point readiness.trust_package at the trust package distributed to the clients, signed by a key of the trust root in use".into(),
    }
    };
    let (Some(in_use), Some(path)) = (in_use, trust_path) else {
        return Err(fail("the service has no trust root to open it with".into()));
    };
    drift::package_trust_root(package, None, in_use, path)
        .map(|root| Side {
            name: name.clone(),
            root: Some(root),
        })
        .map_err(|e| fail(e.to_string()))
}
