//! Integrations: requests that other systems sign rather than callers authenticated with a
//! cavra credential. A Slack button press is verified by the app's signing secret
//! (`cavra_connectors::slack`), its user mapped to an approver identity by configuration, and
//! decided through [`approvals::decide`], the code of the API's approve and deny routes: the
//! same rules hold. A Teams outgoing webhook's `approve <id>` / `deny <id>` is verified by its
//! security token and decided the same way (`cavra_connectors::teams`). Every verified
//! answer is an evidence entry (`chat_interaction`) of its tenant, accepted or refused.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use cavra_connectors::chat::ChatApprover;
use cavra_connectors::slack::{Press, SlackApp, escape};
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

/// The evidence entry kind of a ticket's state update.
pub const ITSM_ENTRY_KIND: &str = "itsm_update";

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
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (app, press) = verified(&state, tag, &SLACK, state.slack.is_empty(), |now| {
        state.slack.verify(
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            &body,
            now,
        )
    })
    .await?;
    let (outcome, detail, log_index) = decide_and_record(
        &state,
        ChatAnswer {
            integration: "slack",
            vendor: "Slack",
            tenant: &app.tenant,
            connector: &app.name,
            user: &press.user,
            approver: app.approver(&press.user),
            approval_id: &press.approval_id,
            approve: press.approve,
            extra: json!({"slack_user": press.user, "slack_team": press.team}),
            entry_kind: ENTRY_KIND,
        },
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

/// An approver's answer given in a chat, verified by its integration.
pub(crate) struct ChatAnswer<'a> {
    /// `slack`, `teams`.
    pub(crate) integration: &'static str,
    /// `Slack`, `Teams`, for reasons people read.
    pub(crate) vendor: &'static str,
    pub(crate) tenant: &'a str,
    pub(crate) connector: &'a str,
    /// The user there.
    pub(crate) user: &'a str,
    /// Who they are to cavra, when configured.
    pub(crate) approver: Option<&'a ChatApprover>,
    pub(crate) approval_id: &'a str,
    pub(crate) approve: bool,
    /// Vendor fields for the record.
    pub(crate) extra: Value,
    /// The evidence entry's kind ([`ENTRY_KIND`] for chats, [`ITSM_ENTRY_KIND`] for tickets).
    pub(crate) entry_kind: &'static str,
}

/// Decides an answer given in a chat through [`approvals::decide`] as the user's approver
/// identity (a user with none is refused), and records it as a `chat_interaction` entry:
/// the outcome (`approved`, `denied`, `refused`), why it was refused, the entry's index.
pub(crate) async fn decide_and_record(
    state: &AppState,
    a: ChatAnswer<'_>,
) -> ApiResult<(String, Option<String>, u64)> {
    let (outcome, detail) = match a.approver {
        None => (
            "refused".to_string(),
            Some(format!(
                "{} user {} is not an approver of tenant {} ({}.approvers)",
                a.vendor, a.user, a.tenant, a.integration
            )),
        ),
        Some(approver) => {
            let principal = Principal {
                subject: approver.subject.clone(),
                tenant: a.tenant.to_string(),
                roles: BTreeSet::from([Role::Approver]),
                approver_groups: approver.groups.iter().cloned().collect(),
                method: AuthMethod::Integration {
                    integration: format!("{}/{}", a.integration, a.connector),
                    user: a.user.to_string(),
                },
            };
            let (verdict, word) = if a.approve {
                (Verdict::Approve(GrantUse::Once), "approved")
            } else {
                (Verdict::Deny, "denied")
            };
            let reason = format!(
                "{word} in {} by {} ({})",
                a.vendor, a.user, approver.subject
            );
            // An answer acts for the tenant: a suspended or expired tenant's is refused too.
            let decided = match Caller::admit(state, principal, &axum::http::Method::POST).await {
                Ok(caller) => {
                    approvals::decide(state, &caller, a.approval_id, verdict, &reason).await
                }
                Err(p) => Err(p),
            };
            match decided {
                Ok(done) => (done.state.as_str().to_string(), None),
                // The store failing is the service's error, not the approver's.
                Err(p) if p.status >= 500 => return Err(p),
                Err(p) => ("refused".to_string(), Some(p.detail)),
            }
        }
    };
    let mut entry = json!({
        "integration": a.integration,
        "connector": a.connector,
        "approver": a.approver.map(|x| x.subject.clone()),
        "approval_id": a.approval_id,
        "action": if a.approve { "approve" } else { "deny" },
        "outcome": outcome,
        "detail": detail,
    });
    if let (Some(e), Some(extra)) = (entry.as_object_mut(), a.extra.as_object()) {
        e.extend(extra.clone());
    }
    let log_index = state
        .db
        .append_entry(
            a.tenant,
            a.entry_kind,
            Some(a.approval_id),
            cavra_store::Timestamp::now(),
            entry,
        )
        .await?;
    Ok((outcome, detail, log_index))
}

/// Records a refused request for the tenants whose integration signed it (a request nobody
/// signed belongs to no tenant: it is only logged).
async fn record_refusal(
    state: &AppState,
    kind: &str,
    integration: &str,
    tenants: &[&str],
    why: &str,
    detail: Option<&str>,
) {
    let mut tenants = tenants.to_vec();
    tenants.sort();
    tenants.dedup();
    for tenant in tenants {
        let mut entry = json!({"integration": integration, "outcome": "refused", "why": why});
        if let Some(d) = detail {
            entry["detail"] = Value::String(d.to_string());
        }
        if let Err(e) = state
            .db
            .append_entry(tenant, kind, None, cavra_store::Timestamp::now(), entry)
            .await
        {
            log_line!("cavra serve: recording a refused {integration} request failed: {e}");
        }
    }
    log_line!("cavra serve: a request to the {integration} endpoint was refused: {why}");
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

/// A Teams outgoing webhook's message to cavra (`@cavra approve apr_…` or `deny apr_…`),
/// signed with the webhook's security token (`Authorization: HMAC <base64 HMAC-SHA256 of the
/// body>`), not by a cavra credential. Refused with 401 when unsigned, signed by no
/// configured webhook, more than five minutes from now or seen before; a verified command is
/// answered 200 with a message activity saying its outcome, decided by the same rules as
/// the API's, and recorded.
#[utoipa::path(post, path = "/v1/integrations/teams/messages", tag = "integrations", operation_id = "integrations_teams_messages",
    request_body(content = Object, content_type = "application/json", description = "A Bot Framework message activity"),
    params(("Authorization" = String, Header, description = "`HMAC ` and the base64 HMAC-SHA256 of the body with the webhook's security token")),
    responses((status = 200, body = Object, description = "A message activity (`type` message, `text`) with `outcome`, `detail`, `approval_id`, `log_index`"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn teams_messages(
    State(state): State<Arc<AppState>>,
    tag: Option<axum::Extension<crate::conn::ConnectionTag>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (app, command) = verified(&state, tag, &TEAMS, state.teams.is_empty(), |now| {
        state.teams.verify(authorization, &body, now)
    })
    .await?;
    let (outcome, detail, log_index) = decide_and_record(
        &state,
        ChatAnswer {
            integration: "teams",
            vendor: "Teams",
            tenant: &app.tenant,
            connector: &app.name,
            user: &command.user,
            approver: app.approver(&command.user),
            approval_id: &command.approval_id,
            approve: command.approve,
            extra: json!({"teams_user": command.user, "teams_name": command.name}),
            entry_kind: ENTRY_KIND,
        },
    )
    .await?;
    let text = match &detail {
        None => format!("{} {outcome} by {}.", command.approval_id, command.name),
        Some(why) => format!("Not done: {why}"),
    };
    Ok(Json(json!({
        "type": "message",
        "text": text,
        "outcome": outcome,
        "detail": detail,
        "approval_id": command.approval_id,
        "log_index": log_index,
    })))
}

/// A ServiceNow change request's approval changed (`approved` grants the approval named in
/// its `correlation_display`, `rejected` denies it), POSTed by the instance's business rule
/// and signed with the connector's `webhook_secret`: `X-Cavra-Timestamp` and
/// `X-Cavra-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`. Refused with 401 when
/// unsigned, signed by no configured instance, more than five minutes from now or seen
/// before; a verified update is answered 200 with its outcome, decided by the API's rules as
/// the ServiceNow user who changed it, and recorded (`itsm_update`) with that user and the
/// ticket.
#[utoipa::path(post, path = "/v1/integrations/servicenow/events", tag = "integrations", operation_id = "integrations_servicenow_events",
    request_body(content = Object, content_type = "application/json",
        description = "`number`, `sys_id`, `correlation_display` (tenant:approval id), `approval` (approved or rejected), `sys_updated_by`"),
    params(
        ("X-Cavra-Timestamp" = String, Header, description = "Unix seconds when the instance sent it"),
        ("X-Cavra-Signature" = String, Header, description = "`v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`"),
    ),
    responses((status = 200, body = PressAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn servicenow_events(
    State(state): State<Arc<AppState>>,
    tag: Option<axum::Extension<crate::conn::ConnectionTag>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PressAnswer>> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let none_configured = state.servicenow.is_empty();
    let (app, update) = verified(&state, tag, &SERVICENOW, none_configured, |now| {
        state.servicenow.verify(
            header("x-cavra-timestamp"),
            header("x-cavra-signature"),
            &body,
            now,
        )
    })
    .await?;
    let (outcome, detail, log_index) = decide_and_record(
        &state,
        ChatAnswer {
            integration: "servicenow",
            vendor: "ServiceNow",
            tenant: &app.tenant,
            connector: &app.name,
            user: &update.user,
            approver: app.approver(&update.user),
            approval_id: &update.approval_id,
            approve: update.approve,
            extra: json!({"itsm_user": update.user, "ticket": update.number, "sys_id": update.sys_id}),
            entry_kind: ITSM_ENTRY_KIND,
        },
    )
    .await?;
    Ok(Json(PressAnswer {
        outcome,
        detail,
        approval_id: update.approval_id,
        log_index,
    }))
}

/// What the service made of a ticket's status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketAnswer {
    /// `approved`, `denied`, `refused`, or `ignored` (nothing for cavra: not an approval's
    /// issue, no status change, a status that neither approves nor denies; not recorded).
    pub outcome: String,
    /// Why it was refused or ignored.
    pub detail: Option<String>,
    /// The approval the ticket is for.
    pub approval_id: Option<String>,
    /// The evidence entry recording it (none when ignored).
    pub log_index: Option<u64>,
}

/// A Jira issue changed (`jira:issue_updated` from an admin webhook with a secret): an
/// approval's issue (label `cavra-approval:<tenant>:<approval id>`) moved to one of the
/// connector's `approved_statuses` grants the approval, to one of `denied_statuses` denies
/// it, as the Jira account that moved it. Signed `X-Hub-Signature: sha256=<hex HMAC-SHA256
/// of the body>` with the connector's `webhook_secret`, not by a cavra credential. Refused
/// with 401 when unsigned, signed by no configured site, more than five minutes from now
/// (the body's `timestamp`) or seen before; a verified change is answered 200 with its
/// outcome and recorded (`itsm_update`) with the account and the issue key.
#[utoipa::path(post, path = "/v1/integrations/jira/events", tag = "integrations", operation_id = "integrations_jira_events",
    request_body(content = Object, content_type = "application/json",
        description = "Jira's webhook body: `timestamp` (ms), `webhookEvent`, `user.accountId`, `issue.key`, `issue.fields.labels`, `changelog.items`"),
    params(("X-Hub-Signature" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the body")),
    responses((status = 200, body = TicketAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn jira_events(
    State(state): State<Arc<AppState>>,
    tag: Option<axum::Extension<crate::conn::ConnectionTag>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TicketAnswer>> {
    use cavra_connectors::jira::Taken;
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    let taken = verified(&state, tag, &JIRA, state.jira.is_empty(), |now| {
        state.jira.verify(signature, &body, now)
    })
    .await?;
    let (app, update) = match taken {
        Taken::Update(app, update) => (app, update),
        Taken::Ignored(why) => {
            return Ok(Json(TicketAnswer {
                outcome: "ignored".into(),
                detail: Some(why),
                approval_id: None,
                log_index: None,
            }));
        }
    };
    let (outcome, detail, log_index) = decide_and_record(
        &state,
        ChatAnswer {
            integration: "jira",
            vendor: "Jira",
            tenant: &app.tenant,
            connector: &app.name,
            user: &update.user,
            approver: app.approver(&update.user),
            approval_id: &update.approval_id,
            approve: update.approve,
            extra: json!({"itsm_user": update.user, "itsm_name": update.name,
                "ticket": update.key, "status": update.status}),
            entry_kind: ITSM_ENTRY_KIND,
        },
    )
    .await?;
    Ok(Json(TicketAnswer {
        outcome,
        detail,
        approval_id: Some(update.approval_id),
        log_index: Some(log_index),
    }))
}

/// A signed callback endpoint, in the words its records and answers use.
struct Callback {
    /// The integration's word in records (`slack`, `jira`).
    integration: &'static str,
    /// What signs its callbacks, as answers name it.
    signer: &'static str,
    /// The word a signed callback that is not what the endpoint takes is recorded with.
    malformed: &'static str,
    /// What is missing when no connector takes these callbacks (a 404's text).
    unconfigured: &'static str,
}

const SLACK: Callback = Callback {
    integration: "slack",
    signer: "Slack app",
    malformed: cavra_connectors::slack::NOT_A_PRESS,
    unconfigured: "Slack app (no slack connector has a signing_secret)",
};

const TEAMS: Callback = Callback {
    integration: "teams",
    signer: "Teams outgoing webhook",
    malformed: cavra_connectors::teams::NOT_A_COMMAND,
    unconfigured: "Teams outgoing webhook (no teams connector has an outgoing_secret)",
};

const SERVICENOW: Callback = Callback {
    integration: "servicenow",
    signer: "ServiceNow instance",
    malformed: cavra_connectors::signature::NOT_AN_UPDATE,
    unconfigured: "ServiceNow instance (no servicenow connector has a webhook_secret)",
};

const JIRA: Callback = Callback {
    integration: "jira",
    signer: "Jira site",
    malformed: cavra_connectors::signature::NOT_AN_UPDATE,
    unconfigured: "Jira site (no jira connector has a webhook_secret)",
};

/// Takes a signed callback: 404 when no connector takes this kind (`none_configured`);
/// otherwise `verify` at this service's clock (Unix seconds), a refusal recorded and
/// answered by [`refused_callback`]. Only a verified callback marks its connection as
/// authenticated (unauthenticated connections are capped).
async fn verified<T>(
    state: &AppState,
    tag: Option<axum::Extension<crate::conn::ConnectionTag>>,
    callback: &Callback,
    none_configured: bool,
    verify: impl FnOnce(i64) -> Result<T, cavra_connectors::signature::Refusal>,
) -> ApiResult<T> {
    if none_configured {
        return Err(Problem::not_found(callback.unconfigured));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match verify(now) {
        Ok(taken) => {
            if let Some(tag) = tag {
                tag.authenticated();
            }
            Ok(taken)
        }
        Err(refusal) => Err(refused_callback(
            state,
            callback.integration,
            callback.signer,
            callback.malformed,
            &refusal,
        )
        .await),
    }
}

/// Records a refused signed callback (for the tenants whose secret signed it) and gives the
/// answer: 401 unsigned, unknown signer, stale or replayed; 400 malformed; 503 when too many
/// recent callbacks are remembered to tell a replay.
async fn refused_callback(
    state: &AppState,
    integration: &str,
    signer: &str,
    malformed_word: &'static str,
    refusal: &cavra_connectors::signature::Refusal,
) -> Problem {
    use cavra_connectors::signature::Refusal as R;
    let tenants: Vec<&str> = refusal.tenants().iter().map(String::as_str).collect();
    let detail = match refusal {
        R::Malformed(_, why) => Some(why.as_str()),
        _ => None,
    };
    let kind = if matches!(integration, "slack" | "teams") {
        ENTRY_KIND
    } else {
        ITSM_ENTRY_KIND
    };
    record_refusal(
        state,
        kind,
        integration,
        &tenants,
        refusal.word(malformed_word),
        detail,
    )
    .await;
    match refusal {
        R::Busy => Problem::unavailable(format!(
            "too many recent {integration} callbacks to tell a replay; try again in a few minutes"
        )),
        R::Unsigned => Problem::unauthorized(format!(
            "unsigned: send the signature header the {signer} signs with"
        )),
        R::BadSignature => {
            Problem::unauthorized(format!("the signature matches no configured {signer}"))
        }
        R::Stale(_) => Problem::unauthorized(
            "the callback is more than five minutes from this service's clock",
        ),
        R::Replayed(_) => Problem::unauthorized("this callback was received before"),
        R::Malformed(_, why) => Problem::bad_request(why.clone()),
    }
}
