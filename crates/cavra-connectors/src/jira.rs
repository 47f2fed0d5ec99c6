//! Jira (Cloud REST API v3): an issue per event, its description in the Atlassian Document
//! Format, created once however often the delivery is retried; an approval's issue moved to
//! an approving or denying status comes back through Jira's signed webhook.
//!
//! **Idempotent creation.** Each issue carries the label `cavra-<idempotency key>` (the same
//! on every attempt and replica). An attempt first searches the project for an issue with
//! that label (`POST /rest/api/3/search/jql`) and creates one (`POST /rest/api/3/issue`) only
//! when there is none, so a retry after a lost answer finds the issue the first attempt made.
//!
//! **State back.** An admin webhook of the Jira site (`jira:issue_updated`, with a secret)
//! POSTs to `/v1/integrations/jira/events`, signed `X-Hub-Signature: sha256=<hex HMAC-SHA256
//! of the body>`. [`JiraApps::verify`] checks it with [`crate::signature`] (constant time, the
//! body's `timestamp` within five minutes, never twice); a change of `status` to one of
//! `approved_statuses` grants the approval named by the issue's label
//! `cavra-approval:<tenant>:<approval id>`, one of `denied_statuses` denies it, as the Jira
//! user who moved it (`user.accountId`) mapped to an approver identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ConnectorError;
use crate::chat::{self, ChatApprover};
use crate::config::ConnectorConfig;
use crate::http;
use crate::secret::{Secret, SecretRef};
use crate::signature::{self, Refusal, SignedApp, Verifier};
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict};

/// The label prefix naming an approval's issue: `cavra-approval:<tenant>:<approval id>`.
pub const APPROVAL_LABEL: &str = "cavra-approval:";

/// Jira (the `jira` key of a connector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site (`https://acme.atlassian.net`).
    pub base_url: String,
    /// The account the issues are created as (an e-mail address, basic authentication).
    pub user: String,
    /// Its API token (by reference).
    pub api_token: SecretRef,
    /// The project's key (`SEC`).
    pub project: String,
    /// The issue type of events not named in `issue_types` (default `Task`).
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Event type → issue type (`approval.requested: Approval`, `decision.block: Bug`).
    #[serde(default)]
    pub issue_types: BTreeMap<String, String>,
    /// The admin webhook's secret (by reference); without it no status change is taken.
    #[serde(default)]
    pub webhook_secret: Option<SecretRef>,
    /// Statuses that approve (default `Approved`), compared without case.
    #[serde(default = "default_approved")]
    pub approved_statuses: Vec<String>,
    /// Statuses that deny (default `Declined`).
    #[serde(default = "default_denied")]
    pub denied_statuses: Vec<String>,
    /// Atlassian account id (`user.accountId`) → the approver identity they act as.
    #[serde(default)]
    pub approvers: BTreeMap<String, ChatApprover>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Search the issues of pending approvals for their status (instead of, or beside, the
    /// webhook); see [`poll`].
    #[serde(default)]
    pub poll: Option<crate::servicenow::PollConfig>,
}

fn default_issue_type() -> String {
    "Task".into()
}

fn default_approved() -> Vec<String> {
    vec!["Approved".into()]
}

fn default_denied() -> Vec<String> {
    vec!["Declined".into()]
}

fn valid_project(p: &str) -> bool {
    (2..=10).contains(&p.len())
        && p.starts_with(|c: char| c.is_ascii_uppercase())
        && p.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl JiraConfig {
    pub(crate) fn check(&self, at: &str) -> Result<(), ConnectorError> {
        let err = |m: String| ConnectorError::Config(format!("{at}.jira.{m}"));
        crate::config::check_url(&format!("{at}.jira.base_url"), &self.base_url)?;
        if self.user.trim().is_empty() || self.user.contains(char::is_whitespace) {
            return Err(err("user: the account's e-mail address".into()));
        }
        if !valid_project(&self.project) {
            return Err(err(format!(
                "project: `{}` is not a project key (2 to 10 of A-Z, 0-9, _; a letter first)",
                self.project
            )));
        }
        let name_ok = |n: &str| !n.trim().is_empty() && n.len() <= 60;
        if !name_ok(&self.issue_type) {
            return Err(err("issue_type: 1 to 60 characters".into()));
        }
        for (event, name) in &self.issue_types {
            if !crate::event::EventType::ALL.contains(&event.as_str()) {
                return Err(err(format!("issue_types: `{event}` is not an event type")));
            }
            if !name_ok(name) {
                return Err(err(format!("issue_types.{event}: 1 to 60 characters")));
            }
        }
        if !self.approvers.is_empty() && self.webhook_secret.is_none() && self.poll.is_none() {
            return Err(err(
                "webhook_secret: approvals come back signed with it, or polled (poll): give one"
                    .into(),
            ));
        }
        if let Some(p) = &self.poll {
            p.check(&format!("{at}.jira.poll"))?;
            if self.approvers.is_empty() {
                return Err(err(
                    "poll: polled approvals are decided as the approvers: map them (approvers)"
                        .into(),
                ));
            }
        }
        if self.approved_statuses.is_empty() || self.denied_statuses.is_empty() {
            return Err(err(
                "approved_statuses, denied_statuses: at least one each".into()
            ));
        }
        if let Some(s) = self.approved_statuses.iter().find(|a| {
            self.denied_statuses
                .iter()
                .any(|d| d.eq_ignore_ascii_case(a))
        }) {
            return Err(err(format!(
                "denied_statuses: `{s}` also approves; a status does one or the other"
            )));
        }
        chat::check_approvers(
            &format!("{at}.jira.approvers"),
            &self.approvers,
            |u| !u.is_empty() && u.len() <= 128 && !u.contains(char::is_whitespace),
            "an Atlassian account id",
        )
        .map_err(ConnectorError::Config)
    }

    pub(crate) fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut out = vec![("jira.api_token", &self.api_token)];
        if let Some(s) = &self.webhook_secret {
            out.push(("jira.webhook_secret", s));
        }
        out
    }

    /// The issue type of an event type.
    pub fn issue_type_of(&self, kind: &str) -> &str {
        self.issue_types
            .get(kind)
            .map(String::as_str)
            .unwrap_or(&self.issue_type)
    }
}

/// Atlassian Document Format: the few nodes an issue's description is built of.
pub mod adf {
    use serde_json::{Value, json};

    /// A text node (`text` not empty), with marks (`strong`, `em`, `code`).
    pub fn text(t: &str, marks: &[&str]) -> Value {
        let mut n = json!({"type": "text", "text": t});
        if !marks.is_empty() {
            n["marks"] = marks.iter().map(|m| json!({"type": m})).collect();
        }
        n
    }

    /// A paragraph of lines (hard breaks between them; empty lines dropped).
    pub fn paragraph(lines: &str, marks: &[&str]) -> Value {
        let mut content = Vec::new();
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            if !content.is_empty() {
                content.push(json!({"type": "hardBreak"}));
            }
            content.push(text(line, marks));
        }
        json!({"type": "paragraph", "content": content})
    }

    /// A heading of `level` (1 to 6).
    pub fn heading(t: &str, level: u8) -> Value {
        json!({"type": "heading", "attrs": {"level": level}, "content": [text(t, &[])]})
    }

    /// A bullet list of `label: value` items, the label strong.
    pub fn facts(items: &[(&str, String)]) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(|(k, v)| {
                json!({"type": "listItem", "content": [{"type": "paragraph", "content": [
                    text(&format!("{k}: "), &["strong"]), text(v, &[]),
                ]}]})
            })
            .collect();
        json!({"type": "bulletList", "content": items})
    }

    /// A document (version 1) of `content`.
    pub fn doc(content: Vec<Value>) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }
}

/// Control characters (a line break in a value) as spaces: a summary is one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The issue's `summary` and `description` (ADF) of an envelope.
pub fn issue(envelope: &Value) -> (String, Value) {
    let data = &envelope["data"];
    let kind = envelope["type"].as_str().unwrap_or("event");
    let tenant = envelope["tenant"].as_str().unwrap_or("");
    let headline = chat::headline(kind, data);
    let mut content = vec![adf::heading(&chat::cut(&one_line(&headline), 200), 3)];
    let facts: Vec<(&str, String)> = chat::approval_facts(data)
        .into_iter()
        .map(|(k, v)| (k, one_line(&v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    if !facts.is_empty() {
        content.push(adf::facts(&facts));
    }
    if let Some(t) = envelope["text"].as_str()
        && t.lines().any(|l| !l.trim().is_empty())
    {
        content.push(adf::paragraph(t, &[]));
    }
    content.push(adf::paragraph(
        &format!(
            "cavra event {} ({kind}) of tenant {tenant}",
            envelope["id"].as_str().unwrap_or("")
        ),
        &["em"],
    ));
    (
        chat::cut(&one_line(&format!("cavra: {headline}")), 255),
        adf::doc(content),
    )
}

pub mod poll;

/// A Jira destination.
pub struct Jira {
    client: reqwest::Client,
    base: url::Url,
    user: String,
    token: Secret,
    config: JiraConfig,
}

/// A JQL string literal.
fn jql_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Jira {
    /// Builds the destination of `c` (its `jira`), resolving its API token.
    pub fn new(c: &ConnectorConfig) -> Result<Jira, ConnectorError> {
        let j = c.jira.as_ref().ok_or_else(|| ConnectorError::Setup {
            name: c.name.clone(),
            reason: "not a jira connector".into(),
        })?;
        let base =
            url::Url::parse(&format!("{}/", j.base_url.trim_end_matches('/'))).map_err(|e| {
                ConnectorError::Setup {
                    name: c.name.clone(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Jira {
            client: http::client(&c.name, c.timeout_ms, j.ca_file.as_deref())?,
            base,
            user: j.user.clone(),
            token: j.api_token.resolve(&format!("{}.jira.api_token", c.name))?,
            config: j.clone(),
        })
    }

    fn post(&self, url: url::Url, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(url)
            .basic_auth(&self.user, Some(self.token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body)
    }

    fn failed(request: String, status: &str) -> Sent {
        Sent {
            verdict: Verdict::Permanent,
            status: status.into(),
            request,
            response: String::new(),
        }
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let (Ok(search), Ok(create)) = (
            self.base.join("rest/api/3/search/jql"),
            self.base.join("rest/api/3/issue"),
        ) else {
            return Self::failed("jira".into(), "bad url");
        };
        let label = format!("cavra-{}", msg.idempotency_key);
        // An issue an earlier attempt made (its answer lost) is found, not made again.
        let jql = format!(
            "project = {} AND labels = {}",
            jql_string(&self.config.project),
            jql_string(&label)
        );
        let request = format!("POST {} (label {label})", http::shown(&search));
        let found = http::answered(
            request,
            self.post(
                search,
                &json!({"jql": jql, "fields": ["summary"], "maxResults": 1}),
            )
            .send()
            .await,
        )
        .await;
        if found.verdict != Verdict::Delivered {
            return found;
        }
        let existing: Value = serde_json::from_str(&found.response).unwrap_or(Value::Null);
        if let Some(key) = existing["issues"][0]["key"].as_str() {
            return Sent {
                status: format!("exists {key}"),
                ..found
            };
        }
        let (summary, description) = issue(&msg.envelope);
        let mut labels = vec![json!("cavra"), json!(label)];
        if msg.event_kind == "approval.requested"
            && let (Some(t), Some(id)) = (
                msg.envelope["tenant"].as_str(),
                msg.envelope["subject"].as_str(),
            )
        {
            labels.push(json!(format!("{APPROVAL_LABEL}{t}:{id}")));
        }
        let body = json!({"fields": {
            "project": {"key": self.config.project},
            "issuetype": {"name": self.config.issue_type_of(&msg.event_kind)},
            "summary": summary,
            "description": description,
            "labels": labels,
        }});
        let request = format!(
            "POST {} ({} bytes)",
            http::shown(&create),
            body.to_string().len()
        );
        let created = http::answered(request, self.post(create, &body).send().await).await;
        created.naming_created("/key")
    }
}

impl Sink for Jira {
    fn kind(&self) -> &'static str {
        "jira"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

/// A verified status change of an approval's issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The tenant the issue's label names.
    pub tenant: String,
    /// The approval.
    pub approval_id: String,
    /// To an approving status (true) or a denying one.
    pub approve: bool,
    /// Who moved it (`user.accountId`).
    pub user: String,
    /// Their display name.
    pub name: String,
    /// The issue (`SEC-12`).
    pub key: String,
    /// The status it moved to.
    pub status: String,
}

/// What a verified webhook call says.
#[derive(Debug)]
pub enum Taken {
    /// An approval's issue moved to an approving or denying status.
    Update(Arc<JiraApp>, Update),
    /// Nothing for cavra (another event, no status change, another status, not an
    /// approval's issue): why.
    Ignored(String),
}

/// What a Jira site adds to a signed sender: the statuses that approve and deny.
#[derive(Debug)]
pub struct JiraStatuses {
    approved: Vec<String>,
    denied: Vec<String>,
}

/// One tenant's Jira site, as its webhook calls are taken.
pub type JiraApp = SignedApp<JiraStatuses>;

/// Every Jira connector with a `webhook_secret`.
#[derive(Default)]
pub struct JiraApps {
    verifier: Verifier<JiraApp>,
}

impl JiraApps {
    /// The sites whose status changes are taken, secrets resolved.
    pub fn new(config: &crate::ConnectorsConfig) -> Result<JiraApps, ConnectorError> {
        let verifier = signature::verifier_of(config, |c| {
            let Some(j) = &c.jira else { return Ok(None) };
            let Some(secret) = &j.webhook_secret else {
                return Ok(None);
            };
            let secret = secret.resolve(&format!("{}.jira.webhook_secret", c.name))?;
            let statuses = JiraStatuses {
                approved: j.approved_statuses.clone(),
                denied: j.denied_statuses.clone(),
            };
            Ok(Some(SignedApp::new(
                c,
                secret.expose().as_bytes().to_vec(),
                j.approvers.clone(),
                statuses,
            )))
        })?;
        Ok(JiraApps { verifier })
    }

    /// Whether any site sends status changes.
    pub fn is_empty(&self) -> bool {
        self.verifier.is_empty()
    }

    /// Checks a webhook call (its `X-Hub-Signature` and raw body) at `now` (Unix seconds).
    pub fn verify(&self, signature: Option<&str>, body: &[u8], now: i64) -> Result<Taken, Refusal> {
        let sig = signature
            .and_then(|s| s.trim().strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Unsigned)?;
        let signed = self.verifier.signed_by(&[body], &sig)?;
        let v: Value =
            serde_json::from_slice(body).map_err(|e| signed.malformed(format!("not JSON: {e}")))?;
        let at = v["timestamp"]
            .as_i64()
            .ok_or_else(|| signed.malformed("no timestamp (milliseconds)"))?
            .div_euclid(1000);
        signed.fresh_once(at, &sig, now)?;
        if v["webhookEvent"] != "jira:issue_updated" {
            return Ok(Taken::Ignored(format!(
                "event {} is not jira:issue_updated",
                v["webhookEvent"]
            )));
        }
        let issue = &v["issue"];
        let key = issue["key"].as_str().unwrap_or("").to_string();
        let Some((tenant, approval_id)) = issue["fields"]["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|l| l.strip_prefix(APPROVAL_LABEL)?.split_once(':'))
        else {
            return Ok(Taken::Ignored(format!("{key} is not an approval's issue")));
        };
        let Some(status) = v["changelog"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["field"] == "status")
            .and_then(|i| i["toString"].as_str())
        else {
            return Ok(Taken::Ignored(format!("{key}: no status change")));
        };
        let app = signed.of_tenant(tenant, "issue")?;
        let is = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(status));
        let approve = if is(&app.kind.approved) {
            true
        } else if is(&app.kind.denied) {
            false
        } else {
            return Ok(Taken::Ignored(format!(
                "{key}: status {status} neither approves nor denies"
            )));
        };
        let user = v["user"]["accountId"].as_str().ok_or_else(|| {
            Refusal::Malformed(vec![app.tenant.clone()], "no user.accountId".into())
        })?;
        let update = Update {
            tenant: tenant.to_string(),
            approval_id: approval_id.to_string(),
            approve,
            user: user.to_string(),
            name: v["user"]["displayName"].as_str().unwrap_or("").to_string(),
            key,
            status: status.to_string(),
        };
        Ok(Taken::Update(app, update))
    }
}

/// The loopback stand-in for Jira's REST API and the signed webhook calls of tests.
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<crate::ConnectorsConfig, ConnectorError> {
        crate::ConnectorsConfig::from_yaml(&format!(
            "
- name: tickets
  tenant: acme
  jira:
    base_url: https://acme.atlassian.net
    user: cavra@acme.example
    api_token: env:CAVRA_JIRA_TOKEN
{extra}"
        ))
    }

    #[test]
    fn the_configuration_is_checked() {
        let c = config("    project: SEC\n").expect("valid");
        let j = c.0[0].jira.as_ref().expect("jira");
        assert_eq!(
            (
                j.issue_type_of("decision.block"),
                j.approved_statuses.as_slice()
            ),
            ("Task", ["Approved".to_string()].as_slice())
        );
        assert_eq!(
            c.0[0].destination(),
            "https://acme.atlassian.net/ project SEC"
        );
        for (extra, says) in [
            ("    project: sec\n", "project"),
            (
                "    project: SEC\n    issue_types: {decision.nope: Bug}\n",
                "issue_types",
            ),
            (
                "    project: SEC\n    approvers: {abc: {subject: jane}}\n",
                "webhook_secret",
            ),
            (
                "    project: SEC\n    approved_statuses: [Done]\n    denied_statuses: [done]\n",
                "denied_statuses",
            ),
            (
                "    project: SEC\n    webhook_secret: hunter2-inline\n",
                "webhook_secret",
            ),
        ] {
            let e = config(extra).expect_err(extra).to_string();
            assert!(e.contains(says) && !e.contains("hunter2"), "{extra}: {e}");
        }
    }

    #[test]
    fn issues_carry_the_facts_in_adf() {
        let env = json!({"id": "evt_1", "type": "approval.requested", "tenant": "acme", "subject": "apr_1",
            "text": "line one\n\nline two",
            "data": {"action_type": "execute_command", "target": "terraform\napply", "severity": "high"}});
        let (summary, doc) = issue(&env);
        assert!(!summary.contains('\n') && summary.starts_with("cavra: approval.requested"));
        assert_eq!(
            (doc["type"].as_str(), doc["version"].as_u64()),
            (Some("doc"), Some(1))
        );
        let list = &doc["content"][1];
        assert_eq!(list["type"], "bulletList");
        assert_eq!(
            list["content"][0]["content"][0]["content"][1]["text"],
            "execute_command: terraform apply"
        );
        let text = &doc["content"][2]["content"];
        assert_eq!(
            (
                text[0]["text"].as_str(),
                text[1]["type"].as_str(),
                text[2]["text"].as_str()
            ),
            (Some("line one"), Some("hardBreak"), Some("line two"))
        );
        assert_eq!(jql_string("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
