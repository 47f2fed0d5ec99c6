//! The service over real HTTP on loopback, against SQLite and (when
//! `CAVRA_TEST_POSTGRES_URL` is set, as CI does) PostgreSQL: the tenant isolation matrix with
//! API tokens and with OIDC JWTs from a JWKS served on loopback, the approval life cycle, bad
//! input, the OpenAPI document, metrics, and two replicas deciding approvals concurrently.

use cavra_tenant_store::{Approvals, Directory, Evidence};
use std::sync::Arc;

use cavra_identity::IssuedToken;
use cavra_identity::testing::{JwksServer, TestIssuer};
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

fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        database_url: format!("sqlite://{}", dir.join("server.db").display()),
        require_signed_packs: false,
        max_body_bytes: 64 * 1024,
        ..ServerConfig::default()
    }
}

async fn start(config: ServerConfig, dir: tempfile::TempDir) -> Server {
    let state = AppState::new(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = cavra_server::app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    for t in ["a", "b", "operator"] {
        state.create_tenant(t, t).await.expect("tenant");
    }
    Server {
        base: format!("http://{addr}"),
        state,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

async fn sqlite_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    start(cfg, dir).await
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

    async fn call(
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

fn decide(action: &str, target: &str, session: &str) -> Value {
    json!({"request": {"action": action, "target": target, "session_id": session, "agent_id": "claude-code"}})
}

/// Who acts in a test: API tokens stored in the database, or OIDC JWTs from a test issuer.
enum Minter {
    Tokens,
    Oidc(TestIssuer),
}

impl Minter {
    async fn cred(
        &self,
        s: &Server,
        tenant: &str,
        role: &str,
        subject: &str,
        groups: &[&str],
    ) -> String {
        match self {
            Minter::Tokens => s.token(tenant, role, subject, groups).await,
            Minter::Oidc(issuer) => {
                let mut claims = issuer.claims(subject, tenant, &[role]);
                claims["groups"] = json!(groups);
                issuer.mint("k1", &claims)
            }
        }
    }
}

/// Everything tenant A has must be invisible to tenant B: answers for A's ids are exactly the
/// answers for ids that do not exist.
async fn isolation_matrix(s: &Server, m: &Minter) {
    let a_agent = m.cred(s, "a", "agent", "agent-a", &[]).await;
    let a_admin = m.cred(s, "a", "admin", "admin-a", &[]).await;
    let b_agent = m.cred(s, "b", "agent", "agent-b", &[]).await;
    let b_admin = m.cred(s, "b", "admin", "admin-b", &[]).await;
    let b_auditor = m.cred(s, "b", "auditor", "auditor-b", &[]).await;
    let b_approver = m
        .cred(
            s,
            "b",
            "approver",
            "approver-b",
            &[
                "IAM",
                "Repository Owners",
                "Platform Security",
                "Cloud Security",
                "AI Governance",
            ],
        )
        .await;

    // A's records: a decision, an approval, a registry entry, a pack and an assignment.
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&a_agent),
            Some(decide("read_file", "src/main.rs", "sess-a")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let a_decision = d["record"]["decision_id"].as_str().unwrap().to_string();
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&a_agent),
            Some(decide("execute_command", "make deploy-prod", "sess-a")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "require_approval", "{d}");
    let a_approval = d["approval"]["id"].as_str().unwrap().to_string();
    let (st, _) = s.call("PUT", "/v1/registry/mcp-servers/github-a", Some(&a_admin), Some(json!({"trust_tier": "trusted", "owner": "a", "approval_state": "approved", "allowed_tools": ["search"]}))).await;
    assert_eq!(st, StatusCode::OK);
    let pack = "metadata:\n  id: a-pack\n  title: A\n  description: A's pack\n  version: '1'\n  inherits: [cavra-baseline]\n";
    let (st, p) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&a_admin),
            Some(json!({"document": pack})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let a_digest = p["digest"].as_str().unwrap().to_string();
    let (st, _) = s
        .call(
            "PUT",
            "/v1/policy-assignments",
            Some(&a_admin),
            Some(json!({"pack": a_digest})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // B's own decision, so B's lists are not trivially empty.
    let (st, _) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&b_agent),
            Some(decide("read_file", "README.md", "sess-b")),
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    let missing = "0190f000-0000-7000-8000-000000000000";
    for (path, ghost) in [
        (
            format!("/v1/decisions/{a_decision}"),
            format!("/v1/decisions/{missing}"),
        ),
        (
            "/v1/sessions/sess-a".to_string(),
            "/v1/sessions/sess-zzz".to_string(),
        ),
        (
            format!("/v1/approvals/{a_approval}"),
            "/v1/approvals/apr_0000".to_string(),
        ),
        (
            "/v1/registry/mcp-servers/github-a".to_string(),
            "/v1/registry/mcp-servers/nothing".to_string(),
        ),
        (
            format!("/v1/policies/{a_digest}"),
            "/v1/policies/sha256:00".to_string(),
        ),
        ("/v1/tenants/a".to_string(), "/v1/tenants/zzz".to_string()),
    ] {
        for who in [&b_agent, &b_admin, &b_auditor, &b_approver] {
            let real = s.call("GET", &path, Some(who), None).await;
            let fake = s.call("GET", &ghost, Some(who), None).await;
            assert_eq!(real.0, StatusCode::NOT_FOUND, "{path}: {}", real.1);
            assert_eq!(real, fake, "{path} must look exactly like a missing id");
        }
    }
    // Lists hold only B's records.
    for path in [
        "/v1/decisions",
        "/v1/sessions",
        "/v1/approvals",
        "/v1/registry/mcp-servers",
        "/v1/policies",
        "/v1/policy-assignments",
        "/v1/evidence/entries",
    ] {
        let (st, v) = s.call("GET", path, Some(&b_auditor), None).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        let text = v.to_string();
        for secret_of_a in [
            &a_decision,
            &a_approval,
            "github-a",
            a_digest.as_str(),
            "sess-a",
        ] {
            assert!(
                !text.contains(secret_of_a),
                "{path} leaks {secret_of_a}: {text}"
            );
        }
    }
    // B cannot decide A's approval (as a member of every group), nor expire or break it.
    for verb in ["approve", "deny", "expire"] {
        let real = s
            .call(
                "POST",
                &format!("/v1/approvals/{a_approval}/{verb}"),
                Some(&b_approver),
                Some(json!({"reason": "x"})),
            )
            .await;
        let fake = s
            .call(
                "POST",
                &format!("/v1/approvals/apr_0000/{verb}"),
                Some(&b_approver),
                Some(json!({"reason": "x"})),
            )
            .await;
        assert_eq!(real.0, StatusCode::NOT_FOUND, "{verb}");
        assert_eq!(real, fake);
    }
    // B cannot evaluate with, or assign, A's pack: the same answer as a pack that does not exist.
    let mut with_a_pack = decide("read_file", "x", "sess-b");
    with_a_pack["policy"] = json!(a_digest);
    let real = s
        .call("POST", "/v1/decisions", Some(&b_agent), Some(with_a_pack))
        .await;
    let mut with_none = decide("read_file", "x", "sess-b");
    with_none["policy"] = json!("sha256:00");
    let fake = s
        .call("POST", "/v1/decisions", Some(&b_agent), Some(with_none))
        .await;
    assert_eq!(real.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(real.1["status"], fake.1["status"]);
    assert_eq!(real.1["type"], fake.1["type"]);
    let (st, _) = s
        .call(
            "PUT",
            "/v1/policy-assignments",
            Some(&b_admin),
            Some(json!({"pack": a_digest})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    // B cannot name tenant A in a request body, nor delete A's registry entry.
    let (st, _) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&b_agent),
            Some(json!({"request": {"action": "read_file", "target": "x", "tenant": "a"}})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call(
            "DELETE",
            "/v1/registry/mcp-servers/github-a",
            Some(&b_admin),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // B's evidence and posture come only from B's records.
    let (_, head_b) = s
        .call("GET", "/v1/evidence/head", Some(&b_auditor), None)
        .await;
    let (_, head_a) = s
        .call("GET", "/v1/evidence/head", Some(&a_agent), None)
        .await;
    assert_eq!(head_b["size"], 1, "{head_b}");
    assert_ne!(head_a["log_id"], head_b["log_id"]);
    let (st, _) = s
        .call(
            "GET",
            "/v1/evidence/entries/1/proof",
            Some(&b_auditor),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "A's entry 1 is not B's");
    let (_, posture) = s.call("GET", "/v1/posture", Some(&b_auditor), None).await;
    assert_eq!(posture["decisions"], json!({"allow": 1}), "{posture}");
    assert_eq!(posture["pending_approvals"], 0);
    // Who each credential is: its own tenant, roles and approver groups.
    let (st, me) = s.call("GET", "/v1/whoami", Some(&b_approver), None).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["tenant"], "b", "{me}");
    assert_eq!(me["roles"], json!(["approver"]), "{me}");
    assert!(
        me["approver_groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("IAM"))),
        "{me}"
    );
    let (_, me_a) = s.call("GET", "/v1/whoami", Some(&a_admin), None).await;
    assert_eq!(
        (me_a["tenant"].as_str(), me_a["roles"].clone()),
        (Some("a"), json!(["admin"]))
    );
    let (st, _) = s.call("GET", "/v1/whoami", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // A's entries are all A's and B's all B's.
    let (_, entries) = s
        .call("GET", "/v1/evidence/entries", Some(&a_agent), None)
        .await;
    for e in entries.as_array().unwrap() {
        assert_eq!(e["entry"]["tenant"], "a");
    }
    // Tenants are an operator's business.
    let (st, _) = s.call("GET", "/v1/tenants", Some(&b_admin), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn isolation_matrix_with_api_tokens() {
    let s = sqlite_server().await;
    isolation_matrix(&s, &Minter::Tokens).await;
}

fn oidc_issuer() -> (TestIssuer, JwksServer) {
    let mut issuer = TestIssuer::new("https://idp.test", "cavra-api");
    issuer.add_ed25519("k1");
    let jwks = JwksServer::start(issuer.jwks_json());
    (issuer, jwks)
}

async fn oidc_server(jwks: &JwksServer) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(dir.path());
    let mut oidc = cavra_identity::OidcConfig::new("https://idp.test", "cavra-api", jwks.url());
    oidc.min_refresh_seconds = 0;
    cfg.oidc = Some(oidc);
    start(cfg, dir).await
}

#[tokio::test]
async fn isolation_matrix_with_oidc_tokens() {
    let (issuer, jwks) = oidc_issuer();
    let s = oidc_server(&jwks).await;
    isolation_matrix(&s, &Minter::Oidc(issuer)).await;
}

#[tokio::test]
async fn bad_credentials_are_problems_and_write_nothing() {
    let (issuer, jwks) = oidc_issuer();
    let s = oidc_server(&jwks).await;
    let good = s.token("a", "agent", "agent-a", &[]).await;
    let body = Some(decide("read_file", "x", "s"));
    let forged = {
        let (id_part, _) = good.rsplit_once('_').unwrap();
        format!("{id_part}_{}", "A".repeat(43))
    };
    let mut expired = issuer.claims("agent-a", "a", &["agent"]);
    expired["exp"] = json!(cavra_identity::testing::unix_now() - 3600);
    let expired = issuer.mint("k1", &expired);
    let mut other = TestIssuer::new("https://idp.test", "cavra-api");
    other.add_ed25519("k1");
    let forged_jwt = other.mint("k1", &other.claims("agent-a", "a", &["agent"]));
    let unknown_tenant = issuer.mint("k1", &issuer.claims("x", "nope", &["agent"]));
    for (what, token, status) in [
        ("none", None, StatusCode::UNAUTHORIZED),
        ("garbage", Some("nonsense"), StatusCode::UNAUTHORIZED),
        (
            "forged API token",
            Some(forged.as_str()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired JWT",
            Some(expired.as_str()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "JWT signed by another key",
            Some(forged_jwt.as_str()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown tenant",
            Some(unknown_tenant.as_str()),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (st, v) = s.call("POST", "/v1/decisions", token, body.clone()).await;
        assert_eq!(st, status, "{what}: {v}");
        assert!(
            v["type"]
                .as_str()
                .unwrap_or("")
                .starts_with("https://cavra.dev/problems/"),
            "{what}: {v}"
        );
        assert!(v["detail"].is_string());
    }
    // Revoked and expired API tokens.
    let revoked = s.token("a", "agent", "agent-a", &[]).await;
    let id = revoked.split('_').nth(1).unwrap().to_string();
    assert!(
        s.state
            .db
            .revoke_token(Some("a"), &id, cavra_store::Timestamp::now())
            .await
            .unwrap()
    );
    s.state.tokens.evict(&id);
    let (st, v) = s
        .call("POST", "/v1/decisions", Some(&revoked), body.clone())
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let head = s.state.db.log_head("a").await.unwrap();
    assert!(head.is_none(), "nothing was written: {head:?}");
}

#[tokio::test]
async fn bad_input_is_a_clear_problem_and_writes_nothing() {
    let s = sqlite_server().await;
    let t = s.token("a", "agent", "agent-a", &[]).await;
    let url = format!("{}/v1/decisions", s.base);
    let send = |body: Vec<u8>, ct: &'static str| {
        let http = s.http.clone();
        let url = url.clone();
        let t = t.clone();
        async move {
            let r = http
                .post(&url)
                .bearer_auth(&t)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            let st = r.status();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            (st, ctype, r.json::<Value>().await.unwrap())
        }
    };
    let huge = format!(
        "{{\"request\":{{\"action\":\"read_file\",\"target\":\"{}\"}}}}",
        "x".repeat(200_000)
    );
    for (what, body, ct, status) in [
        (
            "oversized",
            huge.into_bytes(),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "malformed",
            b"{\"request\": ".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            br#"{"request":{"action":"read_file","target":"x"},"bogus":1}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown request field",
            br#"{"request":{"action":"read_file","target":"x","sneaky":1}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown action",
            br#"{"request":{"action":"format_disk","target":"x"}}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong content type",
            b"{}".to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let (st, ctype, v) = send(body, ct).await;
        assert_eq!(st, status, "{what}: {v}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{what}");
        assert_eq!(v["status"], status.as_u16(), "{what}");
    }
    // Invalid ids and unknown routes.
    let (st, v) = s
        .call("GET", "/v1/decisions/bad%20id%3B", Some(&t), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s.call("GET", "/v1/nothing", Some(&t), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = s.call("DELETE", "/v1/decisions", Some(&t), None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    let (st, v) = s
        .call("GET", "/v1/decisions?limit=lots", Some(&t), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    // An agent may not loosen its own policy.
    let (st, v) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&t),
            Some(
                json!({"request": {"action": "read_file", "target": ".env", "mode": "audit_only"}}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s.call("POST", "/v1/decisions", Some(&t), Some(json!({"request": {"action": "read_file", "target": ".env", "break_glass_actor": "me", "break_glass_reason": "because"}}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        s.state.db.log_head("a").await.unwrap().is_none(),
        "nothing was written"
    );
}

#[tokio::test]
async fn approvals_are_routed_decided_by_the_group_and_unlock_exactly_the_action() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let same_person = s
        .token("a", "approver", "agent-a", &["Cloud Security"])
        .await;
    let outsider = s.token("a", "approver", "bob", &["IAM"]).await;
    let approver = s.token("a", "approver", "carol", &["Cloud Security"]).await;
    let glass = s.token("a", "approver", "dave", &["Break Glass"]).await;
    let target = "terraform apply -auto-approve";
    let (_, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(
        d["decision"], "block",
        "baseline blocks terraform apply: {d}"
    );
    // A command the baseline routes for approval.
    let target = "terraform import aws_instance.x i-123";
    let (_, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(d["decision"], "require_approval", "{d}");
    let apr = d["approval"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["approval"]["approver_group"], "Cloud Security", "{d}");
    // Asking again reuses the pending approval.
    let (_, d2) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(d2["approval"]["id"], json!(apr));
    let path = format!("/v1/approvals/{apr}/approve");
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&outsider),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "not in the group: {v}");
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&same_person),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "own request: {v}");
    let (st, v) = s
        .call("POST", &path, Some(&agent), Some(json!({"reason": "ok"})))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "agents do not approve: {v}");
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&approver),
            Some(json!({"reason": "  "})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed: {v}"
    );
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&approver),
            Some(json!({"reason": "import is fine"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "approved");
    let (st, _) = s
        .call(
            "POST",
            &path,
            Some(&approver),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "decided once");
    // Another action is not unlocked; another agent is not unlocked.
    let (_, other) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide(
                "execute_command",
                "terraform import aws_instance.y i-999",
                "s1",
            )),
        )
        .await;
    assert_eq!(other["decision"], "require_approval");
    let other_agent = s.token("a", "agent", "agent-z", &[]).await;
    let (_, z) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&other_agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(z["decision"], "require_approval", "{z}");
    // The retry is allowed once, then asks again.
    let (_, retry) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(retry["decision"], "allow", "{retry}");
    assert_eq!(retry["approval"]["state"], "consumed", "{retry}");
    let (_, again) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(again["decision"], "require_approval", "{again}");
    let second = again["approval"]["id"].as_str().unwrap().to_string();
    assert_ne!(second, apr);
    // Deny: the retry is blocked.
    let (st, _) = s
        .call(
            "POST",
            &format!("/v1/approvals/{second}/deny"),
            Some(&approver),
            Some(json!({"reason": "no"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, denied) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(denied["decision"], "block", "{denied}");
    // Break glass: the group only, a reason, a short expiry; then the retry is allowed.
    let bg = format!("/v1/approvals/{second}/break-glass");
    let (st, _) = s
        .call(
            "POST",
            &bg,
            Some(&approver),
            Some(json!({"reason": "prod down"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call(
            "POST",
            &bg,
            Some(&glass),
            Some(json!({"reason": "prod down", "minutes": 100000})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = s
        .call(
            "POST",
            &bg,
            Some(&glass),
            Some(json!({"reason": "prod down", "minutes": 5})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "break_glass");
    let (_, after) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", target, "s1")),
        )
        .await;
    assert_eq!(after["decision"], "allow", "{after}");
    // Every transition is an evidence entry.
    let (_, entries) = s
        .call(
            "GET",
            &format!("/v1/evidence/entries?kind=approval&ref_id={apr}"),
            Some(&approver),
            None,
        )
        .await;
    let states: Vec<_> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["body"]["state"].clone())
        .collect();
    assert_eq!(
        states,
        vec![json!("pending"), json!("approved"), json!("consumed")]
    );
    // Metrics count decisions and show the queue.
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("cavra_decisions_total{decision=\"require_approval\"}"),
        "{text}"
    );
    assert!(
        text.contains("cavra_approvals_pending{tenant=\"a\",approver_group=\"Cloud Security\"} 2"),
        "two other requests wait: {text}"
    );
}

#[tokio::test]
async fn an_expired_approval_cannot_be_approved_and_the_sweep_expires_it() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let approver = s.token("a", "approver", "carol", &["Cloud Security"]).await;
    let (_, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", "terraform import a b", "s")),
        )
        .await;
    let apr = d["approval"]["id"].as_str().unwrap().to_string();
    // Time passes: the service's clock is past the expiry.
    let past = "2000-01-01T00:00:00.000Z";
    let forced = s
        .state
        .db
        .transition(
            "a",
            &apr,
            cavra_tenant_store::Transition {
                to: cavra_tenant_store::ApprovalState::Pending,
                from: vec![cavra_tenant_store::ApprovalState::Pending],
                actor: "test".into(),
                reason: None,
                at: past.parse().unwrap(),
                expires_at: Some(past.parse().unwrap()),
                grant: None,
                not_requested_by: None,
                unexpired_at: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        forced,
        cavra_tenant_store::TransitionOutcome::Done(_)
    ));
    let (st, v) = s
        .call(
            "POST",
            &format!("/v1/approvals/{apr}/approve"),
            Some(&approver),
            Some(json!({"reason": "late"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("expired"), "{v}");
    let (st, v) = s
        .call("POST", "/v1/approvals/expire", Some(&approver), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["expired"], json!([apr]));
}

#[tokio::test]
async fn proofs_from_the_service_verify_against_its_checkpoint() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    for i in 0..5 {
        s.call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("read_file", &format!("f{i}"), "s")),
        )
        .await;
    }
    let (st, proof) = s
        .call("GET", "/v1/evidence/entries/3/proof", Some(&agent), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{proof}");
    let env =
        cavra_evidence::dsse::Envelope::from_json(proof["checkpoint"].as_str().unwrap()).unwrap();
    let payload: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    let root: [u8; 32] = hex::decode(payload["root_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let leaf = cavra_evidence::merkle::leaf_hash(proof["entry"].as_str().unwrap().as_bytes());
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let size = payload["tree_size"].as_u64().unwrap();
    cavra_evidence::merkle::verify_inclusion(&leaf, 3, size, &hashes, &root).expect("proof holds");
    let mut bad = leaf;
    bad[0] ^= 1;
    assert!(cavra_evidence::merkle::verify_inclusion(&bad, 3, size, &hashes, &root).is_err());
}

#[tokio::test]
async fn signed_packs_only_when_required() {
    let dir = tempfile::tempdir().unwrap();
    let key = cavra_evidence::keys::from_seed(&[9; 32]);
    let mut root = cavra_evidence::trust::TrustRoot::default();
    root.add(
        cavra_evidence::trust::KeyRecord::new(
            "packs",
            "test",
            &key.verifying_key(),
            time::OffsetDateTime::UNIX_EPOCH,
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let root_path = dir.path().join("trust.json");
    std::fs::write(&root_path, root.to_json()).unwrap();
    let mut cfg = config(dir.path());
    cfg.require_signed_packs = true;
    cfg.trust_root = Some(root_path);
    let s = start(cfg, dir).await;
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let pack = "metadata:\n  id: signed\n  title: S\n  description: d\n  version: '1'\n";
    let (st, v) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": pack})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "unsigned: {v}");
    let (_, digest) = cavra_server::packs::document_digest(pack, "x").unwrap();
    let sig = cavra_evidence::pack_signature::sign(
        "signed",
        &digest,
        &key,
        "packs",
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    let (st, v) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": pack, "signature": sig})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let changed = pack.replace("version: '1'", "version: '2'");
    let (st, v) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": changed, "signature": sig})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "changed after signing: {v}"
    );
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let (st, _) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&agent),
            Some(json!({"document": pack, "signature": sig})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "agents do not upload packs");
    let inherits_file = "metadata:\n  id: sneaky\n  title: S\n  description: d\n  version: '1'\n  inherits: [/etc/passwd]\n";
    let (_, d2) = cavra_server::packs::document_digest(inherits_file, "x").unwrap();
    let sig2 =
        cavra_evidence::pack_signature::sign("sneaky", &d2, &key, "packs", "2026-01-01T00:00:00Z")
            .unwrap();
    let (st, v) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": inherits_file, "signature": sig2})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no file parents on the service: {v}"
    );
}

#[tokio::test]
async fn every_documented_route_is_served_and_health_is_reported() {
    let s = sqlite_server().await;
    let (st, doc) = s.call("GET", "/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 24, "{}", paths.len());
    let admin = s.token("operator", "admin", "root", &[]).await;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "x1")
                .replace("{kind}", "agents")
                .replace("{name}", "n1")
                .replace("{digest}", "sha256:00")
                .replace("{index}", "0");
            let (st, v) = s
                .call(&method.to_uppercase(), &concrete, Some(&admin), None)
                .await;
            assert_ne!(
                v["type"], "https://cavra.dev/problems/no-route",
                "{method} {path} is documented but not served"
            );
            assert_ne!(st, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(!st.is_server_error(), "{method} {path}: {st} {v}");
        }
    }
    let (st, v) = s.call("GET", "/readyz", None, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["database"], "sqlite");
    assert!(v["signing_key"].as_str().unwrap().starts_with("log-"));
}

async fn pg_url() -> Option<(String, String)> {
    let base = match std::env::var("CAVRA_TEST_POSTGRES_URL") {
        Ok(v) if !v.is_empty() => v,
        _ => {
            eprintln!(
                "NOTE: CAVRA_TEST_POSTGRES_URL is not set; the PostgreSQL replica test did not run"
            );
            return None;
        }
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect postgres");
    tokio::spawn(conn);
    let name = format!("cavra_api_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((
        format!("{base}{sep}options=-c%20search_path%3D{name}"),
        name,
    ))
}

#[tokio::test]
async fn two_replicas_on_postgres_decide_each_approval_exactly_once() {
    let Some((url, schema)) = pg_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("log.pem");
    std::fs::write(
        &key_path,
        cavra_evidence::keys::private_key_to_pem(&cavra_evidence::keys::from_seed(&[3; 32]))
            .unwrap(),
    )
    .unwrap();
    let mk = |d: &std::path::Path| ServerConfig {
        database_url: url.clone(),
        signing_key: Some(key_path.clone()),
        require_signed_packs: false,
        ..config(d)
    };
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let (c1, c2) = (mk(d1.path()), mk(d2.path()));
    let (r1, r2) = tokio::join!(start(c1, d1), start(c2, d2));
    let agent = r1.token("a", "agent", "agent-a", &[]).await;
    let approvers = [
        r1.token("a", "approver", "p1", &["Cloud Security"]).await,
        r2.token("a", "approver", "p2", &["Cloud Security"]).await,
    ];
    // Decisions from both replicas into one tenant log.
    let mut ids = Vec::new();
    for i in 0..10 {
        let r = if i % 2 == 0 { &r1 } else { &r2 };
        let (st, d) = r
            .call(
                "POST",
                "/v1/decisions",
                Some(&agent),
                Some(decide(
                    "execute_command",
                    &format!("terraform import x{i} y"),
                    "s",
                )),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
        ids.push(d["approval"]["id"].as_str().unwrap().to_string());
    }
    // Both replicas race to decide every approval.
    let r1 = Arc::new(r1);
    let r2 = Arc::new(r2);
    let mut tasks = Vec::new();
    for id in &ids {
        for (i, r) in [r1.clone(), r2.clone(), r1.clone(), r2.clone()]
            .into_iter()
            .enumerate()
        {
            let token = approvers[i % 2].clone();
            let id = id.clone();
            let verb = if i < 2 { "approve" } else { "deny" };
            tasks.push(tokio::spawn(async move {
                let (st, _) = r
                    .call(
                        "POST",
                        &format!("/v1/approvals/{id}/{verb}"),
                        Some(&token),
                        Some(json!({"reason": "race"})),
                    )
                    .await;
                (id, st)
            }));
        }
    }
    let mut won = std::collections::HashMap::<String, usize>::new();
    for t in tasks {
        let (id, st) = t.await.unwrap();
        assert!(st == StatusCode::OK || st == StatusCode::CONFLICT, "{st}");
        if st == StatusCode::OK {
            *won.entry(id).or_default() += 1;
        }
    }
    for id in &ids {
        assert_eq!(won.get(id), Some(&1), "{id} decided exactly once");
        // Each replica sees the same final state.
        let (_, a1) = r1
            .call("GET", &format!("/v1/approvals/{id}"), Some(&agent), None)
            .await;
        let (_, a2) = r2
            .call("GET", &format!("/v1/approvals/{id}"), Some(&agent), None)
            .await;
        assert_eq!(a1, a2);
        assert_eq!(a1["history"].as_array().unwrap().len(), 2);
    }
    // One log: 10 decisions + 10 approvals created + 10 decided.
    let (_, h1) = r1
        .call("GET", "/v1/evidence/head", Some(&agent), None)
        .await;
    let (_, h2) = r2
        .call("GET", "/v1/evidence/head", Some(&agent), None)
        .await;
    assert_eq!(h1, h2);
    assert_eq!(h1["size"], 30, "{h1}");
    if let Ok((client, conn)) = tokio_postgres::connect(
        &std::env::var("CAVRA_TEST_POSTGRES_URL").unwrap(),
        tokio_postgres::NoTls,
    )
    .await
    {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await;
    }
}

async fn download_bundle(
    s: &Server,
    token: &str,
    query: &str,
    into: &std::path::Path,
) -> StatusCode {
    let resp = s
        .http
        .get(format!("{}/v1/evidence/bundle{query}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    if status == StatusCode::OK {
        let bytes = resp.bytes().await.unwrap();
        tar::Archive::new(bytes.as_ref()).unpack(into).unwrap();
    }
    status
}

#[tokio::test]
async fn tenant_bundles_hold_only_the_tenants_entries_and_verify_offline() {
    let s = sqlite_server().await;
    let a = s.token("a", "agent", "agent-a", &[]).await;
    let b = s.token("b", "auditor", "auditor-b", &[]).await;
    let b_agent = s.token("b", "agent", "agent-b", &[]).await;
    for (t, target, session) in [
        (&a, ".env", "sa"),
        (&a, "src/x.rs", "sa"),
        (&b_agent, "README.md", "sb"),
        (&a, "terraform.tfstate", "sa2"),
    ] {
        s.call(
            "POST",
            "/v1/decisions",
            Some(t),
            Some(decide("read_file", target, session)),
        )
        .await;
    }
    let (_, head) = s.call("GET", "/v1/evidence/head", Some(&a), None).await;
    let key =
        cavra_evidence::keys::public_key_from_pem(head["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(
        head["fingerprint"],
        json!(cavra_evidence::trust::fingerprint(&key))
    );
    let mut trust = cavra_evidence::trust::TrustRoot::default();
    trust
        .add(
            cavra_evidence::trust::KeyRecord::new(
                head["key_id"].as_str().unwrap(),
                "service",
                &key,
                time::OffsetDateTime::UNIX_EPOCH,
                None,
            )
            .unwrap(),
        )
        .unwrap();

    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        download_bundle(&s, &a, "?session_id=sa", &out.path().join("a")).await,
        StatusCode::OK
    );
    let dir = out.path().join("a/bundle");
    let report = cavra_bundle::verify_bundle(&dir, &trust, &cavra_bundle::VerifyOptions::default());
    assert!(report.ok(), "{report:?}");
    let entries = std::fs::read_to_string(dir.join("entries.jsonl")).unwrap();
    assert_eq!(entries.lines().count(), 2, "session sa only: {entries}");
    assert!(
        entries.lines().all(|l| l.contains("\"tenant\":\"a\"")) && !entries.contains("README.md")
    );
    // B's bundle: B's entry only, from B's own log.
    assert_eq!(
        download_bundle(&s, &b, "", &out.path().join("b")).await,
        StatusCode::OK
    );
    let b_entries = std::fs::read_to_string(out.path().join("b/bundle/entries.jsonl")).unwrap();
    assert_eq!(b_entries.lines().count(), 1);
    assert!(b_entries.contains("README.md") && !b_entries.contains(".env"));
    // A changed entry does not verify.
    let tampered = entries.replacen("\"decision\":\"block\"", "\"decision\":\"allow\"", 1);
    assert_ne!(tampered, entries);
    std::fs::write(dir.join("entries.jsonl"), tampered).unwrap();
    let report = cavra_bundle::verify_bundle(&dir, &trust, &cavra_bundle::VerifyOptions::default());
    assert!(!report.ok());
    // A selection with nothing in it is a clear 404.
    assert_eq!(
        download_bundle(&s, &a, "?session_id=none", &out.path().join("n")).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn mcp_decisions_follow_the_tenants_registry() {
    let s = sqlite_server().await;
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let b_agent = s.token("b", "agent", "agent-b", &[]).await;
    let put = |name: &str, body: Value| {
        let path = format!("/v1/registry/mcp-servers/{name}");
        let admin = admin.clone();
        let s = &s;
        async move { s.call("PUT", &path, Some(&admin), Some(body)).await }
    };
    let (st, v) = put("github", json!({"trust_tier": "trusted", "approval_state": "approved", "allowed_tools": ["search_*"], "capabilities": ["repository"]})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = put(
        "labs",
        json!({"trust_tier": "experimental", "approval_state": "approved", "allowed_tools": ["*"]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = put(
        "evil",
        json!({"trust_tier": "blocked", "approval_state": "approved"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = put(
        "x",
        json!({"name": "y", "trust_tier": "trusted", "approval_state": "approved"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = put(
        "x",
        json!({"trust_tier": "very", "approval_state": "approved"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let mcp = |server: &str, tool: &str| json!({"request": {"action": "mcp_tool_call", "target": format!("{server}/{tool}"), "server": server, "tool": tool, "capability": "repository"}});
    for (server, tool, want, rule) in [
        ("github", "search_code", "allow", None),
        (
            "github",
            "delete_repo",
            "require_approval",
            Some("mcp.registry.tool_not_allowed"),
        ),
        (
            "labs",
            "anything",
            "require_approval",
            Some("mcp.registry.pending"),
        ),
        ("evil", "x", "block", Some("mcp.registry.blocked")),
        ("nobody", "x", "block", None),
    ] {
        let (st, d) = s
            .call(
                "POST",
                "/v1/decisions",
                Some(&agent),
                Some(mcp(server, tool)),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
        assert_eq!(d["decision"], want, "{server}/{tool}: {d}");
        if let Some(rule) = rule {
            assert_eq!(d["record"]["rule_id"], rule, "{server}/{tool}: {d}");
        }
    }
    // Tenant B has no registry: its own pack decides, A's trusted server is unknown to it.
    let (_, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&b_agent),
            Some(mcp("github", "search_code")),
        )
        .await;
    assert_eq!(d["decision"], "block", "{d}");
}

#[tokio::test]
async fn every_route_the_router_has_is_documented() {
    // The router's routes, read from its source, so a route added without documentation fails.
    let source = include_str!("../src/api/mod.rs");
    let doc = serde_json::to_value(<cavra_server::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut seen = 0;
    let (nested, top) = source
        .split_once("Router::new()\n        .nest(")
        .expect("router layout");
    for (part, prefix) in [(nested, "/v1"), (top, "")] {
        for piece in part.split(".route(").skip(1) {
            let path = piece.split('"').nth(1).unwrap();
            let full = format!("{prefix}{path}");
            let item = paths
                .get(&full)
                .unwrap_or_else(|| panic!("{full} is served but not documented"));
            for m in ["get", "post", "put", "delete"] {
                if piece.contains(&format!("{m}(")) {
                    assert!(
                        item.get(m).is_some(),
                        "{m} {full} is served but not documented"
                    );
                }
            }
            seen += 1;
        }
    }
    assert!(seen >= 25, "{seen} routes read");
}

/// A secret in a request never reaches the answer, the stored decision or the log, whether
/// the pack's rules include the built-in ones (one redaction pass) or disable one of them
/// (the store's own rules still apply); and what is answered is what was stored.
#[tokio::test]
async fn secrets_in_requests_reach_neither_answers_nor_the_log() {
    let s = sqlite_server().await;
    let admin = s.token("a", "admin", "admin-r", &[]).await;
    let agent = s.token("a", "agent", "agent-r", &[]).await;
    let secret = format!("ghp_{}", "Ab1".repeat(12));
    let command = format!("printf %s {secret} | gh auth login --with-token");
    let custom_secret = "acme_0123456789abcdefghij";
    let lax = "metadata:\n  id: lax\n  title: L\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\nredaction:\n  disable: [github-token]\n  rules:\n    - id: acme-key\n      regex: 'acme_[a-z0-9]{20}'\n      keywords: [acme_]\n";
    let (st, p) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": lax})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let lax_digest = p["digest"].as_str().unwrap().to_string();
    for pack in [None, Some(lax_digest.as_str())] {
        // The pack's own rule knows the custom secret; only that pack's requests carry one.
        let mut body = decide("execute_command", &command, "sess-r");
        if let Some(p) = pack {
            body = decide(
                "execute_command",
                &format!("{command} # {custom_secret}"),
                "sess-r",
            );
            body["policy"] = json!(p);
        }
        let (st, d) = s
            .call("POST", "/v1/decisions", Some(&agent), Some(body))
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
        let answered = d["record"].to_string();
        assert!(!answered.contains(&secret), "answer leaks: {answered}");
        assert!(answered.contains("[REDACTED:github-token]"), "{answered}");
        if pack.is_some() {
            assert!(
                !answered.contains(custom_secret),
                "pack rule ignored: {answered}"
            );
        }
        let id = d["record"]["decision_id"].as_str().unwrap();
        let (st, stored) = s
            .call("GET", &format!("/v1/decisions/{id}"), Some(&admin), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{stored}");
        assert_eq!(stored["record"], d["record"], "answered and stored differ");
    }
    let (st, entries) = s
        .call("GET", "/v1/evidence/entries?limit=100", Some(&admin), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{entries}");
    let text = entries.to_string();
    assert!(text.contains("github-token"), "{text}");
    assert!(
        !text.contains(&secret) && !text.contains(custom_secret),
        "log leaks: {text}"
    );
}

/// `GET /v1/decisions` filters by rule, caller and repository (each the store's, on an index
/// of its own) and pages by keyset with `before`: every page newest first, each decision of
/// the filter once across the pages; an id of another tenant or none as the cursor gives none.
#[tokio::test]
async fn decision_lists_filter_by_rule_caller_and_repository_and_page_with_before() {
    let s = sqlite_server().await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    let ci = s.token("a", "agent", "ci", &[]).await;
    let other = s.token("b", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    // Each decision made: its id, caller, repository and rule.
    type Made = (String, &'static str, &'static str, String);
    let mut made: Vec<Made> = Vec::new();
    for i in 0..9 {
        let (who, repo, target) = match i % 3 {
            0 => (&bot, "acme/app", ".env"),
            1 => (&ci, "acme/app", "src/main.rs"),
            _ => (&bot, "acme/infra", "src/lib.rs"),
        };
        let mut body = decide("read_file", target, "sess-l");
        body["request"]["repository"] = json!(repo);
        let (st, v) = s.call("POST", "/v1/decisions", Some(who), Some(body)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        made.push((
            v["record"]["decision_id"].as_str().unwrap().to_string(),
            if i % 3 == 1 { "ci" } else { "bot" },
            repo,
            v["record"]["rule_id"].as_str().unwrap().to_string(),
        ));
    }
    let (st, v) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&other),
            Some(decide("read_file", "x", "s")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let foreign = v["record"]["decision_id"].as_str().unwrap().to_string();
    let secret_rule = made[0].3.clone();
    // Every page of `query`, two at a time.
    let walk = |query: String| {
        let (s, auditor) = (&s, &auditor);
        async move {
            let mut ids = Vec::new();
            let mut before = String::new();
            loop {
                let (st, v) = s
                    .call(
                        "GET",
                        &format!("/v1/decisions?{query}&limit=2{before}"),
                        Some(auditor),
                        None,
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "{query}: {v}");
                let page: Vec<String> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["decision_id"].as_str().unwrap().to_string())
                    .collect();
                let done = page.len() < 2;
                if let Some(last) = page.last() {
                    before = format!("&before={last}");
                }
                ids.extend(page);
                if done {
                    return ids;
                }
            }
        }
    };
    let want = |keep: &dyn Fn(&Made) -> bool| -> Vec<String> {
        made.iter()
            .rev()
            .filter(|m| keep(m))
            .map(|m| m.0.clone())
            .collect()
    };
    assert_eq!(walk("session_id=sess-l".into()).await, want(&|_| true));
    assert_eq!(
        walk("repository=acme/infra".into()).await,
        want(&|m| m.2 == "acme/infra")
    );
    assert_eq!(walk("requested_by=ci".into()).await, want(&|m| m.1 == "ci"));
    assert_eq!(
        walk(format!("rule_id={secret_rule}&repository=acme/app")).await,
        want(&|m| m.3 == secret_rule && m.2 == "acme/app")
    );
    assert!(!want(&|m| m.3 == secret_rule).is_empty());
    for cursor in [foreign.as_str(), "dec-nope"] {
        let (st, v) = s
            .call(
                "GET",
                &format!("/v1/decisions?before={cursor}"),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v, json!([]), "{cursor}");
    }
}

/// A route given a method it does not take answers 405 as a problem document, and every
/// problem answer (the 405, a 401, a 404) is counted in `cavra_problems_total`; a success is
/// not.
#[tokio::test]
async fn a_wrong_method_is_a_problem_and_problems_are_counted() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let problems = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("cavra_problems_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no cavra_problems_total in {text}"))
    };
    let metrics = || async {
        s.http
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let before = problems(&metrics().await);
    let (status, body) = s.call("DELETE", "/v1/decisions", Some(&agent), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("method-not-allowed")),
        "{body}"
    );
    let (status, _) = s.call("GET", "/v1/decisions", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call("GET", "/v1/no-such-route", Some(&agent), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("read_file", "src/main.rs", "s")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(problems(&metrics().await), before + 3);
}
