//! The connectors' configuration: a list in the service's configuration file, each entry one
//! destination of one tenant, with exactly one kind key (`splunk_hec`, `ocsf_https`).
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
    /// Splunk HTTP Event Collector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splunk_hec: Option<HecConfig>,
    /// OCSF events over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsf_https: Option<OcsfConfig>,
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

/// Which kind a connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Splunk HEC.
    SplunkHec,
    /// OCSF over HTTPS.
    OcsfHttps,
}

impl Kind {
    /// The configuration key.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SplunkHec => "splunk_hec",
            Kind::OcsfHttps => "ocsf_https",
        }
    }
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
fn check_url(field: &str, text: &str) -> Result<url::Url, ConnectorError> {
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
        match (&self.splunk_hec, &self.ocsf_https) {
            (Some(_), None) => Some(Kind::SplunkHec),
            (None, Some(_)) => Some(Kind::OcsfHttps),
            _ => None,
        }
    }

    /// Where it sends, for listings and records: scheme, host, port and path (no query,
    /// which may carry a token).
    pub fn destination(&self) -> String {
        let url = match (&self.splunk_hec, &self.ocsf_https) {
            (Some(h), _) => &h.url,
            (_, Some(o)) => &o.url,
            _ => return String::new(),
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
        let kinds = [self.splunk_hec.is_some(), self.ocsf_https.is_some()];
        match kinds.iter().filter(|k| **k).count() {
            1 => {}
            0 => {
                return Err(ConnectorError::Config(format!(
                    "{at}: give its kind: one of splunk_hec, ocsf_https"
                )));
            }
            _ => {
                return Err(ConnectorError::Config(format!(
                    "{at}: give one kind only (splunk_hec, ocsf_https)"
                )));
            }
        }
        for (i, pattern) in self.events.iter().enumerate() {
            EventType::check_pattern(pattern).map_err(|m| err(format!("events[{i}]: {m}")))?;
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
        self.check_no_hidden_secret(at)
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
mod tests {
    use super::*;

    fn one(yaml: &str) -> Result<ConnectorsConfig, String> {
        ConnectorsConfig::from_yaml(yaml).map_err(|e| e.to_string())
    }

    const HEC: &str = "
- name: siem
  tenant: acme
  events: [decision.block, \"approval.*\"]
  filter: {severity: [high, critical], repository: [\"acme/*\"]}
  splunk_hec:
    url: https://splunk.internal:8088
    token: env:CAVRA_HEC_TOKEN
    channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11
    ack: true
";

    #[test]
    fn a_valid_configuration_reads() {
        let c = one(HEC).unwrap();
        assert_eq!(c.0.len(), 1);
        assert_eq!(c.0[0].kind(), Some(Kind::SplunkHec));
        assert_eq!(
            c.0[0].filter.severity,
            vec![Severity::High, Severity::Critical]
        );
        assert_eq!(c.0[0].retry, RetryPolicy::default());
    }

    #[test]
    fn an_inline_secret_is_refused_with_its_field_named() {
        let token = "0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a12";
        let err = one(&HEC.replace("env:CAVRA_HEC_TOKEN", token)).unwrap_err();
        assert!(
            err.contains("connectors[0] (siem).splunk_hec.token"),
            "{err}"
        );
        assert!(err.contains("inline secret"), "{err}");
        assert!(!err.contains(token), "{err}");

        let err = one(&HEC.replace(
            "https://splunk.internal:8088",
            "https://admin:hunter2@splunk.internal:8088",
        ))
        .unwrap_err();
        assert!(err.contains("connectors[0] (siem).splunk_hec.url"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");

        // A token pasted into a field that is not a secret field.
        let err = one(&HEC.replace(
            "channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11",
            "channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11\n    index: ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ))
        .unwrap_err();
        assert!(err.contains("splunk_hec.index"), "{err}");
        assert!(!err.contains("ghp_aaaa"), "{err}");
    }

    #[test]
    fn mistakes_are_named() {
        for (change, expect) in [
            (
                ("events: [decision.block", "events: [decision.blok"),
                "events[0]",
            ),
            (("name: siem", "name: Siem"), "connectors[0].name"),
            (("ack: true", "ack: true\n    colour: red"), "colour"),
            (
                (
                    "https://splunk.internal:8088",
                    "http://splunk.internal:8088",
                ),
                "loopback",
            ),
            (
                ("    channel: 0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11\n", ""),
                "needs a channel",
            ),
            (
                ("repository: [\"acme/*\"]", "repository: [\"acme/[\"]"),
                "filter.repository[0]",
            ),
        ] {
            let err = one(&HEC.replace(change.0, change.1)).unwrap_err();
            assert!(err.contains(expect), "{change:?}: {err}");
        }
        let twice = format!("{HEC}{}", HEC.trim_start_matches('\n'));
        assert!(
            one(&twice)
                .unwrap_err()
                .contains("another connector of that name")
        );
        let loopback = HEC.replace("https://splunk.internal:8088", "http://127.0.0.1:9");
        assert!(one(&loopback).is_ok());
        let none = "- {name: x, tenant: acme}";
        assert!(one(none).unwrap_err().contains("give its kind"));
    }
}
