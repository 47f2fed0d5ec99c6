//! Issue 16.1: an approval is bound to the exact context of the decision it was asked for. A
//! pack with a `dev` rule (approver group Repository Owners) and a `prod` rule (Platform
//! Security): the dev approval never allows the prod request, nor the same request on another
//! branch or repository.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PACK: &str = r#"metadata:
  id: envs
  title: Environments
  description: dev and prod deployments need different approvers
  version: '1'
rules:
  - id: deploy.dev
    action: execute_command
    commands: ["make deploy*"]
    when: {environment: [dev]}
    decision: require_approval
    approver_group: Repository Owners
  - id: deploy.prod
    action: execute_command
    commands: ["make deploy*"]
    when: {environment: [prod]}
    decision: require_approval
    approver_group: Platform Security
"#;

fn deploy(environment: &str, branch: &str) -> Value {
    json!({"request": {"action": "execute_command", "target": "make deploy",
        "environment": environment, "branch": branch, "repository": "a/app",
        "session_id": "sess-ctx", "agent_id": "claude-code"}})
}

async fn decide_as(s: &Server, agent: &str, body: Value) -> Value {
    let (st, d) = s
        .call("POST", "/v1/decisions", Some(agent), Some(body))
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    d
}

async fn check(s: Server) {
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let owner = s
        .token("a", "approver", "owner-1", &["Repository Owners"])
        .await;
    let (st, p) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": PACK})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let (st, v) = s
        .call(
            "PUT",
            "/v1/policy-assignments",
            Some(&admin),
            Some(json!({"pack": p["digest"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // The dev request asks Repository Owners, who approve it.
    let d = decide_as(&s, &agent, deploy("dev", "feature/x")).await;
    assert_eq!(d["decision"], "require_approval", "{d}");
    assert_eq!(d["record"]["rule_id"], "deploy.dev");
    assert_eq!(d["approval"]["approver_group"], "Repository Owners");
    let dev_approval = d["approval"]["id"].as_str().expect("id").to_string();
    let (st, v) = s
        .call(
            "POST",
            &format!("/v1/approvals/{dev_approval}/approve"),
            Some(&owner),
            Some(json!({"reason": "dev deploy is fine"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // The same request in prod: the prod rule decides, and the dev approval does not apply.
    let d = decide_as(&s, &agent, deploy("prod", "feature/x")).await;
    assert_eq!(d["decision"], "require_approval", "{d}");
    assert_eq!(d["record"]["rule_id"], "deploy.prod");
    assert_eq!(d["approval"]["approver_group"], "Platform Security");
    assert_ne!(d["approval"]["id"], json!(dev_approval), "{d}");
    // Nor on another branch (the dev rule, but another context).
    let d = decide_as(&s, &agent, deploy("dev", "main")).await;
    assert_eq!(d["decision"], "require_approval", "{d}");
    assert_ne!(d["approval"]["id"], json!(dev_approval), "{d}");

    // The approved context itself is allowed, once.
    let d = decide_as(&s, &agent, deploy("dev", "feature/x")).await;
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["approval"]["id"], json!(dev_approval), "{d}");
    let d = decide_as(&s, &agent, deploy("dev", "feature/x")).await;
    assert_eq!(d["decision"], "require_approval", "used up: {d}");
}

#[tokio::test]
async fn a_dev_approval_never_allows_the_prod_request_sqlite() {
    check(sqlite_server().await).await;
}

#[tokio::test]
async fn a_dev_approval_never_allows_the_prod_request_postgres() {
    if let Some(s) = postgres_with(|_| {}).await {
        check(s).await;
    }
}
