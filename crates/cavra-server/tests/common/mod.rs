//! Shared helpers for the service's integration tests: a real server on loopback (SQLite in a
//! temporary folder, or PostgreSQL in a schema of its own when `CAVRA_TEST_POSTGRES_URL` is
//! set), tokens stored in its database, and a JSON HTTP client.

#![allow(dead_code)]

use cavra_tenant_store::Directory;
use std::sync::Arc;

use cavra_identity::IssuedToken;
use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::TokenRecord;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running service.
pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A SQLite configuration in `dir` that accepts unsigned packs.
pub fn sqlite_config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        database_url: format!("sqlite://{}", dir.join("server.db").display()),
        require_signed_packs: false,
        max_body_bytes: 64 * 1024,
        ..ServerConfig::default()
    }
}

/// Starts the service in-process with `config`, creating tenants `a`, `b` and `operator`.
pub async fn start(config: ServerConfig, dir: tempfile::TempDir) -> Server {
    let state = AppState::new(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = cavra_server::app(state.clone());
    let limits = state.config.connections.clone();
    tokio::spawn(async move {
        cavra_server::serve_on(listener, app, &limits, std::future::pending()).await;
    });
    for t in ["a", "b", "operator"] {
        state.create_tenant(t, t).await.expect("tenant");
    }
    Server {
        base: format!("http://{addr}"),
        addr,
        state,
        http: reqwest::Client::new(),
        dir,
    }
}

/// A service on SQLite, configured by `tweak`.
pub async fn sqlite_with(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = sqlite_config(dir.path());
    tweak(&mut cfg);
    start(cfg, dir).await
}

/// A service on SQLite with the test defaults.
pub async fn sqlite_server() -> Server {
    sqlite_with(|_| {}).await
}

/// A PostgreSQL URL for a fresh schema, when `CAVRA_TEST_POSTGRES_URL` is set.
pub async fn pg_url() -> Option<String> {
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
    let name = format!("cavra_attack_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{name}"))
}

/// A service on PostgreSQL (a fresh schema), configured by `tweak`; `None` without a database.
pub async fn postgres_with(tweak: impl FnOnce(&mut ServerConfig)) -> Option<Server> {
    let url = pg_url().await?;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = sqlite_config(dir.path());
    cfg.database_url = url;
    cfg.signing_key = Some(dir.path().join("log-key.pem"));
    let key = cavra_evidence::keys::from_seed(&[7u8; 32]);
    std::fs::write(
        dir.path().join("log-key.pem"),
        cavra_evidence::keys::private_key_to_pem(&key).expect("pem"),
    )
    .expect("key");
    tweak(&mut cfg);
    Some(start(cfg, dir).await)
}

impl Server {
    /// Stores a token and returns its plaintext.
    pub async fn token(&self, tenant: &str, role: &str, subject: &str, groups: &[&str]) -> String {
        self.token_expiring(tenant, role, subject, groups, None)
            .await
    }

    /// Stores a token with an expiry and returns its plaintext.
    pub async fn token_expiring(
        &self,
        tenant: &str,
        role: &str,
        subject: &str,
        groups: &[&str],
        expires_at: Option<String>,
    ) -> String {
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
                expires_at: expires_at.map(|at| {
                    cavra_store::Timestamp::parse(&at)
                        .expect("an RFC 3339 time")
                        .time()
                }),
                revoked_at: None,
            })
            .await
            .expect("insert token");
        issued.plaintext().to_string()
    }

    /// One JSON request; the answer's status and body (JSON, or the text as a string).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            "DELETE" => self.http.delete(&url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }
}

impl Server {
    /// Runs the connectors' worker of this service (as `cavra serve` does) until the returned
    /// sender is dropped or sent `true`.
    pub fn deliver(&self) -> tokio::sync::watch::Sender<bool> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = cavra_server::connector_worker(&self.state).expect("connector worker");
        tokio::spawn(worker.run(stopped));
        stop
    }

    /// POSTs a raw body with `headers` (a request another system signs); the answer's
    /// status and body.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Server {
    /// Asks for a decision as `agent` (`body` as [`decide`] makes it): the answer, which
    /// must be 200.
    pub async fn decision(&self, agent: &str, body: Value) -> Value {
        let (status, answer) = self
            .call("POST", "/v1/decisions", Some(agent), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    /// The bodies of the evidence entries of `kind` (at most 1,000), oldest first, read as
    /// `auditor`.
    pub async fn entry_bodies(&self, auditor: &str, kind: &str) -> Vec<Value> {
        let path = format!("/v1/evidence/entries?kind={kind}&limit=1000");
        let (status, entries) = self.call("GET", &path, Some(auditor), None).await;
        assert_eq!(status, StatusCode::OK, "{entries}");
        entries
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["entry"]["body"].clone())
            .collect()
    }
}

/// An entry body in one line, for comparing a log with what a test expects: the text of
/// each field in `fields`, separated by spaces, `-` for one that is absent; `a|b` takes the
/// first of `a` and `b` present.
pub fn summary(body: &Value, fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| f.split('|').find_map(|k| body[k].as_str()).unwrap_or("-"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A file holding `secret`, in `dir`, and its `file:` reference (secrets go by reference).
pub fn secret_file(dir: &std::path::Path, name: &str, secret: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("secret file");
    format!("file:{}", path.display())
}

/// A decision request body.
pub fn decide(action: &str, target: &str, session: &str) -> Value {
    json!({"request": {"action": action, "target": target, "session_id": session, "agent_id": "claude-code"}})
}

/// This process's resident anonymous memory in KiB (`RssAnon`: heap, stacks, the
/// allocator's arenas), what the memory-ceiling tests watch. The database file's pages that
/// the SQLite readers map are resident too once read (`RssFile`), but they are the kernel's
/// page cache, given back under pressure, and no peer's request makes them grow past the
/// file: a buffer a peer can fill is anonymous memory.
pub fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}
