//! Shared helpers for the console's integration tests: the real service with the console
//! mounted on loopback (SQLite in a temporary folder), tokens in its database, and a browser
//! stand-in that keeps the session cookie and sends the `Origin` a browser would.

#![allow(dead_code)]

use std::sync::Arc;

use cavra_console::Console;
use cavra_identity::IssuedToken;
use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::{Directory, TokenRecord};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A running service with its console.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The service's state.
    pub state: Arc<AppState>,
    /// The console's state.
    pub console: Arc<Console>,
    /// The one-time link printed at start, if any.
    pub link: Option<String>,
    /// An HTTP client for the API.
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The service on SQLite with tenants `a`, `b` and `operator`, its configuration `tweak`ed.
pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    start_on(None, tweak).await
}

/// The same on PostgreSQL, in a fresh schema of `CAVRA_TEST_POSTGRES_URL`; `None` (and a note)
/// without one.
pub async fn start_on_postgres(tweak: impl FnOnce(&mut ServerConfig)) -> Option<Server> {
    let base = match std::env::var("CAVRA_TEST_POSTGRES_URL") {
        Ok(v) if !v.is_empty() => v,
        _ => {
            eprintln!("NOTE: CAVRA_TEST_POSTGRES_URL is not set; the PostgreSQL half did not run");
            return None;
        }
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect postgres");
    tokio::spawn(conn);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("random");
    let schema = format!("cavra_console_{}", hex::encode(random));
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    Some(start_on(Some(url), tweak).await)
}

async fn start_on(database_url: Option<String>, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    // On PostgreSQL the service is given its key (replicas share one); on SQLite it makes one.
    let signing_key = database_url.as_ref().map(|_| {
        let path = dir.path().join("log-key.pem");
        let key = cavra_evidence::keys::from_seed(&[7u8; 32]);
        std::fs::write(
            &path,
            cavra_evidence::keys::private_key_to_pem(&key).expect("pem"),
        )
        .expect("key");
        path
    });
    let mut config = ServerConfig {
        database_url: database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("server.db").display())),
        signing_key,
        require_signed_packs: false,
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let state = AppState::new(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (app, link, console) =
        cavra_console::mount(cavra_server::app(state.clone()), state.clone(), addr);
    let limits = state.config.connections.clone();
    tokio::spawn(async move {
        cavra_server::serve_on(listener, app, &limits, std::future::pending()).await;
    });
    for t in ["a", "b", "operator"] {
        state.create_tenant(t, t).await.expect("tenant");
    }
    Server {
        base: format!("http://{addr}"),
        state,
        console: console.expect("the console is enabled"),
        link,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    /// Stores a token and returns its plaintext.
    pub async fn token(&self, tenant: &str, role: &str, subject: &str, groups: &[&str]) -> String {
        let issued = IssuedToken::generate().expect("token");
        self.state
            .db
            .insert_token(&TokenRecord {
                id: issued.token_id.clone(),
                tenant: tenant.into(),
                subject: subject.into(),
                roles: vec![role.parse().expect("a role word")],
                groups: groups.iter().map(|g| g.to_string()).collect(),
                digest: issued.digest,
                created_at: time::OffsetDateTime::now_utc(),
                expires_at: None,
                revoked_at: None,
            })
            .await
            .expect("insert token");
        issued.plaintext().to_string()
    }

    /// An agent's decision request through the API: the answer's status and body.
    pub async fn agent_asks(&self, token: &str, action: &str, target: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/v1/decisions", self.base))
            .bearer_auth(token)
            .json(&json!({"request": {"action": action, "target": target, "session_id": "sess-1", "agent_id": "claude-code", "repository": "acme/app"}}))
            .send()
            .await
            .expect("send");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    }

    /// A browser with no session.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            origin: self.base.clone(),
            cookie: None,
            others: Default::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// A browser signed in with `token` (a person's API token).
    pub async fn signed_in(&self, token: &str) -> Browser {
        let mut b = self.browser();
        let page = b
            .post_form("/console/login/token", &[("token", token)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(b.cookie.is_some(), "signing in sets the session cookie");
        b
    }
}

/// A page as fetched.
pub struct Page {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: String,
}

impl Page {
    /// The `Location` it redirects to.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the hidden input `name` (the first one).
    pub fn hidden(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body))
            + needle.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_string()
    }
}

/// A browser stand-in: keeps the session cookie, sends the `Origin` it is told to.
pub struct Browser {
    pub base: String,
    /// The `Origin` sent with form posts (None: none).
    pub origin: String,
    /// The session cookie (`name=value`).
    pub cookie: Option<String>,
    /// Other cookies (the OIDC sign-in's binding), by name.
    pub others: std::collections::BTreeMap<String, String>,
    http: reqwest::Client,
}

impl Browser {
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let all: Vec<String> = self
            .cookie
            .iter()
            .cloned()
            .chain(self.others.iter().map(|(k, v)| format!("{k}={v}")))
            .collect();
        let req = if all.is_empty() {
            req
        } else {
            req.header("cookie", all.join("; "))
        };
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().expect("cookie text");
            let pair = v.split(';').next().unwrap_or("").to_string();
            let (name, value) = pair.split_once('=').expect("name=value");
            if name.ends_with("cavra_console") {
                self.cookie = (!value.is_empty()).then_some(pair.clone());
            } else if value.is_empty() {
                self.others.remove(name);
            } else {
                self.others.insert(name.to_string(), value.to_string());
            }
        }
        let body = resp.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// POST a form to `path` with this browser's `Origin`.
    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.origin.clone();
        self.post_with(path, form, Some(&origin)).await
    }

    /// POST a form with the given `Origin` header (None: no Origin, no Referer).
    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        self.send(req).await
    }
}
