//! One migration history per backend, tested from every released version: a database is
//! created with the schema exactly as each earlier cavra left it (tests/data/schema/*.sql, the
//! CREATE statements taken from git history), filled with the rows that version wrote, then
//! opened by this cavra. The data must read back through today's API, the tenant's evidence
//! log must go on from where it was, and the migrated schema must be the one a fresh database
//! gets (a migration edited after its release would make the two differ).
//!
//! PostgreSQL runs against `CAVRA_TEST_POSTGRES_URL`, each database in a schema of its own.

use std::sync::Arc;

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::compact::Frontier;
use cavra_evidence::merkle;
use cavra_tenant_store::*;
use serde_json::{Value, json};

const SQLITE_RELEASED: &[(i64, &str)] = &[
    (1, include_str!("data/schema/sqlite-v1.sql")),
    (2, include_str!("data/schema/sqlite-v2.sql")),
    (3, include_str!("data/schema/sqlite-v3.sql")),
    (4, include_str!("data/schema/sqlite-v4.sql")),
    (5, include_str!("data/schema/sqlite-v5.sql")),
    (6, include_str!("data/schema/sqlite-v6.sql")),
    (7, include_str!("data/schema/sqlite-v7.sql")),
    (8, include_str!("data/schema/sqlite-v8.sql")),
    (9, include_str!("data/schema/sqlite-v9.sql")),
];
const POSTGRES_RELEASED: &[(i64, &str)] = &[
    (1, include_str!("data/schema/postgres-v1.sql")),
    (2, include_str!("data/schema/postgres-v2.sql")),
    (3, include_str!("data/schema/postgres-v3.sql")),
    (4, include_str!("data/schema/postgres-v4.sql")),
    (5, include_str!("data/schema/postgres-v5.sql")),
    (6, include_str!("data/schema/postgres-v6.sql")),
    (7, include_str!("data/schema/postgres-v7.sql")),
    (8, include_str!("data/schema/postgres-v8.sql")),
    (9, include_str!("data/schema/postgres-v9.sql")),
];

const AT: &str = "2026-01-01T00:00:00.000Z";
const LATER: &str = "2026-01-01T00:00:05.000Z";

fn settings() -> LogSettings {
    let redactor = cavra_redact::Redactor::new(cavra_redact::builtin_rules())
        .expect("the built-in redaction rules compile");
    LogSettings {
        signer: Arc::new(LogSigner {
            key_id: "test-log-key".into(),
            key: cavra_evidence::keys::from_seed(&[7; 32]),
        }),
        redactor: Arc::new(redactor),
    }
}

fn record() -> Value {
    json!({"decision": "block", "decision_id": "d1", "repository": "acme/app", "target": ".env"})
}

/// The log entry an earlier cavra wrote for decision `d1`, as stored bytes, and its leaf.
fn old_entry() -> (Vec<u8>, [u8; 32]) {
    let entry = json!({
        "body": {"decision_id": "d1", "record": record()},
        "format": "cavra-log-entry/v1", "index": 0, "kind": "decision",
        "tenant": "acme", "time": AT,
    });
    let bytes = to_canonical_bytes(&entry);
    let leaf = merkle::leaf_hash(&bytes);
    (bytes, leaf)
}

/// The log head after that one entry.
fn old_frontier() -> Vec<u8> {
    let mut f = Frontier::new();
    f.push(old_entry().1);
    f.to_bytes()
}

/// The rows every released version wrote the same way (no blobs, no `decisions`).
const COMMON_ROWS: &str = r#"
INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'Acme', '2026-01-01T00:00:00.000Z');
INSERT INTO api_tokens (id, tenant, subject, roles, groups_json, digest, created_at, expires_at, revoked_at)
    VALUES ('tok1', 'acme', 'alice', '["agent","approver"]', '["sec"]', 'abababababababababababababababababababababababababababababababab', '2026-01-01T00:00:00.000Z', NULL, NULL);
INSERT INTO approvals (tenant, id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, grant_use, uses, history)
    VALUES ('acme', 'apr1', 'd1', 'fp1', 's1', 'sec', 'agent-1', '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z', 'pending', NULL, NULL, NULL, 'read .env', 'once', 0,
    '[{"at":"2026-01-01T00:00:00.000Z","state":"pending","actor":"agent-1"}]');
INSERT INTO registry (tenant, kind, name, record, updated_at, updated_by)
    VALUES ('acme', 'agent', 'claude', '{"owner":"platform"}', '2026-01-01T00:00:00.000Z', 'admin');
INSERT INTO policy_packs (tenant, digest, pack_id, document, signed_by, uploaded_at, uploaded_by)
    VALUES ('acme', 'sha256:p', 'pack-1', 'apiVersion: cavra/v1', NULL, '2026-01-01T00:00:00.000Z', 'admin');
INSERT INTO policy_assignments (tenant, scope, pack, assigned_at, assigned_by)
    VALUES ('acme', '', 'sha256:p', '2026-01-01T00:00:00.000Z', 'admin');
"#;

/// The decision row as `version` wrote it (version 1 also kept the record in the row; from
/// version 8 the record's repository is a column too).
fn decision_insert(version: i64) -> String {
    let columns = "tenant, decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index";
    let values = format!(
        "'acme', 'd1', 's1', 'claude-code', 'agent-1', 'read_file', 'block', 'secrets.read', '{AT}', 'fp1', 'sha256:p', 0"
    );
    if version == 1 {
        let record = record().to_string();
        format!("INSERT INTO decisions ({columns}, record) VALUES ({values}, '{record}');")
    } else if version >= 8 {
        let repository = record()["repository"]
            .as_str()
            .expect("repository")
            .to_string();
        format!("INSERT INTO decisions ({columns}, repository) VALUES ({values}, '{repository}');")
    } else {
        format!("INSERT INTO decisions ({columns}) VALUES ({values});")
    }
}

/// Reads everything the old version wrote through today's API, then records a new decision
/// and checks that the log went on from the old head.
async fn check_migrated(db: &Db, label: &str) {
    let ready = db.readiness().await.expect("readiness");
    assert!(ready.migrations_current, "{label}: {ready:?}");
    assert_eq!(ready.schema_version, SCHEMA_VERSION, "{label}");

    let tenant = db.tenant("acme").await.expect("tenant").expect("acme");
    assert_eq!(tenant.name, "Acme");
    // A tenant from before entitlements keeps what it had: active, every feature, no limits;
    // and its entitlement can be changed.
    assert_eq!(
        db.entitlement("acme").await.expect("entitlement"),
        Some(Entitlement::default()),
        "{label}"
    );
    let suspended = Entitlement {
        status: EntitlementStatus::Suspended,
        ..Entitlement::default()
    };
    assert!(db.set_entitlement("acme", &suspended).await.expect("set"));
    assert_eq!(
        db.entitlement("acme").await.expect("entitlement"),
        Some(suspended)
    );
    assert!(
        db.set_entitlement("acme", &Entitlement::default())
            .await
            .expect("set")
    );
    let token = db.token("tok1").await.expect("token").expect("tok1");
    assert_eq!(
        token.roles,
        [cavra_identity::Role::Agent, cavra_identity::Role::Approver]
    );
    assert_eq!(token.groups, ["sec"]);

    let d = db
        .decision("acme", "d1")
        .await
        .expect("decision")
        .expect("d1");
    assert_eq!(
        d.record,
        record(),
        "{label}: the record reads from its log entry"
    );
    assert_eq!(d.extra.log_index, Some(0));
    assert_eq!(d.rule_id, "secrets.read");
    let session = db
        .session("acme", "s1")
        .await
        .expect("session")
        .expect("s1");
    assert_eq!((session.decisions, session.blocked), (1, 1), "{label}");

    // Version 8: the repository column is filled from the log entry, and each filter reads
    // its index.
    let listed = |f: DecisionFilter| async move {
        db.decisions(
            "acme",
            &DecisionFilter {
                limit: Some(10),
                ..f
            },
        )
        .await
        .expect("decisions")
        .into_iter()
        .map(|d| d.decision_id)
        .collect::<Vec<_>>()
    };
    for f in [
        DecisionFilter::default(),
        DecisionFilter {
            repository: Some("acme/app".into()),
            ..DecisionFilter::default()
        },
        DecisionFilter {
            rule_id: Some("secrets.read".into()),
            requested_by: Some("agent-1".into()),
            session_id: Some("s1".into()),
            decision: Some(Decision::Block),
            action_type: Some(ActionType::ReadFile),
            since: Some(AT.parse().expect("time")),
            ..DecisionFilter::default()
        },
    ] {
        assert_eq!(listed(f.clone()).await, ["d1"], "{label}: {f:?}");
    }
    assert!(
        listed(DecisionFilter {
            repository: Some("acme/other".into()),
            ..DecisionFilter::default()
        })
        .await
        .is_empty(),
        "{label}"
    );

    let a = db
        .approval("acme", "apr1")
        .await
        .expect("approval")
        .expect("apr1");
    assert_eq!(a.state, ApprovalState::Pending);
    assert_eq!(a.extra.grant, GrantUse::Once);
    assert_eq!(a.history.len(), 1);

    let r = db
        .registry_entry("acme", RegistryKind::Agent, "claude")
        .await
        .expect("registry")
        .expect("claude");
    assert_eq!(r.record, json!({"owner": "platform"}));
    assert_eq!(db.packs("acme").await.expect("packs").len(), 1);
    assert_eq!(
        db.assignments("acme").await.expect("assignments")[0].pack,
        "sha256:p"
    );

    // Every time read as a `Timestamp` is shown and serialised as the text the older
    // version stored (a tenant, a session, an approval's history, the registry, a pack, an
    // assignment), and the filters' times select as that text does.
    let json = |v: serde_json::Value, key: &str| v[key].as_str().map(str::to_string);
    let stored = Some(AT.to_string());
    assert_eq!(
        json(json!({"t": tenant.created_at}), "t"),
        stored,
        "{label}"
    );
    let s = serde_json::to_value(&session).expect("json");
    assert_eq!(json(s.clone(), "first_seen"), stored, "{label}");
    assert_eq!(json(s, "last_seen"), stored, "{label}");
    assert_eq!(
        serde_json::to_string(&a.history).expect("json"),
        r#"[{"at":"2026-01-01T00:00:00.000Z","state":"pending","actor":"agent-1"}]"#,
        "{label}"
    );
    assert_eq!(
        json(serde_json::to_value(&r).expect("json"), "updated_at"),
        stored
    );
    let pack = &db.packs("acme").await.expect("packs")[0];
    assert_eq!(
        json(serde_json::to_value(pack).expect("json"), "uploaded_at"),
        stored
    );
    let assignment = &db.assignments("acme").await.expect("assignments")[0];
    assert_eq!(
        json(
            serde_json::to_value(assignment).expect("json"),
            "assigned_at"
        ),
        stored
    );
    let at = |t: &str| Some(t.parse::<cavra_tenant_store::Timestamp>().expect("time"));
    for (since, until, n) in [
        (at(AT), None, 1),
        (at("2026-01-01T00:00:00.001Z"), None, 0),
        (None, at(AT), 0),
        (None, at("2026-01-01T01:00:00+01:00"), 0),
        (None, at("2026-01-01T02:00:00+01:00"), 1),
    ] {
        let f = DecisionFilter {
            since,
            until,
            ..DecisionFilter::default()
        };
        assert_eq!(listed(f.clone()).await.len(), n, "{label}: {f:?}");
        let q = EntryQuery {
            since,
            until,
            limit: 10,
            ..EntryQuery::default()
        };
        assert_eq!(
            db.entries("acme", &q).await.expect("entries").len(),
            n,
            "{label}: {q:?}"
        );
    }

    let head = db.log_head("acme").await.expect("head").expect("a head");
    assert_eq!(head.size, 1, "{label}");
    assert_eq!(head.root_hash, hex::encode(old_entry().1));

    // A new decision goes on from the old head: entry 1, under the same root computation.
    let recorded = db
        .record_decision(
            "acme",
            DecisionWrite {
                decision: NewDecision {
                    decision_id: "d2".into(),
                    session_id: Some("s1".into()),
                    agent: Some("claude-code".into()),
                    action_type: ActionType::ExecuteCommand.into(),
                    decision: Decision::Allow,
                    rule_id: "default".into(),
                    timestamp: LATER.parse().unwrap(),
                    fingerprint: "fp2".into(),
                    extra: cavra_tenant_store::Caller {
                        requested_by: "agent-1".into(),
                        policy_digest: "sha256:p".into(),
                        record: json!({"decision_id": "d2", "decision": "allow"}).into(),
                    },
                },
                new_approval: None,
                use_grant: None,
            },
        )
        .await
        .expect("a write after migrating");
    assert_eq!(recorded.log_index, 1, "{label}");
    let head = db.log_head("acme").await.expect("head").expect("a head");
    let leaves = db.leaf_hashes("acme", head.size).await.expect("leaves");
    assert_eq!(leaves.len(), 2);
    assert_eq!(leaves[0], old_entry().1);
    assert_eq!(
        hex::encode(merkle::root(&leaves)),
        head.root_hash,
        "{label}"
    );
    let entries = db
        .entries(
            "acme",
            &EntryQuery {
                limit: 10,
                ..EntryQuery::default()
            },
        )
        .await
        .expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].entry["body"]["record"], record());

    // Version 6: an inventory import goes on from the same log, and a lease can be taken.
    let item = InventoryItem {
        id: "endpoint:dev-1".into(),
        kind: InventoryKind::Endpoint,
        name: "dev-1".into(),
        endpoint: None,
        repository: None,
        last_seen: None,
        hooks: None,
        attributes: serde_json::Map::new(),
    };
    let v = db
        .import_inventory(
            "acme",
            NewInventory {
                source: "hosts.json".into(),
                format: "json".into(),
                digest: "sha256:00".into(),
                etag: None,
                imported_at: LATER.parse().expect("time"),
                imported_by: "admin".into(),
                items: vec![item.clone()],
            },
        )
        .await
        .expect("an import after migrating");
    assert_eq!((v.version, v.log_index), (1, 2), "{label}");
    assert_eq!(
        db.inventory_items("acme", 1, None, 10)
            .await
            .expect("items"),
        vec![item]
    );
    assert!(db.try_lease("jira/x", "r1", 0, 1000).await.expect("lease"));

    // Version 7: a day's posture is stored once, kept when stored again, and forgotten.
    let day = |posture: &str| PostureDay {
        day: "2026-01-01".into(),
        posture: posture.into(),
        entries: 2,
        log_size: 3,
        computed_at: LATER.parse().expect("time"),
    };
    assert_eq!(
        db.put_posture_days("acme", vec![day("{}")])
            .await
            .expect("put"),
        1,
        "{label}"
    );
    assert_eq!(
        db.put_posture_days("acme", vec![day("{\"x\":1}")])
            .await
            .expect("put"),
        0
    );
    assert_eq!(
        db.posture_days("acme", "2026-01-01", "2026-01-31")
            .await
            .expect("days"),
        vec![day("{}")],
        "{label}"
    );
    assert_eq!(
        db.posture_days("globex", "2026-01-01", "2026-01-31")
            .await
            .expect("days"),
        vec![]
    );
    assert_eq!(db.delete_posture_days("acme").await.expect("delete"), 1);
}

// ---------------------------------------------------------------------------------------
// SQLite

fn sqlite_schema(path: &std::path::Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut st = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("schema")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_released_sqlite_schema_migrates_with_its_data() {
    assert_eq!(SQLITE_RELEASED.len() as i64 + 1, SCHEMA_VERSION);
    let dir = tempfile::tempdir().expect("tmp");
    let fresh = dir.path().join("fresh.db");
    drop(
        Db::open(&format!("sqlite://{}", fresh.display()), settings())
            .await
            .expect("fresh"),
    );
    let want = sqlite_schema(&fresh);
    for &(version, schema) in SQLITE_RELEASED {
        let label = format!("sqlite v{version}");
        let path = dir.path().join(format!("v{version}.db"));
        {
            let conn = rusqlite::Connection::open(&path).expect("create");
            conn.execute_batch(schema).expect("old schema");
            conn.pragma_update(None, "user_version", version)
                .expect("version");
            conn.execute_batch(COMMON_ROWS).expect("rows");
            conn.execute_batch(&decision_insert(version))
                .expect("decision");
            let (bytes, leaf) = old_entry();
            conn.execute(
                "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ('acme', 0, 'decision', 'd1', 's1', ?1, ?2, ?3)",
                rusqlite::params![AT, bytes, leaf.as_slice()],
            )
            .expect("entry");
            conn.execute(
                "INSERT INTO log_meta (tenant, log_id, size, frontier) VALUES ('acme', 'log1', 1, ?1)",
                rusqlite::params![old_frontier()],
            )
            .expect("head");
        }
        let db = Db::open(&format!("sqlite://{}", path.display()), settings())
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check_migrated(&db, &label).await;
        drop(db);
        assert_eq!(sqlite_schema(&path), want, "{label}");
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh schema; dropped when the test ends, passed or not.
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    async fn new(base: &str) -> PgSchema {
        let c = pg_connect(base).await;
        let name: String = c
            .query_one(
                "SELECT 'cavra_mig_' || replace(gen_random_uuid()::text, '-', '')",
                &[],
            )
            .await
            .expect("schema name")
            .get(0);
        c.batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        PgSchema {
            base: base.to_string(),
            name,
        }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }

    /// Columns and indexes, with the schema's own name taken out of defaults and definitions.
    async fn shape(&self) -> Vec<String> {
        let c = pg_connect(&self.base).await;
        let mut out = Vec::new();
        for r in c
            .query(
                "SELECT table_name, column_name, data_type, is_nullable, coalesce(collation_name, ''), coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, column_name",
                &[&self.name],
            )
            .await
            .expect("columns")
        {
            let cols: Vec<String> = (0..6).map(|i| r.get::<_, String>(i)).collect();
            // A serial column's default names its sequence with the schema.
            out.push(cols.join(" ").replace(&format!("{}.", self.name), ""));
        }
        for r in c
            .query(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname",
                &[&self.name],
            )
            .await
            .expect("indexes")
        {
            let def: String = r.get(1);
            out.push(format!(
                "{} {}",
                r.get::<_, String>(0),
                def.replace(&format!("{}.", self.name), "")
            ));
        }
        out
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own with a runtime of its own.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_released_postgres_schema_migrates_with_its_data() {
    assert_eq!(POSTGRES_RELEASED.len() as i64 + 1, SCHEMA_VERSION);
    let Some(base) = std::env::var("CAVRA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n***** CAVRA_TEST_POSTGRES_URL is not set: the PostgreSQL migration test did NOT run \
             (CI sets postgres://postgres@127.0.0.1:5432/test) *****"
        );
        return;
    };
    let fresh = PgSchema::new(&base).await;
    drop(Db::open(&fresh.url(), settings()).await.expect("fresh"));
    let want = fresh.shape().await;
    for &(version, schema) in POSTGRES_RELEASED {
        let label = format!("postgres v{version}");
        let old = PgSchema::new(&base).await;
        {
            let c = pg_connect(&old.url()).await;
            c.batch_execute(schema).await.expect("old schema");
            // What that version's migrate() left beside the tables.
            c.batch_execute(
                "CREATE TABLE cavra_schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await
            .expect("migrations table");
            for v in 1..=version {
                c.execute(
                    "INSERT INTO cavra_schema_migrations (version) VALUES ($1)",
                    &[&v],
                )
                .await
                .expect("version");
            }
            c.batch_execute(COMMON_ROWS).await.expect("rows");
            c.batch_execute(&decision_insert(version))
                .await
                .expect("decision");
            let (bytes, leaf) = old_entry();
            c.execute(
                "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ('acme', 0, 'decision', 'd1', 's1', $1, $2, $3)",
                &[&AT, &bytes, &leaf.as_slice()],
            )
            .await
            .expect("entry");
            c.execute(
                "INSERT INTO log_meta (tenant, log_id, size, frontier) VALUES ('acme', 'log1', 1, $1)",
                &[&old_frontier()],
            )
            .await
            .expect("head");
        }
        let db = Db::open(&old.url(), settings())
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        check_migrated(&db, &label).await;
        drop(db);
        assert_eq!(old.shape().await, want, "{label}");
    }
}
