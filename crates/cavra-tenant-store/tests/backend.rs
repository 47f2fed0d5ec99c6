//! The same scenarios against both backends: SQLite (a temporary file) and PostgreSQL (a
//! fresh schema per test, on the server `CAVRA_TEST_POSTGRES_URL` names), then races between
//! two PostgreSQL "replicas" (two pools on one schema).

use std::collections::BTreeSet;
use std::sync::Arc;

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::{CHECKPOINT_PAYLOAD_TYPE, Checkpoint};
use cavra_evidence::dsse::{Envelope, TrustedKeys};
use cavra_evidence::merkle;
use cavra_identity::{Role, TokenDigest};
use cavra_tenant_store::*;
use serde_json::{Value, json};

const KEY_ID: &str = "test-log-key";
const SEED: [u8; 32] = [7; 32];

fn settings() -> LogSettings {
    let redactor = cavra_redact::Redactor::new(cavra_redact::builtin_rules())
        .expect("the built-in redaction rules compile");
    LogSettings {
        signer: Arc::new(LogSigner {
            key_id: KEY_ID.into(),
            key: cavra_evidence::keys::from_seed(&SEED),
        }),
        redactor: Arc::new(redactor),
    }
}

/// A time `n` seconds into 2026, in the stores' form (fixed-width RFC 3339 with
/// milliseconds, sorts as text).
fn ts(n: u32) -> String {
    stamp(n).to_string()
}

/// A time written out, as the stores' time type.
fn time_at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("time")
}

/// [`ts`] as the stores' time type.
fn stamp(n: u32) -> Timestamp {
    Timestamp::parse(&format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        n / 3600,
        (n / 60) % 60,
        n % 60
    ))
    .expect("a time")
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// Drops a test's PostgreSQL schema when the test ends, passed or not.
struct PgSchema {
    base: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of
        // its own with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(c) = pg_connect(&base).await {
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

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PgSchema),
}

struct Fixture {
    db: Db,
    url: String,
    _guard: Guard,
}

async fn pg_connect(
    url: &str,
) -> std::result::Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn pg_base_url() -> Option<String> {
    match std::env::var("CAVRA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the stream itself, not through `eprintln!`, so that the test
            // harness's output capture does not swallow it.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n***** CAVRA_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run \
                 (CI sets postgres://postgres@127.0.0.1:5432/test) *****"
            );
            None
        }
    }
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let db = Db::open(&url, settings()).await.expect("open sqlite");
        Fixture {
            db,
            url,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// A fresh, empty schema (not migrated yet) and the URL that uses it.
    async fn pg_schema() -> Option<(String, PgSchema)> {
        let base = pg_base_url()?;
        let c = pg_connect(&base).await.expect("connect to PostgreSQL");
        let name: String = c
            .query_one(
                "SELECT 'cavra_test_' || replace(gen_random_uuid()::text, '-', '')",
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
        Some((url, PgSchema { base, name }))
    }

    async fn postgres() -> Option<Fixture> {
        let (url, schema) = Fixture::pg_schema().await?;
        let db = Db::open(&url, settings()).await.expect("open postgres");
        Some(Fixture {
            db,
            url,
            _guard: Guard::Postgres(schema),
        })
    }

    /// Another replica on the same database.
    async fn replica(&self) -> Db {
        Db::open(&self.url, settings()).await.expect("open replica")
    }
}

// ---------------------------------------------------------------------------------------
// Builders

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: format!("Tenant {id}"),
        created_at: stamp(0),
    }
}

fn token(id: &str, tenant: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        tenant: tenant.into(),
        subject: format!("{id}-subject"),
        roles: vec![Role::Agent, Role::Approver],
        groups: vec!["sec".into()],
        digest: TokenDigest::from_hex(&format!("{:0>64}", id.len())).expect("hex"),
        created_at: stamp(1).time(),
        expires_at: Some(stamp(86_000).time()),
        revoked_at: None,
    }
}

fn decision(id: &str, session: Option<&str>, word: &str, at: u32) -> NewDecision {
    NewDecision {
        decision_id: id.into(),
        session_id: session.map(str::to_string),
        agent: Some("claude-code".into()),
        action_type: if word == "block" {
            ActionType::ExecuteCommand
        } else {
            ActionType::WriteFile
        }
        .into(),
        decision: word.parse().expect("a decision word"),
        rule_id: format!("rule-{word}"),
        timestamp: stamp(at),
        fingerprint: format!("fp-{id}"),
        extra: cavra_tenant_store::Caller {
            requested_by: "agent-1".into(),
            policy_digest: "sha256:pack".into(),
            record: json!({"decision_id": id, "decision": word}).into(),
        },
    }
}

fn plain(d: NewDecision) -> DecisionWrite {
    DecisionWrite {
        decision: d,
        new_approval: None,
        use_grant: None,
    }
}

/// A `require_approval` decision asking for approval `approval_id` of action `fp`,
/// expiring at `expires`.
fn asking(decision_id: &str, approval_id: &str, fp: &str, at: u32, expires: u32) -> DecisionWrite {
    let mut d = decision(decision_id, Some("s-apr"), "require_approval", at);
    d.fingerprint = fp.into();
    DecisionWrite {
        decision: d,
        new_approval: Some(NewApproval {
            id: approval_id.into(),
            decision_id: decision_id.into(),
            requested_at: stamp(at),
            fingerprint: fp.into(),
            session_id: Some("s-apr".into()),
            approver_group: "sec".into(),
            requested_by: "agent-1".into(),
            summary: format!("write {fp}"),
            expires_at: stamp(expires),
        }),
        use_grant: None,
    }
}

/// A retry of action `fp` by agent-1 that uses grant `approval_id`.
fn using(decision_id: &str, approval_id: &str, fp: &str, at: u32) -> DecisionWrite {
    let mut d = decision(decision_id, Some("s-apr"), "allow", at);
    d.fingerprint = fp.into();
    DecisionWrite {
        decision: d,
        new_approval: None,
        use_grant: Some(approval_id.into()),
    }
}

/// An approver's decision (never the requester's own, never of an expired approval).
fn decide(to: ApprovalState, actor: &str, at: u32) -> Transition {
    Transition {
        to,
        from: vec![ApprovalState::Pending],
        actor: actor.into(),
        reason: Some(format!("{actor} says {to}")),
        at: stamp(at),
        expires_at: None,
        grant: None,
        not_requested_by: Some(actor.into()),
        unexpired_at: Some(stamp(at)),
    }
}

fn all_entries() -> EntryQuery {
    EntryQuery {
        limit: 100_000,
        ..EntryQuery::default()
    }
}

fn all_decisions() -> DecisionFilter {
    DecisionFilter {
        limit: Some(100_000),
        ..DecisionFilter::default()
    }
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// Checks a tenant's log: dense indexes, each leaf the hash of its stored entry, the head's
/// root the root of the leaves, and the newest checkpoint signed by the test key over a
/// prefix of it. Returns the log's size.
async fn check_log(db: &Db, tenant: &str) -> u64 {
    let head = db
        .log_head(tenant)
        .await
        .unwrap()
        .expect("the log has a head");
    let leaves = db.leaf_hashes(tenant, head.size).await.unwrap();
    assert_eq!(leaves.len() as u64, head.size);
    assert_eq!(hex::encode(merkle::root(&leaves)), head.root_hash);
    let entries = db.entries(tenant, &all_entries()).await.unwrap();
    assert_eq!(entries.len() as u64, head.size);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, i as u64, "entries are dense and in order");
        assert_eq!(e.entry["index"], json!(i));
        assert_eq!(e.entry["tenant"], json!(tenant));
        assert_eq!(e.entry["format"], json!("cavra-log-entry/v1"));
        let leaf = merkle::leaf_hash(&to_canonical_bytes(&e.entry));
        assert_eq!(e.leaf_hash, hex::encode(leaf));
        assert_eq!(leaves[i], leaf);
    }
    if let Some(cp) = db.latest_checkpoint(tenant).await.unwrap() {
        let signed = verify_checkpoint(&cp);
        assert_eq!(signed.log_id, head.log_id);
        assert!(signed.tree_size <= head.size);
        assert_eq!(
            hex::encode(merkle::root(&leaves[..signed.tree_size as usize])),
            signed.root_hash
        );
    }
    head.size
}

/// Verifies a checkpoint's envelope with the signer's public key and returns what it signs.
fn verify_checkpoint(cp: &CheckpointRecord) -> Checkpoint {
    let env = Envelope::from_json(&cp.envelope).expect("envelope JSON");
    let mut trusted = TrustedKeys::new();
    trusted.insert(
        KEY_ID,
        cavra_evidence::keys::from_seed(&SEED).verifying_key(),
    );
    let verified = env
        .verify_typed(&trusted, CHECKPOINT_PAYLOAD_TYPE)
        .expect("the checkpoint verifies with the log key");
    let signed = Checkpoint::from_payload(&verified.payload).expect("checkpoint payload");
    assert_eq!(signed.tree_size, cp.tree_size);
    assert_eq!(signed.root_hash, cp.root_hash);
    assert_eq!(signed.key_id, KEY_ID);
    // Another key must not verify it.
    let mut other = TrustedKeys::new();
    other.insert(
        KEY_ID,
        cavra_evidence::keys::from_seed(&[8; 32]).verifying_key(),
    );
    assert!(env.verify_typed(&other, CHECKPOINT_PAYLOAD_TYPE).is_err());
    signed
}

// ---------------------------------------------------------------------------------------
// Scenarios, each run on both backends

mod scenarios {
    use super::*;

    pub async fn tenants(db: &Db) {
        let ready = db.readiness().await.unwrap();
        assert_eq!(ready.schema_version, SCHEMA_VERSION);
        assert!(ready.migrations_current);
        assert!(db.create_tenant(&tenant("beta")).await.unwrap());
        assert!(db.create_tenant(&tenant("acme")).await.unwrap());
        assert!(!db.create_tenant(&tenant("acme")).await.unwrap());
        let ids: Vec<String> = db
            .tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["acme", "beta"]);
        assert_eq!(db.tenant("acme").await.unwrap(), Some(tenant("acme")));
        assert_eq!(db.tenant("nope").await.unwrap(), None);
    }

    pub async fn entitlements(db: &Db) {
        assert!(db.create_tenant(&tenant("acme")).await.unwrap());
        assert!(db.create_tenant(&tenant("beta")).await.unwrap());
        assert_eq!(
            db.entitlement("acme").await.unwrap(),
            Some(Entitlement::default()),
            "a new tenant is active with every feature and no limits"
        );
        let e = Entitlement {
            status: EntitlementStatus::Suspended,
            expires_at: Some("2027-01-01T00:00:00.000Z".parse().unwrap()),
            features: Some(["evidence_bundle".to_string()].into()),
            limits: [("agents".to_string(), 3), ("policy_packs".to_string(), 0)].into(),
        };
        assert!(db.set_entitlement("acme", &e).await.unwrap());
        assert_eq!(db.entitlement("acme").await.unwrap(), Some(e.clone()));
        let none = Entitlement {
            features: Some(Default::default()),
            ..Entitlement::default()
        };
        assert!(db.set_entitlement("acme", &none).await.unwrap());
        assert_eq!(
            db.entitlement("acme").await.unwrap(),
            Some(none),
            "no features is not every feature"
        );
        assert_eq!(
            db.entitlement("beta").await.unwrap(),
            Some(Entitlement::default()),
            "another tenant's is its own"
        );
        assert_eq!(db.entitlement("nope").await.unwrap(), None);
        assert!(!db.set_entitlement("nope", &e).await.unwrap());
        assert_eq!(
            db.tenant("acme").await.unwrap(),
            Some(tenant("acme")),
            "the tenant itself is unchanged"
        );
    }

    pub async fn tokens(db: &Db) {
        db.insert_token(&token("tok_a1", "a")).await.unwrap();
        db.insert_token(&token("tok_a2", "a")).await.unwrap();
        db.insert_token(&token("tok_b1", "b")).await.unwrap();
        assert!(is_conflict(&db.insert_token(&token("tok_a1", "b")).await));
        assert_eq!(
            db.token("tok_a1").await.unwrap(),
            Some(token("tok_a1", "a"))
        );
        assert_eq!(db.token("tok_zz").await.unwrap(), None);
        let ids = |v: Vec<TokenRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.tokens(Some("a")).await.unwrap()),
            ["tok_a1", "tok_a2"]
        );
        assert_eq!(ids(db.tokens(Some("b")).await.unwrap()), ["tok_b1"]);
        assert_eq!(db.tokens(None).await.unwrap().len(), 3);
        // Revoking is scoped by tenant: b cannot revoke a's token.
        assert!(
            !db.revoke_token(Some("b"), "tok_a1", stamp(5))
                .await
                .unwrap()
        );
        assert_eq!(db.token("tok_a1").await.unwrap().unwrap().revoked_at, None);
        assert!(
            db.revoke_token(Some("a"), "tok_a1", stamp(5))
                .await
                .unwrap()
        );
        assert!(
            !db.revoke_token(Some("a"), "tok_a1", stamp(6))
                .await
                .unwrap()
        );
        assert_eq!(
            db.token("tok_a1").await.unwrap().unwrap().revoked_at,
            Some(stamp(5).time())
        );
        // An admin (no tenant) may revoke any.
        assert!(db.revoke_token(None, "tok_b1", stamp(7)).await.unwrap());
    }

    pub async fn decisions(db: &Db) {
        let r0 = db
            .record_decision("t", plain(decision("d0", Some("s1"), "allow", 10)))
            .await
            .unwrap();
        let r1 = db
            .record_decision("t", plain(decision("d1", Some("s1"), "block", 20)))
            .await
            .unwrap();
        let mut d2 = decision("d2", Some("s2"), "warn", 30);
        // A secret the caller left in the record is masked in the evidence entry.
        d2.extra.record = json!({"decision_id": "d2", "decision": "warn", "command": "export AWS_KEY=AKIAJ4X7Q2M9ZK3LB8WP"}).into();
        let r2 = db.record_decision("t", plain(d2)).await.unwrap();
        assert_eq!(
            (r0.log_index, r1.log_index, r2.log_index),
            (0, 1, 2),
            "each decision is an entry"
        );
        assert_eq!(r0.approval_id, None);
        let stored = db.decision("t", "d1").await.unwrap().unwrap();
        assert_eq!(stored.decision, Decision::Block);
        assert_eq!(stored.action_type, ActionType::ExecuteCommand.into());
        assert_eq!(stored.session_id.as_deref(), Some("s1"));
        assert_eq!(stored.extra.log_index, Some(1));
        assert_eq!(
            stored.record,
            json!({"decision_id": "d1", "decision": "block"})
        );
        assert_eq!(db.decision("t", "nope").await.unwrap(), None);

        let ids = |v: Vec<StoredDecision>| v.into_iter().map(|d| d.decision_id).collect::<Vec<_>>();
        assert_eq!(
            ids(db.decisions("t", &all_decisions()).await.unwrap()),
            ["d2", "d1", "d0"],
            "newest first"
        );
        let f = |f: DecisionFilter| DecisionFilter {
            limit: Some(100),
            ..f
        };
        let by = |session: Option<&str>, word: Option<&str>, action: Option<&str>| {
            f(DecisionFilter {
                session_id: session.map(str::to_string),
                decision: word.map(|w| w.parse().expect("a decision word")),
                action_type: action.map(|a| a.parse().expect("an action type")),
                ..DecisionFilter::default()
            })
        };
        assert_eq!(
            ids(db
                .decisions("t", &by(Some("s1"), None, None))
                .await
                .unwrap()),
            ["d1", "d0"]
        );
        assert_eq!(
            ids(db
                .decisions("t", &by(None, Some("warn"), None))
                .await
                .unwrap()),
            ["d2"]
        );
        assert_eq!(
            ids(db
                .decisions("t", &by(None, None, Some("execute_command")))
                .await
                .unwrap()),
            ["d1"]
        );
        let window = f(DecisionFilter {
            since: Some(stamp(20)),
            until: Some(stamp(30)),
            ..DecisionFilter::default()
        });
        assert_eq!(ids(db.decisions("t", &window).await.unwrap()), ["d1"]);
        let one = DecisionFilter {
            limit: Some(1),
            ..DecisionFilter::default()
        };
        assert_eq!(ids(db.decisions("t", &one).await.unwrap()), ["d2"]);
        // Keyset pagination: the page after the one that ended with a decision's id.
        let after = |id: &str, limit: usize| DecisionFilter {
            before: Some(id.to_string()),
            limit: Some(limit),
            ..DecisionFilter::default()
        };
        assert_eq!(
            ids(db.decisions("t", &after("d2", 1)).await.unwrap()),
            ["d1"]
        );
        assert_eq!(
            ids(db.decisions("t", &after("d1", 5)).await.unwrap()),
            ["d0"]
        );
        assert!(db.decisions("t", &after("d0", 5)).await.unwrap().is_empty());
        assert!(
            db.decisions("t", &after("nope", 5))
                .await
                .unwrap()
                .is_empty(),
            "an unknown cursor gives nothing, not everything"
        );
        let by_rule = f(DecisionFilter {
            rule_id: Some("rule-block".into()),
            ..DecisionFilter::default()
        });
        assert_eq!(ids(db.decisions("t", &by_rule).await.unwrap()), ["d1"]);
        let by_actor = |who: &str| {
            f(DecisionFilter {
                requested_by: Some(who.into()),
                ..DecisionFilter::default()
            })
        };
        assert_eq!(
            ids(db.decisions("t", &by_actor("agent-1")).await.unwrap()).len(),
            3
        );
        assert!(
            db.decisions("t", &by_actor("someone"))
                .await
                .unwrap()
                .is_empty()
        );

        // A duplicate decision id is a conflict, and nothing of it is kept: not the
        // decision, not its log entry.
        let dup = db
            .record_decision("t", plain(decision("d1", Some("s9"), "allow", 40)))
            .await;
        assert!(is_conflict(&dup), "{dup:?}");
        assert_eq!(check_log(db, "t").await, 3);
        assert_eq!(
            db.decision("t", "d1")
                .await
                .unwrap()
                .unwrap()
                .session_id
                .as_deref(),
            Some("s1")
        );

        let entries = db.entries("t", &all_entries()).await.unwrap();
        let text = entries[2].entry.to_string();
        assert!(!text.contains("AKIAJ4X7Q2M9ZK3LB8WP"), "{text}");
        assert!(text.contains("[REDACTED:"), "{text}");
        assert!(entries[2].entry.get("redactions").is_some());
        assert_eq!(entries[0].kind, "decision");
        assert_eq!(entries[0].ref_id.as_deref(), Some("d0"));
    }

    pub async fn sessions(db: &Db) {
        for (i, (id, s, word)) in [
            ("d0", Some("s1"), "allow"),
            ("d1", Some("s1"), "block"),
            ("d2", Some("s1"), "require_approval"),
            ("d3", Some("s1"), "warn"),
            ("d4", Some("s1"), "block"),
            ("d5", Some("s2"), "allow"),
            ("d6", None, "allow"),
        ]
        .into_iter()
        .enumerate()
        {
            db.record_decision("t", plain(decision(id, s, word, 10 + i as u32)))
                .await
                .unwrap();
        }
        let all = db.sessions("t", 10).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["s2", "s1"],
            "most recent first; none without a session"
        );
        let s1 = db.session("t", "s1").await.unwrap().unwrap();
        assert_eq!(
            s1,
            SessionSummary {
                id: "s1".into(),
                agent: Some("claude-code".into()),
                first_seen: stamp(10),
                last_seen: stamp(14),
                decisions: 5,
                blocked: 2,
                approvals: 1,
                warned: 1,
            }
        );
        assert_eq!(db.sessions("t", 1).await.unwrap().len(), 1);
        assert_eq!(db.session("t", "nope").await.unwrap(), None);
    }

    pub async fn approvals(db: &Db) {
        let r = db
            .record_decision("t", asking("d1", "apr_1", "fp1", 10, 1000))
            .await
            .unwrap();
        assert_eq!(r.approval_id.as_deref(), Some("apr_1"));
        assert_eq!(r.log_index, 0);
        let a = db.approval("t", "apr_1").await.unwrap().unwrap();
        assert_eq!(a.state, ApprovalState::Pending);
        assert_eq!(a.decision_id, "d1");
        assert_eq!(a.requested_at, stamp(10));
        assert_eq!(a.history.len(), 1);
        assert_eq!(
            db.approvals("t", Some(ApprovalState::Pending), 10)
                .await
                .unwrap(),
            vec![a.clone()]
        );
        assert_eq!(
            db.approval_for("t", "fp1", "agent-1", stamp(20))
                .await
                .unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            db.approval_for("t", "fp1", "someone-else", stamp(20))
                .await
                .unwrap(),
            None
        );
        assert!(db.queue_depths().await.unwrap().contains(&QueueDepth {
            tenant: "t".into(),
            approver_group: "sec".into(),
            pending: 1
        }));

        // The requester cannot decide their own request.
        let own = db
            .transition("t", "apr_1", decide(ApprovalState::Approved, "agent-1", 20))
            .await
            .unwrap();
        assert_eq!(own, TransitionOutcome::Conflict(a.clone()));
        // Approve.
        let TransitionOutcome::Done(approved) = db
            .transition("t", "apr_1", decide(ApprovalState::Approved, "alice", 30))
            .await
            .unwrap()
        else {
            panic!("alice can approve");
        };
        assert_eq!(approved.state, ApprovalState::Approved);
        assert_eq!(approved.decided_by.as_deref(), Some("alice"));
        assert_eq!(approved.decided_at, Some(stamp(30)));
        assert_eq!(approved.history.len(), 2);
        assert_eq!(
            db.approval("t", "apr_1").await.unwrap(),
            Some(approved.clone())
        );
        // A second decision conflicts, whatever it is.
        for to in [ApprovalState::Approved, ApprovalState::Denied] {
            assert_eq!(
                db.transition("t", "apr_1", decide(to, "bob", 40))
                    .await
                    .unwrap(),
                TransitionOutcome::Conflict(approved.clone())
            );
        }
        assert_eq!(
            db.transition("t", "apr_nope", decide(ApprovalState::Denied, "bob", 40))
                .await
                .unwrap(),
            TransitionOutcome::NotFound
        );

        // Deny another.
        db.record_decision("t", asking("d2", "apr_2", "fp2", 50, 1000))
            .await
            .unwrap();
        let TransitionOutcome::Done(denied) = db
            .transition("t", "apr_2", decide(ApprovalState::Denied, "bob", 60))
            .await
            .unwrap()
        else {
            panic!("bob can deny");
        };
        assert_eq!(denied.state, ApprovalState::Denied);
        assert_eq!(
            db.approval_for("t", "fp2", "agent-1", stamp(70))
                .await
                .unwrap()
                .map(|a| a.state),
            Some(ApprovalState::Denied)
        );

        // An expired request cannot be approved.
        db.record_decision("t", asking("d3", "apr_3", "fp3", 70, 80))
            .await
            .unwrap();
        let late = db
            .transition("t", "apr_3", decide(ApprovalState::Approved, "alice", 90))
            .await
            .unwrap();
        assert!(
            matches!(late, TransitionOutcome::Conflict(a) if a.state == ApprovalState::Pending)
        );
        assert_eq!(
            db.approval_for("t", "fp3", "agent-1", stamp(90))
                .await
                .unwrap(),
            None,
            "an expired request bears on nothing"
        );

        let listed: Vec<String> = db
            .approvals("t", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(listed, ["apr_3", "apr_2", "apr_1"], "newest first");
        assert_eq!(
            db.approvals("t", Some(ApprovalState::Approved), 10)
                .await
                .unwrap()
                .len(),
            1
        );

        // Exactly one entry per transition: created, then decided.
        let about = |id: &str| EntryQuery {
            ref_id: Some(id.into()),
            limit: 100,
            ..EntryQuery::default()
        };
        let e1 = db.entries("t", &about("apr_1")).await.unwrap();
        let states: Vec<&Value> = e1.iter().map(|e| &e.entry["body"]["state"]).collect();
        assert_eq!(states, [&json!("pending"), &json!("approved")]);
        assert_eq!(e1[1].entry["body"]["actor"], json!("alice"));
        assert_eq!(db.entries("t", &about("apr_3")).await.unwrap().len(), 1);
        // 3 decisions + 3 creations + 2 decisions on them.
        assert_eq!(check_log(db, "t").await, 8);
    }

    pub async fn grants(db: &Db) {
        // Once: the first retry uses it up.
        db.record_decision("t", asking("d1", "apr_1", "fp1", 10, 1000))
            .await
            .unwrap();
        db.transition("t", "apr_1", decide(ApprovalState::Approved, "alice", 20))
            .await
            .unwrap();
        let before = db.log_head("t").await.unwrap().unwrap().size;
        // Only the requester may use it.
        let mut stranger = using("d2x", "apr_1", "fp1", 25);
        stranger.decision.extra.requested_by = "agent-2".into();
        assert!(is_conflict(&db.record_decision("t", stranger).await));
        let used = db
            .record_decision("t", using("d2", "apr_1", "fp1", 30))
            .await
            .unwrap();
        assert_eq!(used.log_index, before + 1, "the use, then the decision");
        let a = db.approval("t", "apr_1").await.unwrap().unwrap();
        assert_eq!((a.state, a.extra.uses), (ApprovalState::Consumed, 1));
        let again = db
            .record_decision("t", using("d3", "apr_1", "fp1", 40))
            .await;
        assert!(is_conflict(&again), "{again:?}");
        assert_eq!(db.decision("t", "d3").await.unwrap(), None);
        assert_eq!(db.decision("t", "d2x").await.unwrap(), None);
        assert_eq!(
            db.log_head("t").await.unwrap().unwrap().size,
            before + 2,
            "refused uses leave no entry"
        );

        // Until expiry: every retry until it expires.
        db.record_decision("t", asking("d4", "apr_2", "fp2", 50, 200))
            .await
            .unwrap();
        let mut t = decide(ApprovalState::Approved, "alice", 60);
        t.grant = Some(GrantUse::UntilExpiry);
        db.transition("t", "apr_2", t).await.unwrap();
        for (i, at) in [70, 80, 90].into_iter().enumerate() {
            db.record_decision("t", using(&format!("d5-{i}"), "apr_2", "fp2", at))
                .await
                .unwrap();
        }
        let a = db.approval("t", "apr_2").await.unwrap().unwrap();
        assert_eq!(
            (a.state, a.extra.uses, a.extra.grant),
            (ApprovalState::Approved, 3, GrantUse::UntilExpiry)
        );
        assert!(is_conflict(
            &db.record_decision("t", using("d6", "apr_2", "fp2", 200))
                .await
        ));
        // A pending request is no grant.
        db.record_decision("t", asking("d7", "apr_3", "fp3", 50, 1000))
            .await
            .unwrap();
        assert!(is_conflict(
            &db.record_decision("t", using("d8", "apr_3", "fp3", 60))
                .await
        ));
        assert!(is_conflict(
            &db.record_decision("t", using("d9", "apr_nope", "fp3", 60))
                .await
        ));
        check_log(db, "t").await;
    }

    pub async fn expire_due(db: &Db) {
        db.record_decision("t", asking("d1", "apr_pending", "fp1", 10, 100))
            .await
            .unwrap();
        db.record_decision("u", asking("d2", "apr_granted", "fp2", 10, 100))
            .await
            .unwrap();
        db.transition(
            "u",
            "apr_granted",
            decide(ApprovalState::Approved, "alice", 20),
        )
        .await
        .unwrap();
        db.record_decision("t", asking("d3", "apr_later", "fp3", 10, 500))
            .await
            .unwrap();
        db.record_decision("t", asking("d4", "apr_denied", "fp4", 10, 50))
            .await
            .unwrap();
        db.transition("t", "apr_denied", decide(ApprovalState::Denied, "bob", 20))
            .await
            .unwrap();

        let mut expired = db.expire_due(stamp(200)).await.unwrap();
        expired.sort();
        assert_eq!(
            expired,
            [
                ("t".to_string(), "apr_pending".to_string()),
                ("u".to_string(), "apr_granted".to_string())
            ]
        );
        let a = db.approval("u", "apr_granted").await.unwrap().unwrap();
        assert_eq!(a.state, ApprovalState::Expired);
        let last = a.history.last().unwrap();
        assert_eq!((last.actor.as_str(), &last.at), ("cavra", &stamp(200)));
        for (id, state) in [
            ("apr_pending", ApprovalState::Expired),
            ("apr_later", ApprovalState::Pending),
            ("apr_denied", ApprovalState::Denied),
        ] {
            assert_eq!(db.approval("t", id).await.unwrap().unwrap().state, state);
        }
        assert!(db.expire_due(stamp(200)).await.unwrap().is_empty());
        // The expiry is an entry in each tenant's own log.
        let expiries = |t: &'static str| async move {
            db.entries(t, &all_entries())
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.entry["body"]["state"] == json!("expired"))
                .count()
        };
        assert_eq!((expiries("t").await, expiries("u").await), (1, 1));
        check_log(db, "t").await;
        check_log(db, "u").await;
    }

    fn agent(name: &str, v: i64) -> RegistryRecord {
        RegistryRecord {
            kind: RegistryKind::Agent,
            name: name.into(),
            record: json!({"owner": "team", "version": v}),
            updated_at: stamp(v as u32),
            updated_by: "admin".into(),
        }
    }

    pub async fn registry(db: &Db) {
        db.put_registry("t", &agent("bot-b", 1)).await.unwrap();
        db.put_registry("t", &agent("bot-a", 2)).await.unwrap();
        let mcp = RegistryRecord {
            kind: RegistryKind::McpServer,
            name: "github".into(),
            record: json!({"url": "https://mcp.example"}),
            updated_at: stamp(3),
            updated_by: "admin".into(),
        };
        db.put_registry("t", &mcp).await.unwrap();
        let names = |v: Vec<RegistryRecord>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            names(db.registry("t", RegistryKind::Agent).await.unwrap()),
            ["bot-a", "bot-b"]
        );
        assert_eq!(
            db.registry("t", RegistryKind::McpServer).await.unwrap(),
            vec![mcp.clone()]
        );
        // Replacing keeps one record.
        db.put_registry("t", &agent("bot-b", 9)).await.unwrap();
        assert_eq!(
            db.registry_entry("t", RegistryKind::Agent, "bot-b")
                .await
                .unwrap(),
            Some(agent("bot-b", 9))
        );
        assert_eq!(
            db.registry("t", RegistryKind::Agent).await.unwrap().len(),
            2
        );
        assert_eq!(
            db.registry_entry("t", RegistryKind::McpServer, "bot-b")
                .await
                .unwrap(),
            None,
            "kinds are separate"
        );
        assert!(
            db.delete_registry("t", RegistryKind::Agent, "bot-b")
                .await
                .unwrap()
        );
        assert!(
            !db.delete_registry("t", RegistryKind::Agent, "bot-b")
                .await
                .unwrap()
        );
        assert_eq!(
            names(db.registry("t", RegistryKind::Agent).await.unwrap()),
            ["bot-a"]
        );
        let q = EntryQuery {
            kind: Some("registry".into()),
            limit: 100,
            ..EntryQuery::default()
        };
        assert_eq!(db.entries("t", &q).await.unwrap().len(), 4, "every change");
        check_log(db, "t").await;
    }

    pub async fn packs_and_assignments(db: &Db) {
        let pack = StoredPack {
            digest: "sha256:aaa".into(),
            pack_id: "acme-baseline".into(),
            document: "apiVersion: cavra/v1\n".into(),
            signed_by: Some(json!({"key_id": "k1"})),
            uploaded_at: stamp(1),
            uploaded_by: "admin".into(),
        };
        let unsigned = StoredPack {
            digest: "sha256:bbb".into(),
            signed_by: None,
            uploaded_at: stamp(2),
            ..pack.clone()
        };
        db.put_pack("t", &pack).await.unwrap();
        db.put_pack("t", &unsigned).await.unwrap();
        // Idempotent by digest: the first upload stays.
        db.put_pack(
            "t",
            &StoredPack {
                uploaded_by: "someone".into(),
                ..pack.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            db.packs("t").await.unwrap(),
            vec![pack.clone(), unsigned.clone()]
        );
        assert_eq!(db.pack("t", "sha256:aaa").await.unwrap(), Some(pack));
        assert_eq!(db.pack("t", "sha256:zzz").await.unwrap(), None);

        let assign = |scope: &str, pack: &str, at: u32| Assignment {
            scope: scope.into(),
            pack: pack.into(),
            assigned_at: stamp(at),
            assigned_by: "admin".into(),
        };
        db.assign("t", &assign("org/repo", "sha256:bbb", 3))
            .await
            .unwrap();
        db.assign("t", &assign("", "builtin:baseline", 4))
            .await
            .unwrap();
        db.assign("t", &assign("", "sha256:aaa", 5)).await.unwrap();
        assert_eq!(
            db.assignments("t").await.unwrap(),
            vec![
                assign("", "sha256:aaa", 5),
                assign("org/repo", "sha256:bbb", 3)
            ]
        );
        let q = EntryQuery {
            kind: Some("policy_assignment".into()),
            limit: 100,
            ..EntryQuery::default()
        };
        let e = db.entries("t", &q).await.unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].ref_id.as_deref(), Some("sha256:aaa"));
        check_log(db, "t").await;
    }

    pub async fn entries(db: &Db) {
        db.record_decision("t", plain(decision("d0", Some("s1"), "allow", 10)))
            .await
            .unwrap();
        db.record_decision("t", asking("d1", "apr_1", "fp1", 20, 1000))
            .await
            .unwrap();
        db.record_decision("t", plain(decision("d2", Some("s2"), "block", 30)))
            .await
            .unwrap();
        db.put_registry("t", &agent("bot", 40)).await.unwrap();
        // Entries: 0 d0, 1 d1, 2 apr_1, 3 d2, 4 registry.
        let q = |f: fn(&mut EntryQuery)| {
            let mut q = EntryQuery {
                limit: 100,
                ..EntryQuery::default()
            };
            f(&mut q);
            q
        };
        let idx = |v: Vec<EntryRecord>| v.into_iter().map(|e| e.index).collect::<Vec<_>>();
        assert_eq!(
            idx(db.entries("t", &q(|_| {})).await.unwrap()),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(
            idx(db
                .entries("t", &q(|q| q.kind = Some("decision".into())))
                .await
                .unwrap()),
            [0, 1, 3]
        );
        assert_eq!(
            idx(db
                .entries("t", &q(|q| q.session_id = Some("s-apr".into())))
                .await
                .unwrap()),
            [1, 2]
        );
        assert_eq!(
            idx(db
                .entries("t", &q(|q| q.ref_id = Some("apr_1".into())))
                .await
                .unwrap()),
            [2]
        );
        assert_eq!(
            idx(db
                .entries(
                    "t",
                    &q(|q| {
                        q.since = Some(stamp(20));
                        q.until = Some(stamp(40));
                    })
                )
                .await
                .unwrap()),
            [1, 2, 3]
        );
        assert_eq!(
            idx(db
                .entries("t", &q(|q| q.after_index = Some(2)))
                .await
                .unwrap()),
            [3, 4]
        );
        assert_eq!(
            idx(db
                .entries(
                    "t",
                    &q(|q| {
                        q.after_index = Some(0);
                        q.limit = 2;
                    })
                )
                .await
                .unwrap()),
            [1, 2]
        );
        let e = db.entries("t", &q(|_| {})).await.unwrap();
        assert_eq!(e[2].kind, "approval");
        assert_eq!(e[2].timestamp, ts(20));
        assert_eq!(e[2].entry["body"]["approval_id"], json!("apr_1"));
        assert_eq!(e[4].entry["kind"], json!("registry"));
    }

    pub async fn log_and_checkpoints(db: &Db) {
        assert_eq!(db.log_head("t").await.unwrap(), None);
        assert_eq!(db.checkpoint_now("t", &ts(1)).await.unwrap(), None);
        assert_eq!(db.latest_checkpoint("t").await.unwrap(), None);
        for i in 0..70u32 {
            db.record_decision(
                "t",
                plain(decision(&format!("d{i}"), Some("s"), "allow", i)),
            )
            .await
            .unwrap();
        }
        // One signed automatically at 64 entries.
        let auto = db.latest_checkpoint("t").await.unwrap().unwrap();
        assert_eq!(auto.tree_size, 64);
        assert_eq!(auto.key_id, KEY_ID);
        assert_eq!(check_log(db, "t").await, 70);
        let head = db.log_head("t").await.unwrap().unwrap();
        assert_eq!(head.log_id.len(), 32);
        assert!(head.log_id.chars().all(|c| c.is_ascii_hexdigit()));
        // And one on demand, of the whole log.
        let now = db.checkpoint_now("t", &ts(5000)).await.unwrap().unwrap();
        assert_eq!(now.tree_size, 70);
        assert_eq!(now.root_hash, head.root_hash);
        assert_eq!(db.latest_checkpoint("t").await.unwrap(), Some(now.clone()));
        let signed = verify_checkpoint(&now);
        assert_eq!(signed.timestamp, ts(5000));
        assert_eq!(signed.log_id, head.log_id);
        // A prefix of the leaves is the same prefix.
        assert_eq!(db.leaf_hashes("t", 10).await.unwrap().len(), 10);
        assert_eq!(
            db.leaf_hashes("t", 10).await.unwrap()[..],
            db.leaf_hashes("t", 70).await.unwrap()[..10]
        );
    }

    /// Everything tenant A has, then every read as tenant B (even with A's ids): nothing.
    pub async fn tenant_isolation(db: &Db) {
        let (a, b) = ("tenant-a", "tenant-b");
        db.create_tenant(&tenant(a)).await.unwrap();
        db.create_tenant(&tenant(b)).await.unwrap();
        db.insert_token(&token("tok_a", a)).await.unwrap();
        db.record_decision(a, plain(decision("dA", Some("sA"), "block", 1)))
            .await
            .unwrap();
        db.record_decision(a, asking("dA2", "aprA", "fpA", 2, 1000))
            .await
            .unwrap();
        db.record_decision(a, asking("dA3", "aprA_granted", "fpA3", 3, 1000))
            .await
            .unwrap();
        db.transition(
            a,
            "aprA_granted",
            decide(ApprovalState::Approved, "alice", 4),
        )
        .await
        .unwrap();
        db.put_registry(a, &agent("botA", 5)).await.unwrap();
        db.put_pack(
            a,
            &StoredPack {
                digest: "sha256:A".into(),
                pack_id: "a-pack".into(),
                document: "doc".into(),
                signed_by: None,
                uploaded_at: stamp(6),
                uploaded_by: "admin".into(),
            },
        )
        .await
        .unwrap();
        db.assign(
            a,
            &Assignment {
                scope: String::new(),
                pack: "sha256:A".into(),
                assigned_at: stamp(7),
                assigned_by: "admin".into(),
            },
        )
        .await
        .unwrap();
        db.checkpoint_now(a, &ts(8)).await.unwrap().unwrap();
        let a_size = check_log(db, a).await;
        let a_approval = db.approval(a, "aprA").await.unwrap().unwrap();
        let a_granted = db.approval(a, "aprA_granted").await.unwrap().unwrap();

        // Reads as B.
        assert!(db.tokens(Some(b)).await.unwrap().is_empty());
        assert!(db.decisions(b, &all_decisions()).await.unwrap().is_empty());
        assert_eq!(db.decision(b, "dA").await.unwrap(), None);
        assert!(db.sessions(b, 100).await.unwrap().is_empty());
        assert_eq!(db.session(b, "sA").await.unwrap(), None);
        assert!(db.approvals(b, None, 100).await.unwrap().is_empty());
        assert!(
            db.approvals(b, Some(ApprovalState::Pending), 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.approval(b, "aprA").await.unwrap(), None);
        assert_eq!(
            db.approval_for(b, "fpA", "agent-1", stamp(10))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            db.approval_for(b, "fpA3", "agent-1", stamp(10))
                .await
                .unwrap(),
            None
        );
        assert!(
            db.queue_depths()
                .await
                .unwrap()
                .iter()
                .all(|q| q.tenant != b)
        );
        assert!(
            db.registry(b, RegistryKind::Agent)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.registry_entry(b, RegistryKind::Agent, "botA")
                .await
                .unwrap(),
            None
        );
        assert!(db.packs(b).await.unwrap().is_empty());
        assert_eq!(db.pack(b, "sha256:A").await.unwrap(), None);
        assert!(db.assignments(b).await.unwrap().is_empty());
        assert!(db.entries(b, &all_entries()).await.unwrap().is_empty());
        let by_ref = EntryQuery {
            ref_id: Some("dA".into()),
            limit: 10,
            ..EntryQuery::default()
        };
        assert!(db.entries(b, &by_ref).await.unwrap().is_empty());
        assert_eq!(db.log_head(b).await.unwrap(), None);
        assert!(db.leaf_hashes(b, 1000).await.unwrap().is_empty());
        assert_eq!(db.latest_checkpoint(b).await.unwrap(), None);
        assert_eq!(db.checkpoint_now(b, &ts(9)).await.unwrap(), None);

        // Writes as B cannot reach A's rows either.
        assert!(!db.revoke_token(Some(b), "tok_a", stamp(9)).await.unwrap());
        assert!(
            !db.delete_registry(b, RegistryKind::Agent, "botA")
                .await
                .unwrap()
        );
        assert_eq!(
            db.transition(b, "aprA", decide(ApprovalState::Approved, "mallory", 9))
                .await
                .unwrap(),
            TransitionOutcome::NotFound
        );
        assert!(is_conflict(
            &db.record_decision(b, using("dB-use", "aprA_granted", "fpA3", 9))
                .await
        ));
        assert_eq!(db.approval(a, "aprA").await.unwrap(), Some(a_approval));
        assert_eq!(
            db.approval(a, "aprA_granted").await.unwrap(),
            Some(a_granted)
        );
        assert!(
            db.token("tok_a")
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert!(
            db.registry_entry(a, RegistryKind::Agent, "botA")
                .await
                .unwrap()
                .is_some()
        );

        // B's log is its own: it starts at 0 under its own id.
        let rb = db
            .record_decision(b, plain(decision("dB", Some("sA"), "allow", 10)))
            .await
            .unwrap();
        assert_eq!(rb.log_index, 0);
        assert_ne!(
            db.log_head(a).await.unwrap().unwrap().log_id,
            db.log_head(b).await.unwrap().unwrap().log_id
        );
        assert_eq!(db.session(b, "sA").await.unwrap().unwrap().decisions, 1);
        assert_eq!(db.session(a, "sA").await.unwrap().unwrap().decisions, 1);
        assert_eq!(check_log(db, a).await, a_size);
        assert_eq!(check_log(db, b).await, 1);
    }

    /// Subtree hashes: stored once (a second store of the same subtree keeps the first),
    /// read back in the order asked, per tenant, and only aligned power-of-two subtrees.
    pub async fn subtrees(db: &Db) {
        for t in ["acme", "beta"] {
            db.create_tenant(&tenant(t)).await.unwrap();
        }
        let (h1, h2) = ([1u8; 32], [2u8; 32]);
        db.store_subtrees("acme", &[(0, 64, h1), (64, 64, h2)])
            .await
            .unwrap();
        db.store_subtrees("acme", &[(0, 64, [9u8; 32])])
            .await
            .unwrap();
        assert_eq!(
            db.stored_subtrees("acme", &[(64, 64), (0, 128), (0, 64)])
                .await
                .unwrap(),
            [Some(h2), None, Some(h1)]
        );
        assert_eq!(
            db.stored_subtrees("beta", &[(0, 64)]).await.unwrap(),
            [None]
        );
        assert_eq!(db.stored_subtree_count("acme").await.unwrap(), 2);
        for bad in [(32, 64), (0, 48)] {
            assert!(
                db.store_subtrees("acme", &[(bad.0, bad.1, h1)])
                    .await
                    .is_err(),
                "{bad:?}"
            );
        }
    }

    /// Many writers at once, so that group commits mix them: plain decisions of three tenants,
    /// decisions asking for approvals (two entries each) and registry writes (appends made by
    /// another kind of write), every one stored; then plain decisions racing with ones that
    /// reuse an id (refused; on SQLite such a write fails its whole group, which is rolled
    /// back). Every write acknowledged is stored, no refused one is, and each tenant's log is
    /// whole: dense, its head the root of its leaves, its checkpoints over its prefixes.
    pub async fn concurrent_mixed_writes(db: &Db) {
        let tenants = ["t", "u", "v"];
        let mut tasks = Vec::new();
        for w in 0..24u32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..30u32 {
                    let tenant = tenants[((w + i) % 3) as usize];
                    let id = format!("{tenant}-{w}-{i}");
                    match (w + i) % 10 {
                        0 => db
                            .put_registry(tenant, &agent(&id, i64::from(i)))
                            .await
                            .map(|_| ()),
                        1 => db
                            .record_decision(
                                tenant,
                                asking(&id, &format!("apr-{id}"), &format!("fp-{id}"), i, 9_000),
                            )
                            .await
                            .map(|_| ()),
                        _ => db
                            .record_decision(tenant, plain(decision(&id, Some("s"), "allow", i)))
                            .await
                            .map(|_| ()),
                    }
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // 720 writes, 72 of each kind 0 and 1 (by (w + i) % 10), a third per tenant.
        for t in tenants {
            assert_eq!(check_log(db, t).await, 240 + 24, "tenant {t}");
            assert_eq!(db.decisions(t, &all_decisions()).await.unwrap().len(), 216);
            assert_eq!(db.registry(t, RegistryKind::Agent).await.unwrap().len(), 24);
        }

        for t in tenants {
            db.record_decision(t, plain(decision(&format!("{t}-dup"), None, "allow", 1)))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for w in 0..24u32 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0..20u32 {
                    let tenant = tenants[((w + i) % 3) as usize];
                    // Every fifth writer reuses an id now and then.
                    let id = if w % 5 == 0 && i % 7 == 3 {
                        format!("{tenant}-dup")
                    } else {
                        format!("{tenant}-again-{w}-{i}")
                    };
                    let r = db
                        .record_decision(tenant, plain(decision(&id, Some("s"), "allow", i)))
                        .await;
                    outcomes.push((tenant, id, r.is_ok()));
                }
                outcomes
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.extend(t.await.unwrap());
        }
        for t in tenants {
            let size = check_log(db, t).await;
            let ids: BTreeSet<String> = db
                .decisions(t, &all_decisions())
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.decision_id)
                .collect();
            let mut added = 0;
            for (_, id, ok) in outcomes.iter().filter(|(tenant, _, _)| *tenant == t) {
                if id.contains("-again-") {
                    assert_eq!(ids.contains(id), *ok, "{id}");
                    added += u64::from(*ok);
                } else {
                    assert!(!ok, "{id} reused an id and was stored");
                }
            }
            assert_eq!(size, 265 + added, "tenant {t}");
        }
    }

    /// The decision list's keyset pages (newest first by time, then by order of recording),
    /// with each filter and some together, walked page by page with the cursor, against the
    /// same list computed here from what was recorded.
    pub async fn decision_pages(db: &Db) {
        struct Made {
            id: String,
            at: u32,
            session: String,
            word: &'static str,
            rule: String,
            actor: String,
            repository: Option<String>,
        }
        let words = ["allow", "block", "warn"];
        let mut made = Vec::new();
        for i in 0..40u32 {
            // Three decisions per second (ties in time), and the last few recorded with
            // times before the first: the list goes by time, not by order of recording.
            let at = if i >= 36 { 54 + i } else { 100 + i / 3 };
            let word = words[(i % 3) as usize];
            let mut d = decision(&format!("p{i:02}"), Some(&format!("s{}", i % 4)), word, at);
            d.rule_id = format!("rule-{}", i % 5);
            d.extra.requested_by = format!("actor-{}", i % 2);
            let repository = (i % 4 != 3).then(|| format!("org/r{}", i % 4));
            d.extra.record = json!({"decision_id": d.decision_id, "repository": repository}).into();
            made.push(Made {
                id: d.decision_id.clone(),
                at,
                session: format!("s{}", i % 4),
                word,
                rule: d.rule_id.clone(),
                actor: d.extra.requested_by.clone(),
                repository,
            });
            db.record_decision("p", plain(d)).await.unwrap();
        }
        // Another tenant's decisions, in the same repository and session, never show.
        for i in 0..5u32 {
            let mut d = decision(&format!("q{i}"), Some("s0"), "block", 100 + i);
            d.extra.record = json!({"repository": "org/r0"}).into();
            db.record_decision("q", plain(d)).await.unwrap();
        }
        // Newest first: by time, then the later recorded (index in `made`) first.
        let mut order: Vec<usize> = (0..made.len()).collect();
        order.sort_by(|&a, &b| (made[b].at, b).cmp(&(made[a].at, a)));
        let want = |keep: &dyn Fn(&Made) -> bool| -> Vec<String> {
            order
                .iter()
                .map(|&i| &made[i])
                .filter(|m| keep(m))
                .map(|m| m.id.clone())
                .collect()
        };
        // Every page of `f`, `size` at a time, each after the last id of the one before.
        let walk = |f: DecisionFilter, size: usize| async move {
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let page = db
                    .decisions(
                        "p",
                        &DecisionFilter {
                            before: before.clone(),
                            limit: Some(size),
                            ..f.clone()
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.len() <= size);
                let full = page.len() == size;
                before = page.last().map(|d| d.decision_id.clone());
                all.extend(page.into_iter().map(|d| d.decision_id));
                if !full {
                    return all;
                }
            }
        };
        // A case: its name, its filter, and which of the decisions made it keeps.
        type Case = (&'static str, DecisionFilter, Box<dyn Fn(&Made) -> bool>);
        let cases: Vec<Case> = vec![
            ("all", DecisionFilter::default(), Box::new(|_| true)),
            (
                "outcome",
                DecisionFilter {
                    decision: Some(Decision::Block),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.word == "block"),
            ),
            // Allowed decisions are not in the outcome index (migration 9): read from the
            // time index, the others skipped.
            (
                "allowed",
                DecisionFilter {
                    decision: Some(Decision::Allow),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.word == "allow"),
            ),
            (
                "warned",
                DecisionFilter {
                    decision: Some(Decision::Warn),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.word == "warn"),
            ),
            (
                "rule",
                DecisionFilter {
                    rule_id: Some("rule-2".into()),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.rule == "rule-2"),
            ),
            (
                "actor",
                DecisionFilter {
                    requested_by: Some("actor-1".into()),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.actor == "actor-1"),
            ),
            (
                "repository",
                DecisionFilter {
                    repository: Some("org/r1".into()),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.repository.as_deref() == Some("org/r1")),
            ),
            (
                "session",
                DecisionFilter {
                    session_id: Some("s0".into()),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.session == "s0"),
            ),
            (
                "action",
                DecisionFilter {
                    action_type: Some(ActionType::ExecuteCommand),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.word == "block"),
            ),
            (
                "time",
                DecisionFilter {
                    since: Some(stamp(95)),
                    until: Some(stamp(108)),
                    ..DecisionFilter::default()
                },
                Box::new(|m| (95..108).contains(&m.at)),
            ),
            (
                "repository and outcome",
                DecisionFilter {
                    repository: Some("org/r0".into()),
                    decision: Some(Decision::Allow),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.repository.as_deref() == Some("org/r0") && m.word == "allow"),
            ),
            (
                "rule, actor and time",
                DecisionFilter {
                    rule_id: Some("rule-0".into()),
                    requested_by: Some("actor-0".into()),
                    since: Some(stamp(101)),
                    ..DecisionFilter::default()
                },
                Box::new(|m| m.rule == "rule-0" && m.actor == "actor-0" && m.at >= 101),
            ),
            (
                "a value no decision has",
                DecisionFilter {
                    repository: Some("org/none".into()),
                    ..DecisionFilter::default()
                },
                Box::new(|_| false),
            ),
        ];
        for (label, f, keep) in &cases {
            let want = want(keep.as_ref());
            assert_eq!(
                db.decisions(
                    "p",
                    &DecisionFilter {
                        limit: Some(1000),
                        ..f.clone()
                    }
                )
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.decision_id)
                .collect::<Vec<_>>(),
                want,
                "{label}: one page"
            );
            // Pages of 2 and 4 end inside groups of decisions of the same second.
            for size in [1, 2, 4, 7] {
                assert_eq!(
                    walk(f.clone(), size).await,
                    want,
                    "{label}: pages of {size}"
                );
            }
        }
        // p36..p39 were recorded last with the earliest times (90..93 s): they end the list;
        // p33..p35 share the latest second and come newest recorded first.
        let all = want(&|_| true);
        assert_eq!(&all[36..], ["p39", "p38", "p37", "p36"]);
        assert_eq!(&all[..3], ["p35", "p34", "p33"]);
        // A cursor need not match the filter: the page goes on from its place in the order.
        let blocks_after_p30 = db
            .decisions(
                "p",
                &DecisionFilter {
                    decision: Some(Decision::Block),
                    before: Some("p30".into()),
                    limit: Some(100),
                    ..DecisionFilter::default()
                },
            )
            .await
            .unwrap();
        let after_p30: Vec<String> = all
            .iter()
            .skip_while(|id| *id != "p30")
            .skip(1)
            .filter(|id| made.iter().any(|m| &m.id == *id && m.word == "block"))
            .cloned()
            .collect();
        assert!(!after_p30.is_empty());
        assert_eq!(
            blocks_after_p30
                .into_iter()
                .map(|d| d.decision_id)
                .collect::<Vec<_>>(),
            after_p30
        );
        // Another tenant's decision as a cursor, or an unknown one, gives nothing.
        for cursor in ["q0", "nope"] {
            let f = DecisionFilter {
                before: Some(cursor.into()),
                limit: Some(100),
                ..DecisionFilter::default()
            };
            assert!(db.decisions("p", &f).await.unwrap().is_empty(), "{cursor}");
        }
        assert_eq!(
            db.decisions(
                "q",
                &DecisionFilter {
                    repository: Some("org/r0".into()),
                    limit: Some(100),
                    ..DecisionFilter::default()
                }
            )
            .await
            .unwrap()
            .len(),
            5
        );
        // A repository a redaction rule masks is stored masked, in the record and the column
        // alike: the masked text finds it, the secret does not.
        let mut d = decision("p-secret", None, "allow", 200);
        d.extra.record = json!({"repository": "AKIAJ4X7Q2M9ZK3LB8WP"}).into();
        db.record_decision("p", plain(d)).await.unwrap();
        let stored = db.decision("p", "p-secret").await.unwrap().unwrap();
        let masked = stored.record["repository"].as_str().unwrap().to_string();
        assert_ne!(masked, "AKIAJ4X7Q2M9ZK3LB8WP");
        let by_repo = |r: &str| DecisionFilter {
            repository: Some(r.into()),
            limit: Some(10),
            ..DecisionFilter::default()
        };
        assert!(
            db.decisions("p", &by_repo("AKIAJ4X7Q2M9ZK3LB8WP"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.decisions("p", &by_repo(&masked)).await.unwrap()[0].decision_id,
            "p-secret"
        );
    }
}

/// The outbox's batches: one claim routes new events (the routing runs inside it) into
/// deliveries already leased to the claimer, so another worker gets none of them; one write
/// records a whole batch of attempts (entries appended in order under one head, a checkpoint
/// signed inside the batch when the log crosses one, a lost lease leaving only that row
/// alone, a dead letter's follow-up event written), and one gives deferred deliveries back.
mod outbox_scenarios {
    use super::*;
    use cavra_tenant_store::outbox::*;

    fn route() -> Route {
        Arc::new(|e: &OutboxEvent| {
            if e.tenant == "a" {
                vec!["x".to_string(), "y".to_string()]
            } else {
                vec!["x".to_string()]
            }
        })
    }

    fn attempt(d: &Delivery, owner: &str, outcome: AttemptOutcome) -> AttemptRecord {
        AttemptRecord {
            tenant: d.tenant.clone(),
            event_id: d.event_id.clone(),
            destination: d.destination.clone(),
            owner: owner.into(),
            attempt: d.attempts + 1,
            outcome,
            at: stamp(100),
            status: "200".into(),
            error: None,
            entry: json!({"event_id": d.event_id, "destination": d.destination, "note": "password=hunter2"}),
            follow_up: None,
        }
    }

    /// Retention: finished deliveries (delivered, dead) that last changed before the cut
    /// and the events left with no delivery are removed, a chunk at a time; pending
    /// deliveries, their events, newer rows and the evidence entries stay.
    pub async fn outbox_retention(db: &Db) {
        for i in 0..5 {
            db.record_decision("a", plain(decision(&format!("a{i}"), None, "block", i)))
                .await
                .unwrap();
        }
        let only_x: Route = Arc::new(|_: &OutboxEvent| vec!["x".to_string()]);
        let claim = db
            .claim(
                "w1",
                1_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00.000Z"),
                only_x.clone(),
            )
            .await
            .unwrap();
        assert_eq!(claim.deliveries.len(), 5);
        let mut records = Vec::new();
        for (i, c) in claim.deliveries.iter().enumerate() {
            let (outcome, at) = match i {
                0 => (AttemptOutcome::Delivered, "2026-01-02T00:00:00.000Z"),
                1 => (AttemptOutcome::Dead, "2026-01-02T00:00:00.000Z"),
                2 => (
                    AttemptOutcome::Retry { next_at_ms: 1 },
                    "2026-01-02T00:00:00.000Z",
                ),
                _ => (AttemptOutcome::Delivered, "2026-03-01T00:00:00.000Z"),
            };
            let mut r = attempt(&c.delivery, "w1", outcome);
            r.at = time_at(at);
            records.push(r);
        }
        db.record_attempts(records).await.unwrap();
        let entries_before = db.entries("a", &all_entries()).await.unwrap().len();

        let cut = time_at("2026-02-01T00:00:00.000Z");
        let first = db.purge_outbox(cut, 1).await.unwrap();
        assert_eq!(
            first,
            Purged {
                deliveries: 1,
                events: 1
            },
            "a chunk of one row of each"
        );
        let second = db.purge_outbox(cut, 100).await.unwrap();
        assert_eq!(
            second,
            Purged {
                deliveries: 1,
                events: 1
            }
        );
        assert_eq!(db.purge_outbox(cut, 100).await.unwrap(), Purged::default());

        let left = db
            .deliveries(
                "a",
                &DeliveryFilter {
                    limit: 100,
                    ..DeliveryFilter::default()
                },
            )
            .await
            .unwrap();
        let states: Vec<_> = left.iter().map(|d| (d.event_id.clone(), d.state)).collect();
        assert_eq!(
            left.len(),
            3,
            "the pending one and the two finished after the cut: {states:?}"
        );
        assert_eq!(
            left.iter()
                .filter(|d| d.state == DeliveryState::Pending)
                .count(),
            1
        );
        for c in &claim.deliveries[..2] {
            assert!(db.event("a", &c.event.id).await.unwrap().is_none());
        }
        for c in &claim.deliveries[2..] {
            assert!(
                db.event("a", &c.event.id).await.unwrap().is_some(),
                "an event with a delivery left stays"
            );
        }
        assert_eq!(
            db.entries("a", &all_entries()).await.unwrap().len(),
            entries_before,
            "the evidence stays"
        );
        // An event no connector took (nothing routed it) goes once it is older than the cut.
        db.record_decision("a", plain(decision("late", None, "block", 10)))
            .await
            .unwrap();
        assert_eq!(
            db.purge_outbox(time_at("2026-01-01T00:00:05Z"), 100)
                .await
                .unwrap(),
            Purged::default()
        );
        assert_eq!(
            db.purge_outbox(cut, 100).await.unwrap(),
            Purged {
                deliveries: 0,
                events: 1
            }
        );
    }

    pub async fn outbox_batches(db: &Db) {
        // 40 decisions of tenant a (40 entries), 1 of tenant b; blocks make events.
        for i in 0..40 {
            db.record_decision("a", plain(decision(&format!("a{i}"), None, "block", i)))
                .await
                .unwrap();
        }
        db.record_decision("b", plain(decision("b0", None, "block", 1)))
            .await
            .unwrap();

        let claim = db
            .claim(
                "w1",
                1_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route(),
            )
            .await
            .unwrap();
        assert_eq!(claim.routed, 41);
        assert_eq!(
            claim.deliveries.len(),
            81,
            "a's events go to x and y, b's to x"
        );
        assert_eq!(claim.deliveries[0].event.ref_id.as_deref(), Some("a0"));
        assert_eq!(
            (
                claim.deliveries[0].delivery.destination.as_str(),
                claim.deliveries[1].delivery.destination.as_str()
            ),
            ("x", "y"),
            "in event order, each event's destinations together"
        );
        let other = db
            .claim(
                "w2",
                1_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route(),
            )
            .await
            .unwrap();
        assert_eq!(
            other,
            Claim::default(),
            "routed and leased to w1 in the same write"
        );
        let pending = db
            .deliveries(
                "a",
                &DeliveryFilter {
                    state: Some(DeliveryState::Pending),
                    limit: 1000,
                    ..DeliveryFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(pending.len(), 80);
        // Due again only when the lease ends: a claim for due deliveries does not walk the
        // ones in flight.
        assert!(
            pending.iter().all(|d| d.next_at_ms == 61_000),
            "{:?}",
            pending.iter().map(|d| d.next_at_ms).collect::<Vec<_>>()
        );

        // One batch: a's 80 (the log crosses entry 64 inside it), one of them dead with a
        // follow-up, one retried, one whose lease w1 no longer holds (written as w2).
        let mut records = Vec::new();
        for (i, c) in claim.deliveries.iter().enumerate() {
            let d = &c.delivery;
            let (owner, outcome) = match i {
                0 => ("w1", AttemptOutcome::Dead),
                1 => ("w1", AttemptOutcome::Retry { next_at_ms: 5_000 }),
                2 => ("w2", AttemptOutcome::Delivered),
                _ => ("w1", AttemptOutcome::Delivered),
            };
            let mut r = attempt(d, owner, outcome);
            if i == 0 {
                r.follow_up = Some(NewEvent::new(
                    "connector.failure",
                    Some(d.event_id.clone()),
                    time_at("2026-01-01T00:00:00Z"),
                    json!({"destination": "x"}),
                ));
            }
            records.push(r);
        }
        let written = db.record_attempts(records).await.unwrap();
        assert_eq!(written.len(), 81);
        let a_indexes: Vec<u64> = claim
            .deliveries
            .iter()
            .zip(&written)
            .filter(|(c, _)| c.delivery.tenant == "a")
            .map(|(_, w)| w.log_index)
            .collect();
        assert_eq!(
            a_indexes,
            (40..120).collect::<Vec<u64>>(),
            "appended in order after the decisions"
        );
        assert_eq!(
            written.iter().map(|w| w.applied).collect::<Vec<_>>(),
            (0..81).map(|i| i != 2).collect::<Vec<_>>(),
            "only the row whose lease was lost stays"
        );
        assert_eq!(
            written[80].log_index, 1,
            "b's attempt is entry 1 of b's log"
        );
        assert_eq!(check_log(db, "a").await, 120);
        assert_eq!(check_log(db, "b").await, 2);
        let cp = db
            .latest_checkpoint("a")
            .await
            .unwrap()
            .expect("a checkpoint");
        assert_eq!(cp.tree_size, 64, "signed inside the batch");
        let entry = db
            .entries(
                "a",
                &EntryQuery {
                    kind: Some("delivery".into()),
                    limit: 1,
                    ..EntryQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(
            !entry[0].entry.to_string().contains("hunter2"),
            "attempt entries are redacted"
        );

        let state = |s| DeliveryFilter {
            state: Some(s),
            limit: 1000,
            ..DeliveryFilter::default()
        };
        assert_eq!(
            db.deliveries("a", &state(DeliveryState::Delivered))
                .await
                .unwrap()
                .len(),
            77
        );
        assert_eq!(
            db.deliveries("a", &state(DeliveryState::Dead))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            db.deliveries("b", &state(DeliveryState::Delivered))
                .await
                .unwrap()
                .len(),
            1
        );

        // The follow-up (and the checkpoint's event) are new events: the next claim routes
        // them; the retry is due at 5 s, the lost-lease row when w1's lease ends.
        let next = db
            .claim(
                "w1",
                2_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route(),
            )
            .await
            .unwrap();
        let kinds: Vec<&str> = next
            .deliveries
            .iter()
            .map(|c| c.event.kind.as_str())
            .collect();
        assert!(kinds.contains(&"connector.failure"), "{kinds:?}");
        assert!(kinds.contains(&"evidence.checkpoint"), "{kinds:?}");
        assert!(next.deliveries.iter().all(|c| c.delivery.attempts == 0));
        let due = db
            .claim(
                "w1",
                5_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route(),
            )
            .await
            .unwrap();
        assert_eq!(due.routed, 0);
        assert_eq!(due.deliveries.len(), 1, "the retry");
        assert_eq!(
            (
                due.deliveries[0].delivery.attempts,
                due.deliveries[0].delivery.next_at_ms
            ),
            (1, 5_000)
        );
        assert_eq!(due.deliveries[0].event.ref_id.as_deref(), Some("a0"));

        // Deferred deliveries go back in one write, due when given.
        let releases = due
            .deliveries
            .iter()
            .map(|c| Release {
                tenant: c.delivery.tenant.clone(),
                event_id: c.delivery.event_id.clone(),
                destination: c.delivery.destination.clone(),
                next_at_ms: 9_000,
            })
            .collect();
        assert_eq!(
            db.release_deliveries(
                "w2",
                vec![Release {
                    tenant: "a".into(),
                    event_id: "nope".into(),
                    destination: "x".into(),
                    next_at_ms: 0
                }]
            )
            .await
            .unwrap(),
            0
        );
        assert_eq!(db.release_deliveries("w1", releases).await.unwrap(), 1);
        assert!(
            db.claim(
                "w1",
                8_999,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route()
            )
            .await
            .unwrap()
            .deliveries
            .is_empty()
        );
        assert_eq!(
            db.claim(
                "w2",
                9_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route()
            )
            .await
            .unwrap()
            .deliveries
            .len(),
            1
        );
        // w1's lease on the lost-lease row ends at 61 s: then it is due again.
        let late = db
            .claim(
                "w3",
                61_000,
                60_000,
                100,
                time_at("2026-01-01T00:00:00Z"),
                route(),
            )
            .await
            .unwrap();
        assert!(
            late.deliveries
                .iter()
                .any(|c| c.delivery.event_id == claim.deliveries[2].delivery.event_id),
            "a lease that ran out lets another worker take the row"
        );
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::Fixture::sqlite().await;
                    super::scenarios::$name(&f.db).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outbox_batches() {
                let f = super::Fixture::sqlite().await;
                super::outbox_scenarios::outbox_batches(&f.db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outbox_retention() {
                let f = super::Fixture::sqlite().await;
                super::outbox_scenarios::outbox_retention(&f.db).await;
            }
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = super::Fixture::postgres().await else { return };
                    super::scenarios::$name(&f.db).await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outbox_batches() {
                let Some(f) = super::Fixture::postgres().await else { return };
                super::outbox_scenarios::outbox_batches(&f.db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outbox_retention() {
                let Some(f) = super::Fixture::postgres().await else { return };
                super::outbox_scenarios::outbox_retention(&f.db).await;
            }
        }
    };
}

on_both_backends!(
    tenants,
    entitlements,
    tokens,
    decisions,
    sessions,
    approvals,
    grants,
    expire_due,
    registry,
    packs_and_assignments,
    entries,
    log_and_checkpoints,
    tenant_isolation,
    subtrees,
    concurrent_mixed_writes,
    decision_pages,
);

/// A filter for each index, with a value that few decisions have.
fn filter_for(index: DecisionIndex) -> DecisionFilter {
    let f = DecisionFilter::default();
    match index {
        DecisionIndex::Time => DecisionFilter {
            since: Some(stamp(100)),
            until: Some(stamp(20_000)),
            ..f
        },
        DecisionIndex::Session => DecisionFilter {
            session_id: Some("s7".into()),
            ..f
        },
        DecisionIndex::Repository => DecisionFilter {
            repository: Some("org/7".into()),
            ..f
        },
        DecisionIndex::Rule => DecisionFilter {
            rule_id: Some("r7".into()),
            ..f
        },
        DecisionIndex::Actor => DecisionFilter {
            requested_by: Some("a7".into()),
            ..f
        },
        DecisionIndex::Action => DecisionFilter {
            action_type: Some(ActionType::ExecuteCommand),
            ..f
        },
        DecisionIndex::Outcome => DecisionFilter {
            decision: Some(Decision::Block),
            ..f
        },
    }
}

/// The plans of each filter's page (the first, one after a cursor, one in a time range after
/// a cursor, and the unfiltered list), checked by `reads_its_index`.
async fn check_plans(db: &Db, cursor: &str, reads_its_index: impl Fn(&[String], &str) -> bool) {
    let mut cases = vec![
        (
            DecisionIndex::Time,
            DecisionFilter {
                limit: Some(51),
                ..DecisionFilter::default()
            },
        ),
        // Allowed decisions alone: the time index (the outcome index has none of them).
        (
            DecisionIndex::Time,
            DecisionFilter {
                limit: Some(51),
                decision: Some(Decision::Allow),
                ..DecisionFilter::default()
            },
        ),
    ];
    for index in DecisionIndex::ALL {
        let f = DecisionFilter {
            limit: Some(51),
            ..filter_for(index)
        };
        assert_eq!(DecisionIndex::for_filter(&f), index);
        cases.push((index, f.clone()));
        cases.push((
            index,
            DecisionFilter {
                before: Some(cursor.into()),
                ..f.clone()
            },
        ));
        cases.push((
            index,
            DecisionFilter {
                before: Some(cursor.into()),
                since: Some(stamp(50)),
                until: Some(stamp(30_000)),
                ..f
            },
        ));
    }
    for (index, f) in cases {
        let plan = db.decision_list_plan("t", &f).await.unwrap();
        assert!(
            reads_its_index(&plan, index.name()),
            "{index:?} {f:?}:\n{}",
            plan.join("\n")
        );
    }
}

/// Every decision filter reads its own index, in list order: SQLite searches it (no sort,
/// no scan), then the log entry by its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_filter_reads_its_own_index_on_sqlite() {
    let f = Fixture::sqlite().await;
    let mut d = decision("b7", Some("s7"), "block", 7);
    d.extra.record = json!({"repository": "org/7"}).into();
    f.db.record_decision("t", plain(d)).await.unwrap();
    check_plans(&f.db, "b7", |plan, index| {
        plan.len() == 2
            && plan[0].starts_with(&format!("SEARCH d USING INDEX {index} (tenant=?"))
            && plan[1].starts_with("SEARCH e USING INDEX")
            && plan[1].contains("(tenant=? AND idx=?)")
    })
    .await;
}

/// The same on PostgreSQL, whose planner chooses from statistics: 20,000 decisions where each
/// filter's value is one in a hundred, analysed. Each page is a backward scan of the filter's
/// index (no sort, no sequential scan), joined to the log entry by its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_filter_reads_its_own_index_on_postgres() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let c = pg_connect(&f.url).await.unwrap();
    c.batch_execute(
        r#"
INSERT INTO decisions (tenant, decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index, repository)
SELECT 't', 'b' || i, 's' || (i % 100), 'claude-code', 'a' || (i % 100),
    CASE WHEN i % 100 = 7 THEN 'execute_command' ELSE 'read_file' END,
    CASE WHEN i % 100 = 7 THEN 'block' ELSE 'allow' END,
    'r' || (i % 100),
    to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
    'fp', 'sha256:p', i, 'org/' || (i % 100)
FROM generate_series(1, 20000) AS i;
INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash)
SELECT 't', i, 'decision', 'b' || i, 's' || (i % 100),
    to_char(timestamp '2026-01-01' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
    '\x7b7d'::bytea, '\x00'::bytea
FROM generate_series(1, 20000) AS i;
ANALYZE decisions;
ANALYZE log_entries;
"#,
    )
    .await
    .unwrap();
    check_plans(&f.db, "b10007", |plan, index| {
        let text = plan.join("\n");
        text.contains(&format!("Index Scan Backward using {index} on decisions d"))
            && !text.contains("Sort")
            && !text.contains("Seq Scan")
            && text.contains("on log_entries e")
    })
    .await;
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    for url in ["mysql://x", "/tmp/file.db", "sqlite:relative"] {
        assert!(matches!(
            Db::open(url, settings()).await,
            Err(StoreError::Url(_))
        ));
    }
}

#[tokio::test]
async fn backends_name_themselves() {
    assert_eq!(Fixture::sqlite().await.db.backend(), "sqlite");
    if let Some(f) = Fixture::postgres().await {
        assert_eq!(f.db.backend(), "postgres");
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL replicas

/// Several replicas starting at once on an empty schema: all open, the schema is applied
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_concurrent_migrations() {
    let Some((url, schema)) = Fixture::pg_schema().await else {
        return;
    };
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Db::open(&url, settings()).await })
        })
        .collect();
    let mut dbs = Vec::new();
    for o in opens {
        dbs.push(o.await.unwrap().expect("every replica opens"));
    }
    let c = pg_connect(&url).await.unwrap();
    let versions: Vec<i64> = c
        .query(
            "SELECT version FROM cavra_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    let tables: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        tables, 18,
        "eleven tables, the connectors' two (outbox events and deliveries), the inventory's two \
         (versions and items), the polling leases, the posture days and the migrations table"
    );
    for db in &dbs {
        assert!(db.readiness().await.unwrap().migrations_current);
    }
    // Reopening migrates nothing more.
    drop(dbs);
    Db::open(&url, settings()).await.unwrap();
    let n: i64 = c
        .query_one("SELECT COUNT(*) FROM cavra_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, SCHEMA_VERSION);
}

/// 200 decisions recorded at once from two replicas into one tenant: one consistent log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_replicas_append_to_one_log() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let replicas = [f.db.clone(), f.replica().await];
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let db = replicas[(i % 2) as usize].clone();
            tokio::spawn(async move {
                db.record_decision(
                    "t",
                    plain(decision(&format!("d{i}"), Some("s"), "allow", i)),
                )
                .await
            })
        })
        .collect();
    let mut indexes = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap().expect("every decision is recorded");
        assert!(indexes.insert(r.log_index), "no index is given twice");
    }
    assert_eq!(indexes, (0..200).collect::<BTreeSet<u64>>());
    assert_eq!(check_log(&f.db, "t").await, 200);
    assert_eq!(check_log(&replicas[1], "t").await, 200);
    // Each decision points at the entry that records it.
    let entries = f.db.entries("t", &all_entries()).await.unwrap();
    for d in f.db.decisions("t", &all_decisions()).await.unwrap() {
        let e = &entries[d.extra.log_index.unwrap() as usize];
        assert_eq!(e.ref_id.as_deref(), Some(d.decision_id.as_str()));
    }
    // Checkpoints at 64, 128 and 192, each over its prefix.
    let cp = f.db.latest_checkpoint("t").await.unwrap().unwrap();
    assert_eq!(cp.tree_size, 192);
    let c = pg_connect(&f.url).await.unwrap();
    let sizes: Vec<i64> = c
        .query(
            "SELECT tree_size FROM checkpoints WHERE tenant = 't' ORDER BY tree_size",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sizes, [64, 128, 192]);
}

/// 20 pending approvals; both replicas race to approve or deny each: every approval is
/// decided exactly once, with exactly one entry for that decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_replicas_decide_each_approval_once() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let replicas = [f.db.clone(), f.replica().await];
    for i in 0..20u32 {
        f.db.record_decision(
            "t",
            asking(
                &format!("d{i}"),
                &format!("apr_{i}"),
                &format!("fp{i}"),
                i,
                10_000,
            ),
        )
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        for j in 0..6u32 {
            let db = replicas[(j % 2) as usize].clone();
            let to = if j % 3 == 0 {
                ApprovalState::Denied
            } else {
                ApprovalState::Approved
            };
            tasks.push(tokio::spawn(async move {
                let out = db
                    .transition(
                        "t",
                        &format!("apr_{i}"),
                        decide(to, &format!("approver-{j}"), 100 + j),
                    )
                    .await
                    .expect("a transition either happens or conflicts");
                (i, out)
            }));
        }
    }
    let mut done = [0u32; 20];
    let mut winners: Vec<Option<Approval>> = vec![None; 20];
    for t in tasks {
        let (i, out) = t.await.unwrap();
        match out {
            TransitionOutcome::Done(a) => {
                done[i as usize] += 1;
                winners[i as usize] = Some(a);
            }
            TransitionOutcome::Conflict(a) => {
                assert_ne!(
                    a.state,
                    ApprovalState::Pending,
                    "a conflict saw the decision"
                )
            }
            TransitionOutcome::NotFound => panic!("apr_{i} exists"),
        }
    }
    assert_eq!(done, [1; 20], "each approval decided exactly once");
    for (i, winner) in winners.iter().enumerate() {
        let id = format!("apr_{i}");
        let stored = f.db.approval("t", &id).await.unwrap().unwrap();
        assert_eq!(Some(&stored), winner.as_ref());
        assert_eq!(stored.history.len(), 2);
        let about = EntryQuery {
            ref_id: Some(id),
            limit: 100,
            ..EntryQuery::default()
        };
        let e = f.db.entries("t", &about).await.unwrap();
        assert_eq!(e.len(), 2, "created, then decided once");
        assert_eq!(e[1].entry["body"]["state"], json!(stored.state.as_str()));
        assert_eq!(
            e[1].entry["body"]["actor"],
            json!(stored.decided_by.as_deref().unwrap())
        );
    }
    assert_eq!(check_log(&f.db, "t").await, 60);
}

/// A once-grant used at the same moment from both replicas: exactly one use succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_replicas_use_a_once_grant_once() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let replicas = [f.db.clone(), f.replica().await];
    for round in 0..5u32 {
        let apr = format!("apr_{round}");
        let fp = format!("fp{round}");
        f.db.record_decision("t", asking(&format!("ask{round}"), &apr, &fp, 10, 10_000))
            .await
            .unwrap();
        f.db.transition("t", &apr, decide(ApprovalState::Approved, "alice", 20))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8u32)
            .map(|k| {
                let db = replicas[(k % 2) as usize].clone();
                let (apr, fp) = (apr.clone(), fp.clone());
                tokio::spawn(async move {
                    db.record_decision("t", using(&format!("use{round}-{k}"), &apr, &fp, 30))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: exactly one use");
        let a = f.db.approval("t", &apr).await.unwrap().unwrap();
        assert_eq!((a.state, a.extra.uses), (ApprovalState::Consumed, 1));
        let uses =
            f.db.decisions("t", &all_decisions())
                .await
                .unwrap()
                .into_iter()
                .filter(|d| d.decision_id.starts_with(&format!("use{round}-")))
                .count();
        assert_eq!(uses, 1, "only the successful use is recorded");
    }
    // Each round: ask + created + approved + consumed + the one decision.
    assert_eq!(check_log(&f.db, "t").await, 25);
}

/// Both replicas sweep expiries at once: each approval expires once, with one entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_replicas_expire_each_approval_once() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let replicas = [f.db.clone(), f.replica().await];
    for i in 0..30u32 {
        let tenant = ["t", "u", "v"][(i % 3) as usize];
        f.db.record_decision(
            tenant,
            asking(
                &format!("d{i}"),
                &format!("apr_{i}"),
                &format!("fp{i}"),
                i,
                100,
            ),
        )
        .await
        .unwrap();
    }
    let sweeps: Vec<_> = (0..6)
        .map(|k| {
            let db = replicas[k % 2].clone();
            tokio::spawn(async move { db.expire_due(stamp(200)).await })
        })
        .collect();
    let mut expired = Vec::new();
    for s in sweeps {
        expired.extend(s.await.unwrap().expect("a sweep never fails on a race"));
    }
    expired.sort();
    let mut expected: Vec<(String, String)> = (0..30u32)
        .map(|i| {
            (
                ["t", "u", "v"][(i % 3) as usize].to_string(),
                format!("apr_{i}"),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        expired, expected,
        "each approval reported once, by one sweep"
    );
    for tenant in ["t", "u", "v"] {
        // 10 decisions, 10 creations, 10 expiries.
        assert_eq!(check_log(&f.db, tenant).await, 30);
    }
}

/// A database migrated by a newer cavra is refused rather than misread.
#[tokio::test]
async fn newer_schema_is_refused() {
    let f = Fixture::sqlite().await;
    let path = f.url.trim_start_matches("sqlite://").to_string();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Db::open(&f.url, settings()).await,
        Err(StoreError::Corrupt(_))
    ));

    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let c = pg_connect(&f.url).await.unwrap();
    c.batch_execute("INSERT INTO cavra_schema_migrations (version) VALUES (99)")
        .await
        .unwrap();
    assert!(matches!(
        Db::open(&f.url, settings()).await,
        Err(StoreError::Corrupt(_))
    ));
    let ready = f.db.readiness().await.unwrap();
    assert_eq!(ready.schema_version, 99);
    assert!(!ready.migrations_current);
}

/// Under a steady stream of group commits the SQLite WAL restarts instead of growing: after
/// 8,000 decisions (about 20 MB of log entries) it stays within a few MiB, and every decision
/// is still in one consistent log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_wal_stays_bounded_under_load() {
    let f = Fixture::sqlite().await;
    let big = "x".repeat(2_000);
    let mut writers = Vec::new();
    for w in 0..32 {
        let db = f.db.clone();
        let big = big.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..250 {
                let mut d = decision(&format!("d-{w}-{i}"), Some("s"), "allow", i);
                d.extra.record = json!({"decision": "allow", "padding": big}).into();
                db.record_decision("t", plain(d)).await.expect("record");
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let path = f.url.trim_start_matches("sqlite://").to_string();
    let wal = std::fs::metadata(format!("{path}-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(wal <= 16 * 1024 * 1024, "the WAL grew to {wal} bytes");
    assert_eq!(check_log(&f.db, "t").await, 8_000);
}

/// On PostgreSQL a tenant's concurrent plain decisions are appended in groups; one that
/// cannot be stored (a duplicate id) fails alone, the others of its group are stored, and the
/// log stays one consistent log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_a_bad_decision_fails_alone_in_its_group() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    f.db.record_decision("t", plain(decision("dup", None, "allow", 1)))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let db = f.db.clone();
        let id = if i == 30 {
            "dup".to_string()
        } else {
            format!("g{i}")
        };
        tasks.push(tokio::spawn(async move {
            db.record_decision("t", plain(decision(&id, Some("s"), "allow", 2)))
                .await
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("only the duplicate may fail: {e}"),
        }
    }
    assert_eq!(conflicts, 1);
    assert_eq!(check_log(&f.db, "t").await, 60);
    assert_eq!(
        f.db.decisions("t", &all_decisions()).await.unwrap().len(),
        60
    );
}

/// Plain decisions from many tasks on two replicas (each replica's appender keeps two groups
/// in flight, built on the head the first will leave) while approvals are asked and
/// free-standing entries appended between them under the lock: every answer is a distinct
/// index holding its own record, and the log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_chained_groups_and_other_writes_keep_the_log_whole() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let replicas = [f.db.clone(), f.replica().await];
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let db = replicas[(i % 2) as usize].clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("d{i}");
            let r = if i % 40 == 7 {
                db.record_decision(
                    "t",
                    asking(&id, &format!("apr{i}"), &format!("fp{i}"), i, 86_000),
                )
                .await
            } else {
                db.record_decision("t", plain(decision(&id, Some("s"), "allow", i)))
                    .await
            };
            if i % 50 == 3 {
                db.append_entry("t", "note", Some(&id), stamp(i), json!({"n": i}))
                    .await
                    .expect("an entry of its own");
            }
            r.map(|r| (id, r.log_index))
        }));
    }
    let mut indexes = BTreeSet::new();
    let mut answered = Vec::new();
    for t in tasks {
        let (id, index) = t.await.unwrap().expect("every decision is recorded");
        assert!(indexes.insert(index), "no index is given twice");
        answered.push((id, index));
    }
    // 400 decisions, 10 approvals asked (an entry each), 8 notes.
    assert_eq!(check_log(&f.db, "t").await, 418);
    let entries = f.db.entries("t", &all_entries()).await.unwrap();
    for (id, index) in answered {
        let e = &entries[index as usize];
        assert_eq!(e.kind, "decision");
        assert_eq!(e.ref_id.as_deref(), Some(id.as_str()), "entry {index}");
    }
}

/// What PostgreSQL writes per decision besides the rows: an insert into each index of
/// `decisions` and `log_entries` (docs/benchmarks.md, "WAL per decision on PostgreSQL"). Each
/// index here is one a read uses: the decision's id (its lookup, and its uniqueness), one per
/// list filter, the log's order and its session and reference filters. No primary key on
/// `decisions.seq` (nothing finds a decision by it), and no session index entry for an entry
/// without a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_decisions_and_entries_have_only_the_indexes_reads_use() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let c = pg_connect(&f.url).await.unwrap();
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('decisions', 'log_entries') ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "decisions_action",
            "decisions_actor",
            "decisions_decision_id_key",
            "decisions_outcome",
            "decisions_repository",
            "decisions_rule",
            "decisions_session",
            "decisions_time",
            "log_entries_pkey",
            "log_entries_ref",
            "log_entries_session",
        ]
    );
    // The log's session index holds only entries with a session: a delivery attempt's entry
    // (no session) is not in it.
    let partial: String = c
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'log_entries_session'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        partial.ends_with("WHERE (session_id IS NOT NULL)"),
        "{partial}"
    );
    // The decision's id identifies its row for logical replication, as the key did.
    let identity: String = c
        .query_one(
            "SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'decisions'::regclass AND x.indisreplident",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(identity, "decisions_decision_id_key");
}
