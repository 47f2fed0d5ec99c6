//! Issue 20, ServiceNow: an approval request opens a change request and a block an incident
//! through the Table API of a stand-in on loopback; a retried delivery finds the ticket the
//! first made instead of opening another; the change request's approval comes back signed
//! (`X-Cavra-Signature`): a wrong secret, a stale or replayed update and an unmapped user are
//! refused, `approved` grants the approval (recorded with the ServiceNow user and the ticket)
//! and `rejected` denies another. On SQLite and PostgreSQL.

mod common;

use cavra_connectors::chat::testing::StandIn;
use cavra_connectors::servicenow::testing::signed_update;
use cavra_connectors::sink::{Outgoing, Sink};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "sn-integration-password";
const SECRET: &str = "sn-webhook-secret";
const PATH: &str = "/v1/integrations/servicenow/events";

fn configure(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, sn: &StandIn) {
    let yaml = format!(
        "
- name: itsm
  tenant: a
  events: [approval.requested, decision.block]
  servicenow:
    instance_url: {base}
    user: cavra
    password: {password}
    webhook_secret: {secret}
    approvers:
      jane.doe: {{subject: jane, groups: [Cloud Security]}}
",
        base = sn.base,
        password = secret_file(dir, "password", PASSWORD),
        secret = secret_file(dir, "webhook", SECRET),
    );
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

async fn update(s: &Server, m: (Vec<(&'static str, String)>, String)) -> (StatusCode, Value) {
    s.post_raw(PATH, &m.0, m.1).await
}

async fn check(s: Server, sn: StandIn) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let _stop = s.deliver();

    let retry = decide("execute_command", "terraform import a b", "sess-sn");
    let d = s.decision(&agent, retry.clone()).await;
    let id = d["approval"]["id"].as_str().expect("approval").to_string();
    let created = sn
        .until(1, |c| c.method == "servicenow.post change_request")
        .await;
    assert_eq!(created.len(), 1, "{:?}", sn.calls());
    assert_eq!(created[0].refused, None, "{:?}", created[0]);
    assert_eq!(created[0].body["correlation_display"], format!("a:{id}"));
    assert!(
        created[0].body["description"]
            .to_string()
            .contains("terraform import a b")
    );
    let blocked = s
        .decision(&agent, decide("read_file", ".env", "sess-sn"))
        .await;
    assert_eq!(blocked["decision"], "block");
    let incident = sn
        .until(1, |c| c.method == "servicenow.post incident")
        .await;
    assert_eq!(incident.len(), 1, "{:?}", sn.calls());

    // A retried delivery (the same event, the same key) finds its ticket: never two.
    let sink = cavra_connectors::servicenow::ServiceNow::new(&s.state.config.connectors.0[0])
        .expect("destination");
    let msg = Outgoing {
        tenant: "a".into(),
        event_id: "evt_retried".into(),
        event_kind: "approval.requested".into(),
        destination: "itsm".into(),
        idempotency_key: "key-of-a-retried-delivery".into(),
        envelope: json!({"id": "evt_retried", "type": "approval.requested", "tenant": "a",
            "subject": "apr_x", "data": {"summary": "x"}}),
    };
    let first = sink.send(&msg).await;
    let second = sink.send(&msg).await;
    assert!(first.status.starts_with("created CHG"), "{first:?}");
    assert_eq!(
        second.status,
        first.status.replace("created", "exists"),
        "{second:?}"
    );
    let posts = sn
        .calls()
        .into_iter()
        .filter(|c| c.method == "servicenow.post change_request");
    assert_eq!(
        posts.count(),
        2,
        "one for the approval, one for the retried event"
    );

    // The stand-in numbers tickets in order: the approval's change request is the first.
    let number = "CHG0000001";
    let (st, v) = update(
        &s,
        signed_update("wrong", now(), "a", &id, number, "approved", "jane.doe"),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let (st, v) = update(
        &s,
        signed_update(
            SECRET,
            now() - 400,
            "a",
            &id,
            number,
            "approved",
            "jane.doe",
        ),
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let (st, v) = update(
        &s,
        signed_update(SECRET, now(), "a", &id, number, "approved", "mallory"),
    )
    .await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("refused")),
        "{v}"
    );
    let valid = signed_update(SECRET, now(), "a", &id, number, "approved", "jane.doe");
    let (st, v) = update(&s, valid.clone()).await;
    assert_eq!(
        (st, v["outcome"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{v}"
    );
    let (st, v) = update(&s, valid).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a replay: {v}");
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    assert_eq!(
        (a["state"].as_str(), a["decided_by"].as_str()),
        (Some("approved"), Some("jane"))
    );
    assert!(
        a["reason"]
            .as_str()
            .unwrap_or("")
            .contains("ServiceNow by jane.doe"),
        "{a}"
    );

    let v = s.entry_bodies(&auditor, "itsm_update").await;
    let got: Vec<String> = v
        .iter()
        .map(|b| summary(b, &["why|itsm_user", "ticket", "outcome"]))
        .collect();
    assert_eq!(
        got,
        [
            "stale - refused",
            "mallory CHG0000001 refused",
            "jane.doe CHG0000001 approved",
            "replayed - refused"
        ],
        "{v:?}"
    );
    let d = s.decision(&agent, retry.clone()).await;
    assert_eq!(d["decision"], "allow", "{d}");
    let d = s.decision(&agent, retry).await;
    assert_eq!(d["decision"], "require_approval", "once: {d}");

    // Rejected in ServiceNow: denied in cavra.
    let d = s
        .decision(
            &agent,
            decide("execute_command", "terraform import c d", "sess-sn"),
        )
        .await;
    let other = d["approval"]["id"].as_str().expect("id").to_string();
    let (st, v) = update(
        &s,
        signed_update(
            SECRET,
            now(),
            "a",
            &other,
            "CHG0000003",
            "rejected",
            "jane.doe",
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
async fn servicenow_tickets_are_made_once_and_their_approval_comes_back_sqlite() {
    let sn = StandIn::start(PASSWORD);
    let dir = tempfile::tempdir().expect("dir");
    let s = sqlite_with(|c| configure(c, dir.path(), &sn)).await;
    check(s, sn).await;
}

#[tokio::test]
async fn servicenow_tickets_are_made_once_and_their_approval_comes_back_postgres() {
    let sn = StandIn::start(PASSWORD);
    let dir = tempfile::tempdir().expect("dir");
    if let Some(s) = postgres_with(|c| configure(c, dir.path(), &sn)).await {
        check(s, sn).await;
    }
}

/// Polling instead of the webhook: the change request's approval set on the instance is
/// read by the service's poll (after two failed reads, backing off) and grants the approval;
/// a rejection by an unmapped user is recorded once however often it is polled, then the
/// same rejection by a mapped user denies.
async fn check_polling(s: Server, sn: StandIn) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let _stop = s.deliver();
    let (stop_polls, polls_stopped) = tokio::sync::watch::channel(false);
    assert_eq!(
        cavra_server::start_itsm_polling(&s.state, polls_stopped).expect("pollers"),
        1
    );

    let retry = decide("execute_command", "terraform import a b", "sess-poll");
    let d = s.decision(&agent, retry.clone()).await;
    let id = d["approval"]["id"].as_str().expect("approval").to_string();
    let created = sn
        .until(1, |c| c.method == "servicenow.post change_request")
        .await;
    assert_eq!(created.len(), 1, "{:?}", sn.calls());
    sn.fail_reads(2);
    assert!(sn.set_ticket(
        "CHG0000001",
        json!({"approval": "approved", "sys_updated_by": "jane.doe"})
    ));
    let state = |id: String| {
        let (s, auditor) = (&s, &auditor);
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let (_, a) = s
                    .call("GET", &format!("/v1/approvals/{id}"), Some(auditor), None)
                    .await;
                if a["state"] != "pending" || std::time::Instant::now() > deadline {
                    return a;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let a = state(id.clone()).await;
    assert_eq!(
        (a["state"].as_str(), a["decided_by"].as_str()),
        (Some("approved"), Some("jane")),
        "{a}"
    );
    let reads: Vec<Option<String>> = sn
        .calls()
        .into_iter()
        .filter(|c| c.method == "servicenow.get change_request")
        .map(|c| c.refused)
        .collect();
    assert!(
        reads.iter().filter(|r| r.is_some()).count() == 2 && reads.last() == Some(&None),
        "two failed reads, then one that answered: {reads:?}"
    );
    let d = s.decision(&agent, retry.clone()).await;
    assert_eq!(d["decision"], "allow", "{d}");

    let d = s
        .decision(
            &agent,
            decide("execute_command", "terraform import c d", "sess-poll"),
        )
        .await;
    let other = d["approval"]["id"].as_str().expect("id").to_string();
    let created = sn
        .until(2, |c| c.method == "servicenow.post change_request")
        .await;
    assert_eq!(created.len(), 2);
    assert!(sn.set_ticket(
        "CHG0000002",
        json!({"approval": "rejected", "sys_updated_by": "mallory"})
    ));
    // Three polls at least (one a second) see it.
    let is_read =
        |c: &cavra_connectors::chat::testing::Call| c.method == "servicenow.get change_request";
    let before = sn.calls().into_iter().filter(is_read).count();
    let seen = sn.until(before + 3, is_read).await.len();
    assert!(seen >= before + 3, "three more polls");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(sn.set_ticket("CHG0000002", json!({"sys_updated_by": "jane.doe"})));
    let a = state(other.clone()).await;
    assert_eq!(a["state"], "denied", "{a}");

    // The answer's entry follows the approval's change (two writes): wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (v, got) = loop {
        let v = s.entry_bodies(&auditor, "itsm_update").await;
        let got: Vec<String> = v
            .iter()
            .map(|b| summary(b, &["via", "itsm_user", "ticket", "outcome"]))
            .collect();
        if got.len() >= 3 || std::time::Instant::now() > deadline {
            break (v, got);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        got,
        [
            "poll jane.doe CHG0000001 approved",
            "poll mallory CHG0000002 refused",
            "poll jane.doe CHG0000002 denied",
        ],
        "{v:?}"
    );
    let _ = stop_polls.send(true);
}

fn configure_polling(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, sn: &StandIn) {
    let yaml = format!(
        "
- name: itsm
  tenant: a
  events: [approval.requested]
  servicenow:
    instance_url: {base}
    user: cavra
    password: {password}
    poll: {{interval_seconds: 1, max_backoff_seconds: 2}}
    approvers:
      jane.doe: {{subject: jane, groups: [Cloud Security]}}
",
        base = sn.base,
        password = secret_file(dir, "password", PASSWORD),
    );
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

#[tokio::test]
async fn servicenow_polling_grants_and_denies_with_backoff_sqlite() {
    let sn = StandIn::start(PASSWORD);
    let dir = tempfile::tempdir().expect("dir");
    let s = sqlite_with(|c| configure_polling(c, dir.path(), &sn)).await;
    check_polling(s, sn).await;
}

#[tokio::test]
async fn servicenow_polling_grants_and_denies_with_backoff_postgres() {
    let sn = StandIn::start(PASSWORD);
    let dir = tempfile::tempdir().expect("dir");
    if let Some(s) = postgres_with(|c| configure_polling(c, dir.path(), &sn)).await {
        check_polling(s, sn).await;
    }
}
