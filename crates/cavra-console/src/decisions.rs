//! Decisions: search (outcome, action, rule, actor, repository, session, time) with keyset
//! pagination on the store's query, a live stream of the newest, and one decision with its
//! explain trace and its evidence entry, whose inclusion proof the service checks against its
//! signed checkpoint and the page checks again in the browser.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cavra_server::api::evidence::{ProofView, proof};
use cavra_server::problem::Problem;
use cavra_store::DecisionFilter;
use cavra_tenant_store::{Decisions, StoredDecision};
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::login::url_encode;
use crate::session::Signed;
use crate::{Console, PREFIX};

/// Decisions on a page.
pub const PAGE: usize = 50;

/// The search.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Search {
    /// The effective decision (allow, block, require_approval, …).
    pub outcome: Option<String>,
    /// The action type.
    pub action: Option<String>,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Who asked (the authenticated caller).
    pub actor: Option<String>,
    /// The repository the request named.
    pub repository: Option<String>,
    /// The agent session.
    pub session: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// Keyset cursor: decisions recorded before this decision id.
    pub before: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Search {
    /// The query string of this search (without the cursor).
    pub fn query(&self) -> String {
        [
            ("outcome", &self.outcome),
            ("action", &self.action),
            ("rule", &self.rule),
            ("actor", &self.actor),
            ("repository", &self.repository),
            ("session", &self.session),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", url_encode(&v))))
        .collect::<Vec<_>>()
        .join("&")
    }

    fn filter(&self, limit: usize) -> Result<DecisionFilter, Problem> {
        let time = |field: &str, v: &Option<String>| cavra_server::api::query_time(field, given(v));
        Ok(DecisionFilter {
            session_id: given(&self.session),
            decision: given(&self.outcome)
                .map(|o| {
                    o.parse()
                        .map_err(|_| Problem::bad_request(format!("`{o}` is not a decision")))
                })
                .transpose()?,
            action_type: given(&self.action)
                .map(|a| {
                    a.parse()
                        .map_err(|_| Problem::bad_request(format!("`{a}` is not an action type")))
                })
                .transpose()?,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            rule_id: given(&self.rule),
            requested_by: given(&self.actor),
            repository: given(&self.repository),
            before: given(&self.before),
            limit: Some(limit),
        })
    }
}

/// One page of a search.
pub struct Found {
    /// The decisions, newest first.
    pub list: Vec<StoredDecision>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
}

fn repository_of(d: &StoredDecision) -> Option<&str> {
    d.record.get("repository").and_then(|v| v.as_str())
}

/// A page of decisions of `tenant` for `search`, one store query (every filter, the
/// repository too, reads an index of its own; the cursor is a keyset): a filter that is not
/// one is the API's problem (400 for an unknown word, 422 for a time that is not one); a
/// store failure is the API's problem too, without the database's text.
pub async fn search(console: &Console, tenant: &str, search: &Search) -> Result<Found, Problem> {
    // One more than a page: whether there is a next page, without counting.
    let mut list = console
        .state
        .db
        .decisions(tenant, &search.filter(PAGE + 1)?)
        .await?;
    let more = list.len() > PAGE;
    list.truncate(PAGE);
    let next = more
        .then(|| list.last().map(|d| d.decision_id.clone()))
        .flatten();
    Ok(Found { list, next })
}

/// A table of decisions, newest first.
pub fn table(list: &[StoredDecision]) -> Markup {
    table_with(list, None)
}

fn table_with(list: &[StoredDecision], live: Option<&str>) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th scope="col" { "Time" }
                    th scope="col" { "Decision" }
                    th scope="col" { "Action" }
                    th scope="col" { "Target" }
                    th scope="col" { "Rule" }
                    th scope="col" { "Actor" }
                    th scope="col" { "Repository" }
                }
            }
            @if let Some(url) = live {
                tbody #stream data-live=(url) { (rows(list)) }
            } @else {
                tbody { (rows(list)) }
            }
        }
    }
}

/// The rows of [`table`] (also what each live update carries).
pub fn rows(list: &[StoredDecision]) -> Markup {
    html! {
        @if list.is_empty() {
            tr { td colspan="7" { "No decisions match." } }
        }
        @for d in list {
            tr {
                td { a href={ (PREFIX) "/decisions/" (d.decision_id) } { time datetime=(d.timestamp) { (d.timestamp) } } }
                td { (badge(d.decision.as_str())) }
                td { (d.action_type.as_str()) }
                td { code { (d.record.get("target").and_then(|t| t.as_str()).unwrap_or("")) } }
                td { code { (d.rule_id) } }
                td { (d.extra.requested_by) }
                td { (repository_of(d).unwrap_or("—")) }
            }
        }
    }
}

const OUTCOMES: [&str; 6] = [
    "allow",
    "block",
    "require_approval",
    "warn",
    "audit_only",
    "allow_with_attestation",
];

const ACTIONS: [&str; 8] = [
    "read_file",
    "write_file",
    "delete_file",
    "execute_command",
    "git_operation",
    "mcp_tool_call",
    "pull_request",
    "network_request",
];

fn text_input(id: &str, name: &str, label: &str, value: &Option<String>, hint: &str) -> Markup {
    html! {
        div {
            label for=(id) { (label) }
            input id=(id) name=(name) value=(value.as_deref().unwrap_or("")) placeholder=(hint);
        }
    }
}

/// `GET /console/decisions`.
pub async fn list(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(s): Query<Search>,
) -> Response {
    let found = match search(&console, signed.caller.tenant(), &s).await {
        Ok(f) => f,
        Err(p) => return layout::problem(&p),
    };
    let q = s.query();
    let first_page = given(&s.before).is_none();
    let events = format!("{PREFIX}/decisions/events?{q}");
    let outcome = given(&s.outcome).unwrap_or_default();
    let action = given(&s.action).unwrap_or_default();
    let body = html! {
        h1 { "Decisions" }
        form.filters method="get" action={ (PREFIX) "/decisions" } aria-label="Search decisions" {
            div {
                label for="f-outcome" { "Outcome" }
                select #f-outcome name="outcome" {
                    option value="" selected[outcome.is_empty()] { "any" }
                    @for o in OUTCOMES { option value=(o) selected[o == outcome] { (o.replace('_', " ")) } }
                }
            }
            div {
                label for="f-action" { "Action" }
                select #f-action name="action" {
                    option value="" selected[action.is_empty()] { "any" }
                    @for a in ACTIONS { option value=(a) selected[a == action] { (a.replace('_', " ")) } }
                }
            }
            (text_input("f-rule", "rule", "Rule", &s.rule, "commands.block"))
            (text_input("f-actor", "actor", "Actor", &s.actor, "ci-bot"))
            (text_input("f-repo", "repository", "Repository", &s.repository, "acme/app"))
            (text_input("f-session", "session", "Session", &s.session, ""))
            (text_input("f-since", "since", "Since", &s.since, "2026-01-31T09:00:00Z"))
            (text_input("f-until", "until", "Until", &s.until, "2026-02-01T00:00:00Z"))
            button type="submit" { "Search" }
        }
        @if first_page {
            p #live-status.muted role="status" aria-live="polite" { "Newest first." }
        } @else {
            p.muted { "Older decisions. " a href={ (PREFIX) "/decisions?" (q) } { "Back to the newest" } }
        }
        (table_with(&found.list, first_page.then_some(events.as_str())))
        nav.pager aria-label="Pages" {
            @if let Some(next) = &found.next {
                a href={ (PREFIX) "/decisions?" (q) @if !q.is_empty() { "&" } "before=" (url_encode(next)) } rel="next" { "Older decisions →" }
            }
        }
    };
    layout::page(&signed, Section::Decisions, "Decisions", body)
}

/// `GET /console/decisions/events`: the first page again whenever it changes.
pub async fn events(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(mut s): Query<Search>,
) -> Response {
    s.before = None;
    let tenant = signed.caller.tenant().to_string();
    let stream = crate::approvals::live_stream(move || {
        let console = console.clone();
        let tenant = tenant.clone();
        let s = s.clone();
        async move {
            search(&console, &tenant, &s)
                .await
                .ok()
                .map(|f| rows(&f.list).into_string())
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The detail page's query.
#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    /// `proof`: the inclusion proof as a file for `cavra evidence check-proof`.
    pub download: Option<String>,
}

/// `GET /console/decisions/{id}`: another tenant's id is a 404, as an unknown one.
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    if cavra_server::api::check_id(&id).is_err() {
        return layout::not_found().await;
    }
    let tenant = signed.caller.tenant();
    let d = match console.state.db.decision(tenant, &id).await {
        Ok(Some(d)) => d,
        Ok(None) => return layout::not_found().await,
        Err(e) => return layout::store_error(e),
    };
    // The proof exactly as the API gives it (its handler, called with this caller).
    let proven = match d.extra.log_index {
        Some(i) => Some(
            proof(
                State(console.state.clone()),
                signed.caller.clone(),
                Path(i.to_string()),
            )
            .await
            .map(|j| j.0),
        ),
        None => None,
    };
    if q.download.as_deref() == Some("proof") {
        return match proven {
            Some(Ok(p)) => proof_file(&p),
            Some(Err(p)) => layout::problem(&p),
            None => layout::not_found().await,
        };
    }
    let body = html! {
        h1 { "Decision " code { (d.decision_id) } }
        (crate::approvals::record_facts(&d))
        h2 { "Explain trace" }
        (crate::approvals::explain(&d.record))
        @if let Some(s) = &d.session_id {
            p { "Part of agent session " a href={ (PREFIX) "/sessions/" (s) } { code { (s) } } "." }
        }
        h2 { "Evidence entry" }
        @match &proven {
            None => p.muted { "This decision has no evidence entry." },
            Some(Err(p)) => p.error role="alert" { "The inclusion proof could not be made: " (p.detail) },
            Some(Ok(p)) => (proof_section(&console, p)),
        }
        details {
            summary { "The full record (redacted)" }
            pre { (serde_json::to_string_pretty(&d.record).unwrap_or_default()) }
        }
    };
    layout::page(&signed, Section::Decisions, &format!("Decision {id}"), body)
}

/// The proof as the file `cavra evidence check-proof` reads.
fn proof_file(p: &ProofView) -> Response {
    let hashes: Vec<[u8; 32]> = p
        .hashes
        .iter()
        .filter_map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect();
    let text = cavra_evidence::proof_file::ProofFile::inclusion(
        p.index,
        p.entry.clone(),
        p.checkpoint.clone(),
        &hashes,
    )
    .to_text();
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"cavra-proof-{}.json\"",
        p.index
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The service's own check of a proof: against a trust root of its log key alone.
pub fn service_check(console: &Console, p: &ProofView) -> Result<String, String> {
    let key = console.state.signer.key.verifying_key();
    let mut trust = cavra_evidence::trust::TrustRoot::default();
    trust
        .add(
            cavra_evidence::trust::KeyRecord::new(
                console.state.signing_key_id.clone(),
                "this service",
                &key,
                time::OffsetDateTime::UNIX_EPOCH,
                None,
            )
            .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let hashes: Vec<[u8; 32]> = p
        .hashes
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect::<Option<_>>()
        .ok_or("a proof hash is not 32 bytes of hex")?;
    cavra_evidence::proof_file::ProofFile::inclusion(
        p.index,
        p.entry.clone(),
        p.checkpoint.clone(),
        &hashes,
    )
    .check(&trust)
    .map_err(|e| e.to_string())
}

fn proof_section(console: &Console, p: &ProofView) -> Markup {
    let checkpoint = cavra_evidence::dsse::Envelope::from_json(&p.checkpoint)
        .ok()
        .and_then(|e| e.payload_bytes().ok())
        .and_then(|b| cavra_evidence::checkpoint::Checkpoint::from_payload(&b).ok());
    let checked = service_check(console, p);
    let path = p.hashes.join(",");
    html! {
        dl.facts {
            dt { "Index" } dd { (p.index) }
            @if let Some(cp) = &checkpoint {
                dt { "Checkpoint" } dd { "tree size " (cp.tree_size) ", signed " (cp.timestamp) " by " code { (cp.key_id) } }
                dt { "Root hash" } dd { code { (cp.root_hash) } }
            }
            dt { "Proof" } dd { (p.hashes.len()) " hashes" }
        }
        @match &checked {
            Ok(what) => p.notice role="status" { "Checked by the service against its signed checkpoint: " (what) },
            Err(e) => p.error role="alert" { "The service's check FAILED: " (e) },
        }
        @if let Some(cp) = &checkpoint {
            section data-proof data-index=(p.index) data-size=(cp.tree_size) data-root=(cp.root_hash) data-path=(path) aria-label="Check in this browser" {
                p {
                    button type="button" data-verify hidden { "Check the proof in this browser" }
                    " "
                    a href={ "?download=proof" } download { "Download the proof" }
                    " (check offline with " code { "cavra evidence check-proof" } ")"
                }
                p data-verify-result role="status" aria-live="polite" {}
                details {
                    summary { "The entry (canonical JSON, hashed as the leaf)" }
                    pre data-entry { (p.entry) }
                }
            }
        }
    }
}
