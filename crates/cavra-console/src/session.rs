//! Signed-in sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, the principal
//! and its CSRF token in this replica's memory, an absolute and an idle expiry. Each request
//! is admitted as the API admits one ([`cavra_server::auth::Caller::admit`]: the tenant must
//! exist, a suspended tenant only reads); a session made from an API token ends when the token
//! is revoked or expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cavra_identity::Principal;
use cavra_server::auth::Caller;
use sha2::{Digest, Sha256};

use crate::{Console, PREFIX};

/// At most this many sessions are held; a sign-in beyond it ends the oldest.
pub const MAX_SESSIONS: usize = 10_000;

/// The cookie's name: `__Host-` (pinned to this host, path `/`, `Secure`) when secure.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-cavra_console"
    } else {
        "cavra_console"
    }
}

/// One signed-in person.
#[derive(Debug)]
pub struct Session {
    /// Who, as the API would see them.
    pub principal: Principal,
    /// The API token it was made from, if any (checked on each request).
    pub token_id: Option<String>,
    /// The token every state change must carry.
    pub csrf: String,
    /// How they signed in (`login link`, `API token`, `OIDC`).
    pub method: &'static str,
    created: Instant,
    last_seen: Mutex<Instant>,
}

/// The sessions of this replica, by the SHA-256 of their cookie value.
pub struct SessionStore {
    map: Mutex<HashMap<[u8; 32], Arc<Session>>>,
    lifetime: Duration,
    idle: Duration,
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it no session can be made safely.
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl SessionStore {
    /// A store whose sessions last `lifetime` at most and end after `idle` without a request.
    pub fn new(lifetime: Duration, idle: Duration) -> SessionStore {
        SessionStore {
            map: Mutex::new(HashMap::new()),
            lifetime,
            idle,
        }
    }

    /// Starts a session; returns the cookie value.
    pub fn create(
        &self,
        principal: Principal,
        token_id: Option<String>,
        method: &'static str,
    ) -> String {
        let value = random_token();
        let now = Instant::now();
        let session = Arc::new(Session {
            principal,
            token_id,
            csrf: random_token(),
            method,
            created: now,
            last_seen: Mutex::new(now),
        });
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| self.live(s, now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(key(&value), session);
        value
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        let last = *s.last_seen.lock().unwrap_or_else(PoisonError::into_inner);
        now.saturating_duration_since(s.created) < self.lifetime
            && now.saturating_duration_since(last) < self.idle
    }

    /// The live session of cookie value `value` (touching it), or None.
    pub fn get(&self, value: &str) -> Option<Arc<Session>> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let k = key(value);
        let s = map.get(&k)?.clone();
        if !self.live(&s, now) {
            map.remove(&k);
            return None;
        }
        *s.last_seen.lock().unwrap_or_else(PoisonError::into_inner) = now;
        Some(s)
    }

    /// Ends the session of cookie value `value`.
    pub fn end(&self, value: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key(value));
    }

    /// Makes every session older than it is by `by` (tests of expiry, without sleeping).
    pub fn age_all(&self, by: Duration) {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        for s in map.values() {
            let mut last = s.last_seen.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(t) = last.checked_sub(by) {
                *last = t;
            }
        }
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(console: &Console, value: &str) -> HeaderValue {
    let (path, secure) = if console.secure {
        ("/", "; Secure")
    } else {
        (PREFIX, "")
    };
    let max_age = console.state.config.console.session_minutes * 60;
    HeaderValue::from_str(&format!(
        "{}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(console.secure)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie(console: &Console) -> HeaderValue {
    let (path, secure) = if console.secure {
        ("/", "; Secure")
    } else {
        (PREFIX, "")
    };
    HeaderValue::from_str(&format!(
        "{}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(console.secure)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A request by a signed-in person, admitted as the API admits a request.
pub struct Signed {
    /// The caller, exactly as the API's handlers take it.
    pub caller: Caller,
    /// The session.
    pub session: Arc<Session>,
    /// The session's cookie value (to end it).
    pub cookie: String,
}

/// Why a request has no session.
pub enum NotSigned {
    /// No or a stale session: a page sends the browser to sign in.
    SignIn(String),
    /// The session's principal is not admitted (tenant gone, suspended for a change).
    Refused(cavra_server::problem::Problem),
}

impl IntoResponse for NotSigned {
    fn into_response(self) -> Response {
        match self {
            NotSigned::SignIn(next) => {
                let target = format!(
                    "{PREFIX}/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
            NotSigned::Refused(p) => {
                crate::layout::error_page(StatusCode::from_u16(p.status).ok(), &p.detail)
            }
        }
    }
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = NotSigned;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let next = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        } else {
            format!("{PREFIX}/")
        };
        let value = cookie(&parts.headers, cookie_name(console.secure))
            .ok_or_else(|| NotSigned::SignIn(next.clone()))?
            .to_string();
        let session = console
            .sessions
            .get(&value)
            .ok_or_else(|| NotSigned::SignIn(next.clone()))?;
        if let Some(id) = &session.token_id {
            let state = &console.state;
            let known = state
                .tokens
                .get(id, &state.db)
                .await
                .map_err(NotSigned::Refused)?;
            let now = time::OffsetDateTime::now_utc();
            let usable = known.is_some_and(|k| k.state(now) == "active");
            if !usable {
                console.sessions.end(&value);
                return Err(NotSigned::SignIn(next));
            }
        }
        let caller = Caller::admit(&console.state, session.principal.clone(), &parts.method)
            .await
            .map_err(NotSigned::Refused)?;
        if let Some(tag) = parts.extensions.get::<cavra_server::conn::ConnectionTag>() {
            tag.authenticated();
        }
        Ok(Signed {
            caller,
            session,
            cookie: value,
        })
    }
}

/// Checks that a state change comes from this console: its `Origin` (or, without one, its
/// `Referer`) is the service's own origin, and `csrf` is the session's token.
pub fn check_change(
    console: &Console,
    headers: &HeaderMap,
    session: Option<&Session>,
    csrf: &str,
) -> Result<(), Response> {
    check_origin(console, headers)?;
    if let Some(session) = session {
        use subtle::ConstantTimeEq as _;
        let ok: bool = session.csrf.as_bytes().ct_eq(csrf.as_bytes()).into();
        if !ok {
            return Err(crate::layout::error_page(
                Some(StatusCode::FORBIDDEN),
                "the form's CSRF token does not match this session; reload the page and try again",
            ));
        }
    }
    Ok(())
}

/// The origin this request should come from: the configured public URL's, else the `Host`
/// header's with the scheme the cookies assume.
pub fn expected_origin(console: &Console, headers: &HeaderMap) -> Option<String> {
    if let Some(o) = &console.origin {
        return Some(o.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if console.secure { "https" } else { "http" };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Refuses a state change whose `Origin` (or `Referer`) is not this service's.
pub fn check_origin(console: &Console, headers: &HeaderMap) -> Result<(), Response> {
    let refuse = |why: &str| {
        Err(crate::layout::error_page(
            Some(StatusCode::FORBIDDEN),
            &format!("{why}; changes are taken only from this console's own pages"),
        ))
    };
    let Some(expected) = expected_origin(console, headers) else {
        return refuse("the request names no host");
    };
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let claimed = match (origins.next(), origins.next()) {
        (Some(o), None) => o.to_str().ok().map(|s| s.to_ascii_lowercase()),
        (Some(_), Some(_)) => return refuse("the request has several Origin headers"),
        (None, _) => headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(crate::origin_of),
    };
    match claimed {
        Some(o) if o == expected => Ok(()),
        Some(_) => refuse("the request comes from another origin"),
        None => refuse("the request names no origin"),
    }
}
