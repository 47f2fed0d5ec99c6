//! Who a request acts for once its credential has been verified.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cavra role. What each role may do is decided by the server; this crate only establishes
/// which roles a credential carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An AI coding agent (or its hook) submitting requests for decisions.
    Agent,
    /// A person who may approve or deny actions routed for approval.
    Approver,
    /// Read-only access to decisions and evidence.
    Auditor,
    /// Tenant administration: tokens, policy packs, settings.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::Agent, Role::Approver, Role::Auditor, Role::Admin];

    /// The lowercase name used in configuration, tokens and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `agent`, `approver`, `auditor`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected agent, approver, auditor or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Exact lowercase names only: a role is an authority grant, so near misses such as `Admin `
    /// or `administrator` are refused rather than guessed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// How a principal was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthMethod {
    /// A cavra API token; `token_id` is its public id (never the secret).
    ApiToken {
        /// The token's public lookup id.
        token_id: String,
    },
    /// An OIDC bearer JWT from `issuer`.
    Oidc {
        /// The `iss` of the verified token.
        issuer: String,
    },
    /// A request signed by an integration (a Slack app's button press), whose user is mapped
    /// to this principal by the service's configuration.
    Integration {
        /// The integration (`slack`) and connector (`slack/chat`).
        integration: String,
        /// The user there (`U0123ABCD`).
        user: String,
    },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable subject: the OIDC subject claim, or `token:<id>` for API tokens.
    pub subject: String,
    /// The tenant every action of this request is scoped to.
    pub tenant: String,
    /// The cavra roles granted; never empty for a principal this crate returns.
    pub roles: BTreeSet<Role>,
    /// Approver groups (OIDC groups claim) used to route approvals.
    pub approver_groups: BTreeSet<String>,
    /// How the credential was verified.
    pub method: AuthMethod,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the principal belongs to approver group `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.approver_groups.contains(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_and_near_misses_are_refused() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).expect("serialise");
            assert_eq!(json, format!("\"{role}\""));
        }
        for bad in ["Admin", " admin", "administrator", "", "root"] {
            assert_eq!(bad.parse::<Role>(), Err(UnknownRole(bad.to_owned())));
        }
    }

    #[test]
    fn helpers_answer_from_the_sets() {
        let principal = Principal {
            subject: "alice".into(),
            tenant: "acme".into(),
            roles: [Role::Approver].into(),
            approver_groups: ["security".to_owned()].into(),
            method: AuthMethod::Oidc {
                issuer: "https://idp".into(),
            },
        };
        assert!(principal.has_role(Role::Approver));
        assert!(!principal.has_role(Role::Admin));
        assert!(principal.in_group("security"));
        assert!(!principal.in_group("Security"));
    }
}
