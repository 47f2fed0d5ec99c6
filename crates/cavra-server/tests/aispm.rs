//! The AISPM posture of `GET /v1/posture` is computed from the tenant's evidence log: a bundle
//! of the whole log, recomputed offline, gives exactly the service's figures, on SQLite and
//! (when `CAVRA_TEST_POSTGRES_URL` is set, as CI does) PostgreSQL; another tenant's records
//! never reach it.

use cavra_tenant_store::Directory;
use std::sync::Arc;

use cavra_identity::IssuedToken;
use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::TokenRecord;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Server {
    base: String,
    state: Arc<AppState>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(database_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    // One key however many replicas: PostgreSQL needs it named.
    let key = dir.path().join("log.pem");
    std::fs::write(
        &key,
        cavra_evidence::keys::private_key_to_pem(&cavra_evidence::keys::from_seed(&[3; 32]))
            .expect("pem"),
    )
    .expect("key");
    let config = ServerConfig {
        database_url: database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("server.db").display())),
        signing_key: Some(key),
        require_signed_packs: false,
        ..ServerConfig::default()
    };
    let state = AppState::new(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = cavra_server::app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    for t in ["a", "b"] {
        state.create_tenant(t, t).await.expect("tenant");
    }
    Server {
        base: format!("http://{addr}"),
        state,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn token(&self, tenant: &str, role: &str, subject: &str, groups: &[&str]) -> String {
        let issued = IssuedToken::generate().expect("token");
        self.state
            .db
            .insert_token(&TokenRecord {
                id: issued.token_id.clone(),
                tenant: tenant.into(),
                subject: subject.into(),
                roles: vec![role.into()],
                groups: groups.iter().map(|g| g.to_string()).collect(),
                digest: issued.digest.to_hex(),
                created_at: cavra_server::now_text(),
                expires_at: None,
                revoked_at: None,
            })
            .await
            .expect("insert token");
        issued.plaintext().to_string()
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            other => panic!("method {other}"),
        };
        req = req.bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let value: Value = resp.json().await.expect("json");
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    async fn bundle(&self, token: &str, into: &std::path::Path) -> std::path::PathBuf {
        let resp = self
            .http
            .get(format!("{}/v1/evidence/bundle", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("bundle");
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.bytes().await.expect("bytes");
        tar::Archive::new(bytes.as_ref())
            .unpack(into)
            .expect("unpack");
        into.join("bundle")
    }
}

fn decide(action: &str, target: &str, repo: &str, agent: &str) -> Value {
    json!({"request": {"action": action, "target": target, "session_id": "s1",
                       "agent_id": agent, "repository": repo}})
}

/// Tenant A's activity of every kind the posture reads; tenant B acts too.
async fn activity(s: &Server) {
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let approver = s.token("a", "approver", "carol", &["Cloud Security"]).await;
    let glass = s.token("a", "approver", "dave", &["Break Glass"]).await;
    let b_agent = s.token("b", "agent", "agent-b", &[]).await;

    // The inventory: two agents registered, one of which never decides.
    for name in ["claude-code", "codex"] {
        s.call(
            "PUT",
            &format!("/v1/registry/agents/{name}"),
            &admin,
            Some(json!({"kind": name, "owner": "platform"})),
        )
        .await;
    }
    // MCP servers: one trusted, one experimental, one changed after registering.
    for (name, body) in [
        (
            "github",
            json!({"trust_tier": "trusted", "approval_state": "approved", "allowed_tools": ["search_*"]}),
        ),
        (
            "labs",
            json!({"trust_tier": "experimental", "approval_state": "approved"}),
        ),
        (
            "github",
            json!({"trust_tier": "trusted", "approval_state": "approved", "allowed_tools": ["*"]}),
        ),
    ] {
        s.call(
            "PUT",
            &format!("/v1/registry/mcp-servers/{name}"),
            &admin,
            Some(body),
        )
        .await;
    }
    // An unsigned pack uploaded and assigned to a repository; the tenant keeps a built-in.
    let pack = "metadata:\n  id: team\n  title: T\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n";
    let uploaded = s
        .call(
            "POST",
            "/v1/policies",
            &admin,
            Some(json!({"document": pack})),
        )
        .await;
    let digest = uploaded["digest"].as_str().expect("digest").to_string();
    s.call(
        "PUT",
        "/v1/policy-assignments",
        &admin,
        Some(json!({"repository": "org/web", "pack": digest})),
    )
    .await;
    s.call(
        "PUT",
        "/v1/policy-assignments",
        &admin,
        Some(json!({"pack": "cavra-baseline"})),
    )
    .await;

    // Decisions: allowed, blocked, routed for approval, in two repositories and two modes.
    for (action, target, repo) in [
        ("read_file", "src/main.rs", "org/web"),
        ("read_file", ".env", "org/web"),
        (
            "execute_command",
            "terraform apply -auto-approve",
            "org/infra",
        ),
    ] {
        s.call(
            "POST",
            "/v1/decisions",
            &agent,
            Some(decide(action, target, repo, "claude-code")),
        )
        .await;
    }
    let mut audit = decide("read_file", ".env", "org/docs", "claude-code");
    audit["request"]["mode"] = json!("strict");
    s.call("POST", "/v1/decisions", &agent, Some(audit)).await;
    let mcp = json!({"request": {"action": "mcp_tool_call", "target": "labs/run", "server": "labs",
                                 "tool": "run", "agent_id": "claude-code", "repository": "org/web"}});
    s.call("POST", "/v1/decisions", &agent, Some(mcp)).await;
    // Approvals: one approved, one broken open.
    for (i, target) in [
        "terraform import aws_instance.x i-1",
        "terraform import aws_instance.y i-2",
    ]
    .into_iter()
    .enumerate()
    {
        let d = s
            .call(
                "POST",
                "/v1/decisions",
                &agent,
                Some(decide(
                    "execute_command",
                    target,
                    "org/infra",
                    "claude-code",
                )),
            )
            .await;
        assert_eq!(d["decision"], "require_approval", "{d}");
        let id = d["approval"]["id"].as_str().expect("approval").to_string();
        if i == 0 {
            s.call(
                "POST",
                &format!("/v1/approvals/{id}/approve"),
                &approver,
                Some(json!({"reason": "fine"})),
            )
            .await;
        } else {
            s.call(
                "POST",
                &format!("/v1/approvals/{id}/break-glass"),
                &glass,
                Some(json!({"reason": "outage", "minutes": 5})),
            )
            .await;
        }
    }
    // Tenant B's activity must not reach A's posture.
    for _ in 0..5 {
        s.call(
            "POST",
            "/v1/decisions",
            &b_agent,
            Some(decide("read_file", ".env", "org/b", "gemini")),
        )
        .await;
    }
}

async fn service_and_bundle_agree(s: &Server) {
    activity(s).await;
    let auditor = s.token("a", "auditor", "auditor-a", &[]).await;
    let posture = s.call("GET", "/v1/posture", &auditor, None).await;
    let service = posture["aispm"].clone();

    // The figures are not empty: each factor the activity touched is there.
    assert_eq!(service["tenant"], "a", "{service}");
    assert_eq!(service["decisions"]["total"], 7, "A's only: {service}");
    assert_eq!(service["decisions"]["by_decision"]["block"], 3, "{service}");
    assert_eq!(service["repositories"]["total"], 3, "{service}");
    assert_eq!(service["approvals"]["requested"], 3, "{service}");
    assert_eq!(service["approvals"]["approved"], 1, "{service}");
    assert_eq!(service["break_glass"]["approvals"], 1, "{service}");
    assert_eq!(service["mcp"]["untrusted"], json!(["labs"]), "{service}");
    assert_eq!(service["mcp"]["changed"], json!(["github"]), "{service}");
    assert_eq!(service["mcp"]["refused_calls"], 1, "{service}");
    assert_eq!(service["packs"]["assigned"], 2, "{service}");
    assert_eq!(service["packs"]["built_in"], 1, "{service}");
    assert_eq!(
        service["packs"]["unsigned"].as_array().map(Vec::len),
        Some(1),
        "{service}"
    );
    assert_eq!(service["hook_coverage"]["inventory"], 2, "{service}");
    assert_eq!(
        service["hook_coverage"]["unseen"],
        json!(["codex"]),
        "{service}"
    );
    assert!(service["score"].as_f64().is_some(), "{service}");

    // The same figures from the store directly, and offline from a bundle of the whole log.
    let direct = cavra_server::aispm::tenant_posture(&s.state.db, "a")
        .await
        .expect("posture");
    assert_eq!(serde_json::to_value(&direct).expect("json"), service);
    let out = tempfile::tempdir().expect("tempdir");
    let dir = s.bundle(&auditor, out.path()).await;
    let offline = cavra_aispm::posture_from_bundle(&dir).expect("bundle posture");
    assert_eq!(serde_json::to_value(&offline).expect("json"), service);

    // A bundle whose entries lost one decision gives another figure: the comparison can fail.
    let entries = std::fs::read_to_string(dir.join("entries.jsonl")).expect("entries");
    let fewer: Vec<&str> = entries
        .lines()
        .filter(|l| !l.contains("\"src/main.rs\""))
        .collect();
    assert_eq!(fewer.len() + 1, entries.lines().count());
    std::fs::write(dir.join("entries.jsonl"), fewer.join("\n")).expect("write");
    let changed = cavra_aispm::posture_from_bundle(&dir).expect("bundle posture");
    assert_ne!(serde_json::to_value(&changed).expect("json"), service);
}

#[tokio::test]
async fn the_posture_from_a_bundle_equals_the_services_on_sqlite() {
    let s = start(None).await;
    service_and_bundle_agree(&s).await;
}

#[tokio::test]
async fn the_posture_from_a_bundle_equals_the_services_on_postgres() {
    let base = match std::env::var("CAVRA_TEST_POSTGRES_URL") {
        Ok(v) if !v.is_empty() => v,
        _ => {
            eprintln!(
                "NOTE: CAVRA_TEST_POSTGRES_URL is not set; the PostgreSQL posture test did not run"
            );
            return;
        }
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect postgres");
    tokio::spawn(conn);
    let schema = format!("cavra_aispm_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let s = start(Some(format!(
        "{base}{sep}options=-c%20search_path%3D{schema}"
    )))
    .await;
    service_and_bundle_agree(&s).await;
    let _ = client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await;
}
