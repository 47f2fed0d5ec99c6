//! Issue 20, Slack: an approval request reaches a Slack stand-in on loopback as Block Kit with
//! Approve and Deny buttons, blocks go to the tenant's alerts channel, and button presses
//! signed as Slack signs them come back to `/v1/integrations/slack/interactions`: valid,
//! stale, replayed, wrong secret, unknown user, self-approval and a user outside the group,
//! each answered as it should be and recorded; the approved action is then allowed once.
//! On SQLite and PostgreSQL.

mod common;

use cavra_connectors::slack::testing::{StandIn, signed_press};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-test-0000-cavra";
const PATH: &str = "/v1/integrations/slack/interactions";

/// The connector of tenant `a`: approvals to C0APPROVALS, blocks to C0ALERTS; Carol approves
/// for Cloud Security, Dave for Repository Owners, and `bot` (the agent's own subject) is
/// mapped too, to show it still cannot approve its own request.
fn configure(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, slack: &StandIn) {
    let yaml = format!(
        "
- name: chat
  tenant: a
  events: [approval.requested, decision.block]
  slack:
    api_url: {api}
    bot_token: {token}
    channel: C0APPROVALS
    alerts_channel: C0ALERTS
    signing_secret: {secret}
    approvers:
      U0CAROL: {{subject: carol, groups: [Cloud Security]}}
      U0DAVE: {{subject: dave, groups: [Repository Owners]}}
      U0BOT: {{subject: bot, groups: [Cloud Security]}}
",
        api = slack.api_url(),
        token = secret_file(dir, "bot-token", BOT_TOKEN),
        secret = secret_file(dir, "signing-secret", SECRET),
    );
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

async fn press(
    s: &Server,
    slack: &StandIn,
    secret: &str,
    at: i64,
    approval: &str,
    user: &str,
    approve: bool,
) -> (StatusCode, Value, (Vec<(&'static str, String)>, String)) {
    let signed = signed_press(
        secret,
        at,
        "a",
        approval,
        user,
        approve,
        &slack.response_url(user),
    );
    let (st, v) = s.post_raw(PATH, &signed.0, signed.1.clone()).await;
    (st, v, signed)
}

async fn check(s: Server, slack: StandIn) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let _stop = s.deliver();

    // A decision that needs Cloud Security's approval: its request reaches Slack as Block Kit.
    let d = s
        .decision(
            &agent,
            decide("execute_command", "terraform import a b", "sess-slack"),
        )
        .await;
    assert_eq!(d["decision"], "require_approval", "{d}");
    let id = d["approval"]["id"]
        .as_str()
        .expect("approval id")
        .to_string();
    assert_eq!(d["approval"]["approver_group"], "Cloud Security");
    let posted = slack
        .until(1, |c| {
            c.method == "chat.postMessage" && c.body.to_string().contains(&id)
        })
        .await;
    assert_eq!(posted.len(), 1, "{:?}", slack.calls());
    let msg = &posted[0];
    assert_eq!(msg.refused, None, "{:?}", msg);
    assert_eq!(msg.body["channel"], "C0APPROVALS");
    let text = msg.body["blocks"].to_string();
    for shown in [
        "terraform import a b",
        d["record"]["rule_id"].as_str().expect("rule"),
        "sess-slack",
        "Cloud Security",
        "<!date^",
        "cavra_approve",
        "cavra_deny",
        &format!("a:{id}"),
    ] {
        assert!(text.contains(shown), "{shown} not in {text}");
    }

    // A block goes to the alerts channel, without buttons.
    let blocked = s
        .decision(&agent, decide("read_file", ".env", "sess-slack"))
        .await;
    assert_eq!(blocked["decision"], "block", "{blocked}");
    let alert = slack.until(1, |c| c.body["channel"] == "C0ALERTS").await;
    assert_eq!(alert.len(), 1);
    assert!(alert[0].body["blocks"].to_string().contains(".env"));
    assert!(
        !alert[0].body["blocks"]
            .to_string()
            .contains("cavra_approve")
    );

    // Wrong secret: refused, and no tenant's record (no app signed it).
    let (st, v, _) = press(&s, &slack, "not-the-secret", now(), &id, "U0CAROL", true).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("no configured Slack app"),
        "{v}"
    );
    assert!(
        s.entry_bodies(&auditor, "chat_interaction")
            .await
            .is_empty()
    );

    // Stale: signed, six minutes old.
    let (st, v, _) = press(&s, &slack, SECRET, now() - 360, &id, "U0CAROL", true).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["detail"].as_str().unwrap_or("").contains("five minutes"),
        "{v}"
    );

    // Signed and fresh, but refused by the approval rules: an unknown user, the requester
    // (mapped, in the group, still not allowed), a user outside the group.
    for (user, expect) in [
        ("U0MALLORY", "not an approver of tenant a"),
        ("U0BOT", "nobody decides their own request"),
        ("U0DAVE", "only members of `Cloud Security`"),
    ] {
        let (st, v, _) = press(&s, &slack, SECRET, now(), &id, user, true).await;
        assert_eq!(st, StatusCode::OK, "{user}: {v}");
        assert_eq!(v["outcome"], "refused", "{user}: {v}");
        assert!(
            v["detail"].as_str().unwrap_or("").contains(expect),
            "{user}: {v}"
        );
        // The presser is told, only them.
        let told = slack
            .until(1, |c| {
                c.method == "response" && c.body["text"].to_string().contains(expect)
            })
            .await;
        assert_eq!(told.len(), 1, "{user}: {:?}", slack.calls());
        assert_eq!(told[0].body["response_type"], "ephemeral");
    }
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    assert_eq!(a["state"], "pending", "nothing above decided it: {a}");

    // Carol approves: the approval is granted with her identity and the Slack user on
    // record, and the message is updated with the outcome, its buttons gone.
    let (st, v, valid) = press(&s, &slack, SECRET, now(), &id, "U0CAROL", true).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "approved", "{v}");
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    assert_eq!(a["state"], "approved", "{a}");
    assert_eq!(a["decided_by"], "carol", "{a}");
    assert!(
        a["reason"].as_str().unwrap_or("").contains("U0CAROL"),
        "{a}"
    );
    let updated = slack.until(1, |c| c.method == "chat.update").await;
    assert_eq!(updated.len(), 1, "{:?}", slack.calls());
    assert_eq!(updated[0].refused, None, "{:?}", updated[0]);
    assert_eq!(updated[0].body["channel"], "C0APPROVALS");
    let shown = updated[0].body["blocks"].to_string();
    assert!(
        shown.contains("approved") && shown.contains("<@U0CAROL>"),
        "{shown}"
    );
    assert!(!shown.contains("\"actions\""), "{shown}");

    // The same request again: a replay, refused.
    let (st, v) = s.post_raw(PATH, &valid.0, valid.1).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("received before"),
        "{v}"
    );

    // Every signed request is on record, with its outcome.
    let entries = s.entry_bodies(&auditor, "chat_interaction").await;
    let outcomes: Vec<(String, String)> = entries
        .iter()
        .map(|b| {
            let what = b["why"].as_str().or(b["slack_user"].as_str()).unwrap_or("");
            (
                what.to_string(),
                b["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("stale", "refused"),
            ("U0MALLORY", "refused"),
            ("U0BOT", "refused"),
            ("U0DAVE", "refused"),
            ("U0CAROL", "approved"),
            ("replayed", "refused"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{entries:?}"
    );

    // The agent's retry is allowed, once.
    let retry = decide("execute_command", "terraform import a b", "sess-slack");
    let d = s.decision(&agent, retry.clone()).await;
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["approval"]["id"], json!(id), "{d}");
    let d = s.decision(&agent, retry).await;
    assert_eq!(d["decision"], "require_approval", "used up: {d}");

    // Deny: a second request denied from Slack stays denied.
    let d = s
        .decision(
            &agent,
            decide("execute_command", "terraform import c d", "sess-slack"),
        )
        .await;
    let second = d["approval"]["id"].as_str().expect("id").to_string();
    let (st, v, _) = press(&s, &slack, SECRET, now(), &second, "U0CAROL", false).await;
    assert_eq!(
        (st, v["outcome"].clone()),
        (StatusCode::OK, json!("denied")),
        "{v}"
    );
}

#[tokio::test]
async fn slack_presses_are_verified_and_decide_by_the_api_rules_sqlite() {
    let slack = StandIn::start(BOT_TOKEN);
    let secrets = tempfile::tempdir().expect("dir");
    let s = sqlite_with(|c| configure(c, secrets.path(), &slack)).await;
    check(s, slack).await;
}

#[tokio::test]
async fn slack_presses_are_verified_and_decide_by_the_api_rules_postgres() {
    let slack = StandIn::start(BOT_TOKEN);
    let secrets = tempfile::tempdir().expect("dir");
    if let Some(s) = postgres_with(|c| configure(c, secrets.path(), &slack)).await {
        check(s, slack).await;
    }
}
