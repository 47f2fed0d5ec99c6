//! Sign-in with the service's OIDC provider: the authorization code flow with PKCE (S256),
//! a `state` bound to the browser by a short-lived cookie, and a `nonce`. The ID token is
//! verified by the service's own [`cavra_identity::OidcVerifier`] (issuer, audience, expiry,
//! signature, and the same claim mapping to tenant, roles and groups as the API's bearer
//! tokens), so a console session is exactly the principal the API would see.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cavra_server::config::ConsoleOidcConfig;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::layout;
use crate::login::{safe_next, url_encode};
use crate::session::{self, random_token};
use crate::{Console, PREFIX};

/// Sign-ins under way at once, at most (each is one unauthenticated request's worth of
/// memory; beyond this the oldest is dropped).
pub const MAX_PENDING: usize = 1_000;
/// How long a sign-in may take at the provider.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
const BINDING_COOKIE: &str = "cavra_console_oidc";

struct Flow {
    verifier: String,
    nonce: String,
    binding: [u8; 32],
    next: String,
    until: Instant,
}

/// Sign-ins under way, by `state`.
#[derive(Default)]
pub struct Pending(Mutex<HashMap<String, Flow>>);

impl Pending {
    fn put(&self, state: String, flow: Flow) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, f| f.until > now);
        if map.len() >= MAX_PENDING
            && let Some(k) = map
                .iter()
                .min_by_key(|(_, f)| f.until)
                .map(|(k, _)| k.clone())
        {
            map.remove(&k);
        }
        map.insert(state, flow);
    }

    fn take(&self, state: &str) -> Option<Flow> {
        let flow = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(state)?;
        (flow.until > Instant::now()).then_some(flow)
    }
}

fn config(console: &Console) -> Option<&ConsoleOidcConfig> {
    console.state.config.console.oidc.as_ref()
}

fn redirect_uri(console: &Console, headers: &HeaderMap) -> Option<String> {
    session::expected_origin(console, headers).map(|o| format!("{o}{PREFIX}/login/oidc/callback"))
}

fn endpoint_ok(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => true,
        "http" => match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

fn binding_cookie(console: &Console, value: &str, max_age: u64) -> HeaderValue {
    let secure = if console.secure { "; Secure" } else { "" };
    // Lax, not Strict: it must come back on the provider's redirect, a cross-site navigation.
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path={PREFIX}/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The start's query.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /console/login/oidc`: off to the provider.
pub async fn start(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(oidc) = config(&console) else {
        return layout::not_found().await;
    };
    if !endpoint_ok(&oidc.authorization_endpoint) {
        return layout::error_page(
            None,
            "console.oidc.authorization_endpoint must be an https:// URL (http:// only on loopback)",
        );
    }
    let Some(redirect) = redirect_uri(&console, &headers) else {
        return layout::error_page(Some(StatusCode::BAD_REQUEST), "the request names no host");
    };
    let (state, nonce, verifier, binding) = (
        random_token(),
        random_token(),
        random_token(),
        random_token(),
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    console.oidc.put(
        state.clone(),
        Flow {
            verifier,
            nonce: nonce.clone(),
            binding: Sha256::digest(binding.as_bytes()).into(),
            next: safe_next(q.next.as_deref()),
            until: Instant::now() + PENDING_FOR,
        },
    );
    let mut scopes = vec!["openid".to_string()];
    scopes.extend(oidc.scopes.iter().filter(|s| *s != "openid").cloned());
    let mut url = match url::Url::parse(&oidc.authorization_endpoint) {
        Ok(u) => u,
        Err(e) => return layout::error_page(None, &format!("authorization_endpoint: {e}")),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.client_id)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut resp = Redirect::to(url.as_str()).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        binding_cookie(&console, &binding, PENDING_FOR.as_secs()),
    );
    resp
}

/// The provider's redirect back.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

fn refuse(why: &str) -> Response {
    Redirect::to(&format!("{PREFIX}/login?error={}", url_encode(why))).into_response()
}

/// The `nonce` claim of a JWT whose signature has been verified.
fn nonce_of(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("nonce")?.as_str().map(str::to_string)
}

/// `GET /console/login/oidc/callback`: the code for an ID token, the ID token for a session.
pub async fn callback(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let (Some(oidc), Some(verifier)) = (config(&console), console.state.oidc.as_ref()) else {
        return layout::not_found().await;
    };
    if let Some(e) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or("");
        return refuse(&format!("the identity provider refused: {e} {detail}"));
    }
    let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return refuse("the identity provider's answer has no code or state");
    };
    let Some(flow) = console.oidc.take(state) else {
        return refuse("that sign-in expired or was already used; start again");
    };
    let bound = session::cookie(&headers, BINDING_COOKIE)
        .map(|b| <[u8; 32]>::from(Sha256::digest(b.as_bytes())) == flow.binding)
        .unwrap_or(false);
    if !bound {
        return refuse("that sign-in was started in another browser");
    }
    let Some(redirect) = redirect_uri(&console, &headers) else {
        return refuse("the request names no host");
    };
    let id_token = match exchange(oidc, code, &redirect, &flow.verifier).await {
        Ok(t) => t,
        Err(e) => return refuse(&e),
    };
    let principal = match verifier.verify(&id_token).await {
        Ok(p) => p,
        Err(e) => return refuse(&format!("the ID token is not accepted: {e}")),
    };
    if nonce_of(&id_token).as_deref() != Some(flow.nonce.as_str()) {
        return refuse("the ID token's nonce is not this sign-in's");
    }
    let value = console.sessions.create(principal, None, "OIDC");
    // A page, not a redirect: the browser arrived here from the provider (cross-site), so a
    // redirect would still be cross-site and the Strict session cookie would not be sent.
    // The refresh is a navigation of this origin's own page.
    let next = flow.next;
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (next) };
                title { "Signed in · cavra console" }
            }
            body { main { p { "Signed in. " a href=(next) { "Continue to the console" } } } }
        }
    };
    let mut resp = axum::response::Html(page.into_string()).into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, session::set_cookie(&console, &value));
    h.append(header::SET_COOKIE, binding_cookie(&console, "", 0));
    resp
}

/// Trades the code for the ID token at the token endpoint.
async fn exchange(
    oidc: &ConsoleOidcConfig,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Result<String, String> {
    if !endpoint_ok(&oidc.token_endpoint) {
        return Err(
            "console.oidc.token_endpoint must be an https:// URL (http:// only on loopback)".into(),
        );
    }
    let secret = match &oidc.client_secret_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| format!("the client secret's variable {var} is not set"))?,
        ),
        None => None,
    };
    // Built in one expression: the serializer is not `Send`, so it must not live across an
    // await.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect)
            .append_pair("client_id", &oidc.client_id)
            .append_pair("code_verifier", verifier);
        if let Some(secret) = &secret {
            form.append_pair("client_secret", secret);
        }
        form.finish()
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let resp = client
        .post(&oidc.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|_| "the token endpoint cannot be reached".to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!(
            "the token endpoint answered HTTP {}",
            status.as_u16()
        ));
    }
    // Read at most MAX_ANSWER bytes, whatever the answer claims its length is.
    const MAX_ANSWER: usize = 256 * 1024;
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| "the token endpoint's answer could not be read".to_string())?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err("the token endpoint's answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|_| "the token endpoint's answer is not JSON".to_string())?;
    answer
        .id_token
        .ok_or_else(|| "the token endpoint gave no id_token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback() {
        assert!(endpoint_ok("https://idp.example/auth"));
        assert!(endpoint_ok("http://127.0.0.1:9000/auth"));
        assert!(endpoint_ok("http://localhost/auth"));
        assert!(!endpoint_ok("http://idp.example/auth"));
        assert!(!endpoint_ok("ftp://idp.example/auth"));
        assert!(!endpoint_ok("not a url"));
    }

    #[test]
    fn the_nonce_is_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"nonce":"n1","sub":"x"}"#);
        assert_eq!(nonce_of(&format!("h.{payload}.s")).as_deref(), Some("n1"));
        assert_eq!(nonce_of("h.!!.s"), None);
    }
}
