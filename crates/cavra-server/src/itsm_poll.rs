//! Polling of ITSM connectors for approvals decided in their tickets (`servicenow.poll`,
//! `jira.poll`), one replica at a time: each round first takes or renews a lease on the
//! connector in the store (`poll:<kind>:<name>`, three intervals long), so that replicas
//! sharing one database poll a connector once, not once each; a replica that stops gives the
//! lease up, and one that dies loses it when it runs out, and another takes over.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cavra_connectors::chat::ChatApprover;
use cavra_connectors::jira::poll::JiraPoller;
use cavra_connectors::servicenow::{ServiceNowPoller, poll_delay};
use cavra_tenant_store::Inventory as _;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::integrations::{ChatAnswer, ITSM_ENTRY_KIND, decide_and_record};

/// One connector that polls.
#[derive(Clone)]
pub enum Poller {
    /// ServiceNow change requests.
    ServiceNow(Arc<ServiceNowPoller>),
    /// Jira issues.
    Jira(Arc<JiraPoller>),
}

/// An approval decided in a ticket, as a poll found it.
struct Polled {
    approval_id: String,
    user: String,
    approve: bool,
    extra: Value,
}

impl Poller {
    /// Every connector of `config` that polls.
    pub fn all(
        config: &cavra_connectors::ConnectorsConfig,
    ) -> Result<Vec<Poller>, cavra_connectors::ConnectorError> {
        let mut out: Vec<Poller> = ServiceNowPoller::all(config)?
            .into_iter()
            .map(Poller::ServiceNow)
            .collect();
        out.extend(JiraPoller::all(config)?.into_iter().map(Poller::Jira));
        Ok(out)
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Poller::ServiceNow(_) => ("servicenow", "ServiceNow"),
            Poller::Jira(_) => ("jira", "Jira"),
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        match self {
            Poller::ServiceNow(p) => &p.name,
            Poller::Jira(p) => &p.name,
        }
    }

    fn tenant(&self) -> &str {
        match self {
            Poller::ServiceNow(p) => &p.tenant,
            Poller::Jira(p) => &p.tenant,
        }
    }

    fn timing(&self) -> (Duration, Duration) {
        match self {
            Poller::ServiceNow(p) => (p.interval, p.max_backoff),
            Poller::Jira(p) => (p.interval, p.max_backoff),
        }
    }

    fn approver(&self, user: &str) -> Option<&ChatApprover> {
        match self {
            Poller::ServiceNow(p) => p.approver(user),
            Poller::Jira(p) => p.approver(user),
        }
    }

    /// The lease that lets one replica poll this connector.
    pub fn lease_name(&self) -> String {
        format!("poll:{}:{}", self.kind().0, self.name())
    }

    async fn decided(&self, pending: &[String]) -> Result<Vec<Polled>, String> {
        Ok(match self {
            Poller::ServiceNow(p) => p
                .decided(pending)
                .await?
                .into_iter()
                .map(|u| Polled {
                    extra: json!({"itsm_user": u.user, "ticket": u.number,
                        "sys_id": u.sys_id, "via": "poll"}),
                    approval_id: u.approval_id,
                    user: u.user,
                    approve: u.approve,
                })
                .collect(),
            Poller::Jira(p) => p
                .decided(pending)
                .await?
                .into_iter()
                .map(|u| Polled {
                    extra: json!({"itsm_user": u.user, "ticket": u.key,
                        "status": u.status, "via": "poll"}),
                    approval_id: u.approval_id,
                    user: u.user,
                    approve: u.approve,
                })
                .collect(),
        })
    }
}

/// How long a replica's lease on a connector lasts: three intervals, at least two seconds.
pub fn lease_of(interval: Duration) -> Duration {
    interval.saturating_mul(3).max(Duration::from_secs(2))
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// One round as `owner`: the lease taken or renewed, then one poll. False when another
/// replica holds the lease (nothing was polled).
pub async fn poll_round(
    state: &AppState,
    poller: &Poller,
    owner: &str,
    refused: &mut HashSet<(String, String, bool)>,
) -> Result<bool, String> {
    let lease = lease_of(poller.timing().0);
    let held = state
        .db
        .try_lease(
            &poller.lease_name(),
            owner,
            now_ms(),
            i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        )
        .await
        .map_err(|e| e.to_string())?;
    if !held {
        return Ok(false);
    }
    poll_once(state, poller, refused).await?;
    Ok(true)
}

/// Polls `poller` until `stop` says so: a round every interval while the ITSM answers,
/// backing off (doubling up to the connector's `max_backoff_seconds`) while it fails; gives
/// the lease up when it stops.
pub async fn poll(
    state: Arc<AppState>,
    poller: Poller,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let owner = format!("replica-{}", uuid::Uuid::new_v4().simple());
    let (interval, max_backoff) = poller.timing();
    let (kind, _) = poller.kind();
    let mut failures = 0u32;
    let mut refused = HashSet::new();
    loop {
        let wait = match poll_round(&state, &poller, &owner, &mut refused).await {
            Ok(_) => {
                failures = 0;
                interval
            }
            Err(why) => {
                failures = failures.saturating_add(1);
                let wait = poll_delay(interval, failures, max_backoff);
                log_line!(
                    "cavra serve: {kind}/{}: polling failed ({failures} in a row, next in {}s): {why}",
                    poller.name(),
                    wait.as_secs()
                );
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    let _ = state.db.release_lease(&poller.lease_name(), &owner).await;
}

/// One poll: the tenant's pending, unexpired approvals looked up in the ITSM; each found
/// decided is decided as for the webhook (the same rules, an `itsm_update` entry with
/// `via: poll`). A refused one (an unmapped user, not in the group) is recorded once, not at
/// every poll: it is decided again only when its approval or user changes.
async fn poll_once(
    state: &AppState,
    poller: &Poller,
    refused: &mut HashSet<(String, String, bool)>,
) -> Result<(), String> {
    use cavra_tenant_store::Approvals;
    let now = cavra_tenant_store::Timestamp::now();
    let pending: Vec<String> = state
        .db
        .approvals(
            poller.tenant(),
            Some(cavra_tenant_store::ApprovalState::Pending),
            10_000,
        )
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|a| a.expires_at > now)
        .map(|a| a.id)
        .collect();
    refused.retain(|(id, _, _)| pending.contains(id));
    if pending.is_empty() {
        return Ok(());
    }
    let (integration, vendor) = poller.kind();
    for update in poller.decided(&pending).await? {
        let key = (
            update.approval_id.clone(),
            update.user.clone(),
            update.approve,
        );
        if refused.contains(&key) {
            continue;
        }
        let (outcome, _, _) = decide_and_record(
            state,
            ChatAnswer {
                integration,
                vendor,
                tenant: poller.tenant(),
                connector: poller.name(),
                user: &update.user,
                approver: poller.approver(&update.user),
                approval_id: &update.approval_id,
                approve: update.approve,
                extra: update.extra,
                entry_kind: ITSM_ENTRY_KIND,
            },
        )
        .await
        .map_err(|p| p.detail)?;
        if outcome == "refused" {
            refused.insert(key);
        }
    }
    Ok(())
}
