//! The live tenant isolation validator (`cavra validate tenants`, `cavra_server::validation`)
//! against real services on loopback, SQLite and PostgreSQL (two replicas on one database):
//! the five proofs hold in both directions, each tenant gets a signed report that verifies
//! offline and is recorded in its log, the gate's `tenants.isolation_validation` then clears
//! (and `runtime.validation` with a runtime report), a tenant without a failing connector or
//! without a recipient fails the proof by name, a tampered report does not verify, and
//! `trust_root.drift` finds a replica's other trust root.

mod common;

use std::path::Path;
use std::time::Duration;

use cavra_evidence::keys::{SigningKey, from_seed};
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_server::ServerConfig;
use cavra_server::readiness::{self, ISOLATION_VALIDATION, RUNTIME_VALIDATION, TRUST_ROOT_DRIFT};
use cavra_server::validation::{self, Config, Credentials, Signer, report};
use common::Server;
use serde_json::json;
use time::OffsetDateTime;

fn key(seed: u8) -> SigningKey {
    from_seed(&[seed; 32])
}

fn trust(seed: u8) -> TrustRoot {
    let mut t = TrustRoot::default();
    let since = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
    t.add(KeyRecord::new("ops", "ops", &key(seed).verifying_key(), since, None).expect("record"))
        .expect("add");
    t
}

/// A recipient that accepts everything: the tenants' working report recipients.
async fn sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async { "ok" });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Tenant a and b each get a recipient (`<t>-lake`) and, when `failing` names them, a
/// connector to a closed port that dead-letters at once (`<t>-broken`).
fn configure(cfg: &mut ServerConfig, dir: &Path, sink: &str, failing: &[&str]) {
    let root = dir.join("trust.json");
    std::fs::write(&root, trust(1).to_json()).expect("trust");
    cfg.trust_root = Some(root);
    let mut yaml = String::new();
    for t in ["a", "b"] {
        yaml.push_str(&format!(
            "- name: {t}-lake\n  tenant: {t}\n  ocsf_https: {{url: \"{sink}/{t}\"}}\n"
        ));
        if failing.contains(&t) {
            yaml.push_str(&format!(
                "- name: {t}-broken\n  tenant: {t}\n  retry: {{max_attempts: 1}}\n  ocsf_https: {{url: \"http://127.0.0.1:9/{t}\"}}\n"
            ));
        }
    }
    cfg.connectors = cavra_connectors::ConnectorsConfig::from_yaml(&yaml).expect("connectors");
}

async fn creds(s: &Server, tenant: &str) -> Credentials {
    Credentials {
        agent: s
            .token(tenant, "agent", &format!("probe-agent-{tenant}"), &[])
            .await,
        admin: s
            .token(tenant, "admin", &format!("probe-admin-{tenant}"), &[])
            .await,
        auditor: s
            .token(tenant, "auditor", &format!("probe-auditor-{tenant}"), &[])
            .await,
    }
}

async fn validate(url: &str, a: Credentials, b: Credentials, out: &Path) -> validation::Outcome {
    let config = Config {
        server: url.to_string(),
        a,
        b,
        signer: Some(Signer {
            key_id: "ops".into(),
            key: key(1),
        }),
        output: out.to_path_buf(),
        wait: Duration::from_secs(20),
        timeout: Duration::from_secs(30),
    };
    validation::run(&config).await.expect("the validator runs")
}

async fn gate(s: &Server) -> readiness::Readiness {
    let t = vec!["a".to_string(), "b".to_string()];
    readiness::check(
        &s.state.db,
        &readiness::Gate::of_service(&s.state, &t, OffsetDateTime::now_utc()),
    )
    .await
    .expect("gate")
}

fn of(r: &readiness::Readiness, validator: &str, tenant: &str) -> usize {
    r.blockers
        .iter()
        .filter(|b| b.validator == validator && b.tenant.as_deref() == Some(tenant))
        .count()
}

/// A signed runtime validation report (`cavra validate runtime`'s), passed.
fn runtime_report() -> String {
    let r = cavra_validate::report::Report {
        signed_at: cavra_server::now_text(),
        result: "passed".into(),
        agent: cavra_validate::report::AgentInfo {
            name: "claude-code".into(),
            version: "test".into(),
        },
        cavra_version: "test".into(),
        session_id: None,
        policy_digest: None,
        drill: None,
        steps: vec![],
        findings: vec![],
        key_id: "ops".into(),
    };
    cavra_validate::report::sign(&r, None, None, &key(1))
        .expect("sign")
        .to_json()
}

/// The whole run against `s` (validated through `url`, another replica or the same).
async fn proves_and_records(s: &Server, url: &str) {
    let stop = s.deliver();
    let before = gate(s).await;
    for t in ["a", "b"] {
        assert_eq!(
            of(&before, ISOLATION_VALIDATION, t),
            1,
            "{:?}",
            before.blockers
        );
        assert_eq!(
            of(&before, RUNTIME_VALIDATION, t),
            1,
            "{:?}",
            before.blockers
        );
    }
    let out = tempfile::tempdir().expect("out");
    let outcome = validate(url, creds(s, "a").await, creds(s, "b").await, out.path()).await;
    eprintln!("{}", outcome.to_text());
    assert!(outcome.passed(), "{}", outcome.to_text());
    assert_eq!(outcome.exit_code(), 0);
    let trust_file = s.dir.path().join("trust.json");
    for w in &outcome.reports {
        assert_eq!(w.report.proofs.len(), 5);
        assert!(w.recorded.is_ok(), "{:?}", w.recorded);
        assert!(
            w.report
                .probe_objects
                .iter()
                .any(|o| o.kind == "approval" && o.cleanup == report::Cleanup::Closed),
            "{:?}",
            w.report.probe_objects
        );
        let (v, _, code) = validation::verify_file(&w.path, &trust_file);
        assert_eq!(code, 0, "{v}");
        // Tampered: one character of the signed payload changed.
        let text = std::fs::read_to_string(&w.path).expect("report");
        let mut env: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut payload: Vec<char> = env["payload"].as_str().expect("payload").chars().collect();
        let mid = payload.len() / 2;
        payload[mid] = if payload[mid] == 'A' { 'B' } else { 'A' };
        env["payload"] = json!(payload.into_iter().collect::<String>());
        let tampered = out.path().join("tampered.json");
        std::fs::write(&tampered, env.to_string()).expect("write");
        let (v, _, code) = validation::verify_file(&tampered, &trust_file);
        assert_eq!(code, 1, "a tampered report must not verify: {v}");
        // Another trust root: not verified either.
        let other = out.path().join("other-trust.json");
        std::fs::write(&other, trust(2).to_json()).expect("trust");
        assert_eq!(validation::verify_file(&w.path, &other).2, 1);
    }
    // The recorded reports clear the isolation blockers; the runtime ones stay until a
    // runtime report is recorded.
    let after = gate(s).await;
    for t in ["a", "b"] {
        assert_eq!(
            of(&after, ISOLATION_VALIDATION, t),
            0,
            "{:?}",
            after.blockers
        );
        assert_eq!(of(&after, RUNTIME_VALIDATION, t), 1, "{:?}", after.blockers);
    }
    let admin = s.token("a", "admin", "ops-a", &[]).await;
    let (st, v) = s
        .call(
            "POST",
            "/v1/validations",
            Some(&admin),
            Some(json!({"report": runtime_report()})),
        )
        .await;
    assert!(st.is_success(), "{st} {v}");
    assert_eq!(v["validation"], "runtime", "{v}");
    let r = gate(s).await;
    assert_eq!(of(&r, RUNTIME_VALIDATION, "a"), 0, "{:?}", r.blockers);
    assert_eq!(of(&r, RUNTIME_VALIDATION, "b"), 1, "b's is still missing");
    // b's report cannot be recorded by a; a bare (unsigned) report is refused.
    let b_report = std::fs::read_to_string(out.path().join("b.json")).expect("b");
    let (st, _) = s
        .call(
            "POST",
            "/v1/validations",
            Some(&admin),
            Some(json!({"report": b_report})),
        )
        .await;
    assert_eq!(st.as_u16(), 422);
    let (st, _) = s
        .call(
            "POST",
            "/v1/validations",
            Some(&admin),
            Some(json!({"report": "{\"format\": \"x\"}"})),
        )
        .await;
    assert_eq!(st.as_u16(), 422);
    drop(stop);
}

/// A service on SQLite with `failing` tenants' broken connectors.
async fn sqlite(failing: &[&str]) -> Server {
    let url = sink().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut c = common::sqlite_config(dir.path());
    configure(&mut c, dir.path(), &url, failing);
    common::start(c, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_five_proofs_hold_and_are_recorded() {
    let s = sqlite(&["a", "b"]).await;
    let base = s.base.clone();
    proves_and_records(&s, &base).await;
}

/// Two replicas on one PostgreSQL database: the probes are made and proved through the
/// second, the gate of the first sees what was recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_replicas_the_five_proofs_hold_and_are_recorded() {
    let Some(pg) = common::pg_url().await else {
        return;
    };
    let url = sink().await;
    // Replicas on PostgreSQL sign checkpoints with one key.
    let keys = tempfile::tempdir().expect("keys");
    let log_key = keys.path().join("log-key.pem");
    let pem = cavra_evidence::keys::private_key_to_pem(&key(7)).expect("pem");
    std::fs::write(&log_key, pem).expect("log key");
    let mut replicas = Vec::new();
    for i in 0..2 {
        let dir = tempfile::tempdir().expect("dir");
        let mut c = common::sqlite_config(dir.path());
        c.database_url = pg.clone();
        c.signing_key = Some(log_key.clone());
        configure(&mut c, dir.path(), &url, &["a", "b"]);
        replicas.push(if i == 0 {
            common::start(c, dir).await
        } else {
            replica(c, dir).await
        });
    }
    let second = replicas[1].base.clone();
    proves_and_records(&replicas[0], &second).await;
}

/// A second replica: the service started on a database whose tenants exist.
async fn replica(config: ServerConfig, dir: tempfile::TempDir) -> Server {
    let state = cavra_server::AppState::new(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = cavra_server::app(state.clone());
    let limits = state.config.connections.clone();
    tokio::spawn(async move {
        cavra_server::serve_on(listener, app, &limits, std::future::pending()).await;
    });
    Server {
        base: format!("http://{addr}"),
        addr,
        state,
        http: reqwest::Client::new(),
        dir,
    }
}

/// Broken on purpose: tenant b has no failing connector, so b's proof 4 cannot be made and
/// fails by name (exit 4); a tenant without any recipient fails proof 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_that_cannot_be_made_fails_by_name() {
    let s = sqlite(&["a"]).await;
    let _stop = s.deliver();
    let out = tempfile::tempdir().expect("out");
    let outcome = validate(
        &s.base,
        creds(&s, "a").await,
        creds(&s, "b").await,
        out.path(),
    )
    .await;
    assert_eq!(outcome.exit_code(), 4, "{}", outcome.to_text());
    let failures = outcome.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("tenant b: proof 4 connector_blockers"),
        "{failures:?}"
    );
    let a = &outcome.reports[0].report;
    assert!(a.passed, "{}", a.to_text());
    // A failed report still verifies (what it says is that it failed): exit 4.
    let (_, _, code) =
        validation::verify_file(&outcome.reports[1].path, &s.dir.path().join("trust.json"));
    assert_eq!(code, 4);
    // Recorded, it does not clear b's blocker.
    let r = gate(&s).await;
    assert_eq!(of(&r, ISOLATION_VALIDATION, "b"), 1, "{:?}", r.blockers);
    assert_eq!(of(&r, ISOLATION_VALIDATION, "a"), 0, "{:?}", r.blockers);

    // No connectors at all: proof 3 fails for both.
    let bare = common::sqlite_server().await;
    let out = tempfile::tempdir().expect("out");
    let config = Config {
        server: bare.base.clone(),
        a: creds(&bare, "a").await,
        b: creds(&bare, "b").await,
        signer: None,
        output: out.path().to_path_buf(),
        wait: Duration::from_secs(1),
        timeout: Duration::from_secs(30),
    };
    let outcome = validation::run(&config).await.expect("runs");
    let failures = outcome.failures().join("\n");
    assert!(
        failures.contains("tenant a: proof 3 report_delivery"),
        "{failures}"
    );
    assert!(!failures.contains("proof 1 "), "{failures}");
    assert!(!failures.contains("proof 2 "), "{failures}");
    assert!(!failures.contains("proof 5 "), "{failures}");
    // Unsigned: a bare report, which does not verify.
    let (v, _, code) =
        validation::verify_file(&outcome.reports[0].path, &s.dir.path().join("trust.json"));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("unsigned")),
        "{v}"
    );
}

/// `trust_root.drift`: a replica (or package) with another trust root is a blocker naming it;
/// the same trust root is none.
#[tokio::test]
async fn trust_root_drift_is_a_blocker() {
    let s = sqlite(&[]).await;
    let t = vec!["a".to_string()];
    let mut g = readiness::Gate::of_service(&s.state, &t, OffsetDateTime::now_utc());
    g.drift_sides = vec![cavra_release::drift::Side {
        name: "http://replica-2".into(),
        root: Some(trust(1)),
    }];
    let r = readiness::check(&s.state.db, &g).await.expect("gate");
    assert!(r.validators.iter().any(|v| v == TRUST_ROOT_DRIFT));
    assert!(
        !r.blockers.iter().any(|b| b.validator == TRUST_ROOT_DRIFT),
        "{:?}",
        r.blockers
    );
    g.drift_sides = vec![cavra_release::drift::Side {
        name: "http://replica-2".into(),
        root: Some(trust(2)),
    }];
    let r = readiness::check(&s.state.db, &g).await.expect("gate");
    let drift: Vec<_> = r
        .blockers
        .iter()
        .filter(|b| b.validator == TRUST_ROOT_DRIFT)
        .collect();
    assert_eq!(drift.len(), 1, "{:?}", r.blockers);
    assert!(
        drift[0].problem.contains("http://replica-2"),
        "{:?}",
        drift[0]
    );
    assert!(drift[0].fix.contains("cavra trust status"));
}
