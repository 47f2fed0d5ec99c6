//! Issue 20, Jira: an approval request and a block each open an issue through the REST v3
//! API of a stand-in on loopback, which checks the basic authentication and the description
//! in the Atlassian Document Format; a delivery whose answer was lost, retried, finds the
//! issue it made instead of opening another; an approval's issue moved in Jira comes back
//! through the signed webhook (`X-Hub-Signature`): a wrong secret, a stale or replayed call
//! and an unmapped account are refused, another status is ignored, `Approved` grants the
//! approval (recorded with the Jira account and the issue key) and `Declined` denies another.
//! On SQLite and PostgreSQL.

mod common;

use cavra_connectors::jira::testing::{StandIn, check_adf, signed_webhook};
use cavra_connectors::sink::{Outgoing, Sink, Verdict};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const USER: &str = "cavra@acme.example";
const TOKEN: &str = "jira-api-token-of-the-integration";
const SECRET: &str = "jira-webhook-secret";
const JANE: &str = "5b10ac8d82e05b22cc7d4ef5";
const PATH: &str = "/v1/integrations/jira/events";

fn yaml(dir: &std::path::Path, jira: &StandIn, token: &str) -> String {
    format!(
        "
- name: tickets
  tenant: a
  events: [approval.requested, decision.block]
  jira:
    base_url: {base}
    user: {USER}
    api_token: {token}
    project: SEC
    issue_types:
      approval.requested: Approval
      decision.block: Bug
    webhook_secret: {secret}
    approvers:
      {JANE}: {{subject: jane, groups: [Cloud Security]}}
",
        base = jira.base,
        token = secret_file(dir, &format!("token-{}", token.len()), token),
        secret = secret_file(dir, "webhook", SECRET),
    )
}

fn configure(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, jira: &StandIn) {
    cfg.connectors =
        cavra_connectors::ConnectorsConfig::from_yaml(&yaml(dir, jira, TOKEN)).expect("connectors");
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn labels(issue: &Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| l.as_str().expect("label").to_string())
        .collect()
}

async fn call(s: &Server, m: (Vec<(&'static str, String)>, String)) -> (StatusCode, Value) {
    s.post_raw(PATH, &m.0, m.1).await
}

async fn check(s: Server, jira: StandIn) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let _stop = s.deliver();

    let retry = decide("execute_command", "terraform import a b", "sess-jira");
    let d = s.decision(&agent, retry.clone()).await;
    let id = d["approval"]["id"].as_str().expect("approval").to_string();
    let issues = jira.until_issues(1).await;
    assert_eq!(issues.len(), 1, "{:?}", jira.calls());
    let approval_issue = issues[0].clone();
    assert_eq!(approval_issue["key"], "SEC-1");
    assert_eq!(approval_issue["issuetype"]["name"], "Approval");
    assert!(
        labels(&approval_issue).contains(&format!("cavra-approval:a:{id}")),
        "{approval_issue}"
    );
    check_adf(&approval_issue["description"]).expect("the description is ADF");
    assert!(
        approval_issue["description"]
            .to_string()
            .contains("execute_command: terraform import a b"),
        "{approval_issue}"
    );
    let blocked = s
        .decision(&agent, decide("read_file", ".env", "sess-jira"))
        .await;
    assert_eq!(blocked["decision"], "block");
    let issues = jira.until_issues(2).await;
    assert_eq!(issues[1]["issuetype"]["name"], "Bug", "{:?}", issues);
    assert!(
        !labels(&issues[1])
            .iter()
            .any(|l| l.starts_with("cavra-approval:")),
        "a block is no approval"
    );
    assert!(
        jira.calls().iter().all(|c| c.refused.is_none()),
        "{:?}",
        jira.calls()
    );

    // The stand-in's ADF check is a real one: it refuses what Jira refuses.
    for bad in [
        json!({"type": "doc", "version": 2, "content": []}),
        json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}),
        json!({"type": "doc", "version": 1, "content": [{"type": "bulletList", "content": [{"type": "paragraph"}]}]}),
        json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}]}]}),
        json!({"type": "doc", "version": 1, "content": [{"type": "heading", "content": []}]}),
    ] {
        assert!(check_adf(&bad).is_err(), "{bad}");
    }

    // A delivery whose answer is lost after the issue was made, retried and delivered again
    // (an operator's retry): one issue.
    let config = &s.state.config.connectors.0[0];
    let sink = cavra_connectors::jira::Jira::new(config).expect("destination");
    let msg = Outgoing {
        tenant: "a".into(),
        event_id: "evt_retried".into(),
        event_kind: "decision.block".into(),
        destination: "tickets".into(),
        idempotency_key: "0123456789abcdef0123456789abcdef".into(),
        envelope: json!({"id": "evt_retried", "type": "decision.block", "tenant": "a",
            "subject": "dec_x", "text": "first line\nsecond line",
            "data": {"action_type": "read_file", "target": ".env", "reason": "secrets"}}),
    };
    jira.lose_answers(1);
    let lost = sink.send(&msg).await;
    assert_eq!(
        (lost.verdict.clone(), lost.status.as_str()),
        (Verdict::Retry { after_ms: None }, "503"),
        "{lost:?}"
    );
    let found = sink.send(&msg).await;
    assert_eq!(
        (found.verdict.clone(), found.status.as_str()),
        (Verdict::Delivered, "exists SEC-3"),
        "{found:?}"
    );
    let again = sink.send(&msg).await;
    assert_eq!(again.status, "exists SEC-3", "{again:?}");
    let with_key = jira
        .issues()
        .into_iter()
        .filter(|i| labels(i).contains(&"cavra-0123456789abcdef0123456789abcdef".to_string()))
        .count();
    assert_eq!(with_key, 1, "three attempts, one issue");

    // A wrong API token: Jira's 401 is a dead letter, not retried.
    let wrong =
        cavra_connectors::ConnectorsConfig::from_yaml(&yaml(s.dir.path(), &jira, "not-the-token"))
            .expect("config");
    let refused = cavra_connectors::jira::Jira::new(&wrong.0[0])
        .expect("destination")
        .send(&msg)
        .await;
    assert_eq!(
        (refused.verdict, refused.status.as_str()),
        (Verdict::Permanent, "401"),
        "{:?}",
        refused.response
    );

    // The approval's issue moved in Jira.
    let l = labels(&approval_issue);
    let (st, v) = call(
        &s,
        signed_webhook("wrong", now_ms(), "SEC-1", &l, "Open", "Approved", JANE),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let (st, v) = call(
        &s,
        signed_webhook(
            SECRET,
            now_ms() - 400_000,
            "SEC-1",
            &l,
            "Open",
            "Approved",
            JANE,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "stale: {v}");
    let (st, v) = call(
        &s,
        signed_webhook(SECRET, now_ms(), "SEC-1", &l, "Open", "In Progress", JANE),
    )
    .await;
    assert_eq!(
        (st, v["outcome"].as_str(), v["log_index"].as_u64()),
        (StatusCode::OK, Some("ignored"), None),
        "{v}"
    );
    let (st, v) = call(
        &s,
        signed_webhook(
            SECRET,
            now_ms(),
            "SEC-1",
            &l,
            "In Progress",
            "Approved",
            "mallory-id",
        ),
    )
    .await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("refused")),
        "{v}"
    );
    let valid = signed_webhook(
        SECRET,
        now_ms() + 1,
        "SEC-1",
        &l,
        "In Progress",
        "Approved",
        JANE,
    );
    let (st, v) = call(&s, valid.clone()).await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );
    let (st, v) = call(&s, valid).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a replay: {v}");
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    assert_eq!(
        (a["state"].as_str(), a["decided_by"].as_str()),
        (Some("approved"), Some("jane")),
        "{a}"
    );
    assert!(
        a["reason"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("Jira by {JANE}")),
        "{a}"
    );

    let v = s.entry_bodies(&auditor, "itsm_update").await;
    let got: Vec<String> = v
        .iter()
        .map(|b| summary(b, &["integration", "why|itsm_user", "ticket", "outcome"]))
        .collect();
    assert_eq!(
        got,
        [
            "jira stale - refused",
            "jira mallory-id SEC-1 refused",
            &format!("jira {JANE} SEC-1 approved"),
            "jira replayed - refused"
        ],
        "{v:?}"
    );
    let d = s.decision(&agent, retry.clone()).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let d = s.decision(&agent, retry).await;
    assert_eq!(d["decision"], "require_approval", "once: {d}");

    // Declined in Jira: denied in cavra.
    let d = s
        .decision(
            &agent,
            decide("execute_command", "terraform import c d", "sess-jira"),
        )
        .await;
    let other = d["approval"]["id"].as_str().expect("id").to_string();
    // (The retry asked again above: that approval's issue came first.)
    let wanted = format!("cavra-approval:a:{other}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let issue = loop {
        if let Some(i) = jira
            .issues()
            .into_iter()
            .find(|i| labels(i).contains(&wanted))
        {
            break i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no issue for {other}: {:?}",
            jira.issues()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let key = issue["key"].as_str().expect("key");
    let (st, v) = call(
        &s,
        signed_webhook(
            SECRET,
            now_ms(),
            key,
            &labels(&issue),
            "Open",
            "Declined",
            JANE,
        ),
    )
    .await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("denied")),
        "{v}"
    );
}

#[tokio::test]
async fn jira_issues_are_made_once_in_adf_and_their_status_comes_back_sqlite() {
    let jira = StandIn::start("SEC", USER, TOKEN);
    let dir = tempfile::tempdir().expect("dir");
    let s = sqlite_with(|c| configure(c, dir.path(), &jira)).await;
    check(s, jira).await;
}

#[tokio::test]
async fn jira_issues_are_made_once_in_adf_and_their_status_comes_back_postgres() {
    let jira = StandIn::start("SEC", USER, TOKEN);
    let dir = tempfile::tempdir().expect("dir");
    if let Some(s) = postgres_with(|c| configure(c, dir.path(), &jira)).await {
        check(s, jira).await;
    }
}
