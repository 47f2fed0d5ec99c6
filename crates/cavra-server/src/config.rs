//! The service's configuration file (YAML), validated strictly: unknown keys are errors with
//! their line and column.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::routing::RoutingRule;

/// Where the service listens by default (loopback: exposing it is a deliberate choice).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7700";

/// The service's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `host:port` to listen on.
    pub listen: String,
    /// `sqlite://PATH` (the default, `sqlite://cavra-server.db`) or `postgres://…`.
    pub database_url: String,
    /// The Ed25519 key (PKCS#8 PEM) that signs every tenant's log checkpoints. With SQLite and
    /// no key given, one is created beside the database on first start; replicas on
    /// PostgreSQL must all be given the same key.
    pub signing_key: Option<PathBuf>,
    /// OIDC bearer tokens, when accepted.
    pub oidc: Option<cavra_identity::OidcConfig>,
    /// The pack that decides when nothing is assigned: a built-in id.
    pub default_pack: String,
    /// Uploaded packs must carry a signature by a key of `trust_root`.
    pub require_signed_packs: bool,
    /// The trust root (JSON) that pack signatures are checked against.
    pub trust_root: Option<PathBuf>,
    /// How long an approval request stays open, in minutes.
    pub approval_ttl_minutes: u64,
    /// Break-glass settings.
    pub break_glass: BreakGlassConfig,
    /// Approval routing rules, first match wins; empty: the built-in defaults.
    pub routing: Vec<RoutingRule>,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The tenant whose admins manage tenants.
    pub operator_tenant: String,
    /// Seconds between sweeps that expire overdue approvals.
    pub expiry_sweep_seconds: u64,
    /// Per-field input limits.
    pub limits: crate::limits::Limits,
    /// Request rate limits (off by default).
    pub rate_limits: crate::rate::RateLimits,
    /// Connection limits and read timeouts.
    pub connections: ConnectionLimits,
    /// Service accounts that may name another actor in a decision request (`actor` in the
    /// body), for packs that accept it (`identity.accept_claimed_actor`). Anyone else naming
    /// an actor other than themselves is refused (403).
    pub act_for_others: Vec<ActingAccount>,
    /// Connectors: where each tenant's events (blocks, approvals, checkpoints, …) are
    /// delivered (see docs/connectors.md). Secrets by reference only.
    pub connectors: cavra_connectors::ConnectorsConfig,
    /// Days after which delivered and dead connector deliveries, and events with no delivery
    /// left, are removed from the outbox (swept hourly; pending ones never are).
    pub connector_retention_days: u32,
    /// The web console under `/console` (docs/console.md).
    pub console: ConsoleConfig,
    /// The production readiness gate's settings (docs/operations.md).
    pub readiness: crate::readiness::ReadinessConfig,
    /// Inventory imports and their coverage findings (docs/connectors.md).
    pub inventory: crate::inventory::InventoryConfig,
}

/// The web console's settings. The console itself is the `cavra-console` crate, mounted by
/// `cavra serve`; these are here so that one configuration file holds the whole service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console under `/console`.
    pub enabled: bool,
    /// The origin people reach the service at (`https://cavra.example.com`), when it is not
    /// what the `Host` header says (behind a proxy). State changes must come from this origin;
    /// an `https` origin makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// A session ends this many minutes after sign-in, whatever happens.
    pub session_minutes: u64,
    /// A session ends after this many minutes without a request.
    pub idle_minutes: u64,
    /// The one-time login link `cavra serve` prints.
    pub login_link: LoginLinkConfig,
    /// Sign-in with the service's OIDC provider (authorization code with PKCE); the ID token
    /// is verified by the service's `oidc` settings, whose audiences must include `client_id`.
    pub oidc: Option<ConsoleOidcConfig>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            public_url: None,
            session_minutes: 8 * 60,
            idle_minutes: 60,
            login_link: LoginLinkConfig::default(),
            oidc: None,
        }
    }
}

/// When `cavra serve` prints a one-time login link, and who it signs in as.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLinkConfig {
    /// `loopback` (the default: only when listening on a loopback address), `always` or
    /// `never`.
    pub print: LinkPrint,
    /// The tenant it signs in to (default: `operator_tenant`).
    pub tenant: Option<String>,
    /// The subject it acts as (never the subject of an agent's token, or its requests could
    /// not be approved from the console).
    pub subject: String,
    /// Its roles.
    pub roles: Vec<cavra_identity::Role>,
    /// Its approver groups; empty: every group this service routes approvals to (the
    /// routing rules', the built-in defaults', Repository Owners and break glass).
    pub groups: Vec<String>,
    /// Minutes the link stays usable.
    pub minutes: u64,
}

impl Default for LoginLinkConfig {
    fn default() -> Self {
        use cavra_identity::Role;
        LoginLinkConfig {
            print: LinkPrint::Loopback,
            tenant: None,
            subject: "local-operator".into(),
            roles: vec![Role::Approver, Role::Auditor, Role::Admin],
            groups: Vec::new(),
            minutes: 15,
        }
    }
}

/// When the login link is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPrint {
    /// Only when the service listens on a loopback address.
    Loopback,
    /// Always (the link then appears in whatever collects the service's standard error).
    Always,
    /// Never.
    Never,
}

/// The console's OIDC client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleOidcConfig {
    /// The provider's authorization endpoint (`https://`, or `http://` on loopback).
    pub authorization_endpoint: String,
    /// The provider's token endpoint.
    pub token_endpoint: String,
    /// This console's client id (an audience of the service's `oidc`).
    pub client_id: String,
    /// The environment variable holding the client secret, for confidential clients.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes asked for (`openid` is always asked for).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A label for the sign-in button.
    #[serde(default)]
    pub label: Option<String>,
}

/// A credential allowed to act for others: its tenant and subject (an API token's subject or
/// an OIDC token's `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActingAccount {
    /// The tenant.
    pub tenant: String,
    /// The credential's subject.
    pub subject: String,
}

impl ServerConfig {
    /// Whether the credential (`tenant`, `subject`) may name another actor.
    pub fn may_act_for_others(&self, tenant: &str, subject: &str) -> bool {
        self.act_for_others
            .iter()
            .any(|a| a.tenant == tenant && a.subject == subject)
    }
}

/// How many connections the service holds and how long a peer may take to send a request:
/// what an unauthenticated peer can make the service hold is bounded by these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Open connections at most; further peers wait in the listen backlog.
    pub max_connections: usize,
    /// Open connections that have not yet sent a request with a valid credential, at most
    /// (`max_connections` when that is lower); a new peer beyond this closes the oldest of
    /// them.
    pub max_unauthenticated: usize,
    /// Seconds a peer has to send a request's headers (also how long an idle keep-alive
    /// connection is kept).
    pub header_read_timeout_seconds: u64,
    /// Seconds a peer has to send a request's body once its headers are in (408 after).
    pub body_read_timeout_seconds: u64,
    /// The largest request head (request line and headers) read, in bytes (at least 8192).
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            max_unauthenticated: 256,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Break-glass settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakGlassConfig {
    /// Only members of this group may break glass.
    pub group: String,
    /// The longest a break-glass grant lasts, in minutes.
    pub max_minutes: u64,
}

impl Default for BreakGlassConfig {
    fn default() -> Self {
        BreakGlassConfig {
            group: "Break Glass".into(),
            max_minutes: 60,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.into(),
            database_url: "sqlite://cavra-server.db".into(),
            signing_key: None,
            oidc: None,
            default_pack: "cavra-baseline".into(),
            require_signed_packs: true,
            trust_root: None,
            approval_ttl_minutes: 60,
            break_glass: BreakGlassConfig::default(),
            routing: Vec::new(),
            max_body_bytes: 1024 * 1024,
            operator_tenant: "operator".into(),
            expiry_sweep_seconds: 5,
            limits: crate::limits::Limits::default(),
            rate_limits: crate::rate::RateLimits::default(),
            connections: ConnectionLimits::default(),
            act_for_others: Vec::new(),
            connectors: cavra_connectors::ConnectorsConfig::default(),
            connector_retention_days: 30,
            console: ConsoleConfig::default(),
            readiness: crate::readiness::ReadinessConfig::default(),
            inventory: crate::inventory::InventoryConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Reads a configuration file; errors name the file, line and column.
    pub fn from_yaml(text: &str, origin: &str) -> Result<ServerConfig, String> {
        let config: ServerConfig =
            serde_saphyr::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
        config.check().map_err(|e| format!("{origin}: {e}"))?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        self.readiness.check()?;
        self.inventory.check()?;
        if self.approval_ttl_minutes == 0 {
            return Err("approval_ttl_minutes must be at least 1".into());
        }
        if self.break_glass.max_minutes == 0 || self.break_glass.max_minutes > 24 * 60 {
            return Err("break_glass.max_minutes must be between 1 and 1440".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        self.limits.check()?;
        self.rate_limits.check()?;
        let c = &self.connections;
        if c.max_connections == 0 {
            return Err("connections.max_connections must be at least 1".into());
        }
        if c.max_unauthenticated == 0 {
            return Err("connections.max_unauthenticated must be at least 1".into());
        }
        if c.header_read_timeout_seconds == 0 || c.body_read_timeout_seconds == 0 {
            return Err("connections: read timeouts must be at least 1 second".into());
        }
        if c.max_header_bytes < 8192 {
            return Err("connections.max_header_bytes must be at least 8192".into());
        }
        for (i, a) in self.act_for_others.iter().enumerate() {
            if a.tenant.trim().is_empty() || a.subject.trim().is_empty() {
                return Err(format!("act_for_others[{i}]: give both tenant and subject"));
            }
        }
        for (i, rule) in self.routing.iter().enumerate() {
            rule.check().map_err(|e| format!("routing[{i}]: {e}"))?;
        }
        self.connectors.check().map_err(|e| e.to_string())?;
        if self.connector_retention_days == 0 {
            return Err("connector_retention_days must be at least 1".into());
        }
        let console = &self.console;
        if console.session_minutes == 0 || console.idle_minutes == 0 {
            return Err("console: session_minutes and idle_minutes must be at least 1".into());
        }
        if console.login_link.minutes == 0 || console.login_link.minutes > 24 * 60 {
            return Err("console.login_link.minutes must be between 1 and 1440".into());
        }
        if console.login_link.subject.trim().is_empty() || console.login_link.roles.is_empty() {
            return Err("console.login_link: give a subject and at least one role".into());
        }
        if let Some(url) = &console.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err("console.public_url must be an http:// or https:// origin".into());
        }
        if console.oidc.is_some() && self.oidc.is_none() {
            return Err(
                "console.oidc needs the service's `oidc` settings (they verify the ID token)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_retention_defaults_to_30_days_and_is_at_least_one() {
        let c = ServerConfig::from_yaml("listen: 127.0.0.1:7700\n", "t.yaml").unwrap();
        assert_eq!(c.connector_retention_days, 30);
        let c = ServerConfig::from_yaml("connector_retention_days: 7\n", "t.yaml").unwrap();
        assert_eq!(c.connector_retention_days, 7);
        let e = ServerConfig::from_yaml("connector_retention_days: 0\n", "t.yaml").unwrap_err();
        assert!(e.contains("connector_retention_days"), "{e}");
    }
}
