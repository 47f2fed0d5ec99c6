//! The production readiness gate (`cavra readiness`, docs/operations.md): validators, each
//! looking at one thing a tenant or the service needs before production, each reporting what
//! stands in the way as a [`Blocker`] with the validator that found it and the fix.

use std::collections::BTreeMap;

use cavra_evidence::trust::{KeyStatus, TrustRoot};
use cavra_tenant_store::outbox::{DeliveryFilter, DeliveryState};
use cavra_tenant_store::{ApprovalState, Approvals, Db, Outbox, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The format of a readiness report.
pub const FORMAT: &str = "cavra-readiness/v1";

/// Dead-lettered connector deliveries of a tenant.
pub const DEAD_LETTERS: &str = "connectors.dead_letters";
/// Approvals still pending or granted past their expiry (the expiry sweep is not running).
pub const APPROVALS_PAST_EXPIRY: &str = "approvals.past_expiry";
/// Trusted keys whose validity ends within [`KEY_WARNING_DAYS`].
pub const KEYS_EXPIRING: &str = "keys.expiring";

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

/// Runs every validator for `tenants` (and, with `trust`, the service's trusted keys) at
/// `now`; each listing is read up to `limit` rows.
pub async fn check(
    db: &Db,
    tenants: &[String],
    trust: Option<&TrustRoot>,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Readiness, StoreError> {
    let at = crate::format_time(now);
    let mut blockers = Vec::new();
    for tenant in tenants {
        blockers.extend(dead_letters(db, tenant, limit).await?);
        blockers.extend(approvals_past_expiry(db, tenant, &at, limit).await?);
    }
    let mut validators = vec![DEAD_LETTERS.to_string(), APPROVALS_PAST_EXPIRY.to_string()];
    if let Some(trust) = trust {
        blockers.extend(keys_expiring(trust, now));
        validators.push(KEYS_EXPIRING.into());
    }
    Ok(Readiness {
        format: FORMAT.into(),
        checked_at: at,
        tenants: tenants.to_vec(),
        validators,
        blockers,
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
    check(db, &tenants, trust.as_ref(), now, config.limits.list_items)
        .await
        .map_err(other)
}
