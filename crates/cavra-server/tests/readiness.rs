//! The production readiness gate on SQLite and PostgreSQL: each validator finds its blocker
//! (and only the tenant's own), and says nothing once it is gone; `GET /v1/readiness` gives a
//! tenant its own, with the digests of the configuration it checked.

mod common;

use std::sync::Arc;

use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::readiness::{
    self, APPROVALS_PAST_EXPIRY, DEAD_LETTERS, EVIDENCE_VERIFY, HOOK_COVERAGE_FLOOR, KEYS_EXPIRING,
    PACKS_UNSIGNED_ENFORCE, ReadinessConfig,
};
use cavra_tenant_store::Outbox as _;
use cavra_tenant_store::outbox::{AttemptOutcome, AttemptRecord, OutboxEvent, Route};
use common::{Server, decide};
use reqwest::StatusCode;
use serde_json::json;
use time::OffsetDateTime;

fn tenants() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

/// These scenarios are about the other validators: the recorded validations are
/// tests/tenant_validation.rs's.
fn no_validations(c: &mut cavra_server::ServerConfig) {
    c.readiness.require_validations = false;
}

async fn gate(s: &Server, now: OffsetDateTime) -> readiness::Readiness {
    let t = tenants();
    readiness::check(&s.state.db, &readiness::Gate::of_service(&s.state, &t, now))
        .await
        .expect("the gate runs")
}

/// The gate with a hook coverage floor of `floor`.
async fn gate_with_floor(s: &Server, floor: f64) -> readiness::Readiness {
    let t = tenants();
    let settings = ReadinessConfig {
        hook_coverage_floor: floor,
        require_validations: false,
        ..ReadinessConfig::default()
    };
    let mut g = readiness::Gate::of_service(&s.state, &t, OffsetDateTime::now_utc());
    g.settings = &settings;
    readiness::check(&s.state.db, &g)
        .await
        .expect("the gate runs")
}

fn of<'a>(r: &'a readiness::Readiness, validator: &str) -> Vec<&'a readiness::Blocker> {
    r.blockers
        .iter()
        .filter(|b| b.validator == validator)
        .collect()
}

async fn ok(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (st, v) = s.call(method, path, Some(token), Some(body)).await;
    assert!(st.is_success(), "{method} {path}: {st} {v}");
    v
}

/// An unsigned pack with `mode` (none: the default, enforce) assigned to `repo` of tenant a.
async fn assign_unsigned(s: &Server, admin: &str, id: &str, mode: Option<&str>, repo: &str) {
    let mode = mode.map_or(String::new(), |m| format!("  mode: {m}\n"));
    let pack = format!(
        "metadata:\n  id: {id}\n  title: T\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n{mode}"
    );
    let up = ok(s, "POST", "/v1/policies", admin, json!({"document": pack})).await;
    let digest = up["digest"].as_str().expect("digest");
    ok(
        s,
        "PUT",
        "/v1/policy-assignments",
        admin,
        json!({"repository": repo, "pack": digest}),
    )
    .await;
}

/// The new validators: unsigned packs in enforce mode, hook coverage, the log verifying; and
/// the digests following the packs.
async fn more(s: &Server) {
    let admin = s.token("a", "admin", "adm2", &[]).await;
    let before = gate(s, OffsetDateTime::now_utc()).await;
    assert!(of(&before, PACKS_UNSIGNED_ENFORCE).is_empty());
    assert!(
        of(&before, EVIDENCE_VERIFY).is_empty(),
        "{:?}",
        before.blockers
    );
    assert!(
        of(&before, HOOK_COVERAGE_FLOOR).is_empty(),
        "no inventory: nothing to judge"
    );
    for key in [
        "tenant/a/packs",
        "tenant/a/connectors",
        "tenant/b/packs",
        "trust_root",
    ] {
        assert!(
            before.digests[key].starts_with("sha256:"),
            "{key}: {:?}",
            before.digests
        );
    }

    // An unsigned pack in audit_only mode is no blocker; one in enforce mode is, a's alone.
    assign_unsigned(s, &admin, "audit", Some("audit_only"), "org/docs").await;
    let r = gate(s, OffsetDateTime::now_utc()).await;
    assert!(
        of(&r, PACKS_UNSIGNED_ENFORCE).is_empty(),
        "{:?}",
        r.blockers
    );
    assert_ne!(
        r.digests["tenant/a/packs"], before.digests["tenant/a/packs"],
        "a pack change changes the digest"
    );
    assert_eq!(
        r.digests["tenant/b/packs"],
        before.digests["tenant/b/packs"]
    );
    assign_unsigned(s, &admin, "team", None, "org/web").await;
    let r = gate(s, OffsetDateTime::now_utc()).await;
    let unsigned = of(&r, PACKS_UNSIGNED_ENFORCE);
    assert_eq!(unsigned.len(), 1, "{:?}", r.blockers);
    assert_eq!(unsigned[0].tenant.as_deref(), Some("a"));
    assert!(
        unsigned[0].problem.contains("org/web: team (enforce)"),
        "{:?}",
        unsigned[0]
    );
    assert!(unsigned[0].fix.contains("cavra policy sign"));

    // Two agents registered, one seen deciding: 50%, under the default floor of 90%.
    for name in ["claude-code", "codex"] {
        ok(
            s,
            "PUT",
            &format!("/v1/registry/agents/{name}"),
            &admin,
            json!({"kind": name, "owner": "platform"}),
        )
        .await;
    }
    let r = gate(s, OffsetDateTime::now_utc()).await;
    let hooks = of(&r, HOOK_COVERAGE_FLOOR);
    assert_eq!(hooks.len(), 1, "{:?}", r.blockers);
    assert!(
        hooks[0].problem.contains("1 of 2") && hooks[0].problem.contains("codex"),
        "{:?}",
        hooks[0]
    );
    assert!(of(&gate_with_floor(s, 0.5).await, HOOK_COVERAGE_FLOOR).is_empty());

    // The log verifies until an entry is removed behind the service's back.
    assert!(of(&r, EVIDENCE_VERIFY).is_empty(), "{:?}", r.blockers);
    remove_entry(s, "a", 1).await;
    let r = gate(s, OffsetDateTime::now_utc()).await;
    let broken = of(&r, EVIDENCE_VERIFY);
    assert_eq!(broken.len(), 1, "{:?}", r.blockers);
    assert_eq!(broken[0].tenant.as_deref(), Some("a"));
    assert!(
        broken[0].problem.contains("entry 1 is missing"),
        "{:?}",
        broken[0]
    );
}

/// Deletes entry `idx` of `tenant`'s log in the database itself.
async fn remove_entry(s: &Server, tenant: &str, idx: i64) {
    let url = s.state.config.database_url.clone();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let c = rusqlite::Connection::open(path).expect("open");
        let n = c
            .execute(
                "DELETE FROM log_entries WHERE tenant = ?1 AND idx = ?2",
                rusqlite::params![tenant, idx],
            )
            .expect("delete");
        assert_eq!(n, 1);
    } else {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let n = client
            .execute(
                "DELETE FROM log_entries WHERE tenant = $1 AND idx = $2",
                &[&tenant, &idx],
            )
            .await
            .expect("delete");
        assert_eq!(n, 1);
    }
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
        .claim(
            "w1",
            1_000,
            60_000,
            100,
            cavra_store::Timestamp::now(),
            to_x,
        )
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
            at: cavra_store::Timestamp::now(),
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
    assert_eq!(
        clean.validators,
        [
            DEAD_LETTERS,
            APPROVALS_PAST_EXPIRY,
            PACKS_UNSIGNED_ENFORCE,
            EVIDENCE_VERIFY,
            HOOK_COVERAGE_FLOOR
        ]
    );

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
    let (_, v) = s.call("GET", "/v1/readiness", Some(&admin), None).await;
    assert!(v["digests"]["tenant/a/packs"].is_string(), "{v}");
    assert!(
        v["digests"].get("tenant/b/packs").is_none(),
        "only the caller's tenant: {v}"
    );
    more(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_on_sqlite() {
    scenario(common::sqlite_with(no_validations).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_on_postgres() {
    let Some(s) = common::postgres_with(no_validations).await else {
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
