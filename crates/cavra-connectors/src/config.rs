//! The connectors' configuration: a list in the service's configuration file, each entry one
//! destination of one tenant, with exactly one kind key (`splunk_hec`, `ocsf_https`,
//! `nats_jetstream`, `amqp`, `smtp`, `syslog_tls`, `slack`, `teams`, `servicenow`, `jira`).
//!
//! ```yaml
//! connectors:
//!   - name: siem
//!     tenant: acme
//!     events: [decision.block, decision.require_approval, "approval.*"]
//!     filter:
//!       severity: [high, critical]
//!       repository: ["acme/*"]
//!     splunk_hec:
//!       url: https://splunk.internal:8088
//!       token: env:CAVRA_HEC_TOKEN
//!       channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11
//!       ack: true
//! ```
//!
//! What [`ConnectorsConfig::check`] refuses, naming the connector and the field: an inline
//! secret (in a secret field, in a URL's user information, or any other field whose value
//! the store's redaction rules take for a secret), a plain `http://` URL to anything but
//! loopback, unknown event types, duplicate names in a tenant, limits out of range.

use std::collections::BTreeSet;

use cavra_policy::{Decision, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ConnectorError;
use crate::event::EventType;
use crate::secret::SecretRef;
use crate::template::Templates;

mod kinds;
pub use kinds::*;

/// Every connector of every tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectorsConfig(pub Vec<ConnectorConfig>);

/// One destination of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Its name, unique in its tenant (`[a-z0-9][a-z0-9_-]*`, at most 64 characters).
    pub name: String,
    /// The tenant whose events it receives (only that tenant's, ever).
    pub tenant: String,
    /// Event types it receives: exact (`decision.block`), a family (`approval.*`) or `*`.
    /// Empty: every type. Test events reach a connector only when addressed to it.
    #[serde(default)]
    pub events: Vec<String>,
    /// Filters on the events' fields.
    #[serde(default)]
    pub filter: Filter,
    /// Retries and dead letters.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: BreakerPolicy,
    /// How long one attempt may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Texts rendered from each event (see [`crate::template`]): `text` for every kind,
    /// `subject` for e-mail.
    #[serde(default, skip_serializing_if = "Templates::is_empty")]
    pub template: Templates,
    /// Splunk HTTP Event Collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splunk_hec: Option<HecConfig>,
    /// OCSF events over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsf_https: Option<OcsfConfig>,
    /// NATS JetStream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_jetstream: Option<NatsConfig>,
    /// AMQP 0-9-1 (RabbitMQ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp: Option<AmqpConfig>,
    /// E-mail over SMTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    /// Syslog (RFC 5424) over TLS (RFC 5425).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog_tls: Option<SyslogConfig>,
    /// Slack: approval requests with buttons, blocks and break glass as alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<crate::slack::SlackConfig>,
    /// Microsoft Teams: Adaptive Cards through a Workflows webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<crate::teams::TeamsConfig>,
    /// ServiceNow: tickets through the Table API, change requests' approvals back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicenow: Option<crate::servicenow::ServiceNowConfig>,
    /// Jira: issues through REST v3 (descriptions in ADF), approvals' status changes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<crate::jira::JiraConfig>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Filters on an event's fields. A filter that is set lets through only the events that
/// carry the field with a listed value: an event without the field (an approval has no
/// severity) does not pass it. Empty lists filter nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    /// Decisions (`block`, `require_approval`, `warn`, …).
    pub decision: Vec<Decision>,
    /// Severities of the deciding rule.
    pub severity: Vec<Severity>,
    /// Policy pack ids.
    pub pack: Vec<String>,
    /// Repositories, as globs (`acme/*`).
    pub repository: Vec<String>,
}

/// Retries and dead letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts at most; after the last failure, a dead letter.
    pub max_attempts: u32,
    /// Seconds after routing past which a failure is not retried: a dead letter.
    pub max_age_seconds: u64,
    /// The first retry's backoff ceiling, in milliseconds; it doubles with each attempt.
    pub initial_backoff_ms: u64,
    /// The highest backoff ceiling, in milliseconds (also the most a `Retry-After` may ask).
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            max_age_seconds: 24 * 3600,
            initial_backoff_ms: 500,
            max_backoff_ms: 5 * 60 * 1000,
        }
    }
}

/// The circuit breaker of one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// Seconds it stays open before one trial delivery is let through.
    pub open_seconds: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failures: 5,
            open_seconds: 30,
        }
    }
}

/// Which kind a connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Splunk HEC.
    SplunkHec,
    /// OCSF over HTTPS.
    OcsfHttps,
    /// NATS JetStream.
    NatsJetstream,
    /// AMQP 0-9-1.
    Amqp,
    /// SMTP.
    Smtp,
    /// Syslog over TLS.
    SyslogTls,
    /// Slack.
    Slack,
    /// Microsoft Teams.
    Teams,
    /// ServiceNow.
    ServiceNow,
    /// Jira.
    Jira,
}

impl Kind {
    /// Every kind's configuration key.
    pub const KEYS: &'static str = "splunk_hec, ocsf_https, nats_jetstream, amqp, smtp, syslog_tls, slack, teams, servicenow, jira";

    /// The configuration key.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SplunkHec => "splunk_hec",
            Kind::OcsfHttps => "ocsf_https",
            Kind::NatsJetstream => "nats_jetstream",
            Kind::Amqp => "amqp",
            Kind::Smtp => "smtp",
            Kind::SyslogTls => "syslog_tls",
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::ServiceNow => "servicenow",
            Kind::Jira => "jira",
        }
    }
}

/// Checks an e-mail address (`name <a@b>` or `a@b`) well enough to refuse typos; lettre
/// parses it fully when the message is built.
fn mailbox_address(text: &str) -> Option<String> {
    let addr = match (text.rfind('<'), text.rfind('>')) {
        (Some(a), Some(b)) if a < b => &text[a + 1..b],
        _ => text,
    }
    .trim();
    let (local, domain) = addr.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.contains('@') && !addr.contains(' '))
        .then(|| addr.to_ascii_lowercase())
}

/// Whether `address` is on `allowed` (addresses, or `@domain` for a whole domain), case
/// insensitively.
pub fn recipient_allowed(allowed: &[String], address: &str) -> bool {
    let Some(addr) = mailbox_address(address) else {
        return false;
    };
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_prefix('@') {
            Some(domain) => addr.rsplit_once('@').is_some_and(|(_, d)| d == domain),
            None => a == addr,
        }
    })
}

/// Checks a queue server's URL: it parses, holds no user information, and uses the secure
/// scheme unless it points at loopback.
fn check_server_url(
    field: &str,
    text: &str,
    secure: &str,
    plain: &str,
) -> Result<url::Url, ConnectorError> {
    let u = url::Url::parse(text)
        .map_err(|e| ConnectorError::Config(format!("{field}: not a URL ({e})")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(ConnectorError::Config(format!(
            "{field} holds credentials, which are refused inline: give them by reference in the connector's secret field"
        )));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(ConnectorError::Config(format!("{field}: no host")));
    }
    let s = u.scheme();
    // Not `is_loopback`: for these schemes the URL crate keeps the host as an opaque name
    // (`127.0.0.1` is a domain to it), so the name is read here.
    if s == secure || (s == plain && u.host_str().is_some_and(host_is_loopback)) {
        return Ok(u);
    }
    if s == plain {
        return Err(ConnectorError::Config(format!(
            "{field}: plain {plain}:// is accepted for loopback only; use {secure}://"
        )));
    }
    Err(ConnectorError::Config(format!(
        "{field}: scheme {s} is not {secure} (or {plain} on loopback)"
    )))
}

fn host_is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Checks a name or tenant id.
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Checks a destination URL: it parses, holds no user information (a password in a URL is
/// an inline secret), and is `https` unless it points at loopback.
pub(crate) fn check_url(field: &str, text: &str) -> Result<url::Url, ConnectorError> {
    let u = url::Url::parse(text)
        .map_err(|e| ConnectorError::Config(format!("{field}: not a URL ({e})")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(ConnectorError::Config(format!(
            "{field} holds credentials, which are refused inline: give them by reference in the connector's secret field"
        )));
    }
    match u.scheme() {
        "https" => {}
        "http" if is_loopback(&u) => {}
        "http" => {
            return Err(ConnectorError::Config(format!(
                "{field}: plain http is accepted for loopback only; use https"
            )));
        }
        other => {
            return Err(ConnectorError::Config(format!(
                "{field}: scheme {other} is not http(s)"
            )));
        }
    }
    Ok(u)
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

impl ConnectorConfig {
    /// Its kind (the one kind key set; [`ConnectorsConfig::check`] makes sure there is one).
    pub fn kind(&self) -> Option<Kind> {
        let set = self.kinds_set();
        match set.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Every kind key that is set (one, in a valid configuration).
    fn kinds_set(&self) -> Vec<Kind> {
        [
            (self.splunk_hec.is_some(), Kind::SplunkHec),
            (self.ocsf_https.is_some(), Kind::OcsfHttps),
            (self.nats_jetstream.is_some(), Kind::NatsJetstream),
            (self.amqp.is_some(), Kind::Amqp),
            (self.smtp.is_some(), Kind::Smtp),
            (self.syslog_tls.is_some(), Kind::SyslogTls),
            (self.slack.is_some(), Kind::Slack),
            (self.teams.is_some(), Kind::Teams),
            (self.servicenow.is_some(), Kind::ServiceNow),
            (self.jira.is_some(), Kind::Jira),
        ]
        .into_iter()
        .filter_map(|(set, k)| set.then_some(k))
        .collect()
    }

    /// Where it sends, for listings and records: scheme, host, port and path (no query,
    /// which may carry a token).
    pub fn destination(&self) -> String {
        let url = if let Some(h) = &self.splunk_hec {
            &h.url
        } else if let Some(o) = &self.ocsf_https {
            &o.url
        } else if let Some(n) = &self.nats_jetstream {
            &n.url
        } else if let Some(a) = &self.amqp {
            &a.url
        } else if let Some(m) = &self.smtp {
            return format!("smtp://{}:{}", m.host, m.port());
        } else if let Some(s) = &self.syslog_tls {
            return format!("syslog+tls://{}:{}", s.host, s.port);
        } else if let Some(s) = &self.slack {
            return match (&s.bot_token, &s.channel) {
                (Some(_), Some(c)) => format!("{} #{c}", s.api_url.trim_end_matches('/')),
                _ => "slack incoming webhook".into(),
            };
        } else if self.teams.is_some() {
            return "teams workflows webhook".into();
        } else if let Some(s) = &self.servicenow {
            &s.instance_url
        } else if let Some(j) = &self.jira {
            return format!(
                "{} project {}",
                url::Url::parse(&j.base_url)
                    .map(|u| crate::http::shown(&u))
                    .unwrap_or_default(),
                j.project
            );
        } else {
            return String::new();
        };
        url::Url::parse(url)
            .map(|u| crate::http::shown(&u))
            .unwrap_or_default()
    }

    /// Its secrets as `field=reference` (never their values).
    pub fn secret_refs(&self) -> Vec<String> {
        self.secrets()
            .into_iter()
            .map(|(f, r)| format!("{f}={}", r.as_str()))
            .collect()
    }

    /// The secret fields, as (path under the connector, reference).
    fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut out = Vec::new();
        if let Some(h) = &self.splunk_hec {
            out.push(("splunk_hec.token", &h.token));
        }
        if let Some(o) = &self.ocsf_https
            && let Some(a) = &o.authorization
        {
            out.push(("ocsf_https.authorization", a));
        }
        if let Some(n) = &self.nats_jetstream {
            if let Some(t) = &n.token {
                out.push(("nats_jetstream.token", t));
            }
            if let Some(p) = &n.password {
                out.push(("nats_jetstream.password", p));
            }
        }
        if let Some(p) = self.amqp.as_ref().and_then(|a| a.password.as_ref()) {
            out.push(("amqp.password", p));
        }
        if let Some(p) = self.smtp.as_ref().and_then(|m| m.password.as_ref()) {
            out.push(("smtp.password", p));
        }
        if let Some(s) = &self.slack {
            out.extend(s.secrets());
        }
        if let Some(t) = &self.teams {
            out.extend(t.secrets());
        }
        if let Some(s) = &self.servicenow {
            out.extend(s.secrets());
        }
        if let Some(j) = &self.jira {
            out.extend(j.secrets());
        }
        out
    }

    fn check(&self, at: &str) -> Result<(), ConnectorError> {
        let err = |m: String| ConnectorError::Config(format!("{at}.{m}"));
        if !valid_id(&self.tenant) {
            return Err(err(format!(
                "tenant: `{}` is not a tenant id ([a-z0-9][a-z0-9_-]*)",
                self.tenant
            )));
        }
        match self.kinds_set().len() {
            1 => {}
            0 => {
                return Err(ConnectorError::Config(format!(
                    "{at}: give its kind: one of {}",
                    Kind::KEYS
                )));
            }
            _ => {
                return Err(ConnectorError::Config(format!(
                    "{at}: give one kind only ({})",
                    Kind::KEYS
                )));
            }
        }
        for (i, pattern) in self.events.iter().enumerate() {
            EventType::check_pattern(pattern).map_err(|m| err(format!("events[{i}]: {m}")))?;
        }
        if self.template.subject.is_some() && self.smtp.is_none() {
            return Err(err(
                "template.subject: only e-mail (smtp) connectors have a subject; use template.text"
                    .into(),
            ));
        }
        for (i, g) in self.filter.repository.iter().enumerate() {
            globset::Glob::new(g).map_err(|e| err(format!("filter.repository[{i}]: {e}")))?;
        }
        let r = &self.retry;
        if r.max_attempts == 0 || r.max_attempts > 1000 {
            return Err(err("retry.max_attempts: between 1 and 1000".into()));
        }
        if r.max_age_seconds == 0 {
            return Err(err("retry.max_age_seconds: at least 1".into()));
        }
        if r.initial_backoff_ms == 0 || r.max_backoff_ms < r.initial_backoff_ms {
            return Err(err(
                "retry: initial_backoff_ms at least 1 and max_backoff_ms at least initial_backoff_ms"
                    .into(),
            ));
        }
        if self.breaker.failures == 0 || self.breaker.open_seconds == 0 {
            return Err(err("breaker: failures and open_seconds at least 1".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 10 * 60 * 1000 {
            return Err(err("timeout_ms: between 1 and 600000".into()));
        }
        for (field, secret) in self.secrets() {
            secret.check(&format!("{at}.{field}"))?;
        }
        if let Some(h) = &self.splunk_hec {
            check_url(&format!("{at}.splunk_hec.url"), &h.url)?;
            if h.ack && h.channel.is_none() {
                return Err(err(
                    "splunk_hec.channel: indexer acknowledgement (ack: true) needs a channel"
                        .into(),
                ));
            }
            if h.ack_timeout_ms == 0 {
                return Err(err("splunk_hec.ack_timeout_ms: at least 1".into()));
            }
        }
        if let Some(o) = &self.ocsf_https {
            check_url(&format!("{at}.ocsf_https.url"), &o.url)?;
        }
        if let Some(n) = &self.nats_jetstream {
            self.check_nats(at, n)?;
        }
        if let Some(a) = &self.amqp {
            check_server_url(&format!("{at}.amqp.url"), &a.url, "amqps", "amqp")?;
            if a.user.is_some() != a.password.is_some() {
                return Err(err("amqp: give user and password together".into()));
            }
            if a.exchange.is_empty() && a.queue.is_none() {
                return Err(err(
                    "amqp.queue: the default exchange (an empty exchange) sends to a queue: name it"
                        .into(),
                ));
            }
            if a.routing_key_prefix.is_empty() || a.routing_key_prefix.len() > 128 {
                return Err(err("amqp.routing_key_prefix: 1 to 128 characters".into()));
            }
        }
        if let Some(m) = &self.smtp {
            self.check_smtp(at, m)?;
        }
        if let Some(s) = &self.slack {
            s.check(at)?;
        }
        if let Some(t) = &self.teams {
            t.check(at)?;
        }
        if let Some(s) = &self.servicenow {
            s.check(at)?;
        }
        if let Some(j) = &self.jira {
            j.check(at)?;
        }
        if let Some(s) = &self.syslog_tls {
            if s.host.is_empty() || s.host.contains(['/', ' ', '@']) {
                return Err(err("syslog_tls.host: a host name or address".into()));
            }
            if s.facility > 23 {
                return Err(err("syslog_tls.facility: 0 to 23 (RFC 5424)".into()));
            }
            let printable = |t: &str| t.bytes().all(|b| (33..=126).contains(&b));
            if s.app_name.is_empty() || s.app_name.len() > 48 || !printable(&s.app_name) {
                return Err(err(
                    "syslog_tls.app_name: 1 to 48 printable ASCII characters, no spaces (RFC 5424 APP-NAME)"
                        .into(),
                ));
            }
        }
        self.check_no_hidden_secret(at)
    }

    fn check_nats(&self, at: &str, n: &NatsConfig) -> Result<(), ConnectorError> {
        let err = |m: &str| ConnectorError::Config(format!("{at}.nats_jetstream.{m}"));
        check_server_url(&format!("{at}.nats_jetstream.url"), &n.url, "tls", "nats")?;
        let token = |t: &str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !token(&n.stream) {
            return Err(err("stream: letters, digits, `_` and `-`"));
        }
        if n.subject_prefix.is_empty()
            || !n.subject_prefix.split('.').all(token)
            || n.subject_prefix.len() > 128
        {
            return Err(err(
                "subject_prefix: dot-separated tokens of letters, digits, `_` and `-` (no wildcards)",
            ));
        }
        if n.duplicate_window_seconds == 0 {
            return Err(err("duplicate_window_seconds: at least 1"));
        }
        if n.user.is_some() != n.password.is_some() {
            return Err(err("user: give user and password together"));
        }
        if n.token.is_some() && n.user.is_some() {
            return Err(err("token: give a token or a user and password, not both"));
        }
        Ok(())
    }

    fn check_smtp(&self, at: &str, m: &SmtpConfig) -> Result<(), ConnectorError> {
        let err = |f: String| ConnectorError::Config(format!("{at}.smtp.{f}"));
        if m.host.is_empty() || m.host.contains(['/', ' ', '@', ':']) {
            return Err(err(
                "host: a host name or address (the port goes in port)".into()
            ));
        }
        if m.tls == SmtpTls::None && !host_is_loopback(&m.host) {
            return Err(err(
                "tls: none is accepted for a loopback relay only; use starttls or implicit".into(),
            ));
        }
        if m.user.is_some() != m.password.is_some() {
            return Err(err("user: give user and password together".into()));
        }
        if m.user.is_some() && m.tls == SmtpTls::None {
            return Err(err(
                "password: credentials are never sent without TLS; use starttls or implicit".into(),
            ));
        }
        if mailbox_address(&m.from).is_none() {
            return Err(err(format!("from: `{}` is not an e-mail address", m.from)));
        }
        if m.to.is_empty() {
            return Err(err("to: at least one recipient".into()));
        }
        if m.allowed_recipients.is_empty() {
            return Err(err(
                "allowed_recipients: the tenant's allow-list is required (addresses or @domain)"
                    .into(),
            ));
        }
        for (i, a) in m.allowed_recipients.iter().enumerate() {
            let ok = match a.strip_prefix('@') {
                Some(d) => d.contains('.') && !d.contains(['@', ' ']),
                None => mailbox_address(a).is_some(),
            };
            if !ok {
                return Err(err(format!(
                    "allowed_recipients[{i}]: `{a}` is neither an address nor @domain"
                )));
            }
        }
        for (i, r) in m.to.iter().enumerate() {
            if mailbox_address(r).is_none() {
                return Err(err(format!("to[{i}]: `{r}` is not an e-mail address")));
            }
            if !recipient_allowed(&m.allowed_recipients, r) {
                return Err(err(format!(
                    "to[{i}]: `{r}` is not on the tenant's allowed_recipients"
                )));
            }
        }
        Ok(())
    }

    /// Any plain field the store's redaction rules would mask is an inline secret in the
    /// wrong place (a token pasted into `channel` or `index`): refused, naming the field.
    fn check_no_hidden_secret(&self, at: &str) -> Result<(), ConnectorError> {
        let mut value =
            serde_json::to_value(self).map_err(|e| ConnectorError::Config(format!("{at}: {e}")))?;
        // Secret fields hold references, checked above.
        for (field, _) in self.secrets() {
            let mut parts = field.split('.');
            if let (Some(kind), Some(key)) = (parts.next(), parts.next())
                && let Some(obj) = value.get_mut(kind).and_then(Value::as_object_mut)
            {
                obj.remove(key);
            }
        }
        let found = cavra_redact::Redactor::builtin()
            .redact_json(&value)
            .findings;
        if let Some(f) = found.first() {
            let field = f.pointer.trim_start_matches('/').replace('/', ".");
            return Err(ConnectorError::Config(format!(
                "{at}.{field} holds what looks like a secret ({}), which is refused inline: secrets go in secret fields, by reference (env:NAME or file:/path)",
                f.rule
            )));
        }
        Ok(())
    }
}

impl SmtpConfig {
    /// The port: the one given, or the usual one for the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        })
    }
}

impl ConnectorsConfig {
    /// Reads the connectors from YAML (a list); errors name the line and column.
    pub fn from_yaml(text: &str) -> Result<ConnectorsConfig, ConnectorError> {
        let c: ConnectorsConfig =
            serde_saphyr::from_str(text).map_err(|e| ConnectorError::Config(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Checks every connector (see the module's documentation).
    pub fn check(&self) -> Result<(), ConnectorError> {
        let mut seen = BTreeSet::new();
        for (i, c) in self.0.iter().enumerate() {
            if !valid_id(&c.name) {
                return Err(ConnectorError::Config(format!(
                    "connectors[{i}].name: `{}` is not a connector name ([a-z0-9][a-z0-9_-]*, at most 64 characters)",
                    c.name
                )));
            }
            let at = format!("connectors[{i}] ({})", c.name);
            c.check(&at)?;
            if !seen.insert((c.tenant.as_str(), c.name.as_str())) {
                return Err(ConnectorError::Config(format!(
                    "{at}: tenant {} has another connector of that name",
                    c.tenant
                )));
            }
        }
        self.check_allow_lists_disjoint()
    }

    /// An address or domain on one tenant's e-mail allow-list may be on no other tenant's:
    /// so a recipient one tenant may mail is never another tenant's.
    fn check_allow_lists_disjoint(&self) -> Result<(), ConnectorError> {
        let lists: Vec<(usize, &ConnectorConfig, &SmtpConfig)> = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.smtp.as_ref().map(|m| (i, c, m)))
            .collect();
        let domain_of = |a: &str| -> Option<String> {
            match a.trim().strip_prefix('@') {
                Some(d) => Some(d.to_ascii_lowercase()),
                None => {
                    mailbox_address(a).and_then(|m| m.rsplit_once('@').map(|(_, d)| d.to_string()))
                }
            }
        };
        for (x, (i, a, ma)) in lists.iter().enumerate() {
            for (j, b, mb) in &lists[x + 1..] {
                if a.tenant == b.tenant {
                    continue;
                }
                for ea in &ma.allowed_recipients {
                    for eb in &mb.allowed_recipients {
                        let whole = |e: &str| e.trim().starts_with('@');
                        let overlap = match (whole(ea), whole(eb)) {
                            (false, false) => mailbox_address(ea) == mailbox_address(eb),
                            _ => domain_of(ea).is_some() && domain_of(ea) == domain_of(eb),
                        };
                        if overlap {
                            return Err(ConnectorError::Config(format!(
                                "connectors[{j}] ({}).smtp.allowed_recipients: `{eb}` overlaps `{ea}` on tenant {}'s list (connectors[{i}] ({})): a recipient belongs to one tenant only",
                                b.name, a.tenant, a.name
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The connectors of one tenant.
    pub fn of_tenant<'a>(&'a self, tenant: &'a str) -> impl Iterator<Item = &'a ConnectorConfig> {
        self.0.iter().filter(move |c| c.tenant == tenant)
    }

    /// One connector of a tenant.
    pub fn get(&self, tenant: &str, name: &str) -> Option<&ConnectorConfig> {
        self.0.iter().find(|c| c.tenant == tenant && c.name == name)
    }
}

#[cfg(test)]
mod tests;
