//! Agent sessions: the most recent ones, and one session's timeline (each tool call, its
//! decision and outcome, and the approvals it asked for), oldest first, by keyset pages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use cavra_store::DecisionFilter;
use cavra_tenant_store::{Approval, Approvals, Decisions};
use maud::html;
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::login::url_encode;
use crate::session::Signed;
use crate::{Console, PREFIX};

/// Sessions listed.
pub const SESSIONS: usize = 100;
/// Decisions on one page of a timeline.
pub const STEPS: usize = 200;

/// `GET /console/sessions`.
pub async fn list(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let list = match console
        .state
        .db
        .sessions(signed.caller.tenant(), SESSIONS)
        .await
    {
        Ok(l) => l,
        Err(e) => return layout::store_error(e),
    };
    let body = html! {
        h1 { "Agent sessions" }
        p.muted { "The " (SESSIONS) " most recently active, newest first." }
        table {
            thead {
                tr {
                    th scope="col" { "Session" }
                    th scope="col" { "Agent" }
                    th scope="col" { "First seen" }
                    th scope="col" { "Last seen" }
                    th.num scope="col" { "Decisions" }
                    th.num scope="col" { "Blocked" }
                    th.num scope="col" { "Approvals" }
                    th.num scope="col" { "Warned" }
                }
            }
            tbody {
                @if list.is_empty() { tr { td colspan="8" { "No sessions yet." } } }
                @for s in &list {
                    tr {
                        td { a href={ (PREFIX) "/sessions/" (url_encode(&s.id)) } { code { (s.id) } } }
                        td { (s.agent.as_deref().unwrap_or("—")) }
                        td { (s.first_seen) }
                        td { (s.last_seen) }
                        td.num { (s.decisions) }
                        td.num { (s.blocked) }
                        td.num { (s.approvals) }
                        td.num { (s.warned) }
                    }
                }
            }
        }
    };
    layout::page(&signed, Section::Sessions, "Sessions", body)
}

/// The timeline's query.
#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    /// Keyset cursor: the steps recorded before this decision id.
    pub before: Option<String>,
}

/// `GET /console/sessions/{id}`: another tenant's session is a 404, as an unknown one.
pub async fn timeline(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Response {
    if cavra_server::api::check_id(&id).is_err() {
        return layout::not_found().await;
    }
    let tenant = signed.caller.tenant();
    let db = &console.state.db;
    let summary = match db.session(tenant, &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return layout::not_found().await,
        Err(e) => return layout::store_error(e),
    };
    let mut steps = match db
        .decisions(
            tenant,
            &DecisionFilter {
                session_id: Some(id.clone()),
                before: q.before.clone().filter(|b| !b.is_empty()),
                limit: Some(STEPS + 1),
                ..DecisionFilter::default()
            },
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return layout::store_error(e),
    };
    let more = steps.len() > STEPS;
    steps.truncate(STEPS);
    let older = more
        .then(|| steps.last().map(|d| d.decision_id.clone()))
        .flatten();
    steps.reverse();
    // The approvals this session asked for, by the decision that asked.
    let approvals: HashMap<String, Approval> = db
        .approvals(tenant, None, console.state.config.limits.list_items)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.session_id.as_deref() == Some(id.as_str()))
        .map(|a| (a.decision_id.clone(), a))
        .collect();
    let body = html! {
        h1 { "Session " code { (summary.id) } }
        dl.facts {
            dt { "Agent" } dd { (summary.agent.as_deref().unwrap_or("—")) }
            dt { "Active" } dd { (summary.first_seen) " to " (summary.last_seen) }
            dt { "Decisions" } dd { (summary.decisions) " (" (summary.blocked) " blocked, " (summary.approvals) " sent for approval, " (summary.warned) " warned)" }
        }
        @if let Some(before) = &older {
            p { a href={ (PREFIX) "/sessions/" (url_encode(&id)) "?before=" (url_encode(before)) } { "← Earlier steps" } }
        }
        @if q.before.is_some() {
            p { a href={ (PREFIX) "/sessions/" (url_encode(&id)) } { "Latest steps →" } }
        }
        h2 { "Timeline, oldest first" }
        ol.timeline {
            @for d in &steps {
                li {
                    time datetime=(d.timestamp) { (d.timestamp) } " — "
                    (d.action_type.as_str()) " "
                    code { (d.record.get("target").and_then(|t| t.as_str()).unwrap_or("")) }
                    " → " (badge(d.decision.as_str()))
                    " by rule " code { (d.rule_id) }
                    " · " a href={ (PREFIX) "/decisions/" (d.decision_id) } { "decision" }
                    @if let Some(a) = approvals.get(&d.decision_id) {
                        br;
                        "Approval " a href={ (PREFIX) "/approvals/" (a.id) } { code { (a.id) } }
                        " for " (a.approver_group) ": " (badge(&a.state.to_string()))
                        @if let Some(by) = &a.decided_by { " by " (by) }
                        @if let Some(r) = &a.reason { " — " (r) }
                    }
                }
            }
        }
    };
    layout::page(&signed, Section::Sessions, &format!("Session {id}"), body)
}
