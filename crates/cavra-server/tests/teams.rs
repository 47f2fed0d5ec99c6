//! Issue 20, Microsoft Teams: an approval request reaches a Workflows webhook stand-in on
//! loopback as an Adaptive Card 1.4 linking back to the approval; approvers answer through
//! an outgoing webhook (`@cavra approve apr_…`) whose requests are signed as Teams signs them
//! (`Authorization: HMAC`): a wrong token, a stale or replayed message and a user outside the
//! group are refused, a valid approval is granted, and each is recorded. On SQLite and
//! PostgreSQL.

mod common;

use cavra_connectors::chat::testing::StandIn;
use cavra_connectors::teams::testing::signed_message;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// The outgoing webhook's security token, base64 as Teams shows it.
const TOKEN: &str = "c2VjdXJpdHktdG9rZW4tb2YtdGhlLW91dGdvaW5nLXdlYmhvb2s=";
const CAROL: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const DAVE: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const PATH: &str = "/v1/integrations/teams/messages";

fn configure(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, teams: &StandIn) {
    let yaml = format!(
        "
- name: chat
  tenant: a
  events: [approval.requested, decision.block]
  teams:
    webhook_url: {webhook}
    approval_link: https://cavra.example
    outgoing_secret: {secret}
    approvers:
      {CAROL}: {{subject: carol, groups: [Cloud Security]}}
      {DAVE}: {{subject: dave, groups: [Repository Owners]}}
",
        webhook = secret_file(dir, "webhook", &teams.teams_url()),
        secret = secret_file(dir, "outgoing", TOKEN),
    );
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

fn at(offset_seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_seconds))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time")
}

async fn send(s: &Server, m: (Vec<(&'static str, String)>, String)) -> (StatusCode, Value) {
    s.post_raw(PATH, &m.0, m.1).await
}

async fn check(s: Server, teams: StandIn) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let _stop = s.deliver();

    let retry = decide("execute_command", "terraform import a b", "sess-teams");
    let d = s.decision(&agent, retry.clone()).await;
    let id = d["approval"]["id"].as_str().expect("approval").to_string();
    let cards = teams
        .until(1, |c| {
            c.method == "teams" && c.body.to_string().contains(&id)
        })
        .await;
    assert_eq!(cards.len(), 1, "{:?}", teams.calls());
    assert_eq!(cards[0].refused, None, "{:?}", cards[0]);
    let content = &cards[0].body["attachments"][0]["content"];
    assert_eq!(content["version"], "1.4");
    assert_eq!(
        content["actions"][0]["url"],
        format!("https://cavra.example/v1/approvals/{id}")
    );
    assert!(content["body"].to_string().contains("terraform import a b"));

    let say = |token: &str, msg_id: &str, when: String, user: &str, text: String| {
        signed_message(token, msg_id, &when, user, &text)
    };
    // Another webhook's token.
    let other = "b3RoZXItdG9rZW4=";
    let (st, v) = send(&s, say(other, "m1", at(0), CAROL, format!("approve {id}"))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    // Stale.
    let (st, v) = send(
        &s,
        say(TOKEN, "m2", at(-400), CAROL, format!("approve {id}")),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["detail"].as_str().unwrap_or("").contains("five minutes"),
        "{v}"
    );
    // Outside the group: refused, said in Teams.
    let (st, v) = send(&s, say(TOKEN, "m3", at(0), DAVE, format!("approve {id}"))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "refused", "{v}");
    assert!(
        v["text"].as_str().unwrap_or("").contains("Cloud Security"),
        "{v}"
    );
    // Carol approves.
    let valid = say(TOKEN, "m4", at(0), CAROL, format!("approve {id}"));
    let (st, v) = send(&s, valid.clone()).await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );
    let (st, v) = send(&s, valid).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a replay: {v}");
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    assert_eq!(
        (a["state"].as_str(), a["decided_by"].as_str()),
        (Some("approved"), Some("carol"))
    );

    let v = s.entry_bodies(&auditor, "chat_interaction").await;
    let got: Vec<String> = v
        .iter()
        .map(|b| summary(b, &["why|approver", "outcome"]))
        .collect();
    assert_eq!(
        got,
        [
            "stale refused",
            "dave refused",
            "carol approved",
            "replayed refused"
        ],
        "{v:?}"
    );
    let d = s.decision(&agent, retry.clone()).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let (_, d): (StatusCode, Value) = s
        .call("POST", "/v1/decisions", Some(&agent), Some(retry))
        .await;
    assert_eq!(d["decision"], "require_approval", "once: {d}");
}

#[tokio::test]
async fn teams_cards_link_back_and_outgoing_webhook_answers_are_verified_sqlite() {
    let teams = StandIn::start("unused");
    let dir = tempfile::tempdir().expect("dir");
    let s = sqlite_with(|c| configure(c, dir.path(), &teams)).await;
    check(s, teams).await;
}

#[tokio::test]
async fn teams_cards_link_back_and_outgoing_webhook_answers_are_verified_postgres() {
    let teams = StandIn::start("unused");
    let dir = tempfile::tempdir().expect("dir");
    if let Some(s) = postgres_with(|c| configure(c, dir.path(), &teams)).await {
        check(s, teams).await;
    }
}
