//! ServiceNow: a ticket per event through the Table API — a `change_request` for an
//! approval request, an `incident` for anything else (a block, break glass) — created once
//! however often the delivery is retried, and the change request's approval coming back.
//!
//! **Idempotent creation.** Each ticket carries `correlation_id` `cavra:<idempotency key>`
//! (the same on every attempt and replica). An attempt first asks the table for a record with
//! that `correlation_id` and creates one only when there is none, so a retry after a lost
//! answer finds the ticket the first attempt made.
//!
//! **State back.** A business rule or flow on the instance POSTs the change request when its
//! `approval` changes to `POST /v1/integrations/servicenow/events`, signed with a shared
//! secret: `X-Cavra-Timestamp` (Unix seconds) and `X-Cavra-Signature: v1=<hex HMAC-SHA256 of
//! "{timestamp}.{body}">`. [`ServiceNowApps::verify`] checks it (constant time, five minutes,
//! never twice); `approved` grants the approval named in `correlation_display`
//! (`<tenant>:<approval id>`), `rejected` denies it, as the ServiceNow user who changed it
//! mapped to an approver identity, through the API's approve and deny code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ConnectorError;
use crate::chat::{self, ChatApprover};
use crate::config::ConnectorConfig;
use crate::http;
use crate::secret::{Secret, SecretRef};
use crate::signature::{self, SignedApp, Verifier};
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict};

/// ServiceNow (the `servicenow` key of a connector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// The instance (`https://acme.service-now.com`).
    pub instance_url: String,
    /// The integration user (basic authentication).
    pub user: String,
    /// Its password (by reference).
    pub password: SecretRef,
    /// The secret the instance signs state updates with (by reference); without it no
    /// update is taken.
    #[serde(default)]
    pub webhook_secret: Option<SecretRef>,
    /// ServiceNow user name (`sys_updated_by`) → the approver identity they act as.
    #[serde(default)]
    pub approvers: BTreeMap<String, ChatApprover>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Poll the change requests of pending approvals for their approval (instead of, or
    /// beside, the webhook).
    #[serde(default)]
    pub poll: Option<PollConfig>,
}

/// Polling of change requests (the `poll` key of a `servicenow` connector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Seconds between polls while the instance answers (default 60).
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// The longest wait after failures (default 900): each failed poll doubles the wait,
    /// from `interval_seconds` up to this.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_seconds: u64,
}

impl PollConfig {
    /// Checks the bounds (`at` names the key in errors).
    pub(crate) fn check(&self, at: &str) -> Result<(), ConnectorError> {
        if self.interval_seconds == 0 || self.interval_seconds > 86_400 {
            return Err(ConnectorError::Config(format!(
                "{at}.interval_seconds: 1 to 86400"
            )));
        }
        if self.max_backoff_seconds < self.interval_seconds || self.max_backoff_seconds > 86_400 {
            return Err(ConnectorError::Config(format!(
                "{at}.max_backoff_seconds: from interval_seconds to 86400"
            )));
        }
        Ok(())
    }
}

fn default_interval() -> u64 {
    60
}

fn default_max_backoff() -> u64 {
    900
}

/// The wait before the next poll after `failures` failed polls in a row: `interval`, doubled
/// with each failure, at most `max`.
pub fn poll_delay(
    interval: std::time::Duration,
    failures: u32,
    max: std::time::Duration,
) -> std::time::Duration {
    interval
        .saturating_mul(2u32.saturating_pow(failures.min(31)))
        .min(max.max(interval))
}

impl ServiceNowConfig {
    pub(crate) fn check(&self, at: &str) -> Result<(), ConnectorError> {
        crate::config::check_url(&format!("{at}.servicenow.instance_url"), &self.instance_url)?;
        if self.user.trim().is_empty() {
            return Err(ConnectorError::Config(format!(
                "{at}.servicenow.user: the integration user's name"
            )));
        }
        if !self.approvers.is_empty() && self.webhook_secret.is_none() && self.poll.is_none() {
            return Err(ConnectorError::Config(format!(
                "{at}.servicenow.webhook_secret: approvals come back signed with it, or polled (poll): give one"
            )));
        }
        if let Some(p) = &self.poll {
            if p.interval_seconds == 0 || p.interval_seconds > 86_400 {
                return Err(ConnectorError::Config(format!(
                    "{at}.servicenow.poll.interval_seconds: 1 to 86400"
                )));
            }
            if p.max_backoff_seconds < p.interval_seconds || p.max_backoff_seconds > 86_400 {
                return Err(ConnectorError::Config(format!(
                    "{at}.servicenow.poll.max_backoff_seconds: from interval_seconds to 86400"
                )));
            }
            if self.approvers.is_empty() {
                return Err(ConnectorError::Config(format!(
                    "{at}.servicenow.poll: polled approvals are decided as the approvers: map them (approvers)"
                )));
            }
        }
        chat::check_approvers(
            &format!("{at}.servicenow.approvers"),
            &self.approvers,
            |u| !u.is_empty() && u.len() <= 100 && !u.contains(char::is_whitespace),
            "a ServiceNow user name",
        )
        .map_err(ConnectorError::Config)
    }

    pub(crate) fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut out = vec![("servicenow.password", &self.password)];
        if let Some(s) = &self.webhook_secret {
            out.push(("servicenow.webhook_secret", s));
        }
        out
    }
}

/// A ServiceNow destination.
pub struct ServiceNow {
    client: reqwest::Client,
    base: url::Url,
    user: String,
    password: Secret,
}

/// The table an event's ticket goes to.
pub fn table(kind: &str) -> &'static str {
    if kind == "approval.requested" {
        "change_request"
    } else {
        "incident"
    }
}

/// The record an envelope becomes (without `correlation_id`).
pub fn record(envelope: &Value) -> Value {
    let data = &envelope["data"];
    let kind = envelope["type"].as_str().unwrap_or("event");
    let tenant = envelope["tenant"].as_str().unwrap_or("");
    let subject = envelope["subject"].as_str().unwrap_or("");
    let mut description: Vec<String> = chat::approval_facts(data)
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if let Some(t) = envelope["text"].as_str() {
        description.push(t.to_string());
    }
    description.push(format!("cavra event {} of tenant {tenant}", envelope["id"]));
    // Urgency and impact 1 (high) to 3 (low), from the rule's severity.
    let level = match chat::field(data, "severity") {
        "critical" | "high" => "1",
        "medium" => "2",
        _ => "3",
    };
    json!({
        "short_description": chat::cut(&format!("cavra: {}", chat::headline(kind, data)), 160),
        "description": description.join("\n"),
        "correlation_display": format!("{tenant}:{subject}"),
        "urgency": level,
        "impact": level,
    })
}

impl ServiceNow {
    /// Builds the destination of `c` (its `servicenow`), resolving its password.
    pub fn new(c: &ConnectorConfig) -> Result<ServiceNow, ConnectorError> {
        let s = c.servicenow.as_ref().ok_or_else(|| ConnectorError::Setup {
            name: c.name.clone(),
            reason: "not a servicenow connector".into(),
        })?;
        let base = url::Url::parse(&format!("{}/", s.instance_url.trim_end_matches('/'))).map_err(
            |e| ConnectorError::Setup {
                name: c.name.clone(),
                reason: e.to_string(),
            },
        )?;
        Ok(ServiceNow {
            client: http::client(&c.name, c.timeout_ms, s.ca_file.as_deref())?,
            base,
            user: s.user.clone(),
            password: s
                .password
                .resolve(&format!("{}.servicenow.password", c.name))?,
        })
    }

    fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .basic_auth(&self.user, Some(self.password.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let table = table(&msg.event_kind);
        let Ok(mut url) = self.base.join(&format!("api/now/table/{table}")) else {
            return Sent {
                verdict: Verdict::Permanent,
                status: "bad url".into(),
                request: table.into(),
                response: String::new(),
            };
        };
        let correlation = format!("cavra:{}", msg.idempotency_key);
        // A ticket an earlier attempt made (its answer lost) is found, not made again.
        let mut query = url.clone();
        query
            .query_pairs_mut()
            .append_pair("sysparm_query", &format!("correlation_id={correlation}"))
            .append_pair("sysparm_fields", "sys_id,number")
            .append_pair("sysparm_limit", "1");
        let request = format!("GET {} (correlation_id {correlation})", http::shown(&url));
        let found = http::answered(
            request,
            self.request(reqwest::Method::GET, query).send().await,
        )
        .await;
        if found.verdict != Verdict::Delivered {
            return found;
        }
        let existing: Value = serde_json::from_str(&found.response).unwrap_or(Value::Null);
        if let Some(number) = existing["result"][0]["number"].as_str() {
            return Sent {
                status: format!("exists {number}"),
                ..found
            };
        }
        let mut body = record(&msg.envelope);
        body["correlation_id"] = json!(correlation);
        let text = body.to_string();
        url.set_query(None);
        let request = format!("POST {} ({} bytes)", http::shown(&url), text.len());
        let created = http::answered(
            request,
            self.request(reqwest::Method::POST, url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(text)
                .send()
                .await,
        )
        .await;
        created.naming_created("/result/number")
    }
}

impl Sink for ServiceNow {
    fn kind(&self) -> &'static str {
        "servicenow"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

/// A verified state update of a change request.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The tenant its `correlation_display` names.
    pub tenant: String,
    /// The approval.
    pub approval_id: String,
    /// `approved` (true) or `rejected`.
    pub approve: bool,
    /// Who changed it (`sys_updated_by`).
    pub user: String,
    /// The ticket (`CHG…`).
    pub number: String,
    /// Its `sys_id`.
    pub sys_id: String,
}

pub use crate::signature::Refusal;

pub use crate::signature::NOT_AN_UPDATE;

/// One tenant's instance, as its updates are taken.
pub type ServiceNowApp = SignedApp<()>;

/// Every ServiceNow connector with a `webhook_secret`.
#[derive(Default)]
pub struct ServiceNowApps {
    verifier: Verifier<ServiceNowApp>,
}

impl ServiceNowApps {
    /// The instances whose updates are taken, secrets resolved.
    pub fn new(config: &crate::ConnectorsConfig) -> Result<ServiceNowApps, ConnectorError> {
        let verifier = signature::verifier_of(config, |c| {
            let Some(s) = &c.servicenow else {
                return Ok(None);
            };
            let Some(secret) = &s.webhook_secret else {
                return Ok(None);
            };
            let secret = secret.resolve(&format!("{}.servicenow.webhook_secret", c.name))?;
            Ok(Some(SignedApp::new(
                c,
                secret.expose().as_bytes().to_vec(),
                s.approvers.clone(),
                (),
            )))
        })?;
        Ok(ServiceNowApps { verifier })
    }

    /// Whether any instance sends updates.
    pub fn is_empty(&self) -> bool {
        self.verifier.is_empty()
    }

    /// Checks a state update (its two headers and raw body) at `now` (Unix seconds).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(std::sync::Arc<ServiceNowApp>, Update), Refusal> {
        let ts_text = timestamp.ok_or(Refusal::Unsigned)?.trim();
        let ts: i64 = ts_text.parse().map_err(|_| Refusal::Unsigned)?;
        let sig = signature
            .and_then(|s| s.trim().strip_prefix("v1="))
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Unsigned)?;
        let signed = self
            .verifier
            .signed_by(&[ts_text.as_bytes(), b".", body], &sig)?;
        signed.fresh_once(ts, &sig, now)?;
        let update = parse_update(body).map_err(|why| signed.malformed(why))?;
        let app = signed.of_tenant(&update.tenant, "ticket")?;
        Ok((app, update))
    }
}

fn parse_update(body: &[u8]) -> Result<Update, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    update_of(&v)
}

/// The update a change request record (from the webhook or a poll) says.
fn update_of(v: &Value) -> Result<Update, String> {
    let text = |k: &str| v[k].as_str().map(str::to_string);
    let approve = match v["approval"].as_str() {
        Some("approved") => true,
        Some("rejected") => false,
        other => {
            return Err(format!(
                "approval {other:?} is neither approved nor rejected"
            ));
        }
    };
    let (tenant, id) = v["correlation_display"]
        .as_str()
        .and_then(|c| c.split_once(':'))
        .ok_or("correlation_display is not tenant:approval")?;
    Ok(Update {
        tenant: tenant.to_string(),
        approval_id: id.to_string(),
        approve,
        user: text("sys_updated_by").ok_or("no sys_updated_by")?,
        number: text("number").unwrap_or_default(),
        sys_id: text("sys_id").unwrap_or_default(),
    })
}

/// One tenant's instance, polled for the change requests of its pending approvals.
pub struct ServiceNowPoller {
    /// The tenant.
    pub tenant: String,
    /// The connector's name.
    pub name: String,
    /// The wait between polls.
    pub interval: std::time::Duration,
    /// The longest wait after failures.
    pub max_backoff: std::time::Duration,
    destination: ServiceNow,
    approvers: BTreeMap<String, ChatApprover>,
}

/// Change requests asked for in one query at most (the query names each).
const POLL_CHUNK: usize = 50;

impl ServiceNowPoller {
    /// A poller of every ServiceNow connector with `poll`, secrets resolved.
    pub fn all(
        config: &crate::ConnectorsConfig,
    ) -> Result<Vec<std::sync::Arc<ServiceNowPoller>>, ConnectorError> {
        let mut out = Vec::new();
        for c in &config.0 {
            let (Some(s), Some(p)) = (
                &c.servicenow,
                c.servicenow.as_ref().and_then(|s| s.poll.as_ref()),
            ) else {
                continue;
            };
            out.push(std::sync::Arc::new(ServiceNowPoller {
                tenant: c.tenant.clone(),
                name: c.name.clone(),
                interval: std::time::Duration::from_secs(p.interval_seconds),
                max_backoff: std::time::Duration::from_secs(p.max_backoff_seconds),
                destination: ServiceNow::new(c)?,
                approvers: s.approvers.clone(),
            }));
        }
        Ok(out)
    }

    /// The approver identity a ServiceNow user acts as, when configured.
    pub fn approver(&self, user: &str) -> Option<&ChatApprover> {
        self.approvers.get(user)
    }

    /// The change requests of `approval_ids` (approvals of this tenant) whose approval is
    /// `approved` or `rejected`: `GET /api/now/table/change_request` with
    /// `correlation_displayIN<tenant>:<id>,…^approvalINapproved,rejected`, 50 approvals a
    /// query. An error says why (no answer, a status other than 200, a body that is not a
    /// result list).
    pub async fn decided(&self, approval_ids: &[String]) -> Result<Vec<Update>, String> {
        let d = &self.destination;
        let url = d
            .base
            .join("api/now/table/change_request")
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for chunk in approval_ids.chunks(POLL_CHUNK) {
            let names: Vec<String> = chunk
                .iter()
                .map(|id| format!("{}:{id}", self.tenant))
                .collect();
            let mut q = url.clone();
            q.query_pairs_mut()
                .append_pair(
                    "sysparm_query",
                    &format!(
                        "correlation_displayIN{}^approvalINapproved,rejected",
                        names.join(",")
                    ),
                )
                .append_pair(
                    "sysparm_fields",
                    "number,sys_id,correlation_display,approval,sys_updated_by",
                )
                .append_pair("sysparm_limit", &POLL_CHUNK.to_string());
            let resp = d
                .request(reqwest::Method::GET, q)
                .send()
                .await
                .map_err(|e| format!("GET {}: {e}", http::shown(&url)))?;
            let status = resp.status();
            let text = http::body(resp).await;
            if status != reqwest::StatusCode::OK {
                return Err(format!(
                    "GET {}: {status} {}",
                    http::shown(&url),
                    crate::sink::excerpt(&text)
                ));
            }
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("GET {}: not JSON: {e}", http::shown(&url)))?;
            let records = v["result"]
                .as_array()
                .ok_or_else(|| format!("GET {}: no result list", http::shown(&url)))?;
            for r in records {
                // A record the query should not have matched is skipped, not trusted.
                if let Ok(u) = update_of(r)
                    && u.tenant == self.tenant
                    && chunk.contains(&u.approval_id)
                {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }
}

/// What tests need to send a signed state update: built once here.
#[cfg(feature = "testing")]
pub mod testing {
    use super::*;
    use base64::Engine as _;

    /// The change request `number` of approval `approval_id` of `tenant` set to `approval`
    /// (`approved`, `rejected`) by `user`, signed with `secret` at `timestamp`: the headers
    /// and the JSON body.
    pub fn signed_update(
        secret: &str,
        timestamp: i64,
        tenant: &str,
        approval_id: &str,
        number: &str,
        approval: &str,
        user: &str,
    ) -> (Vec<(&'static str, String)>, String) {
        let body = json!({
            "table": "change_request", "number": number, "sys_id": format!("sys-{number}"),
            "correlation_display": format!("{tenant}:{approval_id}"),
            "approval": approval, "sys_updated_by": user,
        })
        .to_string();
        let ts = timestamp.to_string();
        let mac = crate::signature::hmac_sha256(
            secret.as_bytes(),
            &[format!("{ts}.").as_bytes(), body.as_bytes()],
        );
        (
            vec![
                ("X-Cavra-Timestamp", ts),
                ("X-Cavra-Signature", format!("v1={}", hex::encode(mac))),
                ("Content-Type", "application/json".to_string()),
            ],
            body,
        )
    }

    /// The `Authorization` a stand-in expects of user `user` with `password`.
    pub fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_carry_the_facts_and_the_approval() {
        let env = json!({"id": "evt_1", "type": "approval.requested", "tenant": "acme", "subject": "apr_1",
            "data": {"action_type": "execute_command", "target": "terraform apply", "severity": "high"}});
        assert_eq!(table("approval.requested"), "change_request");
        assert_eq!(table("decision.block"), "incident");
        let r = record(&env);
        assert_eq!(r["correlation_display"], "acme:apr_1");
        assert_eq!(r["urgency"], "1");
        assert!(
            r["description"]
                .as_str()
                .unwrap()
                .contains("terraform apply")
        );
    }

    #[test]
    fn polls_back_off_doubling_to_the_maximum() {
        use std::time::Duration;
        let (i, m) = (Duration::from_secs(60), Duration::from_secs(900));
        let waits: Vec<u64> = (0..7).map(|f| poll_delay(i, f, m).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(poll_delay(i, u32::MAX, m), m);
        assert_eq!(
            poll_delay(i, 3, Duration::from_secs(1)),
            i,
            "never under the interval"
        );
    }

    #[test]
    fn updates_read_approved_and_rejected() {
        let u = parse_update(br#"{"approval":"rejected","correlation_display":"acme:apr_2","sys_updated_by":"jane","number":"CHG1"}"#).unwrap();
        assert!(!u.approve && u.approval_id == "apr_2" && u.user == "jane");
        assert!(
            parse_update(
                br#"{"approval":"requested","correlation_display":"a:b","sys_updated_by":"j"}"#
            )
            .is_err()
        );
    }
}
