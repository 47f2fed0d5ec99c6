//! The production readiness gate on SQLite and PostgreSQL: each validator finds its blocker
//! (and only the tenant's own), and says nothing once it is gone; `GET /v1/readiness` gives a
//! tenant its own.

mod common;

use std::sync::Arc;

use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::readiness::{self, APPROVALS_PAST_EXPIRY, DEAD_LETTERS, KEYS_EXPIRING};
use cavra_tenant_store::Outbox as _;
use cavra_tenant_store::outbox::{AttemptOutcome, AttemptRecord, OutboxEvent, Route};
use common::{Server, decide};
use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

fn tenants() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

async fn gate(s: &Server, now: OffsetDateTime) -> readiness::Readiness {
    readiness::check(&s.state.db, &tenants(), None, now, 1000)
        .await
        .expect("the gate runs")
}

/// Tenant a's one blocked decision, delivered to connector `x` and given up on.
async fn dead_letter(s: &Server, agent: &str) {
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(agent),
            Some(decide("read_file", ".env", "s1")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let to_x: Route = Arc::new(|_: &OutboxEvent| vec!["x".to_string()]);
    let claim = s
        .state
        .db
        .claim("w1", 1_000, 60_000, 100, &cavra_server::now_text(), to_x)
        .await
        .expect("claim");
    assert!(!claim.deliveries.is_empty(), "the block is an event");
    let attempts = claim
        .deliveries
        .iter()
        .map(|c| AttemptRecord {
            tenant: c.delivery.tenant.clone(),
            event_id: c.delivery.event_id.clone(),
            destination: c.delivery.destination.clone(),
            owner: "w1".into(),
            attempt: 1,
            outcome: AttemptOutcome::Dead,
            at: cavra_server::now_text(),
            status: "connection refused".into(),
            error: Some("refused".into()),
            entry: json!({"delivery": "dead"}),
            follow_up: None,
        })
        .collect();
    s.state
        .db
        .record_attempts(attempts)
        .await
        .expect("attempts");
}

async fn scenario(s: Server) {
    let agent = s.token("a", "agent", "bot", &[]).await;
    let admin = s.token("a", "admin", "adm", &[]).await;
    let now = OffsetDateTime::now_utc();
    let clean = gate(&s, now).await;
    assert!(clean.ready(), "{:?}", clean.blockers);
    assert_eq!(clean.validators, [DEAD_LETTERS, APPROVALS_PAST_EXPIRY]);

    // Dead letters: a's blocker, never b's.
    dead_letter(&s, &agent).await;
    let r = gate(&s, now).await;
    let dead: Vec<_> = r
        .blockers
        .iter()
        .filter(|b| b.validator == DEAD_LETTERS)
        .collect();
    assert_eq!(dead.len(), 1, "{:?}", r.blockers);
    assert_eq!(dead[0].tenant.as_deref(), Some("a"));
    assert!(dead[0].problem.contains("connector x"), "{:?}", dead[0]);
    assert!(dead[0].fix.contains("cavra connector retry"));
    assert!(!r.ready());

    // An approval asked now is not past its expiry now, and is two days later.
    let (st, d) = s
        .call(
            "POST",
            "/v1/decisions",
            Some(&agent),
            Some(decide("execute_command", "make deploy-prod", "s1")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "require_approval", "{d}");
    let overdue = |r: &readiness::Readiness| {
        r.blockers
            .iter()
            .filter(|b| b.validator == APPROVALS_PAST_EXPIRY)
            .map(|b| (b.tenant.clone(), b.count))
            .collect::<Vec<_>>()
    };
    assert!(overdue(&gate(&s, now).await).is_empty());
    let later = gate(&s, now + time::Duration::days(2)).await;
    assert_eq!(overdue(&later), [(Some("a".to_string()), 1)]);

    // Through the API: the caller's tenant only, for admins and auditors.
    let (st, v) = s.call("GET", "/v1/readiness", Some(&admin), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["tenants"], json!(["a"]));
    assert_eq!(v["blockers"][0]["validator"], DEAD_LETTERS, "{v}");
    let b_admin = s.token("b", "admin", "adm-b", &[]).await;
    let (st, v) = s.call("GET", "/v1/readiness", Some(&b_admin), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["blockers"], json!([]), "a's failures are not b's: {v}");
    let (st, _) = s.call("GET", "/v1/readiness", Some(&agent), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_on_sqlite() {
    scenario(common::sqlite_server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_on_postgres() {
    let Some(s) = common::postgres_with(|_| {}).await else {
        return;
    };
    scenario(s).await;
}

#[test]
fn a_key_ending_within_30_days_is_a_blocker() {
    let now = OffsetDateTime::now_utc();
    let key = |id: &str, days: Option<i64>| {
        let k = cavra_evidence::keys::from_seed(&[id.len() as u8; 32]).verifying_key();
        KeyRecord::new(
            id,
            "ops",
            &k,
            now - time::Duration::days(1),
            days.map(|d| now + time::Duration::days(d)),
        )
        .expect("key")
    };
    let mut trust = TrustRoot::default();
    trust.keys.push(key("open", None));
    trust.keys.push(key("far-away", Some(90)));
    assert!(readiness::keys_expiring(&trust, now).is_empty());
    trust.keys.push(key("soon", Some(10)));
    let found = readiness::keys_expiring(&trust, now);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].validator, KEYS_EXPIRING);
    assert!(found[0].problem.contains("soon"), "{found:?}");
}
