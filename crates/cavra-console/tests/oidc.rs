//! Sign-in with an OIDC provider (authorization code with PKCE) against a stand-in provider on
//! loopback whose token endpoint checks the PKCE verifier and returns an ID token signed by a
//! key of the JWKS the service trusts.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use base64::Engine as _;
use cavra_identity::testing::TestIssuer;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

/// What the stand-in provider saw at its authorization endpoint, and the ID token's nonce.
#[derive(Default)]
struct Provider {
    challenge: String,
    nonce: String,
    /// Overrides the nonce put into the ID token.
    forged_nonce: Option<String>,
}

async fn token_endpoint(
    provider: Arc<Mutex<Provider>>,
    issuer: Arc<TestIssuer>,
    body: String,
) -> (StatusCode, String) {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let p = provider.lock().unwrap();
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || form.get("code").map(String::as_str) != Some("code-1")
        || challenge != p.challenge
    {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_grant"}"#.into(),
        );
    }
    let mut claims = issuer.claims("oscar", "a", &["approver"]);
    claims["groups"] = serde_json::json!(["Repository Owners"]);
    claims["nonce"] = serde_json::json!(p.forged_nonce.clone().unwrap_or(p.nonce.clone()));
    let id_token = issuer.mint("k1", &claims);
    (
        StatusCode::OK,
        serde_json::json!({"id_token": id_token, "token_type": "Bearer"}).to_string(),
    )
}

async fn provider() -> (String, Arc<Mutex<Provider>>, Arc<TestIssuer>) {
    let mut issuer = TestIssuer::new("https://idp.test", "cavra-console");
    issuer.add_ed25519("k1");
    let issuer = Arc::new(issuer);
    let state = Arc::new(Mutex::new(Provider::default()));
    let (s, i) = (state.clone(), issuer.clone());
    let app = Router::new().route(
        "/token",
        post(move |body: String| token_endpoint(s.clone(), i.clone(), body)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state, issuer)
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).expect("a URL");
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn oidc_sign_in_with_pkce_gives_the_principal_the_api_would_see() {
    let (idp, provider, issuer) = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks_json()).unwrap();
    let s = support::start(|c| {
        c.oidc = Some(cavra_identity::OidcConfig::new(
            "https://idp.test",
            "cavra-console",
            jwks.display().to_string(),
        ));
        c.console.oidc = Some(cavra_server::config::ConsoleOidcConfig {
            authorization_endpoint: format!("{idp}/authorize"),
            token_endpoint: format!("{idp}/token"),
            client_id: "cavra-console".into(),
            client_secret_env: None,
            scopes: vec!["profile".into()],
            label: Some("Sign in with Test IdP".into()),
        });
    })
    .await;

    let mut b = s.browser();
    let login = b.get("/console/login").await;
    assert!(login.body.contains("Sign in with Test IdP"));

    // Off to the provider, with PKCE S256, state and nonce, and a binding cookie.
    let start = b
        .get("/console/login/oidc?next=%2Fconsole%2Fdecisions")
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let binding = start
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        binding.contains("HttpOnly") && binding.contains("SameSite=Lax"),
        "{binding}"
    );
    let q = query_of(start.location());
    assert!(start.location().starts_with(&format!("{idp}/authorize?")));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "cavra-console");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/console/login/oidc/callback", s.base)
    );
    assert_eq!(q["scope"], "openid profile");
    {
        let mut p = provider.lock().unwrap();
        p.challenge = q["code_challenge"].clone();
        p.nonce = q["nonce"].clone();
    }
    let callback = format!(
        "/console/login/oidc/callback?code=code-1&state={}",
        url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    );

    // Another browser (no binding cookie) cannot finish it.
    let mut other = s.browser();
    let page = other.get(&callback).await;
    assert!(
        page.location().starts_with("/console/login?error="),
        "{}",
        page.location()
    );
    assert!(other.cookie.is_none());

    // That attempt used the state up: start again, in the same browser.
    let start = b.get("/console/login/oidc").await;
    let q = query_of(start.location());
    {
        let mut p = provider.lock().unwrap();
        p.challenge = q["code_challenge"].clone();
        p.nonce = q["nonce"].clone();
    }
    let callback = format!(
        "/console/login/oidc/callback?code=code-1&state={}",
        url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
    );
    let page = b.get(&callback).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "a same-site navigation onwards"
    );
    let session = b.cookie.clone().expect("a session cookie");
    assert!(session.starts_with("cavra_console="), "{session}");
    let approvals = b.get("/console/approvals").await;
    assert_eq!(approvals.status, StatusCode::OK);
    assert!(approvals.body.contains("oscar"), "the ID token's subject");

    // The state is used up: the same callback again is refused.
    let mut again = s.browser();
    let (name, value) = binding.split(';').next().unwrap().split_once('=').unwrap();
    again.others.insert(name.into(), value.into());
    let page = again.get(&callback).await;
    assert!(page.location().starts_with("/console/login?error="));
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let (idp, provider, issuer) = provider().await;
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks_json()).unwrap();
    let s = support::start(|c| {
        c.oidc = Some(cavra_identity::OidcConfig::new(
            "https://idp.test",
            "cavra-console",
            jwks.display().to_string(),
        ));
        c.console.oidc = Some(cavra_server::config::ConsoleOidcConfig {
            authorization_endpoint: format!("{idp}/authorize"),
            token_endpoint: format!("{idp}/token"),
            client_id: "cavra-console".into(),
            client_secret_env: None,
            scopes: Vec::new(),
            label: None,
        });
    })
    .await;
    let mut b = s.browser();
    let start = b.get("/console/login/oidc").await;
    let q = query_of(start.location());
    {
        let mut p = provider.lock().unwrap();
        p.challenge = q["code_challenge"].clone();
        p.nonce = q["nonce"].clone();
        p.forged_nonce = Some("replayed".into());
    }
    let page = b
        .get(&format!(
            "/console/login/oidc/callback?code=code-1&state={}",
            url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>()
        ))
        .await;
    assert!(page.location().contains("nonce"), "{}", page.location());
    assert!(
        b.cookie
            .as_deref()
            .is_none_or(|c| !c.starts_with("cavra_console="))
    );
}
