//! The service probed as an attacker would (issue 16): break glass, identity, input, limits
//! and resources. Each test names the finding it guards; each failed on the service before
//! the fix.

mod common;

use cavra_tenant_store::Directory;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

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

/// Bad identifiers and oversized fields, the same answer on every backend, nothing written.
async fn bad_input_is_refused_before_the_database(s: &Server) {
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"session_id": "a\u{0}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NUL",
        ),
        (
            json!({"agent_id": "a\u{1}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.agent_id",
        ),
        (
            json!({"repository": "org/r\u{7f}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.repository",
        ),
        (
            json!({"environment": "prod\n"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.environment",
        ),
        (
            json!({"target": "x".repeat(1 << 20)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            json!({"target": "x".repeat(5000)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.target",
        ),
        (
            json!({"session_id": "s".repeat(300)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.session_id",
        ),
        (
            json!({"target": "a\u{0}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NUL",
        ),
    ];
    for (fields, want, names) in cases {
        let mut body = decide("read_file", "src/main.rs", "sess-in");
        for (k, v) in fields.as_object().unwrap() {
            body["request"][k] = v.clone();
        }
        let (st, v) = s
            .call("POST", "/v1/decisions", Some(&agent), Some(body))
            .await;
        assert_eq!(st, want, "{fields:.80}: {v}");
        assert!(
            v["detail"].as_str().unwrap_or_default().contains(names),
            "{v}"
        );
    }
    // MCP arguments: NUL anywhere, a key included.
    let body = json!({"request": {"action": "mcp_tool_call", "target": "github/search", "server": "github",
        "tool": "search", "arguments": {"q\u{0}": "x"}}});
    let (st, v) = s
        .call("POST", "/v1/decisions", Some(&agent), Some(body))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Query values and times.
    for (q, want) in [
        (
            "/v1/decisions?session_id=a%00b",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/evidence/entries?ref_id=a%00b",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // A time that is not one is refused (422 naming the field), wherever a time is
        // taken: never ignored (an empty one included), never a database error.
        (
            "/v1/decisions?since=yesterday",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/decisions?until=", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/v1/decisions?since=2026-01-01T25:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/evidence/entries?until=2026-13-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/evidence/entries?since=",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/evidence/bundle?since=last%20week",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/evidence/bundle?until=2026-02-30T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/decisions?since=2026-01-01T00:00:00%2B02:00",
            StatusCode::OK,
        ),
    ] {
        let (st, v) = s.call("GET", q, Some(&agent), None).await;
        assert_eq!(st, want, "{q}: {v}");
    }
    // Reasons are capped too.
    let approver = s.token("a", "approver", "appr", &["Break Glass"]).await;
    let id = pending_approval(s, &agent).await;
    let (st, v) = s
        .call(
            "POST",
            &format!("/v1/approvals/{id}/deny"),
            Some(&approver),
            Some(json!({"reason": "r".repeat(3000)})),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("reason"), "{v}");
    // Nothing of the refused requests was recorded: only the approval request.
    let (_, list) = s.call("GET", "/v1/decisions", Some(&agent), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // Nothing comes after an index past any the stores keep (not "everything", as a
    // negative 64-bit index would read).
    let (st, v) = s
        .call(
            "GET",
            "/v1/evidence/entries?after=18446744073709551615",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!((st, v), (StatusCode::OK, json!([])));
    let (st, v) = s
        .call("GET", "/v1/evidence/entries", Some(&agent), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!v.as_array().expect("list").is_empty(), "{v}");
}

#[tokio::test]
async fn bad_input_is_refused_alike_on_sqlite() {
    let s = sqlite_server().await;
    bad_input_is_refused_before_the_database(&s).await;
}

#[tokio::test]
async fn bad_input_is_refused_alike_on_postgres() {
    let Some(s) = postgres_with(|_| {}).await else {
        return;
    };
    bad_input_is_refused_before_the_database(&s).await;
}

#[tokio::test]
async fn field_limits_are_configurable() {
    let s = sqlite_with(|c| {
        c.limits.target_bytes = 16;
        c.limits.list_items = 2;
    })
    .await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let (st, v) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("read_file", "src/a-long-path.rs", "s")),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    for _ in 0..3 {
        let (st, v) = s
            .call(
                "POST",
                "/v1/decisions",
                Some(&agent),
                Some(decide("read_file", "src/a.rs", "s")),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let (_, list) = s
        .call("GET", "/v1/decisions?limit=1000", Some(&agent), None)
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
}

#[tokio::test]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let (st, _) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("read_file", "a.rs", "s")),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for entry in std::fs::read_dir(s.dir.path()).expect("dir") {
        let entry = entry.expect("entry");
        let mode = entry.metadata().expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{:?} is {mode:o}", entry.file_name());
    }
}

#[tokio::test]
async fn the_authorization_header_is_read_strictly() {
    let s = sqlite_server().await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let other = s.token("b", "admin", "admin-b", &[]).await;
    let url = format!("{}/v1/decisions", s.base);
    // The scheme name is case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = s
            .http
            .get(&url)
            .header("authorization", format!("{scheme} {agent}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    // Two credentials: neither acts.
    let r = s
        .http
        .get(&url)
        .header("authorization", format!("Bearer {agent}"))
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.expect("json");
    assert!(v["detail"].as_str().unwrap().contains("exactly one"), "{v}");
}

#[tokio::test]
async fn expired_tokens_are_refused_and_listed_as_expired() {
    let s = sqlite_server().await;
    let past = "2020-01-01T00:00:00.000Z".to_string();
    let t = s.token_expiring("a", "agent", "old", &[], Some(past)).await;
    let (st, _) = s.call("GET", "/v1/decisions", Some(&t), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let listed = s.state.db.tokens(Some("a")).await.expect("tokens");
    let old = listed.iter().find(|r| r.subject == "old").expect("listed");
    assert_eq!(old.state(time::OffsetDateTime::now_utc()), "expired");
}

#[tokio::test]
async fn a_requester_acting_on_a_decided_approval_gets_the_state_conflict() {
    let s = sqlite_server().await;
    // One person holding the agent and approver roles (as with OIDC) is modelled by one
    // subject with two tokens.
    let agent = s.token("a", "agent", "dana", &[]).await;
    let dana_approver = s
        .token(
            "a",
            "approver",
            "dana",
            &["Cloud Security", "Repository Owners"],
        )
        .await;
    let approver = s
        .token(
            "a",
            "approver",
            "erin",
            &["Cloud Security", "Repository Owners"],
        )
        .await;
    let id = pending_approval(&s, &agent).await;
    let deny = format!("/v1/approvals/{id}/deny");
    let approve = format!("/v1/approvals/{id}/approve");
    // Pending: the requester cannot decide it.
    let (st, v) = s
        .call(
            "POST",
            &approve,
            Some(&dana_approver),
            Some(json!({"reason": "mine"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s
        .call(
            "POST",
            &deny,
            Some(&approver),
            Some(json!({"reason": "no"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Denied: the requester's approve and expire meet the state, like anyone's.
    let (st, v) = s
        .call(
            "POST",
            &approve,
            Some(&dana_approver),
            Some(json!({"reason": "mine"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = s
        .call(
            "POST",
            &format!("/v1/approvals/{id}/expire"),
            Some(&agent),
            Some(json!({"reason": "withdraw"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
}

#[tokio::test]
async fn rate_limits_per_token_and_per_tenant_answer_429_with_retry_after() {
    let s = sqlite_with(|c| {
        c.rate_limits.per_token_per_second = Some(3.0);
        c.rate_limits.per_tenant_per_second = Some(5.0);
    })
    .await;
    let one = s.token("a", "auditor", "one", &[]).await;
    let two = s.token("a", "auditor", "two", &[]).await;
    let other_tenant = s.token("b", "auditor", "three", &[]).await;
    let get = |t: String| {
        let http = s.http.clone();
        let url = format!("{}/v1/decisions", s.base);
        async move { http.get(url).bearer_auth(t).send().await.expect("send") }
    };
    for _ in 0..3 {
        assert_eq!(get(one.clone()).await.status(), StatusCode::OK);
    }
    let r = get(one.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another token of the tenant has its own allowance, until the tenant's is used up.
    assert_eq!(get(two.clone()).await.status(), StatusCode::OK);
    assert_eq!(get(two.clone()).await.status(), StatusCode::OK);
    let r = get(two.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Another tenant is not affected.
    assert_eq!(get(other_tenant).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_rate_limits_nothing_is_throttled() {
    let s = sqlite_server().await;
    let t = s.token("a", "auditor", "one", &[]).await;
    for _ in 0..50 {
        let (st, v) = s.call("GET", "/v1/decisions?limit=1", Some(&t), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
}

/// Opens a connection that sends half a request head and then nothing.
async fn half_sent(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    c.write_all(b"GET /v1/decisions HTTP/1.1\r\nHost: x\r\nAuthorization: Bear")
        .await
        .expect("write");
    c
}

#[tokio::test]
async fn slow_peers_are_cut_off_and_cannot_hold_more_than_the_connection_cap() {
    use tokio::io::AsyncReadExt as _;
    let s = sqlite_with(|c| {
        c.connections.header_read_timeout_seconds = 1;
        c.connections.max_connections = 8;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        slow.push(half_sent(s.addr).await);
    }
    // The cap is reached: a well-behaved client waits in the backlog, and is served once the
    // header timeout has closed the slow peers.
    let started = std::time::Instant::now();
    let (st, _) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    for mut c in slow {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("the service closes a slow peer")
            .unwrap_or(0);
        // Closed, with at most a 408 head before the close.
        if n > 0 {
            assert!(
                String::from_utf8_lossy(&buf[..n]).contains("408"),
                "{:?}",
                &buf[..n]
            );
        }
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let s = sqlite_with(|c| c.connections.body_read_timeout_seconds = 1).await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let mut c = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/decisions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"request\":"
    );
    c.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// Proofs from the subtree cache verify against the checkpoint they come with, as the log
/// grows past cached subtrees.
async fn cached_proofs_verify(s: &Server) {
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let mut written = 0;
    for round in [70usize, 200] {
        while written < round {
            let (st, v) = s
                .call(
                    "POST",
                    "/v1/decisions",
                    Some(&agent),
                    Some(decide("read_file", &format!("f{written}"), "s")),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            written += 1;
        }
        for index in [0u64, 3, 63, 64, 69, (round - 1) as u64] {
            let (st, proof) = s
                .call(
                    "GET",
                    &format!("/v1/evidence/entries/{index}/proof"),
                    Some(&agent),
                    None,
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{proof}");
            let env =
                cavra_evidence::dsse::Envelope::from_json(proof["checkpoint"].as_str().unwrap())
                    .unwrap();
            let payload: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
            let root: [u8; 32] = hex::decode(payload["root_hash"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let leaf =
                cavra_evidence::merkle::leaf_hash(proof["entry"].as_str().unwrap().as_bytes());
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
            cavra_evidence::merkle::verify_inclusion(&leaf, index, size, &hashes, &root)
                .unwrap_or_else(|e| panic!("index {index} of {size}: {e}"));
        }
    }
}

#[tokio::test]
async fn proofs_from_the_subtree_cache_verify_on_sqlite() {
    cached_proofs_verify(&sqlite_server().await).await;
}

#[tokio::test]
async fn proofs_from_the_subtree_cache_verify_on_postgres() {
    let Some(s) = postgres_with(|_| {}).await else {
        return;
    };
    cached_proofs_verify(&s).await;
}
