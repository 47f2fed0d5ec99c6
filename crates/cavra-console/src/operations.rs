//! Operations: the tenant's posture (the AISPM score and its factors, recent outcomes) and
//! readiness gate (blockers with their fix), and its connectors (deliveries, dead letters,
//! retry). Each is read through the API's own handler called with this caller, so the roles
//! the API asks for (readiness: admin or auditor; connectors: admin) hold here too.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cavra_server::api::Params;
use cavra_server::api::connectors::{
    DeliveryParams, DeliveryView, RetryBody, dead_letters, deliveries, list as connectors_list,
    retry,
};
use cavra_server::api::tenants::{posture as tenant_posture, readiness as tenant_readiness};
use cavra_server::problem::Body;
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::session::{self, Signed};
use crate::{Console, PREFIX};

/// `GET /console/posture`.
pub async fn posture(State(console): State<Arc<Console>>, signed: Signed) -> Response {
    let state = || State(console.state.clone());
    let whole = axum::extract::Query(Default::default());
    let posture = match tenant_posture(state(), signed.caller.clone(), whole).await {
        Ok(p) => p.0,
        Err(p) => return layout::problem(&p),
    };
    let readiness = tenant_readiness(state(), signed.caller.clone()).await;
    let a = &posture.aispm;
    let body = html! {
        h1 { "Posture and readiness" }
        h2 { "AISPM posture" }
        dl.facts {
            dt { "Score" } dd { @match a.score { Some(s) => strong { (format!("{s:.0}")) " / 100" }, None => "not enough evidence yet" } }
            dt { "Evidence entries" } dd { (posture.log_size) }
            dt { "Pending approvals" } dd { (posture.pending_approvals) }
            dt { "Dead letters" } dd { (posture.dead_letters) }
        }
        table {
            caption.muted { "What the score is made of" }
            thead { tr { th scope="col" { "Factor" } th.num scope="col" { "Weight" } th.num scope="col" { "Value" } th.num scope="col" { "Contribution" } th scope="col" { "Why" } } }
            tbody {
                @for f in &a.factors {
                    tr {
                        td { (serde_json::to_value(f.id).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                        td.num { (f.weight) }
                        td.num { @match f.value { Some(v) => (format!("{v:.2}")), None => "—" } }
                        td.num { (format!("{:.1}", f.contribution)) }
                        td { (f.explanation) }
                    }
                }
            }
        }
        h2 { "Outcomes of the latest " (posture.window) " decisions" }
        table {
            thead { tr { th scope="col" { "Outcome" } th.num scope="col" { "Decisions" } } }
            tbody {
                @for (word, n) in &posture.decisions {
                    tr { td { (badge(word)) } td.num { (n) } }
                }
            }
        }
        h2 { "Readiness gate" }
        @match &readiness {
            Err(p) => p.muted { (p.detail) },
            Ok(r) => {
                @if r.0.ready() {
                    p.notice role="status" { "Ready: no blockers (" (r.0.validators.join(", ")) ")." }
                } @else {
                    p.error role="alert" { (r.0.blockers.len()) " blockers." }
                    table {
                        thead { tr { th scope="col" { "Check" } th scope="col" { "Problem" } th scope="col" { "Fix" } } }
                        tbody {
                            @for b in &r.0.blockers {
                                tr { td { (b.validator) } td { (b.problem) } td { (b.fix) } }
                            }
                        }
                    }
                }
                p.muted { "Checked at " (r.0.checked_at) "." }
            }
        }
    };
    layout::page(&signed, Section::Posture, "Posture and readiness", body)
}

/// The connectors page's filter.
#[derive(Debug, Default, Deserialize)]
pub struct DeliveryFilter {
    /// pending, delivered or dead.
    pub state: Option<String>,
    /// One connector.
    pub destination: Option<String>,
    /// What was just retried, to say so.
    pub retried: Option<u64>,
}

fn deliveries_table(list: &[DeliveryView], csrf: Option<&str>) -> Markup {
    html! {
        table {
            thead { tr { th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "Connector" } th scope="col" { "State" } th.num scope="col" { "Attempts" } th scope="col" { "Last result" } th scope="col" { "Updated" } @if csrf.is_some() { th scope="col" { "Retry" } } } }
            tbody {
                @if list.is_empty() { tr { td colspan="8" { "None." } } }
                @for d in list {
                    tr {
                        td { code { (d.event_id) } }
                        td { (d.event_type) }
                        td { (d.destination) }
                        td { (badge(&d.state)) }
                        td.num { (d.attempts) }
                        td { (d.last_status.as_deref().unwrap_or("")) " " (d.last_error.as_deref().unwrap_or("")) }
                        td { (d.updated_at) }
                        @if let Some(csrf) = csrf {
                            td {
                                form method="post" action={ (PREFIX) "/connectors/retry" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="event_id" value=(d.event_id);
                                    input type="hidden" name="destination" value=(d.destination);
                                    button.secondary type="submit" aria-label={ "Retry " (d.event_id) " to " (d.destination) } { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/connectors` (admins, as the API's connector routes).
pub async fn connectors(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(f): Query<DeliveryFilter>,
) -> Response {
    let state = || State(console.state.clone());
    let caller = || signed.caller.clone();
    let list = match connectors_list(state(), caller()).await {
        Ok(l) => l.0,
        Err(p) => return layout::problem(&p),
    };
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let recent = match deliveries(
        state(),
        caller(),
        Params(DeliveryParams {
            state: given(&f.state),
            destination: given(&f.destination),
            event_id: None,
            limit: Some(100),
        }),
    )
    .await
    {
        Ok(d) => d.0,
        Err(p) => return layout::problem(&p),
    };
    let dead = match dead_letters(state(), caller()).await {
        Ok(d) => d.0,
        Err(p) => return layout::problem(&p),
    };
    let csrf = signed.session.csrf.as_str();
    let current = given(&f.state).unwrap_or_default();
    let body = html! {
        h1 { "Connectors" }
        @if let Some(n) = f.retried {
            p.notice role="status" { (n) " dead deliveries queued again." }
        }
        table {
            thead { tr { th scope="col" { "Connector" } th scope="col" { "Kind" } th scope="col" { "Events" } th scope="col" { "Destination" } th.num scope="col" { "Dead letters" } } }
            tbody {
                @if list.is_empty() { tr { td colspan="5" { "No connectors deliver this tenant's events." } } }
                @for c in &list {
                    tr { td { (c.name) } td { (c.kind) } td { (c.events.join(", ")) } td { code { (c.destination) } } td.num { (c.dead_letters) } }
                }
            }
        }
        h2 { "Dead letters" }
        @if !dead.is_empty() {
            form method="post" action={ (PREFIX) "/connectors/retry" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Retry every dead delivery" }
            }
        }
        (deliveries_table(&dead, Some(csrf)))
        h2 { "Deliveries" }
        form.filters method="get" action={ (PREFIX) "/connectors" } aria-label="Filter deliveries" {
            div {
                label for="c-state" { "State" }
                select #c-state name="state" {
                    @for s in ["", "pending", "delivered", "dead"] {
                        option value=(s) selected[s == current] { @if s.is_empty() { "any" } @else { (s) } }
                    }
                }
            }
            div { label for="c-dest" { "Connector" } input #c-dest name="destination" value=(f.destination.as_deref().unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        (deliveries_table(&recent, None))
    };
    layout::page(&signed, Section::Connectors, "Connectors", body)
}

/// The retry form.
#[derive(Debug, Deserialize)]
pub struct RetryForm {
    csrf: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    destination: Option<String>,
}

/// `POST /console/connectors/retry`: the API's retry, for one delivery or every dead one.
pub async fn retry_dead(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<RetryForm>,
) -> Response {
    if let Err(r) = session::check_change(&console, &headers, Some(&signed.session), &f.csrf) {
        return r;
    }
    let body = RetryBody {
        event_id: f.event_id.filter(|s| !s.is_empty()),
        destination: f.destination.filter(|s| !s.is_empty()),
    };
    match retry(
        State(console.state.clone()),
        signed.caller.clone(),
        Body(body),
    )
    .await
    {
        Ok(r) => {
            Redirect::to(&format!("{PREFIX}/connectors?retried={}", r.0.retried)).into_response()
        }
        Err(p) => layout::error_page(StatusCode::from_u16(p.status).ok(), &p.detail),
    }
}
