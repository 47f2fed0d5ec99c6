//! Inventory versions, items and polling leases on both backends: SQLite (a temporary file)
//! and PostgreSQL (`CAVRA_TEST_POSTGRES_URL`, a schema of its own, dropped afterwards).

use std::sync::Arc;

use cavra_tenant_store::*;
use serde_json::json;

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

fn item(kind: InventoryKind, name: &str) -> InventoryItem {
    InventoryItem {
        id: format!("{}:{name}", kind.as_str()),
        kind,
        name: name.into(),
        endpoint: None,
        repository: None,
        last_seen: None,
        hooks: None,
        attributes: serde_json::Map::new(),
    }
}

fn import(source: &str, items: Vec<InventoryItem>) -> NewInventory {
    NewInventory {
        source: source.into(),
        format: "json".into(),
        digest: format!("sha256:{}", source.len()),
        etag: Some("\"v1\"".into()),
        imported_at: "2026-01-01T00:00:00.000Z".parse().expect("time"),
        imported_by: "admin".into(),
        items,
    }
}

async fn scenario(db: &Db, replica: &Db, label: &str) {
    let mut many: Vec<InventoryItem> = (0..2_500)
        .map(|i| item(InventoryKind::Endpoint, &format!("host-{i:05}")))
        .collect();
    many.push(item(InventoryKind::Agent, "claude-code"));
    let v1 = db
        .import_inventory("acme", import("hosts.json", many))
        .await
        .expect("import 1");
    assert_eq!(v1.version, 1, "{label}");
    assert_eq!(v1.items, 2_501);
    assert_eq!(v1.counts["endpoint"], 2_500);
    assert_eq!(v1.counts["agent"], 1);
    // The second import comes through another replica: numbered after the first.
    let v2 = replica
        .import_inventory(
            "acme",
            import(
                "https://cmdb/hosts",
                vec![item(InventoryKind::Repository, "acme/app")],
            ),
        )
        .await
        .expect("import 2");
    assert_eq!(v2.version, 2, "{label}");
    assert_eq!(v2.log_index, v1.log_index + 1);

    // The newest is the current one; the first stays readable.
    assert_eq!(
        db.inventory_version("acme", None).await.expect("current"),
        Some(v2.clone())
    );
    assert_eq!(
        db.inventory_version("acme", Some(1)).await.expect("v1"),
        Some(v1.clone())
    );
    assert_eq!(
        db.inventory_version("acme", Some(9)).await.expect("v9"),
        None
    );
    assert_eq!(
        db.inventory_versions("acme", 10).await.expect("versions"),
        vec![v2.clone(), v1.clone()]
    );

    // Keyset pagination walks every item of version 1 once, in id order.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let page = db
            .inventory_items("acme", 1, after.as_deref(), 1_000)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|i| i.id.clone());
        seen.extend(page.into_iter().map(|i| i.id));
    }
    assert_eq!(seen.len(), 2_501, "{label}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen[0], "agent:claude-code");

    // Each import is an evidence entry with its digest, counts and source.
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
    let body = &entries[1].entry["body"];
    assert_eq!(entries[1].entry["kind"], "inventory");
    assert_eq!(body["source"], "https://cmdb/hosts");
    assert_eq!(body["version"], 2);
    assert_eq!(body["digest"], v2.digest.as_str());
    assert_eq!(body["counts"], json!({"repository": 1}));

    // Another tenant sees nothing of it.
    assert_eq!(
        db.inventory_version("other", None).await.expect("other"),
        None
    );
    assert!(
        db.inventory_items("other", 1, None, 10)
            .await
            .expect("other")
            .is_empty()
    );

    // Two items with one id are refused, and nothing is written.
    let twice = vec![
        item(InventoryKind::Agent, "a"),
        item(InventoryKind::Agent, "a"),
    ];
    assert!(matches!(
        db.import_inventory("acme", import("dup.json", twice)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        db.inventory_version("acme", None)
            .await
            .expect("current")
            .map(|v| v.version),
        Some(2)
    );

    // Leases: one holder at a time across replicas; renewal by the holder; takeover after
    // expiry; release frees it at once.
    assert!(
        db.try_lease("jira/acme", "r1", 1_000, 500)
            .await
            .expect("take")
    );
    assert!(
        !replica
            .try_lease("jira/acme", "r2", 1_200, 500)
            .await
            .expect("held")
    );
    assert!(
        db.try_lease("jira/acme", "r1", 1_400, 500)
            .await
            .expect("renew")
    );
    assert!(
        !replica
            .try_lease("jira/acme", "r2", 1_800, 500)
            .await
            .expect("renewed")
    );
    assert!(
        replica
            .try_lease("jira/acme", "r2", 1_900, 500)
            .await
            .expect("expired: taken over")
    );
    assert!(
        !db.try_lease("jira/acme", "r1", 1_950, 500)
            .await
            .expect("now r2's")
    );
    replica
        .release_lease("jira/acme", "r2")
        .await
        .expect("release");
    assert!(
        db.try_lease("jira/acme", "r1", 1_960, 500)
            .await
            .expect("free again")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_versions_items_and_leases_on_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let db = Db::open(&url, settings()).await.expect("open");
    let replica = db.clone();
    scenario(&db, &replica, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_versions_items_and_leases_on_postgres() {
    let Some(base) = std::env::var("CAVRA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n***** CAVRA_TEST_POSTGRES_URL is not set: the PostgreSQL inventory test did NOT run *****"
        );
        return;
    };
    let (c, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let name: String = c
        .query_one(
            "SELECT 'cavra_inv_' || replace(gen_random_uuid()::text, '-', '')",
            &[],
        )
        .await
        .expect("name")
        .get(0);
    c.batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
    let db = Db::open(&url, settings()).await.expect("open");
    let replica = Db::open(&url, settings()).await.expect("replica");
    scenario(&db, &replica, "postgres").await;
    drop((db, replica));
    c.batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .await
        .expect("drop");
}
