//! What the connectors' integration tests share: real tenant stores (SQLite in a temporary
//! file; PostgreSQL at `CAVRA_TEST_POSTGRES_URL`, a fresh schema per test), decisions recorded
//! in them, a hand-moved clock, a worker over them, and reading back deliveries and their
//! evidence entries.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use cavra_connectors::event::EnvelopeSigner;
use cavra_connectors::retry::{Clock, Jitter};
use cavra_connectors::worker::{Progress, build_destinations};
use cavra_connectors::{ConnectorsConfig, Worker, WorkerSettings};
use cavra_tenant_store::Outbox;
use cavra_tenant_store::outbox::DeliveryFilter;
use cavra_tenant_store::{
    ActionType, Db, Decision, DecisionWrite, Decisions, EntryQuery, Evidence, LogSettings,
    LogSigner, NewDecision, outbox,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// The store

pub fn settings() -> LogSettings {
    LogSettings {
        signer: Arc::new(LogSigner {
            key_id: "log-key".into(),
            key: cavra_evidence::keys::from_seed(&[7; 32]),
        }),
        redactor: Arc::new(
            cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("built-in rules"),
        ),
    }
}

pub struct Store {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

pub struct PgSchema {
    base: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok((c, conn)) =
                        tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let _ = c
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

pub async fn sqlite() -> Store {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    Store {
        db: Db::open(&url, settings()).await.expect("open sqlite"),
        url,
        _dir: Some(dir),
        _schema: None,
    }
}

pub async fn postgres() -> Option<Store> {
    let Ok(base) = std::env::var("CAVRA_TEST_POSTGRES_URL") else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n***** CAVRA_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run *****"
        );
        return None;
    };
    let (c, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    let name: String = c
        .query_one(
            "SELECT 'cavra_conn_' || replace(gen_random_uuid()::text, '-', '')",
            &[],
        )
        .await
        .expect("schema name")
        .get(0);
    c.batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
    Some(Store {
        db: Db::open(&url, settings()).await.expect("open postgres"),
        url,
        _dir: None,
        _schema: Some(PgSchema { base, name }),
    })
}

/// A decision of `tenant` with outcome `decision`, whose target holds `target`.
pub async fn decide(db: &Db, tenant: &str, id: &str, decision: Decision, target: &str) {
    let record = json!({
        "decision_id": id, "decision": decision.as_str(), "severity": "high", "repository": "acme/app",
        "policy_pack": "cavra-baseline", "target": target, "reason": format!("because {target}"),
        "timestamp": "2026-01-01T00:00:00.000Z",
    });
    db.record_decision(
        tenant,
        DecisionWrite {
            decision: NewDecision {
                decision_id: id.into(),
                session_id: Some("s1".into()),
                agent: Some("claude-code".into()),
                action_type: ActionType::ExecuteCommand.into(),
                decision,
                rule_id: "r1".into(),
                timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
                fingerprint: format!("fp-{id}"),
                extra: cavra_tenant_store::Caller {
                    requested_by: "agent-1".into(),
                    policy_digest: "sha256:p".into(),
                    record: record.into(),
                },
            },
            new_approval: None,
            use_grant: None,
        },
    )
    .await
    .expect("record decision");
}

// ---------------------------------------------------------------------------------------
// Clock, jitter, worker

#[derive(Clone, Default)]
pub struct Manual(Arc<AtomicI64>);

impl Manual {
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// No jitter: a retry is due at once (or when `Retry-After` says).
pub struct Zero;
impl Jitter for Zero {
    fn upto(&mut self, _: u64) -> u64 {
        0
    }
}

pub fn signing_key() -> ed25519_dalek::SigningKey {
    cavra_evidence::keys::from_seed(&[7; 32])
}

pub fn worker(db: &Db, yaml: &str, clock: &Manual, owner: &str) -> Worker {
    worker_with(db, yaml, clock, owner, 64)
}

pub fn worker_with(db: &Db, yaml: &str, clock: &Manual, owner: &str, batch: usize) -> Worker {
    let config = ConnectorsConfig::from_yaml(yaml).expect("connectors configuration");
    let destinations = build_destinations(&config).expect("destinations");
    Worker::new(
        db.clone(),
        &config,
        destinations,
        Arc::new(cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("rules")),
        Some(Arc::new(
            EnvelopeSigner::new("log-key", &signing_key()).expect("the signer"),
        )),
        Arc::new(clock.clone()),
        Box::new(Zero),
        WorkerSettings {
            owner: owner.into(),
            batch,
            lease_ms: 60_000,
            idle: std::time::Duration::from_millis(10),
            gather: std::time::Duration::from_millis(5),
            ..WorkerSettings::default()
        },
    )
}

/// Steps until a step does nothing; returns the sum.
pub async fn drain(w: &mut Worker) -> Progress {
    let mut total = Progress::default();
    for _ in 0..100 {
        let p = w.step().await.expect("step");
        total.routed += p.routed;
        total.attempted += p.attempted;
        total.delivered += p.delivered;
        total.deferred += p.deferred;
        total.dead += p.dead;
        if p.routed == 0 && p.attempted == 0 && p.deferred == 0 {
            break;
        }
    }
    total
}

pub async fn only_delivery(db: &Db, tenant: &str, destination: &str) -> outbox::Delivery {
    let list = db
        .deliveries(
            tenant,
            &DeliveryFilter {
                destination: Some(destination.into()),
                limit: 10,
                ..DeliveryFilter::default()
            },
        )
        .await
        .expect("deliveries");
    assert_eq!(list.len(), 1, "{list:?}");
    list.into_iter().next().expect("one")
}

/// The `delivery` evidence entries of an event, oldest first (their bodies).
pub async fn attempts(db: &Db, tenant: &str, event_id: &str) -> Vec<Value> {
    db.entries(
        tenant,
        &EntryQuery {
            kind: Some("delivery".into()),
            ref_id: Some(event_id.into()),
            limit: 100,
            ..EntryQuery::default()
        },
    )
    .await
    .expect("entries")
    .into_iter()
    .map(|e| e.entry["body"].clone())
    .collect()
}

/// Writes a secret to `name` in `dir` (with the newline a secret file ends with); returns
/// its `file:` reference.
pub fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{value}\n")).expect("write secret");
    format!("file:{}", p.display())
}

/// A private CA and a server certificate it issued for `localhost` and 127.0.0.1: what the
/// TLS receivers of the tests present, and the CA file connectors are told to trust.
pub struct TestPki {
    /// The CA's certificate file (PEM), for a connector's `ca_file`.
    pub ca_file: std::path::PathBuf,
    /// The receivers' TLS configuration.
    pub server: Arc<rustls::ServerConfig>,
    _dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA and server certificate.
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "cavra test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server TLS config");
        TestPki {
            ca_file,
            server: Arc::new(server),
            _dir: dir,
        }
    }
}

/// Prints, loudly, that a test did not run because `var` is not set.
pub fn not_run(var: &str, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n***** {var} is not set: {what} did NOT run *****"
    );
}

/// A loopback port nothing listens on: that of a socket just closed (a destination down).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
