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

fn test_settings() -> LogSettings {
    LogSettings {
        signer: Arc::new(crate::LogSigner {
            key_id: "k".into(),
            key: cavra_evidence::keys::from_seed(&[3; 32]),
        }),
        redactor: Arc::new(cavra_redact::Redactor::for_pack(&[], &[]).unwrap()),
    }
}

/// A decision's write queued behind a slow background write (the delivery worker's) is
/// committed without waiting for it: the two never share a group commit, and the foreground
/// goes first. (Before the lanes, both joined the next group and the decision waited the
/// background write's 400 ms.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreground_write_does_not_wait_behind_a_queued_background_write() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        SqliteDb::open(&dir.path().join("t.db"), test_settings())
            .await
            .unwrap(),
    );
    // Holds the writer so that the next two queue up together.
    let hold = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|c, _| {
                std::thread::sleep(Duration::from_millis(200));
                insert_tenant(c, "hold")
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let background = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write_background(|c, _| {
                std::thread::sleep(Duration::from_millis(400));
                insert_tenant(c, "background")
            })
            .await
            .map(|()| Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let asked = Instant::now();
    db.write(|c, _| insert_tenant(c, "foreground"))
        .await
        .unwrap();
    let foreground_done = Instant::now();
    hold.await.unwrap().unwrap();
    let background_done = background.await.unwrap().unwrap();
    assert!(
        foreground_done < background_done,
        "the foreground write was answered after the background one"
    );
    assert!(
        foreground_done - asked < Duration::from_millis(350),
        "the foreground write waited {:?}",
        foreground_done - asked
    );
    assert_eq!(
        tenant_ids(&db),
        vec![
            "background".to_string(),
            "foreground".to_string(),
            "hold".to_string()
        ]
    );
}

/// A job for the lanes' tests: it writes nothing; `tag` says which it was.
fn lane_job(background: bool, tag: usize, ran: Arc<std::sync::Mutex<Vec<usize>>>) -> Job {
    Job {
        direct: false,
        background,
        work: Work::Once(Box::new(
            move |_: &Connection, _: &LogSettings, _: &mut Heads| {
                ran.lock().unwrap().push(tag);
                (None, Box::new(|_: Option<&str>| {}) as Finish)
            },
        )),
    }
}

/// The groups the lanes make: foreground writes together and first, each background write
/// alone; while foreground writes keep waiting, a background write still gets a turn every
/// `BACKGROUND_EVERY` groups (the delivery worker is never starved by decisions).
#[test]
fn the_lanes_put_decisions_first_without_starving_the_worker() {
    let ran: Arc<std::sync::Mutex<Vec<usize>>> = Arc::default();
    let mut lanes = Lanes::default();
    lanes.push(lane_job(true, 100, ran.clone()));
    lanes.push(lane_job(false, 1, ran.clone()));
    lanes.push(lane_job(true, 101, ran.clone()));
    lanes.push(lane_job(false, 2, ran.clone()));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let conn = Connection::open_in_memory().unwrap();
    let settings = test_settings();
    let run = |lanes: &mut Lanes, max: usize| {
        let group = lanes.next_group(max);
        let before = ran.lock().unwrap().len();
        for job in group {
            if let Work::Once(run) = job.work {
                let _ = run(&conn, &settings, &mut Heads::default());
            }
        }
        ran.lock().unwrap()[before..].to_vec()
    };
    while !lanes.is_empty() {
        groups.push(run(&mut lanes, 512));
    }
    assert_eq!(groups, vec![vec![1, 2], vec![100], vec![101]]);

    // Foreground writes that never stop (one new per group, groups of one): the background
    // write runs after BACKGROUND_EVERY of them, not never.
    let mut lanes = Lanes::default();
    lanes.push(lane_job(true, 100, ran.clone()));
    let mut order = Vec::new();
    for tag in 0..(2 * BACKGROUND_EVERY) {
        lanes.push(lane_job(false, tag, ran.clone()));
        order.extend(run(&mut lanes, 1));
    }
    let at = order
        .iter()
        .position(|&t| t == 100)
        .expect("the background write ran");
    assert_eq!(at, BACKGROUND_EVERY, "{order:?}");
    assert!(order.len() == 2 * BACKGROUND_EVERY, "{order:?}");
}

/// A background write of many units lets a write that arrives meanwhile in after a few of
/// them (it is committed long before the last unit runs), then goes on where it stopped:
/// every unit is committed once, and the answer holds their results in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_background_write_lets_other_writes_in_between_its_units() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        SqliteDb::open(&dir.path().join("t.db"), test_settings())
            .await
            .unwrap(),
    );
    const UNITS: usize = 64;
    let units = {
        let db = db.clone();
        tokio::spawn(async move {
            let out = db
                .write_units((0..UNITS).collect(), |c, _, _, i: usize| {
                    std::thread::sleep(Duration::from_millis(10));
                    insert_tenant(c, &format!("u{i:02}"))?;
                    Ok(i)
                })
                .await;
            (out, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    db.write(|c, _| insert_tenant(c, "foreground"))
        .await
        .unwrap();
    let foreground_done = Instant::now();
    let (out, units_done) = units.await.unwrap();
    assert_eq!(out.unwrap(), (0..UNITS).collect::<Vec<_>>());
    // The units take 640 ms in all; the foreground write waits for the one running (10 ms,
    // longer than BACKGROUND_SLICE) when it arrives.
    assert!(
        foreground_done - asked < Duration::from_millis(300),
        "the foreground write waited {:?}",
        foreground_done - asked
    );
    assert!(foreground_done < units_done);
    let mut want: Vec<String> = (0..UNITS).map(|i| format!("u{i:02}")).collect();
    want.insert(0, "foreground".to_string());
    assert_eq!(tenant_ids(&db), want);
}

/// A unit that fails takes its group's units down with it and the write is answered with
/// the failure; the writer goes on with the next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_unit_fails_its_background_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&dir.path().join("t.db"), test_settings())
        .await
        .unwrap();
    let out = db
        .write_units((0..5).collect(), |c, _, _, i: usize| {
            if i == 3 {
                return Err(StoreError::Conflict("unit 3".into()));
            }
            insert_tenant(c, &format!("u{i}"))
        })
        .await;
    assert!(
        matches!(out, Err(StoreError::Conflict(ref m)) if m == "unit 3"),
        "{out:?}"
    );
    assert!(tenant_ids(&db).is_empty());
    db.write(|c, _| insert_tenant(c, "next")).await.unwrap();
    assert_eq!(tenant_ids(&db), vec!["next".to_string()]);
    assert!(
        db.write_units(Vec::<usize>::new(), |_, _, _, i| Ok(i))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A background turn while foreground writes wait lasts as long as the foreground groups
/// since the last turn (the worker's share of a saturated writer), within its bounds.
#[test]
fn a_background_turn_lasts_the_foreground_time_since_the_last() {
    use std::time::Duration;
    let mut lanes = Lanes::default();
    assert_eq!(lanes.slice(), BACKGROUND_SLICE);
    lanes.foreground_busy = Duration::from_millis(8);
    assert_eq!(lanes.slice(), Duration::from_millis(8) / BACKGROUND_SHARE);
    lanes.foreground_busy = Duration::from_secs(1);
    assert_eq!(lanes.slice(), BACKGROUND_SLICE_MAX);
    // A turn resets it.
    lanes.push(lane_job(true, 1, Arc::default()));
    lanes.push(lane_job(false, 2, Arc::default()));
    lanes.since_background = BACKGROUND_EVERY;
    assert_eq!(lanes.next_group(512).len(), 1);
    assert_eq!(lanes.slice(), BACKGROUND_SLICE);
}
