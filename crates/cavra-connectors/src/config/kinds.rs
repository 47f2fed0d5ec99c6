//! Each kind's own settings: Splunk HEC, OCSF over HTTPS, NATS JetStream, AMQP, SMTP and
//! syslog over TLS, with their defaults.

use serde::{Deserialize, Serialize};

use crate::secret::SecretRef;

/// Splunk HTTP Event Collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecConfig {
    /// The collector's base URL (`https://host:8088`); events go to
    /// `/services/collector/event`.
    pub url: String,
    /// The HEC token (by reference).
    pub token: SecretRef,
    /// The channel (a GUID), sent as `X-Splunk-Request-Channel`; required with `ack`.
    #[serde(default)]
    pub channel: Option<String>,
    /// Wait for indexer acknowledgement: an event counts as delivered only once the
    /// collector's `/services/collector/ack` says it is indexed.
    #[serde(default)]
    pub ack: bool,
    /// How long to wait for the acknowledgement, in milliseconds (then the attempt failed
    /// and is retried; the event's id lets the search side drop a duplicate).
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// The index, when not the token's default.
    #[serde(default)]
    pub index: Option<String>,
    /// `sourcetype` (default `cavra:event`).
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// A PEM file of extra CA certificates to trust (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_ack_timeout_ms() -> u64 {
    30_000
}

/// OCSF events over HTTPS: each event is POSTed as one OCSF 1.1 API Activity object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfConfig {
    /// Where to POST.
    pub url: String,
    /// The `Authorization` header's value (by reference), when the receiver wants one.
    #[serde(default)]
    pub authorization: Option<SecretRef>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// NATS JetStream: each envelope is published to `<subject_prefix>.<tenant>.<event type>`
/// with `Nats-Msg-Id` set to the idempotency key, and counts as delivered once the stream
/// acknowledges it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// The server (`tls://host:4222`; `nats://` for loopback only).
    pub url: String,
    /// The stream the subjects belong to; created at start when missing (see
    /// `create_stream`), otherwise checked to hold the subjects.
    #[serde(default = "default_nats_stream")]
    pub stream: String,
    /// The subjects' prefix (`cavra.events` gives `cavra.events.acme.decision.block`).
    #[serde(default = "default_nats_prefix")]
    pub subject_prefix: String,
    /// Create the stream when it does not exist (file storage, the subjects
    /// `<subject_prefix>.>` and `duplicate_window_seconds`). When false, a missing stream is
    /// an error at start.
    #[serde(default = "default_true")]
    pub create_stream: bool,
    /// The created stream's duplicate window: `Nats-Msg-Id` deduplicates within it. Keep
    /// it longer than a delivery can be retried for.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_seconds: u64,
    /// A token (by reference), when the server wants one.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// A user name, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's password (by reference).
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_true() -> bool {
    true
}

fn default_nats_stream() -> String {
    "CAVRA_EVENTS".into()
}

fn default_nats_prefix() -> String {
    "cavra.events".into()
}

fn default_duplicate_window() -> u64 {
    24 * 3600
}

/// AMQP 0-9-1 (RabbitMQ): each envelope is published persistent (delivery mode 2) to
/// `exchange` with routing key `<routing_key_prefix>.<tenant>.<event type>`, `message-id` set
/// to the idempotency key, and counts as delivered once the broker confirms it (publisher
/// confirms) having routed it to a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// The broker and virtual host (`amqps://host:5671/%2f`; `amqp://` for loopback only),
    /// without credentials.
    pub url: String,
    /// The user name.
    #[serde(default)]
    pub user: Option<String>,
    /// The password (by reference).
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// The exchange (a durable topic exchange, declared at start). Empty: the default
    /// exchange, where the routing key is a queue's name.
    #[serde(default = "default_amqp_exchange")]
    pub exchange: String,
    /// The routing keys' prefix.
    #[serde(default = "default_amqp_prefix")]
    pub routing_key_prefix: String,
    /// A durable queue declared at start and bound to `<routing_key_prefix>.#`, when the
    /// destination's queues are not managed elsewhere.
    #[serde(default)]
    pub queue: Option<String>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_amqp_exchange() -> String {
    "cavra.events".into()
}

fn default_amqp_prefix() -> String {
    "cavra".into()
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// `STARTTLS` after the greeting (port 587); refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: loopback only (a local relay).
    None,
}

/// E-mail over SMTP: each event is one message (plain text and HTML, with the envelope
/// attached as JSON, and a report's files when the event carries them) to recipients that
/// must all be on the tenant's allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name (also the name its certificate must carry).
    pub host: String,
    /// The port (default: 587 for `starttls`, 465 for `implicit`, 25 for `none`).
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is secured.
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    /// The user name for authentication, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// The password (by reference).
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// The sender (`cavra <cavra@example.com>`).
    pub from: String,
    /// The recipients of every message.
    pub to: Vec<String>,
    /// The tenant's allow-list: addresses (`ops@acme.example`) or whole domains
    /// (`@acme.example`). Every recipient is checked against it at delivery; a message
    /// with one recipient off the list is not sent at all.
    pub allowed_recipients: Vec<String>,
    /// The subject's prefix (`[cavra]`).
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

fn default_subject_prefix() -> String {
    "[cavra]".into()
}

/// Syslog over TLS: each envelope is one RFC 5424 message, framed with octet counting
/// (RFC 5425) on a TLS connection kept open between events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// The receiver's host name (also the name its certificate must carry).
    pub host: String,
    /// The port (RFC 5425's 6514 by default).
    #[serde(default = "default_syslog_port")]
    pub port: u16,
    /// The facility (RFC 5424 numbers 0-23; default 13, log audit).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// `APP-NAME` (default `cavra`).
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_syslog_port() -> u16 {
    6514
}

fn default_facility() -> u8 {
    13
}

fn default_app_name() -> String {
    "cavra".into()
}
