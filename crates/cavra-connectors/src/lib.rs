//! cavra's connectors: how the events of a tenant's outbox reach the systems outside.
//!
//! The store writes an event in the same transaction as the record that causes it (a
//! decision that blocks, warns or asks for approval, an approval's transition, a signed
//! checkpoint): an event exists exactly when its cause does. From there, everything is here:
//!
//! - [`config`]: the connectors of each tenant (service configuration), with routing filters
//!   (event types, decision, severity, pack, repository) and secrets only by reference
//!   ([`secret`]); a configuration holding an inline secret is refused, naming the field.
//! - [`route`]: which of a tenant's connectors an event goes to.
//! - [`worker`]: claims events and routes them into one delivery per destination, then claims
//!   due deliveries (leases, so several replicas deliver each once) and sends them through
//!   their [`sink::Sink`]; every payload is redacted with the store's rules before it leaves
//!   and signed with the service's key; every attempt is an entry of the tenant's evidence
//!   log. Failures back off exponentially with full jitter ([`retry`]), `Retry-After` is
//!   honoured, a circuit breaker per destination stops hammering one that is down, and after
//!   the attempt or age limit a delivery becomes a dead letter.
//! - [`template`]: texts a connector adds to what it sends (`template.text`, an e-mail's
//!   `template.subject`), placeholders only, parsed with the configuration, rendered redacted.
//! - [`retention`]: finished deliveries and their events are removed after the configured
//!   number of days.
//! - The destinations: [`hec`] (Splunk HTTP Event Collector with indexer acknowledgement),
//!   [`ocsf`] (OCSF events over HTTPS), [`syslog`] (RFC 5424 over TLS, RFC 5425 framing),
//!   [`nats`] (NATS JetStream), [`amqp`] (AMQP 0-9-1 with publisher confirms), [`smtp`]
//!   (e-mail with per-tenant recipient allow-lists), [`slack`] (approval requests with
//!   buttons whose presses come back verified) and [`teams`] (Adaptive Cards through a
//!   Workflows webhook, commands through a verified outgoing webhook) and [`servicenow`]
//!   (tickets created once, change requests' approvals back) and [`jira`] (issues with
//!   descriptions in the Atlassian Document Format, created once, approvals' status changes
//!   back); [`chat`] holds what these share, [`signature`] the one check of every signed
//!   callback.
//!
//! Clock and randomness are injected ([`retry::Clock`], [`retry::Jitter`]), so the delivery
//! logic is tested without sleeping.

/// Writes one line to the service's standard error, ignoring a failure to write: `eprintln!`
/// panics when stderr is closed (a supervisor that stopped reading), and a log line must never
/// take a request or the delivery worker down with it.
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod amqp;
pub mod chat;
pub mod config;
pub mod event;
pub mod hec;
mod http;
pub mod inventory_http;
pub mod jira;
pub mod nats;
pub mod ocsf;
pub mod retention;
pub mod retry;
pub mod route;
mod seal;
pub mod secret;
pub mod servicenow;
pub mod signature;
pub mod sink;
pub mod slack;
pub mod smtp;
pub mod syslog;
pub mod teams;
pub mod template;
mod tls;
pub mod worker;

pub use config::{ConnectorConfig, ConnectorsConfig};
pub use worker::{Worker, WorkerSettings};

/// Errors of the connectors.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The configuration is not valid; the message names the connector and field.
    #[error("connector configuration: {0}")]
    Config(String),
    /// A secret reference could not be resolved.
    #[error("secret {reference}: {reason}")]
    Secret {
        /// The reference (`env:NAME`, `file:/path`), never the secret.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A destination could not be set up (client, stream).
    #[error("connector {name}: {reason}")]
    Setup {
        /// The connector.
        name: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] cavra_tenant_store::StoreError),
    /// A store call handed to the service's runtime did not finish (it panicked, or the
    /// runtime is shutting down).
    #[error("the delivery worker's store call: {0}")]
    Task(String),
}
