//! Signing in and out: a one-time login link (printed by `cavra serve` for local use), an API
//! token of a person (approver, auditor or admin; checked exactly as the API checks a bearer
//! token), or the service's OIDC provider ([`crate::oidc`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cavra_identity::{AuthMethod, Principal, Role};
use cavra_server::ServerConfig;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::layout;
use crate::session::{self, Signed};
use crate::{Console, PREFIX};

/// At most this many unused login links are held (each is minted by the operator).
const MAX_LINKS: usize = 64;

/// Unused one-time login links, by the SHA-256 of their secret.
#[derive(Default)]
pub struct LinkStore(Mutex<HashMap<[u8; 32], (Principal, Instant)>>);

impl LinkStore {
    /// A link secret that signs in once as `principal` within `valid`.
    pub fn mint(&self, principal: Principal, valid: Duration) -> String {
        let secret = session::random_token();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, (_, until)| *until > now);
        if map.len() >= MAX_LINKS
            && let Some(k) = map.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k)
        {
            map.remove(&k);
        }
        map.insert(
            Sha256::digest(secret.as_bytes()).into(),
            (principal, now + valid),
        );
        secret
    }

    /// The principal of an unused, unexpired link, using it up.
    pub fn redeem(&self, secret: &str) -> Option<Principal> {
        let k: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let (principal, until) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&k)?;
        (until > Instant::now()).then_some(principal)
    }
}

/// Who the printed login link signs in as (`console.login_link`).
pub fn link_principal(config: &ServerConfig) -> Principal {
    let link = &config.console.login_link;
    let groups: BTreeSet<String> = if link.groups.is_empty() {
        config
            .routing
            .iter()
            .chain(cavra_server::routing::default_rules().iter())
            .map(|r| r.approver_group.clone())
            .chain([
                cavra_server::routing::REPOSITORY_OWNERS.to_string(),
                config.break_glass.group.clone(),
            ])
            .collect()
    } else {
        link.groups.iter().cloned().collect()
    };
    Principal {
        subject: link.subject.clone(),
        tenant: link
            .tenant
            .clone()
            .unwrap_or_else(|| config.operator_tenant.clone()),
        roles: link.roles.iter().copied().collect(),
        approver_groups: groups,
        method: AuthMethod::Integration {
            integration: "console".into(),
            user: "login-link".into(),
        },
    }
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// A login link's secret.
    pub link: Option<String>,
    /// Where to go once signed in (a console path).
    pub next: Option<String>,
    /// An error to show.
    pub error: Option<String>,
}

/// A console path to go to after signing in; anything else goes to the approvals.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(PREFIX)
                && !n.starts_with("//")
                && !n.contains("\\")
                && !n.contains("/login")
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => format!("{PREFIX}/approvals"),
    }
}

/// `GET /console/login`: the ways to sign in. With `?link=…`, a button that uses the link
/// (a GET never uses it up, so a link preview cannot spend it).
pub async fn page(State(console): State<Arc<Console>>, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    let oidc = console.state.config.console.oidc.as_ref();
    let body = html! {
        h1 { "Sign in to cavra" }
        @if let Some(e) = &q.error {
            p.error role="alert" { (e) }
        }
        @if let Some(link) = &q.link {
            section aria-labelledby="link-h" {
                h2 #link-h { "One-time login link" }
                p { "This link signs you in once. It was printed by " code { "cavra serve" } "." }
                form method="post" action={ (PREFIX) "/login/link" } {
                    input type="hidden" name="link" value=(link);
                    input type="hidden" name="next" value=(next);
                    button type="submit" { "Sign in with this link" }
                }
            }
        }
        @if let Some(o) = oidc {
            section aria-labelledby="oidc-h" {
                h2 #oidc-h { "Single sign-on" }
                p {
                    a.button href={ (PREFIX) "/login/oidc?next=" (url_encode(&next)) } {
                        (o.label.as_deref().unwrap_or("Sign in with your identity provider"))
                    }
                }
            }
        }
        section aria-labelledby="token-h" {
            h2 #token-h { "API token" }
            p { "A person's token (approver, auditor or admin) from " code { "cavra token create" } "." }
            form method="post" action={ (PREFIX) "/login/token" } {
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="off" required;
                button type="submit" { "Sign in" }
            }
        }
    };
    layout::bare("Sign in", body).into_response()
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The login link form.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    link: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /console/login/link`: uses a one-time link.
pub async fn with_link(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    if let Err(r) = session::check_origin(&console, &headers) {
        return r;
    }
    let Some(principal) = console.links.redeem(&f.link) else {
        return retry(
            "that login link is used up, expired or unknown; restart `cavra serve` for a new one",
        );
    };
    signed_in(&console, principal, None, "login link", f.next.as_deref())
}

/// The token form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /console/login/token`: signs in as a person's API token.
pub async fn with_token(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = session::check_origin(&console, &headers) {
        return r;
    }
    let refused = || retry("that token is not valid (unknown, revoked, expired or malformed)");
    let Ok(parts) = cavra_identity::parse_bearer(f.token.trim()) else {
        return refused();
    };
    let state = &console.state;
    let known = match state.tokens.get(&parts.token_id, &state.db).await {
        Ok(Some(k)) => k,
        Ok(None) => return refused(),
        Err(p) => return layout::error_page(StatusCode::from_u16(p.status).ok(), &p.detail),
    };
    let Ok(principal) = known.authenticate(&parts, time::OffsetDateTime::now_utc()) else {
        return refused();
    };
    if principal.roles.iter().all(|r| *r == Role::Agent) {
        return retry("an agent's token does not sign in to the console; use a person's token");
    }
    signed_in(
        &console,
        principal,
        Some(parts.token_id.clone()),
        "API token",
        f.next.as_deref(),
    )
}

/// Starts a session for `principal` and sends the browser on.
pub fn signed_in(
    console: &Console,
    principal: Principal,
    token_id: Option<String>,
    method: &'static str,
    next: Option<&str>,
) -> Response {
    let value = console.sessions.create(principal, token_id, method);
    let mut resp = Redirect::to(&safe_next(next)).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(console, &value));
    resp
}

fn retry(why: &str) -> Response {
    let target = format!("{PREFIX}/login?error={}", url_encode(why));
    Redirect::to(&target).into_response()
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    pub csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(console): State<Arc<Console>>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = session::check_change(&console, &headers, Some(&signed.session), &f.csrf) {
        return r;
    }
    console.sessions.end(&signed.cookie);
    let mut resp = Redirect::to(&format!("{PREFIX}/login")).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&console));
    resp
}
