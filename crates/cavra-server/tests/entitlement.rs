//! Tenants' entitlements through the real service, on SQLite and PostgreSQL: only platform
//! admins read and change them; a suspended or expired tenant cannot act (403 with the reason)
//! while its auditors still read; features gate their routes; limits refuse creation beyond
//! them; another tenant is untouched.

mod common;

use common::{Server, decide};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ENTITLEMENT: &str = "/v1/tenants/a/entitlement";

/// Asserts a 403 whose problem names `reason` (its `reason` member and type, and the detail
/// starts with it).
fn refused(st: StatusCode, body: &Value, reason: &str) {
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(
        body["type"],
        format!("https://cavra.dev/problems/{reason}"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(reason)),
        "{body}"
    );
}

async fn entitle(s: &Server, op: &str, body: Value) -> Value {
    let (st, v) = s.call("PUT", ENTITLEMENT, Some(op), Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

async fn scenario(s: Server) {
    let op = s.token("operator", "admin", "platform", &[]).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "aud", &[]).await;
    let admin = s.token("a", "admin", "adm", &[]).await;
    let approver = s.token("a", "approver", "appr", &["sre"]).await;
    let agent_b = s.token("b", "agent", "bot-b", &[]).await;
    let act = |token: String| {
        let s = &s;
        async move {
            s.call(
                "POST",
                "/v1/decisions",
                Some(&token),
                Some(decide("read_file", "src/main.rs", "s1")),
            )
            .await
        }
    };
    // This request caches the tenant's entitlement as active; the change below is in force
    // from the very next request (this replica forgets its copy when it writes).
    let (st, d) = act(agent.clone()).await;
    assert_eq!(st, StatusCode::OK, "{d}");

    // Platform admins only: a tenant's own admin neither reads nor changes its entitlement.
    let (st, v) = s.call("GET", ENTITLEMENT, Some(&op), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["status"], &v["in_force"], &v["features"], &v["limits"]),
        (&json!("active"), &json!("active"), &Value::Null, &json!({}))
    );
    for (method, body) in [("GET", None), ("PUT", Some(json!({"status": "active"})))] {
        let (st, _) = s.call(method, ENTITLEMENT, Some(&admin), body).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} by the tenant's admin");
    }

    // Suspended: nothing of the tenant acts, its auditors still read, tenant b is untouched.
    let v = entitle(&s, &op, json!({"status": "suspended"})).await;
    assert_eq!(v["refusal"], "tenant-suspended", "{v}");
    let (st, body) = act(agent.clone()).await;
    refused(st, &body, "tenant-suspended");
    let (st, body) = s.call("GET", "/v1/decisions", Some(&agent), None).await;
    refused(st, &body, "tenant-suspended");
    let (st, body) = s
        .call(
            "PUT",
            "/v1/registry/mcp-servers/gh",
            Some(&admin),
            Some(json!({"trust_tier": "trusted", "owner": "a"})),
        )
        .await;
    refused(st, &body, "tenant-suspended");
    let (st, body) = s
        .call("POST", "/v1/approvals/expire", Some(&auditor), None)
        .await;
    refused(st, &body, "tenant-suspended");
    let (st, list) = s.call("GET", "/v1/decisions", Some(&auditor), None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (st, head) = s
        .call("GET", "/v1/evidence/head", Some(&auditor), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{head}");
    let (st, d) = act(agent_b.clone()).await;
    assert_eq!(st, StatusCode::OK, "another tenant acts: {d}");

    // Expired: by its expiry passing, or set so.
    entitle(
        &s,
        &op,
        json!({"status": "active", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let (st, body) = act(agent.clone()).await;
    refused(st, &body, "tenant-expired");
    entitle(&s, &op, json!({"status": "expired"})).await;
    let (st, body) = act(agent.clone()).await;
    refused(st, &body, "tenant-expired");
    let v = entitle(
        &s,
        &op,
        json!({"status": "active", "expires_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(v["in_force"], "active", "{v}");
    let (st, d) = act(agent.clone()).await;
    assert_eq!(st, StatusCode::OK, "active again: {d}");

    // What cannot be stored is refused, and the operator tenant cannot lock itself out.
    for (path, body, want) in [
        (
            ENTITLEMENT,
            json!({"status": "active", "features": ["teleport"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ENTITLEMENT,
            json!({"status": "active", "limits": {"agent": 1}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ENTITLEMENT,
            json!({"status": "active", "expires_at": "soon"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ENTITLEMENT,
            json!({"status": "paused"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ENTITLEMENT,
            json!({"status": "active", "quota": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/tenants/operator/entitlement",
            json!({"status": "suspended"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/tenants/nobody/entitlement",
            json!({"status": "active"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (st, v) = s.call("PUT", path, Some(&op), Some(body.clone())).await;
        assert_eq!(st, want, "{body}: {v}");
    }

    // Features gate their routes.
    let break_glass = || {
        s.call(
            "POST",
            "/v1/approvals/apr-x/break-glass",
            Some(&approver),
            Some(json!({"reason": "prod down"})),
        )
    };
    entitle(&s, &op, json!({"status": "active", "features": []})).await;
    let (st, body) = break_glass().await;
    refused(st, &body, "feature-not-entitled");
    let (st, body) = s
        .call("GET", "/v1/evidence/bundle", Some(&auditor), None)
        .await;
    refused(st, &body, "feature-not-entitled");
    entitle(
        &s,
        &op,
        json!({"status": "active", "features": ["evidence_bundle"]}),
    )
    .await;
    let (st, body) = break_glass().await;
    refused(st, &body, "feature-not-entitled");
    let resp = s
        .http
        .get(format!("{}/v1/evidence/bundle", s.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("bundle");
    assert_eq!(resp.status(), StatusCode::OK, "entitled to bundles");

    // Limits refuse creating beyond them; replacing a record is not creating one.
    entitle(
        &s,
        &op,
        json!({"status": "active", "limits": {"mcp_servers": 1, "policy_packs": 0}}),
    )
    .await;
    let server = json!({"trust_tier": "trusted", "owner": "a", "approval_state": "approved", "allowed_tools": ["search"]});
    for (name, ok) in [("gh", true), ("gh", true), ("jira", false)] {
        let (st, body) = s
            .call(
                "PUT",
                &format!("/v1/registry/mcp-servers/{name}"),
                Some(&admin),
                Some(server.clone()),
            )
            .await;
        if ok {
            assert_eq!(st, StatusCode::OK, "{name}: {body}");
        } else {
            refused(st, &body, "limit-reached");
        }
    }
    let pack = "metadata:\n  id: a-pack\n  title: A\n  description: A's pack\n  version: '1'\n  inherits: [cavra-baseline]\n";
    let (st, body) = s
        .call(
            "POST",
            "/v1/policies",
            Some(&admin),
            Some(json!({"document": pack})),
        )
        .await;
    refused(st, &body, "limit-reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_on_sqlite() {
    scenario(common::sqlite_server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_on_postgres() {
    let Some(s) = common::postgres_with(|_| {}).await else {
        return;
    };
    scenario(s).await;
}
