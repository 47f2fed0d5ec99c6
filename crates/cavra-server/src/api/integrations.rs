//! Integrations: requests that other systems sign rather than callers authenticated with a
//! cavra credential. A Slack button press is verified by the app's signing secret
//! (`cavra_connectors::slack`), its user mapped to an approver identity by configuration, and
//! decided through [`approvals::decide`], the code of the API's approve and deny routes: the
//! same rules hold. Every verified press is an evidence entry (`chat_interaction`) of its
//! tenant, accepted or refused.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use cavra_connectors::slack::{Press, Refusal, SlackApp, escape};
use cavra_identity::{AuthMethod, Principal, Role};
use cavra_tenant_store::GrantUse;
use cavra_tenant_store::Outbox;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::api::approvals::{self, Verdict};
use crate::auth::Caller;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now_text};

/// The evidence entry kind of a press.
pub const ENTRY_KIND: &str = "chat_interaction";

/// What the service made of a press.
#[derive(Debug, Serialize, ToSchema)]
pub struct PressAnswer {
    /// `approved`, `denied` or `refused`.
    pub outcome: String,
    /// Why it was refused (also told to the presser in Slack).
    pub detail: Option<String>,
    /// The approval the button is for.
    pub approval_id: String,
    /// The evidence entry recording the press.
    pub log_index: u64,
}

/// A Slack button press (Approve or Deny on an approval request). Signed by the Slack app
/// (`X-Slack-Signature`, `v0` HMAC-SHA256 with its signing secret), not by a cavra credential.
/// Refused with 401 when unsigned, signed by no configured app, older than five minutes or
/// seen before; a verified press is answered 200 with its outcome, approved, denied or
/// refused (unknown Slack user, not in the approval's group, the requester, expired, decided
/// already), and recorded.
#[utoipa::path(post, path = "/v1/integrations/slack/interactions", tag = "integrations", operation_id = "integrations_slack_interactions",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Slack's interaction request: `payload=` and the JSON of a block_actions payload"),
    params(
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds when Slack sent it"),
        ("X-Slack-Signature" = String, Header, description = "`v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`"),
    ),
    responses((status = 200, body = PressAnswer), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 503, body = Problem)))]
pub async fn slack_interactions(
    State(state): State<Arc<AppState>>,
    tag: Option<axum::Extension<crate::conn::ConnectionTag>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PressAnswer>> {
    if state.slack.is_empty() {
        return Err(Problem::not_found(
            "Slack app (no slack connector has a signing_secret)",
        ));
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let verified = state.slack.verify(
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    );
    let (app, press) = match verified {
        Ok(v) => v,
        Err(refusal) => return Err(refused_request(&state, &refusal).await),
    };
    if let Some(tag) = tag {
        tag.authenticated();
    }
    let (outcome, detail) = match app.approver(&press.user) {
        None => (
            "refused".to_string(),
            Some(format!(
                "Slack user {} is not an approver of tenant {} (slack.approvers)",
                press.user, app.tenant
            )),
        ),
        Some(approver) => {
            let principal = Principal {
                subject: approver.subject.clone(),
                tenant: app.tenant.clone(),
                roles: BTreeSet::from([Role::Approver]),
                approver_groups: approver.groups.iter().cloned().collect(),
                method: AuthMethod::Integration {
                    integration: format!("slack/{}", app.name),
                    user: press.user.clone(),
                },
            };
            let (verdict, word) = if press.approve {
                (Verdict::Approve(GrantUse::Once), "approved")
            } else {
                (Verdict::Deny, "denied")
            };
            let reason = format!("{word} in Slack by {} ({})", press.user, approver.subject);
            // A press acts for the tenant: a suspended or expired tenant's is refused too.
            let decided = match Caller::admit(&state, principal, &axum::http::Method::POST).await {
                Ok(caller) => {
                    approvals::decide(&state, &caller, &press.approval_id, verdict, &reason).await
                }
                Err(p) => Err(p),
            };
            match decided {
                Ok(a) => (a.state.as_str().to_string(), None),
                // The store failing is the service's error, not the presser's.
                Err(p) if p.status >= 500 => return Err(p),
                Err(p) => ("refused".to_string(), Some(p.detail)),
            }
        }
    };
    let entry = json!({
        "integration": "slack",
        "connector": app.name,
        "slack_user": press.user,
        "slack_team": press.team,
        "approver": app.approver(&press.user).map(|a| a.subject.clone()),
        "approval_id": press.approval_id,
        "action": if press.approve { "approve" } else { "deny" },
        "outcome": outcome,
        "detail": detail,
    });
    let log_index = state
        .db
        .append_entry(
            &app.tenant,
            ENTRY_KIND,
            Some(&press.approval_id),
            &now_text(),
            entry,
        )
        .await?;
    // Slack wants its answer within three seconds: the message is updated after it.
    tokio::spawn(tell_slack(
        app,
        press.clone(),
        outcome.clone(),
        detail.clone(),
    ));
    Ok(Json(PressAnswer {
        outcome,
        detail,
        approval_id: press.approval_id,
        log_index,
    }))
}

/// Updates the message with the outcome, or tells the presser why their press was refused.
async fn tell_slack(app: Arc<SlackApp>, press: Press, outcome: String, detail: Option<String>) {
    let who = slack_mention(&press.user);
    let sent = match &detail {
        None => {
            let mark = if outcome == "approved" { "✅" } else { "⛔" };
            let text = format!(
                "{mark} *{}* by {who} at {}",
                escape(&outcome),
                escape(&now_text())
            );
            app.update(&press, &text).await
        }
        Some(why) => app.tell(&press, &format!("Not done: {why}")).await,
    };
    if sent.verdict != cavra_connectors::sink::Verdict::Delivered {
        log_line!(
            "cavra serve: slack/{}: answering the press on {} failed: {} {}",
            app.name,
            press.approval_id,
            sent.status,
            sent.response
        );
    }
}

/// `<@U…>` for a Slack user id of the expected form, else the id escaped.
fn slack_mention(user: &str) -> String {
    if user.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("<@{user}>")
    } else {
        escape(user)
    }
}

/// Records a refused request for each tenant whose app signed it (a request no app signed
/// belongs to no tenant: it is only logged), and gives the answer.
async fn refused_request(state: &AppState, refusal: &Refusal) -> Problem {
    let mut tenants: Vec<&String> = refusal.tenants().iter().collect();
    tenants.sort();
    tenants.dedup();
    for tenant in tenants {
        let mut entry =
            json!({"integration": "slack", "outcome": "refused", "why": refusal.word()});
        if let Refusal::NotAPress { why, .. } = refusal {
            entry["detail"] = Value::String(why.clone());
        }
        if let Err(e) = state
            .db
            .append_entry(tenant, ENTRY_KIND, None, &now_text(), entry)
            .await
        {
            log_line!("cavra serve: recording a refused Slack request failed: {e}");
        }
    }
    log_line!(
        "cavra serve: a request to the Slack interactions endpoint was refused: {}",
        refusal.word()
    );
    match refusal {
        Refusal::Busy => Problem::unavailable(
            "too many recent Slack requests to tell a replay; try again in a few minutes",
        ),
        Refusal::Unsigned => Problem::unauthorized(
            "send X-Slack-Request-Timestamp and X-Slack-Signature (v0=…) as Slack does",
        ),
        Refusal::BadSignature => {
            Problem::unauthorized("the signature matches no configured Slack app")
        }
        Refusal::Stale { .. } => {
            Problem::unauthorized("the request is more than five minutes from this service's clock")
        }
        Refusal::Replayed { .. } => Problem::unauthorized("this request was received before"),
        Refusal::NotAPress { why, .. } => {
            Problem::bad_request(format!("not a press of cavra's buttons: {why}"))
        }
    }
}
