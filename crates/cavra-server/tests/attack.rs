//! The service probed as an attacker would (issue 16): break glass, identity, input, limits
//! and resources. Each test names the finding it guards; each failed on the service before
//! the fix.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// An agent's request that the baseline pack routes for approval; returns the approval id.
async fn pending_approval(s: &Server, agent: &str) -> String {
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(agent),
            Some(decide("execute_command", "make deploy-prod", "sess-bg")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "require_approval", "{d}");
    d["approval"]["id"]
        .as_str()
        .expect("approval id")
        .to_string()
}

#[tokio::test]
async fn break_glass_needs_the_approver_role_as_well_as_the_group() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let id = pending_approval(&s, &agent).await;
    let path = format!("/v1/approvals/{id}/break-glass");
    let body = json!({"reason": "INC-1 outage", "minutes": 5});
    for role in ["auditor", "agent"] {
        let t = s
            .token("a", role, &format!("{role}-bg"), &["Break Glass"])
            .await;
        let (st, v) = s.call("POST", &path, Some(&t), Some(body.clone())).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{role}: {v}");
    }
    // The role without the group is not enough either.
    let approver = s
        .token("a", "approver", "approver-x", &["Repository Owners"])
        .await;
    let (st, v) = s
        .call("POST", &path, Some(&approver), Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    // Nothing changed.
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&agent), None)
        .await;
    assert_eq!(a["state"], "pending", "{a}");

    // Time-boxed: over the configured maximum is refused.
    let breaker = s.token("a", "approver", "breaker", &["Break Glass"]).await;
    let (st, v) = s
        .call(
            "POST",
            &path,
            Some(&breaker),
            Some(json!({"reason": "INC-1", "minutes": 61})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = s.call("POST", &path, Some(&breaker), Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "break_glass", "{v}");
    assert_eq!(v["decided_by"], "breaker", "{v}");

    // Recorded in the tenant's evidence log, with who and why.
    let (st, entries) = s
        .call(
            "GET",
            &format!("/v1/evidence/entries?ref_id={id}"),
            Some(&breaker),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{entries}");
    let text = entries.to_string();
    assert!(text.contains("BREAK GLASS: INC-1 outage"), "{text}");
    assert!(text.contains("breaker"), "{text}");
}

#[tokio::test]
async fn break_glass_inside_a_request_needs_the_role_as_well_as_the_group() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-bg", &["Break Glass"]).await;
    let mut body = decide("execute_command", "make deploy-prod", "sess-bg");
    body["request"]["break_glass_reason"] = json!("INC-2");
    let (st, v) = s
        .call("POST", "/v1/decisions", Some(&agent), Some(body))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
}

#[tokio::test]
async fn the_actor_is_the_credentials_subject_never_a_name_in_the_body() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let mut body = decide("read_file", "src/main.rs", "sess-id");
    body["request"]["actor"] = json!("release-bot");
    let (st, v) = s
        .call("POST", "/v1/decisions", Some(&agent), Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (_, list) = s.call("GET", "/v1/decisions", Some(&agent), None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(0),
        "nothing recorded: {list}"
    );

    // Without an actor, or naming itself, the record says the credential's subject.
    for actor in [None, Some("agent-a")] {
        let mut body = decide("read_file", "src/main.rs", "sess-id");
        if let Some(a) = actor {
            body["request"]["actor"] = json!(a);
        }
        let (st, v) = s
            .call("POST", "/v1/decisions", Some(&agent), Some(body))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["record"]["actor"], "agent-a", "{v}");
    }
}
