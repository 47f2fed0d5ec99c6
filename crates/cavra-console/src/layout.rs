//! The page shell: landmarks (banner, navigation, main), the signed-in person, and the error
//! and not-found pages.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use crate::session::Signed;
use crate::{PREFIX, assets};

/// The sections of the console, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The approval queue.
    Approvals,
    /// Decisions.
    Decisions,
    /// Agent sessions.
    Sessions,
    /// The evidence log.
    Evidence,
    /// MCP registry and policy packs.
    Registry,
    /// Posture and readiness.
    Posture,
    /// Connectors' deliveries.
    Connectors,
    /// Scenario runs that record nothing.
    Sandbox,
}

const SECTIONS: [(Section, &str, &str); 8] = [
    (Section::Approvals, "approvals", "Approvals"),
    (Section::Decisions, "decisions", "Decisions"),
    (Section::Sessions, "sessions", "Sessions"),
    (Section::Evidence, "evidence", "Evidence"),
    (Section::Registry, "registry", "Registry and packs"),
    (Section::Posture, "posture", "Posture"),
    (Section::Connectors, "connectors", "Connectors"),
    (Section::Sandbox, "sandbox", "Sandbox"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · cavra console" }
            link rel="stylesheet" href=(assets::CSS.url()) integrity=(assets::CSS.integrity());
            link rel="icon" type="image/svg+xml" href=(assets::ICON.url()) integrity=(assets::ICON.integrity());
            script src=(assets::JS.url()) integrity=(assets::JS.integrity()) defer {}
        }
    }
}

/// A full page for a signed-in person.
pub fn page(signed: &Signed, section: Section, title: &str, body: Markup) -> Response {
    let p = &signed.caller.0;
    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    p.brand { a href={ (PREFIX) "/approvals" } { "cavra console" } }
                    nav aria-label="Sections" {
                        ul {
                            @for (s, path, label) in SECTIONS {
                                li {
                                    @if s == section {
                                        a href={ (PREFIX) "/" (path) } aria-current="page" { (label) }
                                    } @else {
                                        a href={ (PREFIX) "/" (path) } { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (p.subject) " · tenant " strong { (p.tenant) } " · " (roles.join(", ")) }
                        form method="post" action={ (PREFIX) "/logout" } {
                            input type="hidden" name="csrf" value=(signed.session.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page without the navigation (sign-in, errors before signing in).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    main #main.narrow { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// An error page with `status` (500 when not given).
pub fn error_page(status: Option<StatusCode>, message: &str) -> Response {
    let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (status.as_u16()) " " (title) }
        p.error role="alert" { (message) }
        p { a href={ (PREFIX) "/approvals" } { "Back to the console" } }
    };
    (status, bare(title, body)).into_response()
}

/// `GET /console/`: the approvals.
pub async fn home() -> Redirect {
    Redirect::to(&format!("{PREFIX}/approvals"))
}

/// Anything else under `/console`.
pub async fn not_found() -> Response {
    error_page(Some(StatusCode::NOT_FOUND), "there is no such page")
}

/// A store failure as an error page: the status and the words the API would answer with
/// (the database's own text goes to the service's log, never to the page).
pub fn store_error(e: cavra_tenant_store::StoreError) -> Response {
    problem(&cavra_server::problem::Problem::from(e))
}

/// A problem from the service's functions, as an error page.
pub fn problem(p: &cavra_server::problem::Problem) -> Response {
    error_page(StatusCode::from_u16(p.status).ok(), &p.detail)
}

/// A state's word with a text label (never colour alone).
pub fn badge(word: &str) -> Markup {
    html! { span class={ "badge b-" (word) } { (word.replace('_', " ")) } }
}
