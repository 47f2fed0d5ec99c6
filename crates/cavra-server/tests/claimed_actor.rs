//! Issue 16.3: the actor comes from the credential. A body `actor` naming someone else is
//! refused, unless the credential is a service account the service's configuration allows to
//! act for others (`act_for_others`) *and* the deciding pack accepts it
//! (`identity.accept_claimed_actor`); then the pack's `when: {actor: …}` conditions see the
//! named actor, and the record keeps the credential's subject as `actor` and the name as
//! `claimed_actor`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ACCEPTING: &str = r#"metadata:
  id: release-desk
  title: Release desk
  description: the release runner acts for the release bot
  version: '1'
identity:
  accept_claimed_actor: true
rules:
  - id: release.bot-pushes
    action: execute_command
    commands: ["make release"]
    when: {actor: [release-bot]}
    decision: allow
defaults:
  execute_command: {decision: block}
"#;

fn release(actor: Option<&str>) -> Value {
    let mut request = json!({"action": "execute_command", "target": "make release",
        "session_id": "sess-rel", "agent_id": "claude-code"});
    if let Some(a) = actor {
        request["actor"] = json!(a);
    }
    json!({ "request": request })
}

async fn use_pack(s: &Server, admin: &str, document: &str) {
    let (st, p) = s
        .call(
            "POST",
            "/v1/policies",
            Some(admin),
            Some(json!({ "document": document })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let (st, v) = s
        .call(
            "PUT",
            "/v1/policy-assignments",
            Some(admin),
            Some(json!({"pack": p["digest"]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_claimed_actor_needs_the_configuration_and_the_packs_consent() {
    let s = sqlite_with(|c| {
        c.act_for_others = vec![cavra_server::config::ActingAccount {
            tenant: "a".into(),
            subject: "release-runner".into(),
        }];
    })
    .await;
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let runner = s.token("a", "agent", "release-runner", &[]).await;
    let other = s.token("a", "agent", "some-agent", &[]).await;
    // The same subject in another tenant is not the configured account.
    let runner_b = s.token("b", "agent", "release-runner", &[]).await;

    // The built-in pack does not accept claimed actors: refused even for the runner.
    let (st, v) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&runner),
            Some(release(Some("release-bot"))),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("accept_claimed_actor"),
        "{v}"
    );

    use_pack(&s, &admin, ACCEPTING).await;
    // The runner acting for the release bot: the bot's rule decides, and the record says who
    // authenticated and whom it claimed to act for.
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&runner),
            Some(release(Some("release-bot"))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["record"]["rule_id"], "release.bot-pushes");
    assert_eq!(d["record"]["actor"], "release-runner");
    assert_eq!(d["record"]["claimed_actor"], "release-bot");
    let index = d["log_index"].as_u64().expect("log index");
    let (_, entries) = s
        .call(
            "GET",
            &format!(
                "/v1/evidence/entries?after={}&limit=1",
                index.saturating_sub(1)
            ),
            Some(&admin),
            None,
        )
        .await;
    let logged = &entries[0]["entry"]["body"]["record"];
    assert_eq!(logged["actor"], "release-runner", "{entries}");
    assert_eq!(logged["claimed_actor"], "release-bot", "{entries}");

    // Without a claim the runner is itself, and the bot's rule does not apply.
    let (st, d) = s
        .call("POST", "/v1/decisions", Some(&runner), Some(release(None)))
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "block", "{d}");
    assert!(d["record"].get("claimed_actor").is_none(), "{d}");

    // Any other credential naming the bot is refused, under the accepting pack too.
    for token in [&other, &runner_b] {
        let (st, v) = s
            .call(
                "POST",
                "/v1/decisions",
                Some(token),
                Some(release(Some("release-bot"))),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
        assert!(
            v["detail"]
                .as_str()
                .unwrap_or("")
                .contains("act_for_others"),
            "{v}"
        );
    }
}

#[test]
fn act_for_others_is_read_strictly_from_the_configuration() {
    let c = cavra_server::ServerConfig::from_yaml(
        "act_for_others:\n  - tenant: a\n    subject: release-runner\n",
        "server.yaml",
    )
    .expect("config");
    assert!(c.may_act_for_others("a", "release-runner"));
    assert!(!c.may_act_for_others("b", "release-runner"));
    let e = cavra_server::ServerConfig::from_yaml(
        "act_for_others:\n  - tenant: a\n    subjects: [x]\n",
        "server.yaml",
    )
    .expect_err("unknown key");
    assert!(e.contains("server.yaml") && e.contains("subjects"), "{e}");
}
