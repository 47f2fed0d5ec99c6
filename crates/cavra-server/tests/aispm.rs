//! The AISPM posture of `GET /v1/posture` is computed from the tenant's evidence log: a bundle
//! of the whole log, recomputed offline, gives exactly the service's figures, on SQLite and
//! (when `CAVRA_TEST_POSTGRES_URL` is set, as CI does) PostgreSQL; another tenant's records
//! never reach it.

mod common;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One JSON request through the shared client that must succeed; its body.
async fn ok(s: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, value) = s.call(method, path, Some(token), body).await;
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

/// The whole log of a tenant as a bundle, unpacked into `into`.
async fn bundle(s: &Server, token: &str, into: &std::path::Path) -> std::path::PathBuf {
    let resp = s
        .http
        .get(format!("{}/v1/evidence/bundle", s.base))
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
        ok(
            s,
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
        ok(
            s,
            "PUT",
            &format!("/v1/registry/mcp-servers/{name}"),
            &admin,
            Some(body),
        )
        .await;
    }
    // An unsigned pack uploaded and assigned to a repository; the tenant keeps a built-in.
    let pack = "metadata:\n  id: team\n  title: T\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n";
    let uploaded = ok(
        s,
        "POST",
        "/v1/policies",
        &admin,
        Some(json!({"document": pack})),
    )
    .await;
    let digest = uploaded["digest"].as_str().expect("digest").to_string();
    ok(
        s,
        "PUT",
        "/v1/policy-assignments",
        &admin,
        Some(json!({"repository": "org/web", "pack": digest})),
    )
    .await;
    ok(
        s,
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
        ok(
            s,
            "POST",
            "/v1/decisions",
            &agent,
            Some(decide(action, target, repo, "claude-code")),
        )
        .await;
    }
    let mut audit = decide("read_file", ".env", "org/docs", "claude-code");
    audit["request"]["mode"] = json!("strict");
    ok(s, "POST", "/v1/decisions", &agent, Some(audit)).await;
    let mcp = json!({"request": {"action": "mcp_tool_call", "target": "labs/run", "server": "labs",
                                 "tool": "run", "agent_id": "claude-code", "repository": "org/web"}});
    ok(s, "POST", "/v1/decisions", &agent, Some(mcp)).await;
    // Approvals: one approved, one broken open.
    for (i, target) in [
        "terraform import aws_instance.x i-1",
        "terraform import aws_instance.y i-2",
    ]
    .into_iter()
    .enumerate()
    {
        let d = ok(
            s,
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
            ok(
                s,
                "POST",
                &format!("/v1/approvals/{id}/approve"),
                &approver,
                Some(json!({"reason": "fine"})),
            )
            .await;
        } else {
            ok(
                s,
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
        ok(
            s,
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
    let posture = ok(s, "GET", "/v1/posture", &auditor, None).await;
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
    let dir = bundle(s, &auditor, out.path()).await;
    let offline = cavra_aispm::posture_from_bundle(&dir).expect("bundle posture");
    assert_eq!(serde_json::to_value(&offline).expect("json"), service);

    // The log grows; the posture over the bundle's checkpoint (`?tree_size=` of its
    // manifest) still equals the bundle's, while the whole log's no longer does.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let size = manifest["tree_size"].as_u64().expect("tree_size");
    assert_eq!(service["covers"]["entries"], size);
    let agent = s.token("a", "agent", "agent-a2", &[]).await;
    ok(
        s,
        "POST",
        "/v1/decisions",
        &agent,
        Some(decide("read_file", "README.md", "org/a", "claude-code")),
    )
    .await;
    let grown = ok(s, "GET", "/v1/posture", &auditor, None).await;
    assert_eq!(grown["aispm"]["covers"]["entries"], size + 1, "{grown}");
    let at = ok(
        s,
        "GET",
        &format!("/v1/posture?tree_size={size}"),
        &auditor,
        None,
    )
    .await;
    assert_eq!(
        at["aispm"], service,
        "the log as the bundle's checkpoint signed it"
    );
    assert_eq!(at["period"]["tree_size"], size);
    let first = ok(s, "GET", "/v1/posture?tree_size=2", &auditor, None).await;
    assert_eq!(first["aispm"]["covers"]["entries"], 2, "{first}");
    let (st, v) = s
        .call(
            "GET",
            &format!("/v1/posture?tree_size={}", size + 2),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tree_size")),
        "{v}"
    );

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
    period(s, &auditor, &grown["aispm"]).await;
}

/// `?since=&until=` bounds the entries the posture is computed from and is echoed back; a
/// time that is not RFC 3339, or a period that ends before it starts, is a 422 problem.
async fn period(s: &Server, auditor: &str, whole: &Value) {
    let all = ok(
        s,
        "GET",
        "/v1/posture?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B00:00",
        auditor,
        None,
    )
    .await;
    assert_eq!(
        &all["aispm"], whole,
        "a period around the whole log is the whole log"
    );
    assert_eq!(
        all["period"],
        json!({"since": "2000-01-01T00:00:00.000Z", "until": "2999-01-01T00:00:00.000Z"})
    );
    let none = ok(
        s,
        "GET",
        "/v1/posture?until=2000-01-01T00:00:00Z",
        auditor,
        None,
    )
    .await;
    assert_eq!(none["aispm"]["covers"]["entries"], 0, "{none}");
    assert_eq!(none["aispm"]["tenant"], "a");
    assert_eq!(
        none["period"],
        json!({"since": null, "until": "2000-01-01T00:00:00.000Z"})
    );
    // From a point inside the log: only what came after it.
    let entries = ok(s, "GET", "/v1/evidence/entries?limit=1000", auditor, None).await;
    let times: Vec<&str> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["timestamp"].as_str())
        .collect();
    let last = *times.get(times.len() / 2).expect("entries");
    let later = ok(
        s,
        "GET",
        &format!("/v1/posture?since={}", last.replace('+', "%2B")),
        auditor,
        None,
    )
    .await;
    let n = times.iter().filter(|t| **t >= last).count() as u64;
    assert_eq!(later["aispm"]["covers"]["entries"], n, "{later}");
    assert!(n >= 1 && n <= whole["covers"]["entries"].as_u64().expect("n"));
    for bad in [
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
    ] {
        let (st, v) = s
            .call("GET", &format!("/v1/posture?{bad}"), Some(auditor), None)
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| d.contains("since") || d.contains("until")),
            "{v}"
        );
    }
}

#[tokio::test]
async fn the_posture_from_a_bundle_equals_the_services_on_sqlite() {
    let s = common::sqlite_server().await;
    service_and_bundle_agree(&s).await;
}

#[tokio::test]
async fn the_posture_from_a_bundle_equals_the_services_on_postgres() {
    let Some(s) = common::postgres_with(|_| {}).await else {
        return;
    };
    service_and_bundle_agree(&s).await;
}
