//! The production readiness gate (`cavra readiness`, docs/operations.md): validators, each
//! looking at one thing a tenant or the service needs before production, each reporting what
//! stands in the way as a [`Blocker`] with the validator that found it and the fix.
//!
//! A run also records digests of the configuration it checked ([`Readiness::digests`]): a
//! readiness packet signed from it is then tied to that configuration, and `cavra readiness
//! verify --server` finds it stale once a connector, a pack or the trust root has changed.

mod config;
pub mod log;
pub mod validations;

use std::collections::BTreeMap;

use cavra_connectors::ConnectorsConfig;
use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::trust::{KeyStatus, TrustRoot};
use cavra_policy::Mode;
use cavra_tenant_store::outbox::{DeliveryFilter, DeliveryState};
use cavra_tenant_store::{ApprovalState, Approvals, Configuration, Db, Outbox, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

pub use config::ReadinessConfig;
pub use validations::{ISOLATION_VALIDATION, RUNTIME_VALIDATION, TRUST_ROOT_DRIFT};

/// The format of a readiness report.
pub const FORMAT: &str = "cavra-readiness/v1";

/// Dead-lettered connector deliveries of a tenant.
pub const DEAD_LETTERS: &str = "connectors.dead_letters";
/// Approvals still pending or granted past their expiry (the expiry sweep is not running).
pub const APPROVALS_PAST_EXPIRY: &str = "approvals.past_expiry";
/// Trusted keys whose validity ends within [`KEY_WARNING_DAYS`].
pub const KEYS_EXPIRING: &str = "keys.expiring";

/// Packs assigned unsigned while they decide in enforce (or strict) mode.
pub const PACKS_UNSIGNED_ENFORCE: &str = "packs.unsigned_enforce";
/// The evidence log does not verify (leaf hashes, gaps, tree head, checkpoint root).
pub const EVIDENCE_VERIFY: &str = "evidence.verify";
/// Fewer registered agents seen deciding than `readiness.hook_coverage_floor`.
pub const HOOK_COVERAGE_FLOOR: &str = "hook_coverage.floor";

/// The digest key of the trust root the service checks signatures against.
pub const TRUST_ROOT_DIGEST: &str = "trust_root";

/// How far ahead a key's end counts as a blocker.
pub const KEY_WARNING_DAYS: i64 = 30;

/// What stands in the way, who found it, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Blocker {
    /// The validator that found it (e.g. `connectors.dead_letters`).
    pub validator: String,
    /// The tenant it is about; none: the whole service.
    pub tenant: Option<String>,
    /// How many things it stands for (dead letters, approvals, keys).
    pub count: usize,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// A run of the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always [`FORMAT`].
    pub format: String,
    /// When it ran (RFC 3339).
    pub checked_at: String,
    /// The tenants checked.
    pub tenants: Vec<String>,
    /// The validators run.
    pub validators: Vec<String>,
    /// What stands in the way; empty: ready.
    pub blockers: Vec<Blocker>,
    /// `sha256:<hex>` of the canonical JSON of each piece of configuration checked:
    /// `tenant/<id>/packs`, `tenant/<id>/connectors` and `trust_root`.
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
}

/// Errors of a run of the gate.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    /// The store could not be read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Something read could not be put in canonical form.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl From<ReadinessError> for crate::problem::Problem {
    fn from(e: ReadinessError) -> Self {
        match e {
            ReadinessError::Store(s) => s.into(),
            ReadinessError::Json(j) => crate::problem::Problem::internal(j),
        }
    }
}

/// What one run checks.
pub struct Gate<'a> {
    /// The tenants.
    pub tenants: &'a [String],
    /// The service's trust root, when it has one (its keys are checked; its digest recorded).
    pub trust: Option<&'a TrustRoot>,
    /// The service's connectors (each tenant's are digested).
    pub connectors: &'a ConnectorsConfig,
    /// The gate's settings.
    pub settings: &'a ReadinessConfig,
    /// Inventory settings: hook coverage counts an imported inventory's agents when there is one.
    pub inventory: &'a crate::inventory::InventoryConfig,
    /// When.
    pub now: OffsetDateTime,
    /// Listings are read up to this many rows.
    pub limit: usize,
    /// Where the trust root in use was read from (to open the trust package with).
    pub trust_path: Option<&'a std::path::Path>,
    /// Other trust roots to compare with the one in use (`trust_root.drift`): replicas'
    /// (`cavra readiness --replica`); the trust package of `readiness.trust_package` is added.
    pub drift_sides: Vec<cavra_release::drift::Side>,
}

impl<'a> Gate<'a> {
    /// The gate for `tenants` with the service's own configuration and trust root.
    pub fn of_service(
        state: &'a crate::AppState,
        tenants: &'a [String],
        now: OffsetDateTime,
    ) -> Self {
        Gate {
            tenants,
            trust: state.trust.as_ref(),
            connectors: &state.config.connectors,
            settings: &state.config.readiness,
            inventory: &state.config.inventory,
            now,
            limit: state.config.limits.list_items,
            trust_path: state.config.trust_root.as_deref(),
            drift_sides: Vec::new(),
        }
    }
}

/// `sha256:<hex>` of the canonical JSON of `value`.
pub fn digest_of<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(to_canonical_bytes(&v)))
    ))
}

/// The digest key of a tenant's packs (`tenant/<id>/packs`).
pub fn packs_key(tenant: &str) -> String {
    format!("tenant/{tenant}/packs")
}

/// The digest key of a tenant's connectors (`tenant/<id>/connectors`).
pub fn connectors_key(tenant: &str) -> String {
    format!("tenant/{tenant}/connectors")
}

impl Readiness {
    /// Whether nothing stands in the way.
    pub fn ready(&self) -> bool {
        self.blockers.is_empty()
    }

    /// The report in words: one paragraph per blocker, then the verdict.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for b in &self.blockers {
            let whose = b
                .tenant
                .as_deref()
                .map_or(String::new(), |t| format!(" [{t}]"));
            out.push_str(&format!(
                "BLOCKER {}{whose}: {}\n  fix: {}\n",
                b.validator, b.problem, b.fix
            ));
        }
        out.push_str(&if self.ready() {
            format!(
                "ready: {} validator(s), {} tenant(s), no blockers\n",
                self.validators.len(),
                self.tenants.len()
            )
        } else {
            format!("not ready: {} blocker(s)\n", self.blockers.len())
        });
        out
    }
}

/// The dead letters of `tenant` (counted up to `limit`), one blocker per connector.
pub async fn dead_letters(db: &Db, tenant: &str, limit: usize) -> Result<Vec<Blocker>, StoreError> {
    let dead = db
        .deliveries(
            tenant,
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                limit,
                ..Default::default()
            },
        )
        .await?;
    let mut by_connector = BTreeMap::<&str, usize>::new();
    for d in &dead {
        *by_connector.entry(d.destination.as_str()).or_default() += 1;
    }
    Ok(by_connector
        .into_iter()
        .map(|(name, n)| Blocker {
            validator: DEAD_LETTERS.into(),
            tenant: Some(tenant.to_string()),
            count: n,
            problem: format!("connector {name}: {n} dead letter(s)"),
            fix: "see `cavra connector dead-letters`, fix the destination, retry with `cavra connector retry`".into(),
        })
        .collect())
}

/// Approvals of `tenant` still pending or granted after their expiry at `now` (RFC 3339 in
/// the store's form): the service's expiry sweep did not run.
pub async fn approvals_past_expiry(
    db: &Db,
    tenant: &str,
    now: &str,
    limit: usize,
) -> Result<Vec<Blocker>, StoreError> {
    let mut overdue = 0usize;
    for state in [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::BreakGlass,
    ] {
        overdue += db
            .approvals(tenant, Some(state), limit)
            .await?
            .iter()
            .filter(|a| a.expires_at.to_string().as_str() <= now)
            .count();
    }
    Ok((overdue > 0)
        .then(|| Blocker {
            validator: APPROVALS_PAST_EXPIRY.into(),
            tenant: Some(tenant.to_string()),
            count: overdue,
            problem: format!("{overdue} approval(s) past their expiry are still open or granted"),
            fix: "check that `cavra serve` runs (it expires them every `expiry_sweep_seconds`), or expire them now with `POST /v1/approvals/expire`".into(),
        })
        .into_iter()
        .collect())
}

/// Active keys of `trust` whose validity ends within [`KEY_WARNING_DAYS`] of `now` (or has
/// ended): signatures made after that are refused.
pub fn keys_expiring(trust: &TrustRoot, now: OffsetDateTime) -> Vec<Blocker> {
    let horizon = now + time::Duration::days(KEY_WARNING_DAYS);
    trust
        .keys
        .iter()
        .filter(|k| k.status == KeyStatus::Active)
        .filter_map(|k| {
            let until = k.valid_until.as_deref()?;
            let end = OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            (end <= horizon).then(|| Blocker {
                validator: KEYS_EXPIRING.into(),
                tenant: None,
                count: 1,
                problem: format!(
                    "trusted key {} ({}) is valid until {until}, within {KEY_WARNING_DAYS} days",
                    k.key_id, k.owner
                ),
                fix: "generate a successor (`cavra keys generate`), add it (`cavra trust add`), re-sign with it, and distribute the trust root".into(),
            })
        })
        .collect()
}

/// The packs of `tenant` as the digest covers them: each scope's assignment, and each
/// uploaded pack's digest, id and whether it is signed (not upload times: re-uploading the same
/// pack changes nothing that was checked).
async fn packs_view(db: &Db, tenant: &str) -> Result<serde_json::Value, StoreError> {
    let mut assigned: Vec<(String, String)> = db
        .assignments(tenant)
        .await?
        .into_iter()
        .map(|a| (a.scope, a.pack))
        .collect();
    assigned.sort();
    let mut packs: Vec<(String, String, bool)> = db
        .packs(tenant)
        .await?
        .into_iter()
        .map(|p| (p.digest, p.pack_id, p.signed_by.is_some()))
        .collect();
    packs.sort();
    Ok(serde_json::json!({ "assignments": assigned, "packs": packs }))
}

/// Assigned packs of `tenant` that are unsigned and decide in enforce or strict mode: what
/// they block or gate rests on a document no trusted key vouches for.
pub async fn packs_unsigned_enforce(db: &Db, tenant: &str) -> Result<Vec<Blocker>, StoreError> {
    let packs = db.packs(tenant).await?;
    let mut scopes = Vec::new();
    for a in db.assignments(tenant).await? {
        if a.pack.starts_with(crate::packs::BUILTIN) {
            // Built-in packs ship inside the signed release.
            continue;
        }
        let Some(p) = packs.iter().find(|p| p.digest == a.pack) else {
            continue;
        };
        if p.signed_by.is_some() {
            continue;
        }
        // A document that no longer parses decides nothing; the default mode is enforce.
        let mode = cavra_policy::parse_document(&p.document, &p.digest)
            .map(|d| d.metadata.mode.unwrap_or_default())
            .unwrap_or(Mode::AuditOnly);
        if matches!(mode, Mode::Enforce | Mode::Strict) {
            let scope = if a.scope.is_empty() {
                "(whole tenant)".to_string()
            } else {
                a.scope
            };
            scopes.push(format!("{scope}: {} ({mode})", p.pack_id));
        }
    }
    Ok((!scopes.is_empty())
        .then(|| Blocker {
            validator: PACKS_UNSIGNED_ENFORCE.into(),
            tenant: Some(tenant.to_string()),
            count: scopes.len(),
            problem: format!("unsigned pack(s) decide in enforce mode: {}", scopes.join(", ")),
            fix: "sign each pack (`cavra policy sign`) with a key of the trust root and upload it again, then assign the signed upload".into(),
        })
        .into_iter()
        .collect())
}

/// `evidence.verify` and `hook_coverage.floor` for `tenant`, from one read of its log. With
/// an imported inventory, hook coverage counts its agents (not stale) instead of the
/// registry's.
pub async fn log_validators(
    db: &Db,
    tenant: &str,
    floor: f64,
    inventory: &crate::inventory::InventoryConfig,
) -> Result<Vec<Blocker>, StoreError> {
    let mut reading = log::read_log(db, tenant).await?;
    crate::inventory::apply_to_posture(db, tenant, inventory, &mut reading.posture, None, None)
        .await?;
    let mut out = Vec::new();
    if !reading.problems.is_empty() {
        out.push(Blocker {
            validator: EVIDENCE_VERIFY.into(),
            tenant: Some(tenant.to_string()),
            count: reading.problems.len(),
            problem: format!(
                "the evidence log ({} entries) does not verify: {}",
                reading.entries,
                reading.problems.join("; ")
            ),
            fix: "stop writes, restore the log from backup or a verified bundle (`cavra evidence verify`), and find what changed the database outside cavra".into(),
        });
    }
    out.extend(hook_coverage(&reading.posture.hook_coverage, tenant, floor));
    Ok(out)
}

/// The hook coverage of a posture against `floor`; no registered agents: nothing to judge.
pub fn hook_coverage(h: &cavra_aispm::HookCoverage, tenant: &str, floor: f64) -> Option<Blocker> {
    if h.inventory == 0 {
        return None;
    }
    let share = h.seen as f64 / h.inventory as f64;
    (share < floor).then(|| Blocker {
        validator: HOOK_COVERAGE_FLOOR.into(),
        tenant: Some(tenant.to_string()),
        count: usize::try_from(h.inventory - h.seen.min(h.inventory)).unwrap_or(usize::MAX),
        problem: format!(
            "{} of {} {} seen deciding ({:.0}%), under the floor of {:.0}%{}",
            h.seen,
            h.inventory,
            match h.inventory_version {
                Some(v) => format!("agent(s) of the imported inventory (version {v})"),
                None => "registered agent(s)".into(),
            },
            share * 100.0,
            floor * 100.0,
            if h.unseen.is_empty() { String::new() } else { format!("; never seen: {}", h.unseen.join(", ")) }
        ),
        fix: "install cavra's hooks where those agents run (`cavra init <agent>`, `cavra doctor`), or disable agents that are retired in the registry".into(),
    })
}

/// Runs every validator of `gate`, and records the digests of what it checked.
pub async fn check(db: &Db, gate: &Gate<'_>) -> Result<Readiness, ReadinessError> {
    let at = crate::format_time(gate.now);
    let mut blockers = Vec::new();
    let mut digests = BTreeMap::new();
    for tenant in gate.tenants {
        blockers.extend(dead_letters(db, tenant, gate.limit).await?);
        blockers.extend(approvals_past_expiry(db, tenant, &at, gate.limit).await?);
        blockers.extend(packs_unsigned_enforce(db, tenant).await?);
        blockers.extend(
            log_validators(
                db,
                tenant,
                gate.settings.hook_coverage_floor,
                gate.inventory,
            )
            .await?,
        );
        let days = gate.settings.validation_max_age_days;
        if gate.settings.require_validations {
            blockers.extend(
                validations::recent_validations(db, tenant, gate.now, days, gate.limit).await?,
            );
        }
        digests.insert(
            packs_key(tenant),
            digest_of(&packs_view(db, tenant).await?)?,
        );
        let connectors: Vec<_> = gate
            .connectors
            .0
            .iter()
            .filter(|c| &c.tenant == tenant)
            .collect();
        digests.insert(connectors_key(tenant), digest_of(&connectors)?);
    }
    let mut validators: Vec<String> = [
        DEAD_LETTERS,
        APPROVALS_PAST_EXPIRY,
        PACKS_UNSIGNED_ENFORCE,
        EVIDENCE_VERIFY,
        HOOK_COVERAGE_FLOOR,
    ]
    .map(String::from)
    .to_vec();
    if gate.settings.require_validations {
        validators.extend([ISOLATION_VALIDATION.into(), RUNTIME_VALIDATION.into()]);
    }
    let mut sides = gate.drift_sides.clone();
    if let Some(package) = &gate.settings.trust_package {
        match validations::package_side(package, gate.trust, gate.trust_path) {
            Ok(side) => sides.push(side),
            Err(blocker) => blockers.push(blocker),
        }
    }
    if !sides.is_empty() || gate.settings.trust_package.is_some() {
        blockers.extend(validations::trust_drift(gate.trust, &sides));
        validators.push(TRUST_ROOT_DRIFT.into());
    }
    if let Some(trust) = gate.trust {
        blockers.extend(keys_expiring(trust, gate.now));
        validators.push(KEYS_EXPIRING.into());
    }
    // No trust root is digested too (as null): adding one later makes a packet stale.
    digests.insert(TRUST_ROOT_DIGEST.into(), digest_of(&gate.trust)?);
    Ok(Readiness {
        format: FORMAT.into(),
        checked_at: at,
        tenants: gate.tenants.to_vec(),
        validators,
        blockers,
        digests,
    })
}

/// The gate as `cavra readiness` runs it on the service's database: every tenant (or `tenant`,
/// which must exist) and the trust root the service's configuration names.
pub async fn check_database(
    db: &Db,
    config: &crate::ServerConfig,
    tenant: Option<&str>,
    now: OffsetDateTime,
) -> Result<Readiness, crate::admin::AdminError> {
    check_database_with(db, config, tenant, now, Vec::new()).await
}

/// [`check_database`], comparing the trust root in use with `replicas`' too
/// (`cavra readiness --replica URL`, each read from its `GET /v1/trust`).
pub async fn check_database_with(
    db: &Db,
    config: &crate::ServerConfig,
    tenant: Option<&str>,
    now: OffsetDateTime,
    replicas: Vec<cavra_release::drift::Side>,
) -> Result<Readiness, crate::admin::AdminError> {
    use crate::admin::AdminError;
    use cavra_tenant_store::Directory as _;
    let other = |e: StoreError| AdminError::Other(e.to_string());
    let tenants = match tenant {
        Some(t) => {
            db.tenant(t)
                .await
                .map_err(other)?
                .ok_or_else(|| AdminError::Usage(format!("no tenant `{t}`")))?;
            vec![t.to_string()]
        }
        None => db
            .tenants()
            .await
            .map_err(other)?
            .into_iter()
            .map(|t| t.id)
            .collect(),
    };
    let trust = config
        .trust_root
        .as_ref()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|error| AdminError::Read {
                path: path.clone(),
                error,
            })?;
            TrustRoot::from_json(&text)
                .map_err(|e| AdminError::Usage(format!("{}: {e}", path.display())))
        })
        .transpose()?;
    let gate = Gate {
        tenants: &tenants,
        trust: trust.as_ref(),
        connectors: &config.connectors,
        settings: &config.readiness,
        inventory: &config.inventory,
        now,
        limit: config.limits.list_items,
        trust_path: config.trust_root.as_deref(),
        drift_sides: replicas,
    };
    check(db, &gate)
        .await
        .map_err(|e| AdminError::Other(e.to_string()))
}
