//! Step 2, activation readiness: the production readiness gate for the first tenants,
//! recorded. The gate's result is the record's readiness result, with the digests of the
//! configuration it checked, so the record verifies only while no blocker is open
//! (`blockers_open` otherwise) and `cavra readiness verify --server` could tell it stale.

use std::collections::BTreeMap;
use std::path::Path;

use cavra_server::readiness::Readiness;
use serde_json::json;

use crate::{Record, ReviewError, Service, Step, Written};

/// Where the gate runs.
pub enum Source<'a> {
    /// The API service, once per first tenant's token (`GET /v1/readiness`: the token's tenant).
    Service(&'a [Service]),
    /// The service's database, read directly, for these tenants.
    Database {
        /// The service's configuration.
        config: &'a cavra_server::ServerConfig,
        /// The first tenants.
        tenants: &'a [String],
    },
}

/// Runs the gate for the first tenants and writes the signed record to `output`.
pub fn run(
    source: &Source<'_>,
    signer: &cavra_runtime::keyfiles::LogSigner,
    output: &Path,
) -> Result<Written, ReviewError> {
    let results = gather(source)?;
    let readiness = merge(results);
    let problems: Vec<String> = readiness
        .blockers
        .iter()
        .map(|b| {
            format!(
                "{} ({}): {}",
                b.validator,
                b.tenant.as_deref().unwrap_or("service"),
                b.problem
            )
        })
        .collect();
    let mut per_tenant: BTreeMap<&str, usize> = readiness
        .tenants
        .iter()
        .map(|t| (t.as_str(), 0usize))
        .collect();
    for b in &readiness.blockers {
        if let Some(n) = b.tenant.as_deref().and_then(|t| per_tenant.get_mut(t)) {
            *n += 1;
        }
    }
    let body = json!({
        "checked_at": readiness.checked_at,
        "validators": readiness.validators,
        "blockers_by_tenant": per_tenant,
        "blockers": readiness.blockers.len(),
    });
    let mut record = Record::new(Step::Activation, problems, body);
    record.tenants = readiness.tenants.clone();
    crate::write_record(output, signer, Some(readiness), &record, Vec::new())
}

fn gather(source: &Source<'_>) -> Result<Vec<Readiness>, ReviewError> {
    match source {
        Source::Service(services) => {
            if services.is_empty() {
                return Err(ReviewError::Usage("no tenant to activate".into()));
            }
            services
                .iter()
                .map(|s| s.read("/v1/readiness", "readiness report"))
                .collect()
        }
        Source::Database { config, tenants } => {
            if tenants.is_empty() {
                return Err(ReviewError::Usage(
                    "name the first tenants with --tenant".into(),
                ));
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ReviewError::Service(e.to_string()))?;
            rt.block_on(async {
                let db = cavra_server::admin::open_existing(config)
                    .await
                    .map_err(|e| ReviewError::Service(e.to_string()))?;
                let now = time::OffsetDateTime::now_utc();
                let mut out = Vec::new();
                for t in tenants.iter() {
                    let r = cavra_server::readiness::check_database(&db, config, Some(t), now)
                        .await
                        .map_err(|e| ReviewError::Service(e.to_string()))?;
                    out.push(r);
                }
                Ok(out)
            })
        }
    }
}

/// One result of several runs: every tenant, validator, blocker and digest (a service-wide
/// blocker found by several runs counts once).
pub fn merge(results: Vec<Readiness>) -> Readiness {
    let mut all = Readiness {
        format: cavra_server::readiness::FORMAT.into(),
        checked_at: cavra_server::now_text(),
        tenants: Vec::new(),
        validators: Vec::new(),
        blockers: Vec::new(),
        digests: BTreeMap::new(),
    };
    for r in results {
        for t in r.tenants {
            if !all.tenants.contains(&t) {
                all.tenants.push(t);
            }
        }
        for v in r.validators {
            if !all.validators.contains(&v) {
                all.validators.push(v);
            }
        }
        for b in r.blockers {
            if !all.blockers.contains(&b) {
                all.blockers.push(b);
            }
        }
        all.digests.extend(r.digests);
    }
    all
}
