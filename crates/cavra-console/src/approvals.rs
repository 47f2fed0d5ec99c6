//! Approvals: the queue (filters by state, group, repository and age; live by server-sent
//! events), one approval with what it would unlock and why it was asked for, and the approve
//! and deny forms, which call the API's own [`cavra_server::api::approvals::decide`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use cavra_server::api::approvals::{Verdict, decide as decide_approval};
use cavra_tenant_store::{Approval, ApprovalState, Approvals, Decisions, GrantUse, StoredDecision};
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::session::{self, Signed};
use crate::{Console, PREFIX};

/// How many approvals the queue reads at most.
pub const QUEUE_LIMIT: usize = 200;

/// The queue's filters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueFilter {
    /// pending (default), approved, denied, expired, break_glass, consumed, or `all`.
    pub state: Option<String>,
    /// Only approvals routed to this group.
    pub group: Option<String>,
    /// Only approvals of actions in this repository.
    pub repository: Option<String>,
    /// Age: `15m`, `1h`, `24h` (newer than) or `old` (older than 24 hours).
    pub age: Option<String>,
}

impl QueueFilter {
    fn state(&self) -> Result<Option<ApprovalState>, String> {
        match self.state.as_deref().map(str::trim) {
            None | Some("") => Ok(Some(ApprovalState::Pending)),
            Some("all") => Ok(None),
            Some(s) => s.parse::<ApprovalState>().map(Some),
        }
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("state", &self.state),
            ("group", &self.group),
            ("repository", &self.repository),
            ("age", &self.age),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", crate::login::url_encode(v)));
            }
        }
        parts.join("&")
    }

    /// The earliest and latest request times the age filter admits, as stored text. An age
    /// that is none of the four is refused (422), never read as "any age".
    fn window(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<(Option<String>, Option<String>), String> {
        let ago = |d: time::Duration| Some(cavra_server::format_time(now - d));
        Ok(match self.age.as_deref().map(str::trim) {
            None | Some("") => (None, None),
            Some("15m") => (ago(time::Duration::minutes(15)), None),
            Some("1h") => (ago(time::Duration::hours(1)), None),
            Some("24h") => (ago(time::Duration::hours(24)), None),
            Some("old") => (None, ago(time::Duration::hours(24))),
            Some(other) => {
                return Err(format!(
                    "`age` is `{other}`; use 15m, 1h, 24h or old (older than 24 hours)"
                ));
            }
        })
    }
}

/// One row of the queue: the approval and the decision that asked for it.
pub struct Row {
    /// The approval.
    pub approval: Approval,
    /// Its decision (absent only if the store lost it).
    pub decision: Option<StoredDecision>,
}

fn repository_of(d: &StoredDecision) -> Option<&str> {
    d.record.get("repository").and_then(|v| v.as_str())
}

/// The queue's rows for `filter`, newest first.
pub async fn queue(
    console: &Console,
    tenant: &str,
    filter: &QueueFilter,
) -> Result<Vec<Row>, Response> {
    let state = filter
        .state()
        .map_err(|e| layout::error_page(Some(StatusCode::BAD_REQUEST), &e))?;
    let (since, until) = filter
        .window(time::OffsetDateTime::now_utc())
        .map_err(|e| layout::error_page(Some(StatusCode::UNPROCESSABLE_ENTITY), &e))?;
    let db = &console.state.db;
    let list = db
        .approvals(tenant, state, QUEUE_LIMIT)
        .await
        .map_err(layout::store_error)?;
    let group = filter.group.as_deref().filter(|g| !g.is_empty());
    let repository = filter.repository.as_deref().filter(|r| !r.is_empty());
    let mut rows = Vec::new();
    for a in list {
        if group.is_some_and(|g| g != a.approver_group)
            || since
                .as_deref()
                .is_some_and(|s| a.requested_at.to_string().as_str() < s)
            || until
                .as_deref()
                .is_some_and(|u| a.requested_at.to_string().as_str() >= u)
        {
            continue;
        }
        let decision = db
            .decision(tenant, &a.decision_id)
            .await
            .map_err(layout::store_error)?;
        if let Some(r) = repository
            && decision.as_ref().and_then(repository_of) != Some(r)
        {
            continue;
        }
        rows.push(Row {
            approval: a,
            decision,
        });
    }
    Ok(rows)
}

/// The queue's table body (also what each live update carries).
pub fn rows_html(rows: &[Row]) -> Markup {
    html! {
        @if rows.is_empty() {
            tr { td colspan="7" { "No approvals match." } }
        }
        @for r in rows {
            @let a = &r.approval;
            tr {
                td { a href={ (PREFIX) "/approvals/" (a.id) } { code { (a.id) } } }
                td { (a.summary) }
                td { (a.approver_group) }
                td { (r.decision.as_ref().and_then(repository_of).unwrap_or("—")) }
                td { (a.requested_by) }
                td { time datetime=(a.requested_at) { (a.requested_at) } }
                td { (badge(&a.state.to_string())) }
            }
        }
    }
}

const STATES: [&str; 7] = [
    "pending",
    "approved",
    "denied",
    "expired",
    "break_glass",
    "consumed",
    "all",
];

const AGES: [(&str, &str); 5] = [
    ("", "any age"),
    ("15m", "newer than 15 minutes"),
    ("1h", "newer than 1 hour"),
    ("24h", "newer than 24 hours"),
    ("old", "older than 24 hours"),
];

/// `GET /console/approvals`.
pub async fn list(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let rows = match queue(&console, signed.caller.tenant(), &filter).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let current_state = filter.state.clone().unwrap_or_else(|| "pending".into());
    let current_age = filter.age.clone().unwrap_or_default();
    let q = filter.query();
    let events = if q.is_empty() {
        format!("{PREFIX}/approvals/events")
    } else {
        format!("{PREFIX}/approvals/events?{q}")
    };
    let body = html! {
        h1 { "Approvals" }
        form.filters method="get" action={ (PREFIX) "/approvals" } aria-label="Filter approvals" {
            div {
                label for="f-state" { "State" }
                select #f-state name="state" {
                    @for s in STATES {
                        option value=(s) selected[s == current_state] { (s.replace('_', " ")) }
                    }
                }
            }
            div {
                label for="f-group" { "Approver group" }
                input #f-group name="group" value=(filter.group.as_deref().unwrap_or(""));
            }
            div {
                label for="f-repo" { "Repository" }
                input #f-repo name="repository" value=(filter.repository.as_deref().unwrap_or(""));
            }
            div {
                label for="f-age" { "Age" }
                select #f-age name="age" {
                    @for (v, l) in AGES {
                        option value=(v) selected[v == current_age] { (l) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p #live-status.muted role="status" aria-live="polite" { "Showing " (rows.len()) " approvals." }
        table {
            caption.muted { "Newest first; at most " (QUEUE_LIMIT) " read." }
            thead {
                tr {
                    th scope="col" { "Approval" }
                    th scope="col" { "Action" }
                    th scope="col" { "Group" }
                    th scope="col" { "Repository" }
                    th scope="col" { "Requested by" }
                    th scope="col" { "Requested at" }
                    th scope="col" { "State" }
                }
            }
            tbody #queue data-live=(events) { (rows_html(&rows)) }
        }
    };
    layout::page(&signed, Section::Approvals, "Approvals", body)
}

/// How often a live stream looks for changes.
pub const LIVE_EVERY: Duration = Duration::from_secs(1);

/// `GET /console/approvals/events`: the queue's table body again whenever it changes.
pub async fn events(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let tenant = signed.caller.tenant().to_string();
    let stream = live_stream(move || {
        let console = console.clone();
        let tenant = tenant.clone();
        let filter = filter.clone();
        async move {
            queue(&console, &tenant, &filter)
                .await
                .ok()
                .map(|rows| rows_html(&rows).into_string())
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A stream of `rows` events: `render` every [`LIVE_EVERY`], sent when it differs from the
/// last sent (the first one always is). Ends when the client goes away.
pub fn live_stream<F, Fut>(
    render: F,
) -> impl futures_core::Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<String>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(2);
    tokio::spawn(async move {
        let mut last: Option<String> = None;
        let mut tick = tokio::time::interval(LIVE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tx.closed() => return,
            }
            let Some(html) = render().await else { continue };
            if last.as_deref() == Some(html.as_str()) {
                continue;
            }
            if tx
                .send(Ok(Event::default().event("rows").data(&html)))
                .await
                .is_err()
            {
                return;
            }
            last = Some(html);
        }
    });
    ReceiverStream(rx)
}

/// A receiver as a stream (what tokio-stream's wrapper does, without the crate).
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A decision's explain trace: every rule that matched, and the sub-request it matched.
pub fn explain(record: &serde_json::Value) -> Markup {
    let matched = record
        .get("matched_rules")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let field = |m: &serde_json::Value, k: &str| {
        m.get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default()
    };
    html! {
        @if matched.is_empty() {
            p.muted { "No rule matched; the pack's default decided." }
        } @else {
            table {
                caption.muted { "Every rule that matched, in the engine's order" }
                thead { tr { th scope="col" { "Rule" } th scope="col" { "Decision" } th scope="col" { "Severity" } th scope="col" { "Matched" } th scope="col" { "Pattern" } } }
                tbody {
                    @for m in &matched {
                        tr {
                            td { code { (field(m, "rule_id")) } @if m.get("explicit").and_then(|e| e.as_bool()) == Some(false) { " " span.muted { "(default)" } } }
                            td { (badge(&field(m, "decision"))) }
                            td { (field(m, "severity")) }
                            td { (field(m, "subject")) }
                            td { code { (field(m, "pattern")) } }
                        }
                    }
                }
            }
        }
    }
}

/// The facts of a decision record worth a first look.
pub fn record_facts(d: &StoredDecision) -> Markup {
    let r = &d.record;
    let text = |k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
    html! {
        dl.facts {
            dt { "Action" } dd { (d.action_type.as_str()) }
            dt { "Target" } dd { code { (text("target").unwrap_or_default()) } }
            dt { "Decision" } dd { (badge(d.decision.as_str())) }
            dt { "Rule" } dd { code { (d.rule_id) } }
            dt { "Reason" } dd { (text("reason").unwrap_or_default()) }
            dt { "Actor" } dd { (text("actor").unwrap_or_else(|| d.extra.requested_by.clone())) }
            dt { "Agent" } dd { (d.extra.agent.as_deref().unwrap_or("—")) }
            dt { "Repository" } dd { (text("repository").unwrap_or_else(|| "—".into())) }
            dt { "Branch" } dd { (text("branch").unwrap_or_else(|| "—".into())) }
            dt { "Policy" } dd { (text("policy_pack").unwrap_or_default()) " " (text("policy_version").unwrap_or_default()) " " code { (d.extra.policy_digest) } }
            dt { "Time" } dd { (d.timestamp) }
            dt { "Decision id" } dd { a href={ (PREFIX) "/decisions/" (d.decision_id) } { code { (d.decision_id) } } }
        }
    }
}

/// `GET /console/approvals/{id}`: another tenant's id is a 404, as an unknown one.
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    render_detail(&console, &signed, &id, q.done.as_deref(), None).await
}

/// The detail page's query.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    /// What was just done (`approved`, `denied`), to say so.
    pub done: Option<String>,
}

async fn render_detail(
    console: &Console,
    signed: &Signed,
    id: &str,
    done: Option<&str>,
    error: Option<(StatusCode, String)>,
) -> Response {
    if cavra_server::api::check_id(id).is_err() {
        return layout::not_found().await;
    }
    let tenant = signed.caller.tenant();
    let db = &console.state.db;
    let a = match db.approval(tenant, id).await {
        Ok(Some(a)) => a,
        Ok(None) => return layout::not_found().await,
        Err(e) => return layout::store_error(e),
    };
    let decision = db.decision(tenant, &a.decision_id).await.ok().flatten();
    let session_decisions = match &a.session_id {
        Some(s) => db
            .decisions(
                tenant,
                &cavra_store::DecisionFilter {
                    session_id: Some(s.clone()),
                    limit: Some(20),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let pending = a.state == ApprovalState::Pending;
    let own = a.requested_by == signed.caller.subject();
    let body = html! {
        h1 { "Approval " code { (a.id) } }
        @if let Some(d) = done {
            p.notice role="status" { "Done: " (d) "." }
        }
        @if let Some((status, message)) = &error {
            p.error role="alert" { "Refused (" (status.as_u16()) "): " (message) }
        }
        dl.facts {
            dt { "State" } dd { (badge(&a.state.to_string())) }
            dt { "Asks for" } dd { (a.summary) }
            dt { "Approver group" } dd { (a.approver_group) }
            dt { "Requested by" } dd { (a.requested_by) @if own { " " strong { "(you: you cannot decide it)" } } }
            dt { "Requested at" } dd { (a.requested_at) }
            dt { "Expires at" } dd { (a.expires_at) }
            dt { "Grant" } dd { (a.extra.grant.as_str()) ", used " (a.extra.uses) " times" }
            @if let Some(by) = &a.decided_by { dt { "Decided by" } dd { (by) " at " (a.decided_at.map(|t| t.to_string()).unwrap_or_default()) } }
            @if let Some(r) = &a.reason { dt { "Reason given" } dd { (r) } }
        }
        @if pending {
            h2 { "Decide" }
            div.actions {
                form method="post" action={ (PREFIX) "/approvals/" (a.id) "/decide" } aria-label="Approve" {
                    input type="hidden" name="csrf" value=(signed.session.csrf);
                    input type="hidden" name="verdict" value="approve";
                    div { label for="approve-reason" { "Reason for approving" } textarea #approve-reason name="reason" required {} }
                    fieldset {
                        legend { "The grant unlocks" }
                        label { input type="radio" name="grant" value="once" checked; " one retry of exactly this action" }
                        br;
                        label { input type="radio" name="grant" value="until_expiry"; " every retry until it expires" }
                    }
                    button type="submit" { "Approve" }
                }
                form method="post" action={ (PREFIX) "/approvals/" (a.id) "/decide" } aria-label="Deny" {
                    input type="hidden" name="csrf" value=(signed.session.csrf);
                    input type="hidden" name="verdict" value="deny";
                    div { label for="deny-reason" { "Reason for denying" } textarea #deny-reason name="reason" required {} }
                    button.danger type="submit" { "Deny" }
                }
            }
        }
        h2 { "The action" }
        @match &decision {
            Some(d) => {
                (record_facts(d))
                h2 { "Explain trace" }
                (explain(&d.record))
            }
            None => p.muted { "The decision " code { (a.decision_id) } " is not in the store." }
        }
        h2 { "Session context" }
        @match &a.session_id {
            Some(s) => {
                p { "Agent session " a href={ (PREFIX) "/sessions/" (s) } { code { (s) } } "; its latest decisions:" }
                (crate::decisions::table(&session_decisions))
            }
            None => p.muted { "The request named no agent session." }
        }
        h2 { "History" }
        ol.timeline {
            @for h in &a.history {
                li { (h.at) " — " (badge(&h.state.to_string())) " by " (h.actor) @if let Some(r) = &h.reason { ": " (r) } }
            }
        }
    };
    let resp = layout::page(
        signed,
        Section::Approvals,
        &format!("Approval {}", a.id),
        body,
    );
    match error {
        Some((status, _)) => (status, resp).into_response(),
        None => resp,
    }
}

/// The decide form.
#[derive(Debug, Deserialize)]
pub struct DecideForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    grant: Option<String>,
}

/// `POST /console/approvals/{id}/decide`: approve or deny through the API's own function
/// (role, group, never one's own request, never after expiry, only from pending).
pub async fn decide(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Response {
    if let Err(r) = session::check_change(&console, &headers, Some(&signed.session), &f.csrf) {
        return r;
    }
    let verdict = match (f.verdict.as_str(), f.grant.as_deref()) {
        ("approve", None | Some("once")) => Verdict::Approve(GrantUse::Once),
        ("approve", Some("until_expiry")) => Verdict::Approve(GrantUse::UntilExpiry),
        ("deny", _) => Verdict::Deny,
        _ => {
            return layout::error_page(
                Some(StatusCode::BAD_REQUEST),
                "the verdict is approve or deny, the grant once or until_expiry",
            );
        }
    };
    match decide_approval(&console.state, &signed.caller, &id, verdict, &f.reason).await {
        Ok(a) => {
            let done = match verdict {
                Verdict::Approve(_) => "approved",
                Verdict::Deny => "denied",
            };
            Redirect::to(&format!("{PREFIX}/approvals/{}?done={done}", a.id)).into_response()
        }
        Err(p) if p.status == 404 => layout::not_found().await,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
            render_detail(&console, &signed, &id, None, Some((status, p.detail))).await
        }
    }
}
