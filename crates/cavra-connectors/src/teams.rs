//! Microsoft Teams: approval requests, blocks and break glass as Adaptive Cards (version 1.4)
//! posted to a Workflows webhook ("Post to a channel when a webhook request is received"),
//! each approval request with a link back to it (`approval_link` and the approval's path).
//!
//! Where a Teams *outgoing webhook* is used (an approver types `@cavra approve apr_…` in a
//! channel), its requests are checked here ([`TeamsApps::verify`]): `Authorization: HMAC
//! <signature>`, the base64 HMAC-SHA256 of the body with the webhook's security token (given
//! base64, used decoded), compared in constant time; the activity's `timestamp` within five
//! minutes; its `id` never twice. The service maps `from.aadObjectId` to an approver identity
//! and decides through the API's approve and deny code, as for Slack.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ConnectorError;
use crate::chat::{self, ChatApprover};
use crate::config::ConnectorConfig;
use crate::http;
use crate::secret::{Secret, SecretRef};
use crate::signature::{self, SignedApp, Verifier};
use crate::sink::{Attempt, Outgoing, Sent, Sink};

/// Teams (the `teams` key of a connector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The Workflows webhook's URL (by reference: its query carries the signature that lets
    /// anyone post).
    pub webhook_url: SecretRef,
    /// A second Workflows webhook for blocks and break glass (default: `webhook_url`).
    #[serde(default)]
    pub alerts_webhook_url: Option<SecretRef>,
    /// Where approvers open an approval: the service's (or a console's) base URL; an approval
    /// request's card links to `{approval_link}/v1/approvals/{id}`.
    pub approval_link: String,
    /// An outgoing webhook's security token (by reference, base64 as Teams shows it), when
    /// approvers answer in Teams (`@cavra approve apr_…`).
    #[serde(default)]
    pub outgoing_secret: Option<SecretRef>,
    /// Microsoft Entra object id (`aadObjectId`) → the approver identity they act as.
    #[serde(default)]
    pub approvers: BTreeMap<String, ChatApprover>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn valid_object_id(u: &str) -> bool {
    u.len() == 36
        && u.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

impl TeamsConfig {
    pub(crate) fn check(&self, at: &str) -> Result<(), ConnectorError> {
        crate::config::check_url(&format!("{at}.teams.approval_link"), &self.approval_link)?;
        if !self.approvers.is_empty() && self.outgoing_secret.is_none() {
            return Err(ConnectorError::Config(format!(
                "{at}.teams.outgoing_secret: approvers answer through an outgoing webhook whose requests are verified with its security token: give it"
            )));
        }
        chat::check_approvers(
            &format!("{at}.teams.approvers"),
            &self.approvers,
            valid_object_id,
            "a Microsoft Entra object id, 8-4-4-4-12 hexadecimal digits",
        )
        .map_err(ConnectorError::Config)
    }

    pub(crate) fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        [
            ("teams.webhook_url", Some(&self.webhook_url)),
            ("teams.alerts_webhook_url", self.alerts_webhook_url.as_ref()),
            ("teams.outgoing_secret", self.outgoing_secret.as_ref()),
        ]
        .into_iter()
        .filter_map(|(f, r)| r.map(|r| (f, r)))
        .collect()
    }
}

/// A Teams destination.
pub struct Teams {
    client: reqwest::Client,
    url: url::Url,
    alerts: url::Url,
    link: String,
}

fn webhook(r: &SecretRef, field: &str) -> Result<url::Url, ConnectorError> {
    let s = r.resolve(field)?;
    crate::config::check_url(field, s.expose()).map_err(|_| ConnectorError::Secret {
        reference: r.as_str().to_string(),
        reason: "not an https URL (plain http only to loopback)".into(),
    })
}

impl Teams {
    /// Builds the destination of `c` (its `teams`), resolving its webhooks.
    pub fn new(c: &ConnectorConfig) -> Result<Teams, ConnectorError> {
        let t = c.teams.as_ref().ok_or_else(|| ConnectorError::Setup {
            name: c.name.clone(),
            reason: "not a teams connector".into(),
        })?;
        let url = webhook(&t.webhook_url, &format!("{}.teams.webhook_url", c.name))?;
        let alerts = match &t.alerts_webhook_url {
            Some(a) => webhook(a, &format!("{}.teams.alerts_webhook_url", c.name))?,
            None => url.clone(),
        };
        Ok(Teams {
            client: http::client(&c.name, c.timeout_ms, t.ca_file.as_deref())?,
            url,
            alerts,
            link: t.approval_link.trim_end_matches('/').to_string(),
        })
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let url = if chat::is_alert(&msg.event_kind) {
            &self.alerts
        } else {
            &self.url
        };
        let text = card(&msg.envelope, &self.link).to_string();
        // The webhook's query is its credential: the record shows the host only.
        let request = format!(
            "POST {}://{}/… ({} bytes)",
            url.scheme(),
            url.host_str().unwrap_or(""),
            text.len()
        );
        let result = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(text)
            .send()
            .await;
        http::answered(request, result).await
    }
}

impl Sink for Teams {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

/// The Workflows message of an envelope: an Adaptive Card 1.4 with a title, the facts, the
/// ids and, for an approval request, an `Action.OpenUrl` to the approval.
pub fn card(envelope: &Value, link: &str) -> Value {
    let data = &envelope["data"];
    let kind = envelope["type"].as_str().unwrap_or("event");
    let tenant = envelope["tenant"].as_str().unwrap_or("");
    let subject = envelope["subject"].as_str().unwrap_or("");
    let title = match kind {
        "approval.requested" => "Approval needed",
        "decision.block" => "Blocked",
        "decision.break_glass" | "approval.break_glass" => "BREAK GLASS",
        other => other,
    };
    let facts: Vec<Value> = chat::approval_facts(data)
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": chat::cut(&v, 1000)}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": title, "weight": "Bolder",
        "size": "Medium", "wrap": true}),
    ];
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(t) = envelope["text"].as_str().filter(|t| !t.is_empty()) {
        body.push(json!({"type": "TextBlock", "text": chat::cut(t, 4000), "wrap": true}));
    }
    body.push(
        json!({"type": "TextBlock", "isSubtle": true, "size": "Small", "wrap": true,
        "text": format!("cavra · tenant {tenant} · {kind} · {subject}")}),
    );
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if kind == "approval.requested" && !subject.is_empty() {
        content["actions"] = json!([{"type": "Action.OpenUrl", "title": "Review the approval",
            "url": format!("{link}/v1/approvals/{subject}")}]);
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null,
        "content": content,
    }]})
}

/// A verified command from Teams: `approve <id>` or `deny <id>`, and who sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The approval.
    pub approval_id: String,
    /// Approve (true) or deny.
    pub approve: bool,
    /// The sender's Microsoft Entra object id.
    pub user: String,
    /// Their display name, as Teams sends it.
    pub name: String,
}

pub use crate::signature::Refusal;

/// The word a message that is not a command is recorded with.
pub const NOT_A_COMMAND: &str = "not_a_command";

/// One tenant's outgoing webhook (its key is the bytes of the token Teams shows base64).
pub type TeamsApp = SignedApp<()>;

/// Every Teams outgoing webhook configured (connectors with an `outgoing_secret`).
#[derive(Default)]
pub struct TeamsApps {
    verifier: Verifier<TeamsApp>,
}

fn key_bytes(s: &Secret) -> Vec<u8> {
    // Teams shows the token base64; the key is what it encodes.
    base64::engine::general_purpose::STANDARD
        .decode(s.expose())
        .unwrap_or_else(|_| s.expose().as_bytes().to_vec())
}

impl TeamsApps {
    /// The outgoing webhooks of every Teams connector with one, secrets resolved.
    pub fn new(config: &crate::ConnectorsConfig) -> Result<TeamsApps, ConnectorError> {
        let verifier = signature::verifier_of(config, |c| {
            let Some(t) = &c.teams else { return Ok(None) };
            let Some(secret) = &t.outgoing_secret else {
                return Ok(None);
            };
            let secret = secret.resolve(&format!("{}.teams.outgoing_secret", c.name))?;
            Ok(Some(SignedApp::new(
                c,
                key_bytes(&secret),
                t.approvers.clone(),
                (),
            )))
        })?;
        Ok(TeamsApps { verifier })
    }

    /// Whether any outgoing webhook is configured.
    pub fn is_empty(&self) -> bool {
        self.verifier.is_empty()
    }

    /// Checks a request of an outgoing webhook (its `Authorization` header and raw body) at
    /// `now` (Unix seconds): signed by one configured webhook, fresh, first seen, a command.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(std::sync::Arc<TeamsApp>, Command), Refusal> {
        let sig = authorization
            .and_then(|h| h.trim().strip_prefix("HMAC "))
            .and_then(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()
            })
            .ok_or(Refusal::Unsigned)?;
        // Each outgoing webhook has its own token: the one that matches names the tenant.
        let signed = self.verifier.signed_by(&[body], &sig)?;
        let activity: Value =
            serde_json::from_slice(body).map_err(|e| signed.malformed(format!("not JSON: {e}")))?;
        let at = activity["timestamp"]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp())
            .ok_or_else(|| signed.malformed("no timestamp"))?;
        let id = activity["id"]
            .as_str()
            .ok_or_else(|| signed.malformed("no activity id"))?;
        // Teams may deliver one activity with the same id to several webhooks of a team.
        let key = format!("{}\0{id}", signed.tenants().join(","));
        signed.fresh_once(at, key.as_bytes(), now)?;
        let command = parse_command(&activity).map_err(|why| signed.malformed(why))?;
        Ok((signed.first(), command))
    }
}

/// Reads `approve <id>` or `deny <id>` from a message activity (after the `<at>…</at>`
/// mention Teams puts first).
fn parse_command(activity: &Value) -> Result<Command, String> {
    let text = activity["text"].as_str().ok_or("no text")?;
    let text = match text.rfind("</at>") {
        Some(i) => &text[i + 5..],
        None => text,
    };
    let mut words = text.split_whitespace();
    let approve = match words.next().map(str::to_ascii_lowercase).as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err("say `approve <approval id>` or `deny <approval id>`".into()),
    };
    let approval_id = words
        .next()
        .ok_or("which approval? give its id")?
        .to_string();
    let user = activity["from"]["aadObjectId"]
        .as_str()
        .ok_or("no sender (from.aadObjectId)")?
        .to_string();
    Ok(Command {
        approval_id,
        approve,
        user,
        name: activity["from"]["name"].as_str().unwrap_or("").to_string(),
    })
}

/// What tests need to send a Teams outgoing webhook's request: built once here.
#[cfg(feature = "testing")]
pub mod testing {
    use super::*;

    /// A message activity saying `text` from the Entra object id `user`, as an outgoing
    /// webhook whose security token is `secret` (base64) sends it at `timestamp` (RFC 3339):
    /// the `Authorization: HMAC …` header and the JSON body.
    pub fn signed_message(
        secret: &str,
        id: &str,
        timestamp: &str,
        user: &str,
        text: &str,
    ) -> (Vec<(&'static str, String)>, String) {
        let body = json!({
            "type": "message", "id": id, "timestamp": timestamp,
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "channelId": "msteams",
            "from": {"id": format!("29:{user}"), "name": "Carol", "aadObjectId": user},
            "conversation": {"isGroup": true, "id": "19:approvals@thread.skype"},
            "recipient": null,
            "text": format!("<at>cavra</at> {text}"),
            "textFormat": "plain",
        })
        .to_string();
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .expect("the security token is base64");
        let mac = crate::signature::hmac_sha256(&key, &[body.as_bytes()]);
        let header = format!(
            "HMAC {}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        );
        (
            vec![
                ("Authorization", header),
                ("Content-Type", "application/json".to_string()),
            ],
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_request_is_an_adaptive_card_with_a_link() {
        let env = json!({"type": "approval.requested", "tenant": "acme", "subject": "apr_9",
            "data": {"action_type": "execute_command", "target": "terraform apply",
                     "rule_id": "cloud.apply", "reason": "changes infrastructure"}});
        let c = card(&env, "https://cavra.example");
        let content = &c["attachments"][0]["content"];
        assert_eq!(content["version"], "1.4");
        assert_eq!(
            content["actions"][0]["url"],
            "https://cavra.example/v1/approvals/apr_9"
        );
        assert!(
            content["body"][1]["facts"]
                .to_string()
                .contains("cloud.apply")
        );
        let block = json!({"type": "decision.block", "tenant": "acme", "subject": "d",
            "data": {"target": ".env"}});
        assert!(
            card(&block, "https://x.example")["attachments"][0]["content"]["actions"].is_null()
        );
    }

    #[test]
    fn commands_are_read_after_the_mention() {
        let a = json!({"text": "<at>cavra</at> Approve apr_1 looks fine",
            "from": {"aadObjectId": "u", "name": "C"}});
        let c = parse_command(&a).unwrap();
        assert!(c.approve && c.approval_id == "apr_1");
        let a = json!({"text": "<at>cavra</at> please", "from": {"aadObjectId": "u"}});
        assert!(parse_command(&a).is_err());
        assert!(valid_object_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(!valid_object_id("U0CAROL"));
    }
}
