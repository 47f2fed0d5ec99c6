//! Jira polling (`jira.poll`) and one poller per connector across replicas: an approval's
//! issue found in an approving status through a loopback stand-in of the REST v3 search
//! (`labels in (…) AND status in (…)`, the changelog expanded) grants the approval as the
//! account that moved it, recorded `via: poll`; an unmapped account is refused once; and with
//! two services on one PostgreSQL only the lease holder polls a connector, the other taking
//! over once the first stops or dies.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cavra_server::itsm_poll::{Poller, poll, poll_round};
use common::*;
use serde_json::{Value, json};

const JANE: &str = "5b10ac8d82e05b22cc7d4ef5";
const EVE: &str = "eve-unmapped-account";

#[derive(Clone, Default)]
struct Jira {
    issues: Arc<Mutex<Vec<Value>>>,
    searches: Arc<Mutex<Vec<Value>>>,
}

async fn stand_in() -> (String, Jira) {
    let jira = Jira::default();
    let j = jira.clone();
    let app = axum::Router::new().route(
        "/rest/api/3/search/jql",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let j = j.clone();
                async move {
                    assert!(
                        headers.get("authorization").is_some(),
                        "basic authentication"
                    );
                    j.searches.lock().expect("lock").push(body.clone());
                    let jql = body["jql"].as_str().unwrap_or("").to_string();
                    let issues: Vec<Value> = j
                        .issues
                        .lock()
                        .expect("lock")
                        .iter()
                        .filter(|i| {
                            i["fields"]["labels"].as_array().is_some_and(|ls| {
                                ls.iter().any(|l| {
                                    jql.contains(&format!("\"{}\"", l.as_str().unwrap_or("")))
                                })
                            })
                        })
                        .cloned()
                        .collect();
                    axum::Json(json!({"issues": issues, "isLast": true}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), jira)
}

fn issue(key: &str, approval: &str, status: &str, account: &str) -> Value {
    json!({"key": key, "fields": {"labels": ["cavra", format!("cavra-approval:a:{approval}")],
                                   "status": {"name": status}},
           "changelog": {"histories": [
               {"created": "2026-01-01T00:00:00.000+0000", "author": {"accountId": "someone-else"},
                "items": [{"field": "status", "toString": "In Review"}]},
               {"created": "2026-01-01T00:01:00.000+0000", "author": {"accountId": account},
                "items": [{"field": "status", "toString": status}]}]}})
}

fn configure(cfg: &mut cavra_server::ServerConfig, dir: &std::path::Path, base: &str) {
    let yaml = format!(
        "
- name: tickets
  tenant: a
  events: [approval.requested]
  jira:
    base_url: {base}
    user: cavra@acme.example
    api_token: {token}
    project: SEC
    poll: {{interval_seconds: 1, max_backoff_seconds: 4}}
    approvers:
      {JANE}: {{subject: jane, groups: [Cloud Security]}}
",
        token = secret_file(dir, "jira-token", "api-token"),
    );
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

async fn pending(s: &Server, session: &str) -> String {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let target = format!("terraform import {session} b");
    let d = s
        .decision(&agent, decide("execute_command", &target, session))
        .await;
    d["approval"]["id"]
        .as_str()
        .expect("an approval")
        .to_string()
}

async fn state_of(s: &Server, id: &str) -> String {
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let (_, a) = s
        .call("GET", &format!("/v1/approvals/{id}"), Some(&auditor), None)
        .await;
    a["state"].as_str().unwrap_or("").to_string()
}

async fn grants_by_polling(s: Server, jira: Jira) {
    let pollers = Poller::all(&s.state.config.connectors).expect("pollers");
    assert_eq!(pollers.len(), 1);
    let p = &pollers[0];
    let granted = pending(&s, "sess-poll-1").await;
    let refused = pending(&s, "sess-poll-2").await;
    jira.issues.lock().expect("lock").extend([
        issue("SEC-1", &granted, "Approved", JANE),
        issue("SEC-2", &refused, "Declined", EVE),
    ]);
    let mut seen = HashSet::new();
    for _ in 0..2 {
        assert!(
            poll_round(&s.state, p, "r1", &mut seen)
                .await
                .expect("a round")
        );
    }
    let searches = jira.searches.lock().expect("lock").clone();
    assert_eq!(searches.len(), 2);
    let jql = searches[0]["jql"].as_str().unwrap_or("");
    assert!(
        jql.starts_with("project = \"SEC\" AND labels in ("),
        "{jql}"
    );
    assert!(
        jql.ends_with("AND status in (\"Approved\", \"Declined\")"),
        "{jql}"
    );
    assert_eq!(searches[0]["expand"], "changelog");
    assert_eq!(state_of(&s, &granted).await, "approved");
    assert_eq!(state_of(&s, &refused).await, "pending");
    let auditor = s.token("a", "auditor", "audit", &[]).await;
    let entries = s.entry_bodies(&auditor, "itsm_update").await;
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            summary(
                e,
                &[
                    "integration",
                    "ticket",
                    "itsm_user",
                    "via",
                    "outcome",
                    "status",
                ],
            )
        })
        .collect();
    // The refused answer is recorded once, though polled twice.
    assert_eq!(
        lines,
        [
            format!("jira SEC-1 {JANE} poll approved Approved"),
            format!("jira SEC-2 {EVE} poll refused Declined"),
        ],
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_polling_grants_as_the_account_that_moved_the_issue_sqlite() {
    let (base, jira) = stand_in().await;
    let s = sqlite_with(|c| {
        let dir = tempfile::tempdir().expect("tmp").keep();
        configure(c, &dir, &base);
    })
    .await;
    grants_by_polling(s, jira).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_polling_grants_as_the_account_that_moved_the_issue_postgres() {
    let (base, jira) = stand_in().await;
    let Some(s) = postgres_with(|c| {
        let dir = tempfile::tempdir().expect("tmp").keep();
        configure(c, &dir, &base);
    })
    .await
    else {
        return;
    };
    grants_by_polling(s, jira).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_poll_a_connector_once() {
    let (base, jira) = stand_in().await;
    let Some(first) = postgres_with(|c| {
        let dir = tempfile::tempdir().expect("tmp").keep();
        configure(c, &dir, &base);
    })
    .await
    else {
        return;
    };
    let second = start(
        first.state.config.clone(),
        tempfile::tempdir().expect("tmp"),
    )
    .await;
    let a = Poller::all(&first.state.config.connectors)
        .expect("pollers")
        .remove(0);
    let b = Poller::all(&second.state.config.connectors)
        .expect("pollers")
        .remove(0);
    let mut seen = HashSet::new();

    // The first replica's poll loop takes the lease (and searches: an approval is pending);
    // the second's rounds find it held.
    pending(&first, "sess-early").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(poll(first.state.clone(), a.clone(), stopped));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while jira.searches.lock().expect("lock").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first replica never polled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        assert!(
            !poll_round(&second.state, &b, "r2", &mut seen)
                .await
                .expect("round"),
            "the lease is held"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Stopping gives the lease up: the second takes over at once, and an approval decided
    // in Jira meanwhile is granted through it.
    stop.send(true).expect("stop");
    task.await.expect("the loop ends");
    let id = pending(&first, "sess-two").await;
    jira.issues
        .lock()
        .expect("lock")
        .push(issue("SEC-7", &id, "Approved", JANE));
    assert!(
        poll_round(&second.state, &b, "r2", &mut seen)
            .await
            .expect("round")
    );
    assert_eq!(state_of(&first, &id).await, "approved");
    // A replica that dies keeps the lease until it runs out (three intervals), then loses it.
    assert!(
        !poll_round(&first.state, &a, "r1", &mut seen)
            .await
            .expect("round")
    );
    tokio::time::sleep(cavra_server::itsm_poll::lease_of(
        std::time::Duration::from_secs(1),
    ))
    .await;
    assert!(
        poll_round(&first.state, &a, "r1", &mut seen)
            .await
            .expect("round")
    );
}
