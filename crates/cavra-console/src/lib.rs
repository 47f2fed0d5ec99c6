//! cavra's web console: server-rendered pages for the people who approve actions, run the
//! service and audit it, served by `cavra serve` under `/console` on the API's own origin.
//!
//! # Shape
//!
//! Every page is HTML rendered on the server from the same store queries and the same
//! functions the API's handlers use: an approval is decided by
//! [`cavra_server::api::approvals::decide`], the one path the API's approve and deny routes
//! and the chat buttons take, so the role, group, self-approval and expiry rules are not
//! copied here. Every page works without script; one small same-origin script
//! (`assets/console.js`, no framework, no build step, no Node) adds live updates by
//! server-sent events and checks inclusion proofs in the browser. Assets are embedded in the
//! binary and served with a `sha384` subresource-integrity hash computed from the embedded
//! bytes.
//!
//! # Templates
//!
//! Pages are written with [maud](https://maud.lambda.xyz): its `html!` macro compiles a page
//! to plain `String` pushes at build time, and every interpolated value is HTML-escaped unless
//! wrapped in `PreEscaped` (used here only for constant markup). It has no runtime template
//! parser, no template files to ship and a runtime of a few hundred lines, which matters for
//! the size of the static binary (scripts/container-check); askama would do as well at run
//! time but brings a larger proc-macro and parser build and templates in separate files.
//!
//! # Security
//!
//! Sessions live in this replica's memory ([`session`]); the cookie carries only a random id,
//! `HttpOnly`, `SameSite=Strict`, `Secure` unless the service is reached on loopback over
//! plain HTTP. Every response carries a Content-Security-Policy without inline scripts or
//! styles. Every state change checks the `Origin` (or `Referer`) against the service's own
//! origin and a per-session CSRF token. Ids of another tenant's records are answered with
//! 404, exactly as ids that do not exist.

// Handlers' helpers answer a refusal with the page to send (`Result<_, Response>`); it is
// returned straight to the client, once per request, so its size costs nothing worth boxing.
#![allow(clippy::result_large_err)]

pub mod approvals;
pub mod assets;
pub mod decisions;
pub mod evidence;
pub mod layout;
pub mod login;
pub mod oidc;
pub mod operations;
pub mod registry;
pub mod sandbox;
pub mod session;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::routing::{get, post};
use cavra_server::AppState;
use cavra_server::config::LinkPrint;

pub use session::{Session, SessionStore};

/// Where the console is mounted.
pub const PREFIX: &str = "/console";

/// The console's shared state: the service's, plus sessions and sign-in state.
pub struct Console {
    /// The service's state (store, configuration, OIDC verifier, caches).
    pub state: Arc<AppState>,
    /// Signed-in sessions.
    pub sessions: SessionStore,
    /// Unused one-time login links.
    pub links: login::LinkStore,
    /// OIDC sign-ins under way.
    pub oidc: oidc::Pending,
    /// Whether cookies are `Secure`.
    pub secure: bool,
    /// The origin state changes must come from, when configured (else the `Host`'s).
    pub origin: Option<String>,
}

impl Console {
    /// The console for `state`, served at `addr`.
    pub fn new(state: Arc<AppState>, addr: SocketAddr) -> Arc<Console> {
        let configured = &state.config.console;
        let origin = configured
            .public_url
            .as_deref()
            .map(|u| origin_of(u).unwrap_or_else(|| u.trim_end_matches('/').to_string()));
        let secure = match &origin {
            Some(o) => o.starts_with("https://"),
            None => !addr.ip().is_loopback(),
        };
        let sessions = SessionStore::new(
            std::time::Duration::from_secs(configured.session_minutes * 60),
            std::time::Duration::from_secs(configured.idle_minutes * 60),
        );
        Arc::new(Console {
            state,
            sessions,
            links: login::LinkStore::default(),
            oidc: oidc::Pending::default(),
            secure,
            origin,
        })
    }

    /// The one-time login link `cavra serve` prints at `addr`, when its settings say so.
    pub fn startup_link(&self, addr: SocketAddr) -> Option<String> {
        let config = &self.state.config.console;
        let print = match config.login_link.print {
            LinkPrint::Never => false,
            LinkPrint::Always => true,
            LinkPrint::Loopback => addr.ip().is_loopback(),
        };
        if !config.enabled || !print {
            return None;
        }
        let principal = login::link_principal(&self.state.config);
        let secret = self.links.mint(
            principal,
            std::time::Duration::from_secs(config.login_link.minutes * 60),
        );
        let base = self.origin.clone().unwrap_or_else(|| {
            let host = if addr.ip().is_unspecified() {
                format!("127.0.0.1:{}", addr.port())
            } else {
                addr.to_string()
            };
            format!("http://{host}")
        });
        Some(format!("{base}{PREFIX}/login?link={secret}"))
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let origin = u.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The service's application with the console under `/console` (when enabled), and the login
/// link to print, if any.
pub fn mount(
    app: Router,
    state: Arc<AppState>,
    addr: SocketAddr,
) -> (Router, Option<String>, Option<Arc<Console>>) {
    if !state.config.console.enabled {
        return (app, None, None);
    }
    let console = Console::new(state, addr);
    let link = console.startup_link(addr);
    (
        app.nest(PREFIX, router(console.clone())),
        link,
        Some(console),
    )
}

/// The console's routes (relative to `/console`).
pub fn router(console: Arc<Console>) -> Router {
    let limit = console.state.config.max_body_bytes.min(64 * 1024);
    // Pages whose query values are identifiers, words, times or cursors: checked by
    // `printable_query` before any of them reads the store.
    let identifier_queries = Router::new()
        .route("/", get(layout::home))
        .route("/login", get(login::page))
        .route("/login/link", post(login::with_link))
        .route("/login/token", post(login::with_token))
        .route("/login/oidc", get(oidc::start))
        .route("/logout", post(login::logout))
        .route("/approvals", get(approvals::list))
        .route("/approvals/events", get(approvals::events))
        .route("/approvals/{id}", get(approvals::detail))
        .route("/approvals/{id}/decide", post(approvals::decide))
        .route("/decisions", get(decisions::list))
        .route("/decisions/events", get(decisions::events))
        .route("/decisions/{id}", get(decisions::detail))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(sessions::timeline))
        .route("/evidence", get(evidence::page))
        .route("/evidence/bundle", get(evidence::bundle))
        .route("/registry", get(registry::page))
        .route("/packs/diff", get(registry::diff_page))
        .route("/packs/{digest}", get(registry::pack))
        .route("/posture", get(operations::posture))
        .route("/connectors", get(operations::connectors))
        .route("/connectors/retry", post(operations::retry_dead))
        .route("/assets/{name}", get(assets::serve))
        .fallback(layout::not_found)
        .layer(middleware::from_fn_with_state(
            console.clone(),
            printable_query,
        ));
    // Pages that check their own query: the identity provider's answer (its authorization
    // code may be longer than an identifier, and reaches no store) and the sandbox (a pasted
    // pack and a shell line, bounded by its own limits, 32 KiB and 16 KiB, and refused there
    // with their place).
    let own_checks = Router::new()
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/sandbox", get(sandbox::page));
    identifier_queries
        .merge(own_checks)
        .layer(middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(console)
}

/// Every query value of the pages it guards is an identifier, a word, a time or a cursor:
/// checked as the API checks its own (no control character, at most `limits.id_bytes`; 422
/// or 413) before any page reads the store with it, so a NUL is the same refusal on SQLite
/// and PostgreSQL instead of an empty page on one and the database's error on the other.
async fn printable_query(
    axum::extract::State(console): axum::extract::State<Arc<Console>>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if let Ok(pairs) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri()) {
        let limit = console.state.config.limits.id_bytes;
        for (key, value) in &pairs.0 {
            if let Err(p) = cavra_server::limits::identifier(key, value, limit) {
                return layout::problem(&p);
            }
        }
    }
    next.run(req).await
}

/// The Content-Security-Policy of every console response: nothing inline, nothing from
/// elsewhere, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
