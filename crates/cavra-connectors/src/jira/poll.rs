//! Jira polling (a connector's `jira.poll`): instead of, or beside, the admin webhook, the
//! issues of a tenant's pending approvals are searched for a status that approves or denies,
//! and the account that last moved the status (the issue's changelog) decides.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{APPROVAL_LABEL, Jira, jql_string};
use crate::ConnectorError;
use crate::chat::ChatApprover;
use crate::http;

/// Approvals asked for in one search at most (the JQL names each label).
const POLL_CHUNK: usize = 50;

/// A polled status change: an approval's issue in an approving or denying status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolledUpdate {
    /// The issue's key (`SEC-12`).
    pub key: String,
    /// The approval it names.
    pub approval_id: String,
    /// The account that moved it to that status (`author.accountId` of the changelog).
    pub user: String,
    /// Approves (true) or denies.
    pub approve: bool,
    /// The status.
    pub status: String,
}

/// Polls one Jira connector.
pub struct JiraPoller {
    /// The tenant.
    pub tenant: String,
    /// The connector's name.
    pub name: String,
    /// The wait between polls.
    pub interval: std::time::Duration,
    /// The longest wait after failures.
    pub max_backoff: std::time::Duration,
    destination: Jira,
    approvers: BTreeMap<String, ChatApprover>,
}

impl JiraPoller {
    /// A poller of every Jira connector with `poll`, secrets resolved.
    pub fn all(
        config: &crate::ConnectorsConfig,
    ) -> Result<Vec<std::sync::Arc<JiraPoller>>, ConnectorError> {
        let mut out = Vec::new();
        for c in &config.0 {
            let (Some(j), Some(p)) = (&c.jira, c.jira.as_ref().and_then(|j| j.poll.as_ref()))
            else {
                continue;
            };
            out.push(std::sync::Arc::new(JiraPoller {
                tenant: c.tenant.clone(),
                name: c.name.clone(),
                interval: std::time::Duration::from_secs(p.interval_seconds),
                max_backoff: std::time::Duration::from_secs(p.max_backoff_seconds),
                destination: Jira::new(c)?,
                approvers: j.approvers.clone(),
            }));
        }
        Ok(out)
    }

    /// The approver identity an Atlassian account acts as, when configured.
    pub fn approver(&self, account: &str) -> Option<&ChatApprover> {
        self.approvers.get(account)
    }

    /// The issues of `approval_ids` (approvals of this tenant) in an approving or denying
    /// status: `POST /rest/api/3/search/jql` with `project = … AND labels in (…) AND status
    /// in (…)`, the changelog expanded, 50 approvals a search. An error says why.
    pub async fn decided(&self, approval_ids: &[String]) -> Result<Vec<PolledUpdate>, String> {
        let d = &self.destination;
        let url = d
            .base
            .join("rest/api/3/search/jql")
            .map_err(|e| e.to_string())?;
        let c = &d.config;
        let statuses: Vec<String> = c
            .approved_statuses
            .iter()
            .chain(&c.denied_statuses)
            .map(|s| jql_string(s))
            .collect();
        let mut out = Vec::new();
        for chunk in approval_ids.chunks(POLL_CHUNK) {
            let labels: Vec<String> = chunk
                .iter()
                .map(|id| jql_string(&format!("{APPROVAL_LABEL}{}:{id}", self.tenant)))
                .collect();
            let jql = format!(
                "project = {} AND labels in ({}) AND status in ({})",
                jql_string(&c.project),
                labels.join(", "),
                statuses.join(", ")
            );
            let body = json!({"jql": jql, "fields": ["labels", "status"], "expand": "changelog",
                              "maxResults": POLL_CHUNK});
            let resp = d
                .post(url.clone(), &body)
                .send()
                .await
                .map_err(|e| format!("POST {}: {e}", http::shown(&url)))?;
            let status = resp.status();
            let text = http::body(resp).await;
            if status != reqwest::StatusCode::OK {
                return Err(format!(
                    "POST {}: {status} {}",
                    http::shown(&url),
                    crate::sink::excerpt(&text)
                ));
            }
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("POST {}: not JSON: {e}", http::shown(&url)))?;
            let issues = v["issues"]
                .as_array()
                .ok_or_else(|| format!("POST {}: no `issues` list", http::shown(&url)))?;
            out.extend(issues.iter().filter_map(|i| self.update_of(i)));
        }
        Ok(out)
    }

    /// The update an issue of the search says, if it is one of this tenant's approvals in an
    /// approving or denying status moved there by a known account.
    fn update_of(&self, issue: &Value) -> Option<PolledUpdate> {
        let c = &self.destination.config;
        let key = issue["key"].as_str()?.to_string();
        let status = issue["fields"]["status"]["name"].as_str()?.to_string();
        let prefix = format!("{APPROVAL_LABEL}{}:", self.tenant);
        let approval_id = issue["fields"]["labels"]
            .as_array()?
            .iter()
            .find_map(|l| l.as_str()?.strip_prefix(&prefix).map(str::to_string))?;
        let is = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(&status));
        let approve = if is(&c.approved_statuses) {
            true
        } else if is(&c.denied_statuses) {
            false
        } else {
            return None;
        };
        // The newest history that moved the status to where it is.
        let user = issue["changelog"]["histories"]
            .as_array()?
            .iter()
            .filter(|h| {
                h["items"].as_array().is_some_and(|items| {
                    items.iter().any(|i| {
                        i["field"] == "status"
                            && i["toString"]
                                .as_str()
                                .is_some_and(|t| t.eq_ignore_ascii_case(&status))
                    })
                })
            })
            .max_by(|a, b| {
                a["created"]
                    .as_str()
                    .unwrap_or("")
                    .cmp(b["created"].as_str().unwrap_or(""))
            })?["author"]["accountId"]
            .as_str()?
            .to_string();
        Some(PolledUpdate {
            key,
            approval_id,
            user,
            approve,
            status,
        })
    }
}
