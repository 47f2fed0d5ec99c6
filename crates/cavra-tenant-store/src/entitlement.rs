//! A tenant's entitlement: whether it may act at all (its status and expiry), which optional
//! features it may use, and how many of the things it creates it may hold. Stored in the
//! tenant's row (migration 5), read with it, and checked by the service on every request.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The features an entitlement can grant or withhold, each gating the routes named in
/// docs/operations.md.
pub const FEATURES: &[&str] = &[FEATURE_BREAK_GLASS, FEATURE_EVIDENCE_BUNDLE];
/// `POST /v1/approvals/{id}/break-glass`.
pub const FEATURE_BREAK_GLASS: &str = "break_glass";
/// `GET /v1/evidence/bundle`.
pub const FEATURE_EVIDENCE_BUNDLE: &str = "evidence_bundle";

/// The limits an entitlement can set, each on the number of records of one kind a tenant holds.
pub const LIMITS: &[&str] = &[LIMIT_AGENTS, LIMIT_MCP_SERVERS, LIMIT_POLICY_PACKS];
/// Agents in the registry.
pub const LIMIT_AGENTS: &str = "agents";
/// MCP servers in the registry.
pub const LIMIT_MCP_SERVERS: &str = "mcp_servers";
/// Uploaded policy packs.
pub const LIMIT_POLICY_PACKS: &str = "policy_packs";

/// Whether a tenant may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntitlementStatus {
    /// It acts as usual.
    Active,
    /// A platform admin stopped it: nothing acts; its auditors still read.
    Suspended,
    /// Its entitlement ran out (set so, or past `expires_at`): as suspended.
    Expired,
}

impl EntitlementStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            EntitlementStatus::Active => "active",
            EntitlementStatus::Suspended => "suspended",
            EntitlementStatus::Expired => "expired",
        }
    }

    /// The status a stored word names.
    pub fn parse(word: &str) -> Option<EntitlementStatus> {
        match word {
            "active" => Some(EntitlementStatus::Active),
            "suspended" => Some(EntitlementStatus::Suspended),
            "expired" => Some(EntitlementStatus::Expired),
            _ => None,
        }
    }

    /// The machine-readable reason a tenant in this status is refused (None: active).
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            EntitlementStatus::Active => None,
            EntitlementStatus::Suspended => Some("tenant-suspended"),
            EntitlementStatus::Expired => Some("tenant-expired"),
        }
    }

    /// The status in force at `now` for this stored status and expiry: an active tenant at or
    /// past its expiry is expired.
    pub fn at(self, expiry: Option<OffsetDateTime>, now: OffsetDateTime) -> EntitlementStatus {
        match (self, expiry) {
            (EntitlementStatus::Active, Some(end)) if now >= end => EntitlementStatus::Expired,
            (status, _) => status,
        }
    }
}

/// A tenant's entitlement. The default (what every tenant created before entitlements has)
/// is active, without expiry, with every feature and no limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entitlement {
    /// Whether the tenant may act.
    pub status: EntitlementStatus,
    /// When an active tenant's entitlement runs out (RFC 3339); none: never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The features it may use (of [`FEATURES`]); none: every feature.
    #[serde(default)]
    pub features: Option<BTreeSet<String>>,
    /// How many records of each kind (of [`LIMITS`]) it may hold; a kind not named: no limit.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
}

impl Default for Entitlement {
    fn default() -> Self {
        Entitlement {
            status: EntitlementStatus::Active,
            expires_at: None,
            features: None,
            limits: BTreeMap::new(),
        }
    }
}

impl Entitlement {
    /// Refuses an entitlement naming a feature or limit this cavra does not know, or an
    /// expiry that is not an RFC 3339 time (each would otherwise be silently meaningless).
    pub fn check(&self) -> Result<(), String> {
        if let Some(unknown) = self
            .features
            .iter()
            .flatten()
            .find(|f| !FEATURES.contains(&f.as_str()))
        {
            return Err(format!(
                "unknown feature `{unknown}` (features: {})",
                FEATURES.join(", ")
            ));
        }
        if let Some(unknown) = self.limits.keys().find(|l| !LIMITS.contains(&l.as_str())) {
            return Err(format!(
                "unknown limit `{unknown}` (limits: {})",
                LIMITS.join(", ")
            ));
        }
        self.expiry().map(|_| ())
    }

    /// The expiry as a time (None: never).
    pub fn expiry(&self) -> Result<Option<OffsetDateTime>, String> {
        self.expires_at
            .as_deref()
            .map(|at| {
                OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| format!("expires_at `{at}` is not an RFC 3339 time: {e}"))
            })
            .transpose()
    }

    /// The status in force at `now`. An expiry that does not read as a time counts as passed
    /// (fail closed; [`Entitlement::check`] keeps such a value from being stored).
    pub fn status_at(&self, now: OffsetDateTime) -> EntitlementStatus {
        let expiry = self.expiry().unwrap_or(Some(OffsetDateTime::UNIX_EPOCH));
        self.status.at(expiry, now)
    }

    /// Whether the tenant may use `feature`.
    pub fn allows(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .is_none_or(|granted| granted.contains(feature))
    }

    /// The limit on `kind` (None: unlimited).
    pub fn limit(&self, kind: &str) -> Option<u64> {
        self.limits.get(kind).copied()
    }
}

/// The stored columns of an entitlement: `status`, `expires_at`, `features` (a JSON array,
/// NULL for every feature) and `limits` (a JSON object), as both backends store them.
pub(crate) type Columns = (String, Option<String>, Option<String>, String);

/// The columns `e` is stored as.
pub(crate) fn to_columns(e: &Entitlement) -> crate::Result<Columns> {
    Ok((
        e.status.as_str().to_string(),
        e.expires_at.clone(),
        e.features.as_ref().map(serde_json::to_string).transpose()?,
        serde_json::to_string(&e.limits)?,
    ))
}

/// The entitlement of `tenant` read back from its columns; a value this cavra cannot read is
/// corrupt (and the service, failing closed, refuses the tenant's requests).
pub(crate) fn from_columns(tenant: &str, c: Columns) -> crate::Result<Entitlement> {
    let corrupt = |what: &str| {
        crate::StoreError::Corrupt(format!("tenant {tenant}: its entitlement's {what}"))
    };
    Ok(Entitlement {
        status: EntitlementStatus::parse(&c.0).ok_or_else(|| corrupt("status"))?,
        expires_at: c.1,
        features: c
            .2
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("features"))?,
        limits: serde_json::from_str(&c.3).map_err(|_| corrupt("limits"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_active_tenant_expires_at_its_expiry_and_a_bad_expiry_fails_closed() {
        let mut e = Entitlement {
            expires_at: Some("2026-06-01T00:00:00Z".parse().unwrap()),
            ..Entitlement::default()
        };
        assert_eq!(
            e.status_at(datetime!(2026-05-31 23:59:59 UTC)),
            EntitlementStatus::Active
        );
        assert_eq!(
            e.status_at(datetime!(2026-06-01 00:00 UTC)),
            EntitlementStatus::Expired
        );
        e.status = EntitlementStatus::Suspended;
        assert_eq!(
            e.status_at(datetime!(2026-05-01 00:00 UTC)),
            EntitlementStatus::Suspended,
            "suspension outranks the expiry"
        );
        e.status = EntitlementStatus::Active;
        e.expires_at = Some("next tuesday".into());
        assert!(e.check().is_err());
        assert_eq!(
            e.status_at(datetime!(2026-05-01 00:00 UTC)),
            EntitlementStatus::Expired
        );
    }

    #[test]
    fn features_and_limits_are_known_words_and_absent_means_unrestricted() {
        let all = Entitlement::default();
        assert!(all.allows(FEATURE_BREAK_GLASS) && all.limit(LIMIT_AGENTS).is_none());
        let some = Entitlement {
            features: Some([FEATURE_EVIDENCE_BUNDLE.to_string()].into()),
            limits: [(LIMIT_AGENTS.to_string(), 2)].into(),
            ..Entitlement::default()
        };
        assert!(some.check().is_ok());
        assert!(!some.allows(FEATURE_BREAK_GLASS) && some.allows(FEATURE_EVIDENCE_BUNDLE));
        assert_eq!(some.limit(LIMIT_AGENTS), Some(2));
        let typo = Entitlement {
            features: Some(["break-glass".to_string()].into()),
            ..Entitlement::default()
        };
        assert!(typo.check().unwrap_err().contains("break-glass"));
        let typo = Entitlement {
            limits: [("agent".to_string(), 1)].into(),
            ..Entitlement::default()
        };
        assert!(typo.check().unwrap_err().contains("`agent`"));
        for s in [
            EntitlementStatus::Active,
            EntitlementStatus::Suspended,
            EntitlementStatus::Expired,
        ] {
            assert_eq!(EntitlementStatus::parse(s.as_str()), Some(s));
        }
    }
}
