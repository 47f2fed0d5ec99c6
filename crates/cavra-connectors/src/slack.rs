//! Slack: approval requests as Block Kit messages with Approve and Deny buttons, blocks and
//! break glass as alerts to a channel of the tenant's, and the button presses coming back.
//!
//! Messages go through the Web API (`chat.postMessage` with a bot token) or an incoming
//! webhook. A press arrives at the service (`POST /v1/integrations/slack/interactions`) and
//! is checked here ([`SlackApps::verify`]): the `v0` signature (HMAC-SHA256 of
//! `v0:{timestamp}:{body}` with the app's signing secret, compared in constant time), a
//! timestamp within five minutes, and never the same request twice. The service then maps
//! the Slack user to an approver identity ([`SlackApp::approver`]) and decides through the
//! same code as `POST /v1/approvals/{id}/approve`; the message is updated with the outcome
//! ([`SlackApp::update`]: `chat.update`, or the press's `response_url`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ConnectorError;
use crate::chat::{self, ChatApprover};
use crate::config::{ConnectorConfig, ConnectorsConfig};
use crate::http;
use crate::secret::{Secret, SecretRef};
use crate::signature::{self, SignedApp, Verifier};
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict, excerpt};

/// The `action_id` of the Approve button.
pub const APPROVE_ACTION: &str = "cavra_approve";
/// The `action_id` of the Deny button.
pub const DENY_ACTION: &str = "cavra_deny";

/// Slack (the `slack` key of a connector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The Web API's base URL (`https://slack.com/api`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// A bot token (by reference): messages go through `chat.postMessage` and are updated
    /// with `chat.update`. Give this or `webhook_url`.
    #[serde(default)]
    pub bot_token: Option<SecretRef>,
    /// The channel (id) approval requests and other events go to, with `bot_token`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The channel (id) blocks and break glass go to, with `bot_token` (default: `channel`).
    #[serde(default)]
    pub alerts_channel: Option<String>,
    /// An incoming webhook's URL (by reference: the URL is the credential), instead of a
    /// bot token; messages are updated through each press's `response_url`.
    #[serde(default)]
    pub webhook_url: Option<SecretRef>,
    /// A second incoming webhook for blocks and break glass (default: `webhook_url`).
    #[serde(default)]
    pub alerts_webhook_url: Option<SecretRef>,
    /// The app's signing secret (by reference). With it, approval requests carry Approve and
    /// Deny buttons and presses are verified with it; without it, they carry none.
    #[serde(default)]
    pub signing_secret: Option<SecretRef>,
    /// Slack user id (`U0123ABCD`) → the approver identity they act as. A press by anyone
    /// else is refused.
    #[serde(default)]
    pub approvers: BTreeMap<String, ChatApprover>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

fn valid_channel(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 80
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '#' | '.'))
}

fn valid_user(u: &str) -> bool {
    u.len() >= 3
        && u.len() <= 32
        && u.starts_with(['U', 'W'])
        && u.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl SlackConfig {
    /// Checks what serde cannot; `err` prefixes the field.
    pub(crate) fn check(&self, at: &str) -> Result<(), ConnectorError> {
        let err = |m: String| ConnectorError::Config(format!("{at}.slack.{m}"));
        crate::config::check_url(&format!("{at}.slack.api_url"), &self.api_url)?;
        match (&self.bot_token, &self.webhook_url) {
            (Some(_), None) => {
                let Some(channel) = &self.channel else {
                    return Err(err(
                        "channel: a bot token posts to a channel: name it".into()
                    ));
                };
                for c in [Some(channel), self.alerts_channel.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if !valid_channel(c) {
                        return Err(err(format!("channel: `{c}` is not a channel id")));
                    }
                }
                if self.alerts_webhook_url.is_some() {
                    return Err(err(
                        "alerts_webhook_url: with a bot token, use alerts_channel".into(),
                    ));
                }
            }
            (None, Some(_)) => {
                if self.channel.is_some() || self.alerts_channel.is_some() {
                    return Err(err(
                        "channel: an incoming webhook posts to its own channel; give no channel"
                            .into(),
                    ));
                }
            }
            _ => {
                return Err(err(
                    "bot_token: give a bot token (Web API) or a webhook_url, one of them".into(),
                ));
            }
        }
        if !self.approvers.is_empty() && self.signing_secret.is_none() {
            return Err(err(
                "signing_secret: approvers press buttons whose requests are verified with the app's signing secret: give it"
                    .into(),
            ));
        }
        chat::check_approvers(
            &format!("{at}.slack.approvers"),
            &self.approvers,
            valid_user,
            "U or W and capital letters and digits, as Slack shows it",
        )
        .map_err(ConnectorError::Config)
    }

    /// The secret fields, as (path under the connector, reference).
    pub(crate) fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        [
            ("slack.bot_token", self.bot_token.as_ref()),
            ("slack.webhook_url", self.webhook_url.as_ref()),
            ("slack.alerts_webhook_url", self.alerts_webhook_url.as_ref()),
            ("slack.signing_secret", self.signing_secret.as_ref()),
        ]
        .into_iter()
        .filter_map(|(f, r)| r.map(|r| (f, r)))
        .collect()
    }
}

/// Where messages go: the Web API with a token and channels, or webhooks.
enum Route {
    Api {
        token: Secret,
        channel: String,
        alerts_channel: String,
    },
    Webhook {
        url: url::Url,
        alerts: url::Url,
    },
}

/// A Slack destination.
pub struct Slack {
    client: reqwest::Client,
    api: url::Url,
    route: Route,
    buttons: bool,
}

/// Resolves a webhook URL held by reference and checks it like a configured URL.
fn webhook(r: &SecretRef, field: &str) -> Result<url::Url, ConnectorError> {
    let s = r.resolve(field)?;
    crate::config::check_url(field, s.expose()).map_err(|_| ConnectorError::Secret {
        reference: r.as_str().to_string(),
        reason: "not an https URL (plain http only to loopback)".into(),
    })
}

fn config_of(c: &ConnectorConfig) -> Result<&SlackConfig, ConnectorError> {
    c.slack.as_ref().ok_or_else(|| ConnectorError::Setup {
        name: c.name.clone(),
        reason: "not a slack connector".into(),
    })
}

/// The Web API's base URL with a trailing slash, so methods join under it.
fn api_base(c: &ConnectorConfig, s: &SlackConfig) -> Result<url::Url, ConnectorError> {
    let text = format!("{}/", s.api_url.trim_end_matches('/'));
    url::Url::parse(&text).map_err(|e| ConnectorError::Setup {
        name: c.name.clone(),
        reason: e.to_string(),
    })
}

impl Slack {
    /// Builds the destination of `c` (its `slack`), resolving its secrets.
    pub fn new(c: &ConnectorConfig) -> Result<Slack, ConnectorError> {
        let s = config_of(c)?;
        let route = match (&s.bot_token, &s.webhook_url) {
            (Some(t), _) => {
                let channel = s.channel.clone().unwrap_or_default();
                Route::Api {
                    token: t.resolve(&format!("{}.slack.bot_token", c.name))?,
                    alerts_channel: s.alerts_channel.clone().unwrap_or_else(|| channel.clone()),
                    channel,
                }
            }
            (None, Some(w)) => {
                let url = webhook(w, &format!("{}.slack.webhook_url", c.name))?;
                let alerts = match &s.alerts_webhook_url {
                    Some(a) => webhook(a, &format!("{}.slack.alerts_webhook_url", c.name))?,
                    None => url.clone(),
                };
                Route::Webhook { url, alerts }
            }
            (None, None) => {
                return Err(ConnectorError::Setup {
                    name: c.name.clone(),
                    reason: "no bot_token or webhook_url".into(),
                });
            }
        };
        Ok(Slack {
            client: http::client(&c.name, c.timeout_ms, s.ca_file.as_deref())?,
            api: api_base(c, s)?,
            route,
            buttons: s.signing_secret.is_some(),
        })
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let alert = chat::is_alert(&msg.event_kind);
        let mut body = message(&msg.envelope, self.buttons);
        // Message metadata carries the idempotency key: Slack has none, so a retry after a
        // lost answer can post twice, and this lets a reader tell the copies apart.
        body["metadata"] = json!({"event_type": "cavra_event", "event_payload": {
            "event_id": msg.event_id, "idempotency_key": msg.idempotency_key}});
        match &self.route {
            Route::Api {
                token,
                channel,
                alerts_channel,
            } => {
                body["channel"] = json!(if alert { alerts_channel } else { channel });
                web_api(&self.client, &self.api, token, "chat.postMessage", &body).await
            }
            Route::Webhook { url, alerts } => {
                let url = if alert { alerts } else { url };
                post_webhook(&self.client, url, &body).await
            }
        }
    }
}

impl Sink for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

/// Calls a Web API method (`chat.postMessage`, `chat.update`): HTTP 200 with `"ok": true`
/// is delivered; `ok: false` with a transient error (`ratelimited`, `internal_error`,
/// `fatal_error`, `service_unavailable`, `request_timeout`) is retried, any other (an
/// invalid token, an unknown channel) is permanent; other statuses as every HTTP kind.
async fn web_api(
    client: &reqwest::Client,
    api: &url::Url,
    token: &Secret,
    method: &str,
    body: &Value,
) -> Sent {
    let Ok(url) = api.join(method) else {
        return Sent {
            verdict: Verdict::Permanent,
            status: "bad url".into(),
            request: method.into(),
            response: String::new(),
        };
    };
    let text = body.to_string();
    let request = format!("POST {} ({} bytes)", http::shown(&url), text.len());
    let sent = client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .bearer_auth(token.expose())
        .body(text)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let after = http::retry_after(resp.headers());
            let answer = http::body(resp).await;
            if !status.is_success() {
                return Sent {
                    verdict: http::verdict(status, after),
                    status: status.as_u16().to_string(),
                    request,
                    response: excerpt(&answer),
                };
            }
            let v: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            if v["ok"] == true {
                let ts = v["ts"].as_str().unwrap_or("");
                return Sent {
                    verdict: Verdict::Delivered,
                    status: if ts.is_empty() {
                        "ok".into()
                    } else {
                        format!("ok ts {ts}")
                    },
                    request,
                    response: excerpt(&answer),
                };
            }
            let error = v["error"].as_str().unwrap_or("no ok in the answer");
            let transient = matches!(
                error,
                "ratelimited"
                    | "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
            );
            Sent {
                verdict: if transient {
                    Verdict::Retry { after_ms: after }
                } else {
                    Verdict::Permanent
                },
                status: error.chars().take(64).collect(),
                request,
                response: excerpt(&answer),
            }
        }
        Err(e) => http::no_answer(request, &e),
    }
}

/// POSTs a message to an incoming webhook or a `response_url` (which answer `ok` as text).
async fn post_webhook(client: &reqwest::Client, url: &url::Url, body: &Value) -> Sent {
    let text = body.to_string();
    // A webhook's path is its credential: the record shows the host only.
    let request = format!(
        "POST {}://{}/… ({} bytes)",
        url.scheme(),
        url.host_str().unwrap_or(""),
        text.len()
    );
    let result = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(text)
        .send()
        .await;
    http::answered(request, result).await
}

/// Escapes text for Slack's `mrkdwn` (`&`, `<`, `>`; the rest is shown as written) and cuts
/// it to Block Kit's limit for a field.
pub fn escape(text: &str) -> String {
    chat::cut(text, 1900)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": chat::cut(text, max), "emoji": false})
}

/// An RFC 3339 time as Slack's date formatting (shown in the reader's time zone), with the
/// time as written for clients that cannot.
fn slack_date(rfc3339: &str) -> String {
    match time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) {
        Ok(t) => format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            t.unix_timestamp(),
            escape(rfc3339)
        ),
        Err(_) => escape(rfc3339),
    }
}

/// The message of an envelope: an approval request with its facts and, when `buttons`,
/// Approve and Deny; any other event as its headline, facts and ids.
pub fn message(envelope: &Value, buttons: bool) -> Value {
    let data = &envelope["data"];
    let kind = envelope["type"].as_str().unwrap_or("event");
    let tenant = envelope["tenant"].as_str().unwrap_or("");
    let subject = envelope["subject"].as_str().unwrap_or("");
    let requested = kind == "approval.requested";
    let title = match kind {
        "approval.requested" => "Approval needed".to_string(),
        "decision.block" => "Blocked".to_string(),
        "decision.break_glass" | "approval.break_glass" => "BREAK GLASS".to_string(),
        other => other.to_string(),
    };
    let fields: Vec<Value> = chat::approval_facts(data)
        .into_iter()
        .take(10)
        .map(|(k, v)| {
            let shown = if k == "Expires" {
                slack_date(&v)
            } else {
                escape(&v)
            };
            json!({"type": "mrkdwn", "text": format!("*{k}*\n{shown}")})
        })
        .collect();
    let mut blocks = vec![json!({"type": "header", "text": plain(&title, 150)})];
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(t) = envelope["text"].as_str().filter(|t| !t.is_empty()) {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(t)}}));
    }
    if requested && buttons && !subject.is_empty() {
        let value = format!("{tenant}:{subject}");
        blocks.push(
            json!({"type": "actions", "block_id": "cavra_approval", "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": plain("Approve", 75), "value": value},
                {"type": "button", "action_id": DENY_ACTION, "style": "danger",
                 "text": plain("Deny", 75), "value": value},
            ]}),
        );
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
        &format!("cavra · tenant {tenant} · {kind} · {subject}"))}]}),
    );
    json!({
        "text": chat::cut(&format!("{title}: {}", chat::headline(kind, data)), 3000),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// A verified button press.
#[derive(Debug, Clone, PartialEq)]
pub struct Press {
    /// The tenant named by the button.
    pub tenant: String,
    /// The approval it decides.
    pub approval_id: String,
    /// Approve (true) or deny.
    pub approve: bool,
    /// The Slack user who pressed.
    pub user: String,
    /// Their workspace.
    pub team: String,
    /// The message's channel, when Slack says.
    pub channel: Option<String>,
    /// The message's `ts`, when Slack says.
    pub message_ts: Option<String>,
    /// Where to answer the press, when Slack gives one.
    pub response_url: Option<String>,
    /// The message's blocks as Slack holds them (to update it keeping its facts).
    pub blocks: Option<Value>,
}

pub use crate::signature::Refusal;

/// What a Slack app adds to a signed sender: how it answers a press (its Web API and bot
/// token, when it has one; the press's `response_url` otherwise).
pub struct SlackBot {
    client: reqwest::Client,
    api: url::Url,
    token: Option<Secret>,
}

/// One Slack app of one tenant, as its presses are handled.
pub type SlackApp = SignedApp<SlackBot>;

/// The word a press that is not one is recorded with.
pub const NOT_A_PRESS: &str = "not_a_press";

/// Every Slack app configured to take presses (connectors with a signing secret).
#[derive(Default)]
pub struct SlackApps {
    verifier: Verifier<SlackApp>,
}

impl SlackApps {
    /// The apps of every Slack connector with a signing secret, secrets resolved.
    pub fn new(config: &ConnectorsConfig) -> Result<SlackApps, ConnectorError> {
        let verifier = signature::verifier_of(config, |c| {
            let Some(s) = &c.slack else { return Ok(None) };
            let Some(secret) = &s.signing_secret else {
                return Ok(None);
            };
            let secret = secret.resolve(&format!("{}.slack.signing_secret", c.name))?;
            let bot = SlackBot {
                client: http::client(&c.name, c.timeout_ms, s.ca_file.as_deref())?,
                api: api_base(c, s)?,
                token: s
                    .bot_token
                    .as_ref()
                    .map(|t| t.resolve(&format!("{}.slack.bot_token", c.name)))
                    .transpose()?,
            };
            Ok(Some(SignedApp::new(
                c,
                secret.expose().as_bytes().to_vec(),
                s.approvers.clone(),
                bot,
            )))
        })?;
        Ok(SlackApps { verifier })
    }

    /// Whether any app takes presses.
    pub fn is_empty(&self) -> bool {
        self.verifier.is_empty()
    }

    /// Checks a request to the interactions endpoint (its two Slack headers and raw body) at
    /// `now` (Unix seconds): signed by a configured app, fresh, first seen, a press of
    /// cavra's buttons naming that app's tenant. Returns the app and the press.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(std::sync::Arc<SlackApp>, Press), Refusal> {
        let ts_text = timestamp.ok_or(Refusal::Unsigned)?;
        let ts: i64 = ts_text.trim().parse().map_err(|_| Refusal::Unsigned)?;
        let sig = signature
            .and_then(|s| s.trim().strip_prefix("v0="))
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Unsigned)?;
        let signed = self
            .verifier
            .signed_by(&[b"v0:", ts_text.as_bytes(), b":", body], &sig)?;
        signed.fresh_once(ts, &sig, now)?;
        let press = parse_press(body).map_err(|why| signed.malformed(why))?;
        // The button names the tenant; only that tenant's app may have signed it (one app
        // shared by several tenants signs for each of them).
        let app = signed.of_tenant(&press.tenant, "button")?;
        Ok((app, press))
    }
}

/// Reads a press from an interaction request's body (`payload=<JSON>`, form-encoded).
fn parse_press(body: &[u8]) -> Result<Press, String> {
    let payload = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("no payload field")?;
    let p: Value = serde_json::from_str(&payload).map_err(|e| format!("payload: {e}"))?;
    if p["type"] != "block_actions" {
        return Err(format!("type {} is not block_actions", p["type"]));
    }
    let action = p["actions"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or("no action")?;
    let approve = match action["action_id"].as_str() {
        Some(APPROVE_ACTION) => true,
        Some(DENY_ACTION) => false,
        other => return Err(format!("action {other:?} is not cavra's")),
    };
    let value = action["value"].as_str().ok_or("the button has no value")?;
    let (tenant, id) = value
        .split_once(':')
        .ok_or("the button's value is not tenant:approval")?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let user = text(&p["user"]["id"]).ok_or("no user")?;
    Ok(Press {
        tenant: tenant.to_string(),
        approval_id: id.to_string(),
        approve,
        team: text(&p["team"]["id"])
            .or_else(|| text(&p["user"]["team_id"]))
            .unwrap_or_default(),
        user,
        channel: text(&p["container"]["channel_id"]).or_else(|| text(&p["channel"]["id"])),
        message_ts: text(&p["container"]["message_ts"]).or_else(|| text(&p["message"]["ts"])),
        response_url: text(&p["response_url"]),
        blocks: p["message"]["blocks"].as_array().map(|b| json!(b)),
    })
}

impl SlackApp {
    /// Replaces the pressed message with its facts and the outcome (`mrkdwn`, escaped by the
    /// caller: see [`escape`]), without buttons: `chat.update` with the bot token, else
    /// through the press's `response_url`.
    pub async fn update(&self, press: &Press, outcome: &str) -> Sent {
        let mut blocks: Vec<Value> = press
            .blocks
            .as_ref()
            .and_then(Value::as_array)
            .map(|b| {
                b.iter()
                    .filter(|b| b["type"] != "actions")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": chat::cut(outcome, 2900)}}));
        let mut body = json!({"text": chat::cut(outcome, 3000), "blocks": blocks});
        match (&self.kind.token, &press.channel, &press.message_ts) {
            (Some(token), Some(channel), Some(ts)) => {
                body["channel"] = json!(channel);
                body["ts"] = json!(ts);
                web_api(
                    &self.kind.client,
                    &self.kind.api,
                    token,
                    "chat.update",
                    &body,
                )
                .await
            }
            _ => {
                body["replace_original"] = json!(true);
                self.respond(press, &body).await
            }
        }
    }

    /// Tells only the presser why their press was refused (an ephemeral message): through
    /// the press's `response_url`, else `chat.postEphemeral` with the bot token.
    pub async fn tell(&self, press: &Press, text: &str) -> Sent {
        let mut body = json!({"text": chat::cut(text, 3000)});
        match (&press.response_url, &self.kind.token, &press.channel) {
            (Some(_), _, _) | (None, None, _) | (None, _, None) => {
                body["response_type"] = json!("ephemeral");
                body["replace_original"] = json!(false);
                self.respond(press, &body).await
            }
            (None, Some(token), Some(channel)) => {
                body["channel"] = json!(channel);
                body["user"] = json!(press.user);
                web_api(
                    &self.kind.client,
                    &self.kind.api,
                    token,
                    "chat.postEphemeral",
                    &body,
                )
                .await
            }
        }
    }

    async fn respond(&self, press: &Press, body: &Value) -> Sent {
        // The URL comes in the signed request; it must still be https (or loopback).
        let url = press
            .response_url
            .as_deref()
            .and_then(|u| crate::config::check_url("response_url", u).ok());
        match url {
            Some(u) => post_webhook(&self.kind.client, &u, body).await,
            None => Sent {
                verdict: Verdict::Permanent,
                status: "no response_url".into(),
                request: String::new(),
                response: String::new(),
            },
        }
    }
}

/// What tests and benchmarks need to press cavra's buttons as Slack would (the `testing`
/// feature).
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(secret_file: &std::path::Path) -> SlackApps {
        let yaml = format!(
            "
- name: chat
  tenant: acme
  slack:
    bot_token: file:{0}
    channel: C0APPROVALS
    alerts_channel: C0ALERTS
    signing_secret: file:{0}
    approvers:
      U0ALICE: {{subject: alice, groups: [Cloud Security]}}
",
            secret_file.display()
        );
        SlackApps::new(&ConnectorsConfig::from_yaml(&yaml).unwrap()).unwrap()
    }

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        let mac = crate::signature::hmac_sha256(
            secret.as_bytes(),
            &[format!("v0:{ts}:{body}").as_bytes()],
        );
        format!("v0={}", hex::encode(mac))
    }

    fn press_body(value: &str, action: &str) -> String {
        let payload = json!({"type": "block_actions", "user": {"id": "U0ALICE"}, "team": {"id": "T1"},
            "actions": [{"action_id": action, "value": value}], "response_url": "https://hooks.slack.com/actions/x"});
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
    }

    #[test]
    fn a_press_is_verified_fresh_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "8f742231b10e8888abcd99yyyzzz85a5\n").unwrap();
        let apps = apps(&file);
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = press_body("acme:apr_1", APPROVE_ACTION);
        let now = 1_700_000_000;
        let ts = now.to_string();
        let sig = sign(secret, &ts, &body);
        let (app, press) = apps
            .verify(Some(&ts), Some(&sig), body.as_bytes(), now + 10)
            .unwrap();
        assert_eq!(app.tenant, "acme");
        assert_eq!(press.approval_id, "apr_1");
        assert!(press.approve);
        assert_eq!(app.approver("U0ALICE").unwrap().subject, "alice");
        assert!(app.approver("U0MALLORY").is_none());
        // Again: a replay.
        let r = apps.verify(Some(&ts), Some(&sig), body.as_bytes(), now + 11);
        assert!(matches!(r, Err(Refusal::Replayed { .. })), "{r:?}");
        // Stale (six minutes old), though signed.
        let old = (now - 360).to_string();
        let sig_old = sign(secret, &old, &body);
        let r = apps.verify(Some(&old), Some(&sig_old), body.as_bytes(), now);
        assert_eq!(r.err().map(|e| e.word(NOT_A_PRESS)), Some("stale"));
        // Another secret, a changed body, a changed timestamp: not signed by the app.
        let ts2 = (now + 1).to_string();
        for (t, s, b) in [
            (&ts2, sign("another-secret", &ts2, &body), body.clone()),
            (
                &ts2,
                sign(secret, &ts2, &body),
                body.replace("apr_1", "apr_2"),
            ),
            (&ts2, sign(secret, &ts, &body), body.clone()),
        ] {
            let r = apps.verify(Some(t), Some(&s), b.as_bytes(), now);
            assert_eq!(r.err(), Some(Refusal::BadSignature));
        }
        assert_eq!(
            apps.verify(None, Some(&sig), body.as_bytes(), now).err(),
            Some(Refusal::Unsigned)
        );
        // Signed, but for another tenant's approval.
        let other = press_body("globex:apr_1", DENY_ACTION);
        let ts3 = (now + 2).to_string();
        let r = apps.verify(
            Some(&ts3),
            Some(&sign(secret, &ts3, &other)),
            other.as_bytes(),
            now,
        );
        assert_eq!(r.err().map(|e| e.word(NOT_A_PRESS)), Some("not_a_press"));
    }

    #[test]
    fn an_approval_request_is_block_kit_with_buttons() {
        let env = json!({"type": "approval.requested", "tenant": "acme", "subject": "apr_9",
            "data": {"action_type": "execute_command", "target": "terraform apply <x> & y",
                     "rule_id": "cloud.apply", "reason": "changes infrastructure",
                     "session_id": "s1", "repository": "acme/infra",
                     "expires_at": "2026-01-01T00:00:00.000Z"}});
        let m = message(&env, true);
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        let fields = blocks[1]["fields"].to_string();
        assert!(
            fields.contains("terraform apply &lt;x&gt; &amp; y"),
            "{fields}"
        );
        assert!(fields.contains("<!date^1767225600^"), "{fields}");
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert_eq!(actions["elements"][0]["action_id"], APPROVE_ACTION);
        assert_eq!(actions["elements"][1]["value"], "acme:apr_9");
        assert!(
            !message(&env, false).to_string().contains(APPROVE_ACTION),
            "no signing secret, no buttons"
        );
        let block = json!({"type": "decision.block", "tenant": "acme", "subject": "dec_1",
            "data": {"action_type": "read_file", "target": ".env"}});
        assert!(!message(&block, true).to_string().contains("actions"));
    }

    #[test]
    fn configurations_are_checked() {
        let one = |slack: &str| {
            ConnectorsConfig::from_yaml(&format!("- {{name: c, tenant: acme, slack: {slack}}}"))
                .map_err(|e| e.to_string())
        };
        assert!(one("{bot_token: env:T, channel: C1}").is_ok());
        assert!(one("{webhook_url: env:W}").is_ok());
        for (bad, expect) in [
            ("{bot_token: env:T}", "slack.channel"),
            (
                "{bot_token: env:T, webhook_url: env:W, channel: C1}",
                "slack.bot_token",
            ),
            ("{webhook_url: env:W, channel: C1}", "slack.channel"),
            (
                "{bot_token: xoxb-1234567890-abcdefghij, channel: C1}",
                "slack.bot_token",
            ),
            (
                "{bot_token: env:T, channel: C1, approvers: {U1AB: {subject: a}}}",
                "signing_secret",
            ),
            (
                "{bot_token: env:T, channel: C1, signing_secret: env:S, approvers: {alice: {subject: a}}}",
                "slack.approvers",
            ),
            (
                "{bot_token: env:T, channel: C1, api_url: \"http://slack.example/api\"}",
                "loopback",
            ),
        ] {
            let e = one(bad).unwrap_err();
            assert!(e.contains(expect), "{bad}: {e}");
        }
    }
}
