//! The same generated requests sent to a service on SQLite and one on PostgreSQL must get
//! the same status codes (issue 16: a NUL byte was 422-or-200 on SQLite and 503 on
//! PostgreSQL). Runs when `CAVRA_TEST_POSTGRES_URL` is set, as CI does.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Text an attacker might send: ordinary, control characters, NULs, long, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9/._-]{1,24}",
        "\\PC{0,16}",
        "[\\x00-\\x1f\\x7f]{1,4}[a-z]{0,4}",
        "[a-z]{0,4}\\x00[a-z]{0,4}",
        (1usize..3).prop_map(|n| "x".repeat(n * 3000)),
        "[\u{80}-\u{10ffff}]{1,8}",
    ]
}

/// A decision body with one generated field (or a generated MCP argument).
fn body() -> impl Strategy<Value = (String, Value)> {
    let field = prop_oneof![
        Just("target"),
        Just("session_id"),
        Just("agent_id"),
        Just("repository"),
        Just("environment"),
        Just("branch"),
        Just("correlation_id"),
        Just("cwd"),
        Just("arguments"),
    ];
    (field, text(), "[a-z_]{1,8}").prop_map(|(field, value, action_pick)| {
        let action = match action_pick.len() % 3 {
            0 => "read_file",
            1 => "execute_command",
            _ => "mcp_tool_call",
        };
        let mut b = json!({"request": {"action": action, "target": "src/main.rs",
            "server": "github", "tool": "search", "session_id": "s-prop"}});
        if field == "arguments" {
            b["request"]["arguments"] = json!({ value.clone(): value });
        } else {
            b["request"][field] = json!(value);
        }
        (format!("{field}={value:.40?}"), b)
    })
}

#[test]
fn sqlite_and_postgres_answer_generated_requests_alike() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some((lite, pg, lite_token, pg_token)) = rt.block_on(async {
        let pg = postgres_with(|_| {}).await?;
        let lite = sqlite_server().await;
        let lt = lite.token("a", "agent", "agent-a", &[]).await;
        let pt = pg.token("a", "agent", "agent-a", &[]).await;
        Some((lite, pg, lt, pt))
    }) else {
        return;
    };
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    runner
        .run(&body(), |(what, b)| {
            let (a, b2) = rt.block_on(async {
                let a = lite
                    .call("POST", "/v1/decisions", Some(&lite_token), Some(b.clone()))
                    .await;
                let p = pg
                    .call("POST", "/v1/decisions", Some(&pg_token), Some(b.clone()))
                    .await;
                (a, p)
            });
            prop_assert_eq!(a.0, b2.0, "{}: sqlite {} / postgres {}", what, a.1, b2.1);
            prop_assert!(!a.0.is_server_error(), "{}: {}", what, a.1);
            Ok(())
        })
        .expect("both backends answer alike");
    // Query values too.
    for q in ["a%00b", "%01", "%C3%A9t%C3%A9", "x%7F"] {
        let (a, p) = rt.block_on(async {
            let path = format!("/v1/decisions?session_id={q}");
            (
                lite.call("GET", &path, Some(&lite_token), None).await,
                pg.call("GET", &path, Some(&pg_token), None).await,
            )
        });
        assert_eq!(a.0, p.0, "{q}: {} / {}", a.1, p.1);
    }
}
