//! Unit tests of the writer and the migrations.

use super::*;
use std::sync::Arc;

fn tenant_ids(db: &SqliteDb) -> Vec<String> {
    let c = connect(db.path()).unwrap();
    let mut st = c.prepare("SELECT id FROM tenants ORDER BY id").unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn insert_tenant(c: &Connection, id: &str) -> Result<()> {
    c.execute(
        "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?1, '2026-01-01T00:00:00Z')",
        params![id],
    )?;
    Ok(())
}

/// A write without a savepoint that fails after changing rows takes its whole group
/// commit down with it: nothing of the group is stored and every write in it is told so;
/// the next group is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_write_failing_halfway_rolls_back_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let settings = LogSettings {
        signer: Arc::new(crate::LogSigner {
            key_id: "k".into(),
            key: cavra_evidence::keys::from_seed(&[3; 32]),
        }),
        redactor: Arc::new(cavra_redact::Redactor::for_pack(&[], &[]).unwrap()),
    };
    let db = Arc::new(
        SqliteDb::open(&dir.path().join("t.db"), settings)
            .await
            .unwrap(),
    );
    // The first write holds the writer so that the next two queue up into one group.
    let first = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|c, _| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                insert_tenant(c, "first")
            })
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let failing = db.write_direct(|c, _, _| {
        insert_tenant(c, "half")?;
        Err::<(), _>(StoreError::Corrupt("failed halfway".into()))
    });
    let bystander = db.write(|c, _| insert_tenant(c, "bystander"));
    let (failing, bystander) = tokio::join!(failing, bystander);
    assert!(first.await.unwrap().is_ok());
    assert!(matches!(failing, Err(StoreError::Corrupt(ref m)) if m == "failed halfway"));
    assert!(bystander.is_err(), "the group was rolled back");
    assert_eq!(tenant_ids(&db), vec!["first".to_string()]);
    // A direct write failing before it changes anything leaves its group alone.
    let clean =
        db.write_direct(|_, _, _| Err::<(), _>(StoreError::Conflict("checked first".into())));
    let next = db.write(|c, _| insert_tenant(c, "next"));
    let (clean, next) = tokio::join!(clean, next);
    assert!(matches!(clean, Err(StoreError::Conflict(_))));
    assert!(next.is_ok());
    assert_eq!(
        tenant_ids(&db),
        vec!["first".to_string(), "next".to_string()]
    );
}

/// A database written by version 1 (records kept twice, entries WITHOUT ROWID) reads the
/// same after migrating to version 2.
#[test]
fn version_1_data_survives_the_migration() {
    // The columns version 1 had (today's have more).
    const V1_COLUMNS: &str = "decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index";
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let record = serde_json::json!({"decision": "block", "target": ".env", "reason": "secret"});
    let entry = serde_json::json!({
        "body": {"decision_id": "d1", "record": record},
        "format": "cavra-log-entry/v1", "index": 0, "kind": "decision",
        "tenant": "acme", "time": "2026-11-26T06:00:00.000Z",
    });
    conn.execute(
        "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ('acme', 0, 'decision', 'd1', 's1', '2026-11-26T06:00:00.000Z', ?1, x'00')",
        params![serde_json::to_vec(&entry).unwrap()],
    )
    .unwrap();
    conn.execute(
        &format!("INSERT INTO decisions (tenant, {V1_COLUMNS}, record) VALUES ('acme', 'd1', 's1', 'a', 'wrk', 'read_file', 'block', 'secrets.read', '2026-11-26T06:00:00.000Z', 'sha256:f', 'sha256:p', 0, ?1)"),
        params![record.to_string()],
    )
    .unwrap();

    migrate(&mut conn).unwrap();

    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let d = conn
        .query_row(
            &format!("{DECISION_SELECT} WHERE d.tenant = 'acme' AND d.decision_id = 'd1'"),
            [],
            decision_row,
        )
        .map_err(StoreError::from)
        .and_then(finish_decision)
        .unwrap();
    assert_eq!(d.record, record);
    assert_eq!(d.extra.log_index, Some(0));
    let rowid_table: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'log_entries' AND sql NOT LIKE '%WITHOUT ROWID%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rowid_table, 1);
}

/// A database an older version created readable by everyone (0644), with its write-ahead
/// log, is made private (0600) when it is opened again; its contents stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_world_readable_database_is_made_private_on_open() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let settings = || LogSettings {
        signer: Arc::new(crate::LogSigner {
            key_id: "k".into(),
            key: cavra_evidence::keys::from_seed(&[3; 32]),
        }),
        redactor: Arc::new(cavra_redact::Redactor::for_pack(&[], &[]).unwrap()),
    };
    // The first store stays open, so SQLite keeps its `-wal` and `-shm` files.
    let first = SqliteDb::open(&path, settings()).await.unwrap();
    insert_tenant(&connect(first.path()).unwrap(), "kept").unwrap();
    let mut opened = Vec::new();
    for name in ["t.db", "t.db-wal", "t.db-shm"] {
        let file = dir.path().join(name);
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            opened.push(file);
        }
    }
    assert_eq!(
        opened.len(),
        3,
        "the database and its log exist: {opened:?}"
    );
    let db = SqliteDb::open(&path, settings()).await.unwrap();
    for file in &opened {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    assert_eq!(tenant_ids(&db), vec!["kept".to_string()]);
}

/// A file the operating system will not let the store create or inspect is reported as
/// that file and the system's error, not as corrupt data.
#[test]
fn a_refused_file_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A path through a regular file: every call on it fails with ENOTDIR.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"").unwrap();
    let inside = plain.join("tenant.db");
    for (err, action) in [
        (create_private(&inside).unwrap_err(), "create it"),
        (make_private(&inside).unwrap_err(), "read its permissions"),
    ] {
        match &err {
            StoreError::File {
                path,
                action: a,
                source,
            } => {
                assert_eq!(path, &inside);
                assert_eq!(a, action);
                assert_eq!(source.raw_os_error(), Some(20), "ENOTDIR: {source}");
            }
            other => panic!("expected StoreError::File, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&inside.display().to_string()), "{text}");
        assert!(text.contains(action), "{text}");
    }
    // A world-readable file is made private; a missing one is fine.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    make_private(&plain).unwrap();
    assert_eq!(
        std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
        0o600
    );
    make_private(&dir.path().join("missing")).unwrap();
}
