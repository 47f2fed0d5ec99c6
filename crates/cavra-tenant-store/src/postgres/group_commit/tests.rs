use super::*;
use std::sync::Arc;

fn settings() -> LogSettings {
    LogSettings {
        signer: Arc::new(crate::LogSigner {
            key_id: "test-log-key".into(),
            key: cavra_evidence::keys::from_seed(&[7; 32]),
        }),
        redactor: Arc::new(
            cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("rules"),
        ),
    }
}

/// A fresh schema on the test server and the store on it (None: no server named).
async fn store() -> Option<(PgDb, String, String)> {
    let base = std::env::var("CAVRA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let (c, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let name = format!("cavra_test_gc_{}", uuid::Uuid::new_v4().simple());
    c.batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .expect("schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
    let db = PgDb::open(&url, settings()).await.expect("open");
    // A decision whose id starts with `poison` makes its transaction's COMMIT fail, a
    // quarter second after it began committing (a deferred constraint trigger).
    db.client()
        .await
        .expect("client")
        .batch_execute(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.25); RAISE EXCEPTION 'poisoned %', NEW.decision_id; END $$;
             CREATE CONSTRAINT TRIGGER poison AFTER INSERT ON decisions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.decision_id LIKE 'poison%') EXECUTE FUNCTION poison();",
        )
        .await
        .expect("trigger");
    Some((db, base, name))
}

async fn drop_schema(base: &str, name: &str) {
    if let Ok((c, conn)) = tokio_postgres::connect(base, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = c
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .await;
    }
}

/// A plain decision's work item and the receiver of its answer.
fn work(settings: &LogSettings, id: &str) -> (Work, oneshot::Receiver<Result<u64>>) {
    let mut d = NewDecision {
        decision_id: id.into(),
        session_id: Some("s".into()),
        agent: Some("claude-code".into()),
        action_type: ActionType::WriteFile.into(),
        decision: Decision::Allow,
        rule_id: "rule".into(),
        timestamp: Timestamp::parse("2026-01-01T00:00:01Z").expect("time"),
        fingerprint: format!("fp-{id}"),
        extra: Caller {
            requested_by: "agent-1".into(),
            policy_digest: "sha256:pack".into(),
            record: serde_json::json!({"decision_id": id}).into(),
        },
    };
    let p = crate::log::prepare_decision(&settings.redactor, None, &mut d).expect("prepared");
    let (reply, answer) = oneshot::channel();
    (
        Work::Decision {
            decision: d,
            prepared: p.body,
            event: p.event,
            repository: p.repository,
            reply,
        },
        answer,
    )
}

/// The stored head (size, frontier) and whether it is the Merkle root of the stored
/// leaves, and the number of stored entries and decisions.
async fn stored(db: &PgDb) -> (u64, bool, i64, i64) {
    let c = db.client().await.expect("client");
    let row = c
        .query_one(
            "SELECT size, frontier FROM log_meta WHERE tenant = 't'",
            &[],
        )
        .await
        .expect("head");
    let frontier = Frontier::from_bytes(row.get::<_, i64>(0) as u64, &row.get::<_, Vec<u8>>(1))
        .expect("frontier");
    let leaves: Vec<[u8; 32]> = c
        .query(
            "SELECT leaf_hash FROM log_entries WHERE tenant = 't' ORDER BY idx",
            &[],
        )
        .await
        .expect("leaves")
        .iter()
        .map(|r| r.get::<_, Vec<u8>>(0).try_into().expect("32 bytes"))
        .collect();
    let decisions: i64 = c
        .query_one("SELECT COUNT(*) FROM decisions WHERE tenant = 't'", &[])
        .await
        .expect("count")
        .get(0);
    let whole = leaves.len() as u64 == frontier.size()
        && cavra_evidence::merkle::root(&leaves) == frontier.root();
    (frontier.size(), whole, leaves.len() as i64, decisions)
}

/// Builds `ids` on `head` (a group of that many decisions).
fn group_of(settings: &LogSettings, head: Head, ids: &[&str]) -> (Group, Vec<Work>) {
    let items: Vec<Work> = ids.iter().map(|id| work(settings, id).0).collect();
    (build(settings, "t", head, &items).expect("built"), items)
}

async fn send(db: &PgDb, g: &Group) -> std::result::Result<usize, Failure> {
    let c = db.pool.get().await.map_err(StoreError::from)?;
    write_group(&c, "t", g, true, None).await.map(|m| m.len())
}

/// Sends `second` behind `first` on one connection, as the appender does.
async fn send_chained(
    db: &PgDb,
    first: &Group,
    second: &Group,
) -> (
    std::result::Result<usize, Failure>,
    std::result::Result<usize, Failure>,
) {
    let c = db.pool.get().await.expect("a connection");
    let (sent, after) = oneshot::channel();
    tokio::join!(
        async {
            write_group(&c, "t", first, true, Some(sent))
                .await
                .map(|m| m.len())
        },
        async {
            let _ = after.await;
            write_group(&c, "t", second, true, None)
                .await
                .map(|m| m.len())
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_chained_on_one_that_fails_at_commit_is_not_written() {
    let Some((db, base, name)) = store().await else {
        return;
    };
    let s = settings();
    // Ten decisions first, under the lock: the head they leave is known.
    let ten: Vec<Work> = (0..10).map(|i| work(&s, &format!("d{i}")).0).collect();
    let (g0, _) = locked(&db.pool, &s, "t", &ten).await.expect("first ten");
    let head = Head {
        log_id: g0.before.log_id.clone(),
        frontier: g0.after.clone(),
    };
    // The first group fails at its COMMIT; the second is built on the head the first
    // would have left, and sent while the first is committing.
    let (first, _) = group_of(&s, head.clone(), &["a1", "poison", "a2"]);
    let second_head = Head {
        log_id: head.log_id.clone(),
        frontier: first.after.clone(),
    };
    let (second, _) = group_of(&s, second_head, &["b1", "b2", "b3", "b4"]);
    let (r1, r2) = send_chained(&db, &first, &second).await;
    assert!(
        matches!(r1, Err(Failure::Store(StoreError::Postgres(ref m))) if m.contains("poisoned")),
        "the first group fails at its commit"
    );
    assert!(
        matches!(r2, Err(Failure::HeadMoved)),
        "the group chained on it is not written"
    );
    assert_eq!(
        stored(&db).await,
        (10, true, 10, 10),
        "the head, the entries and the decisions are those before the two groups"
    );

    // Without a failure both commit, in order, and the log is whole.
    let (first, _) = group_of(&s, head.clone(), &["c1", "c2"]);
    let second_head = Head {
        log_id: head.log_id.clone(),
        frontier: first.after.clone(),
    };
    let (second, _) = group_of(&s, second_head, &["e1", "e2", "e3"]);
    let (r1, r2) = send_chained(&db, &first, &second).await;
    assert!(r1.is_ok() && r2.is_ok());
    assert_eq!(stored(&db).await, (15, true, 15, 15));

    // A head of the stored size whose frontier is not the stored one (other leaves): the
    // guard compares the frontier as well as the size.
    let mut forged = head.frontier.clone();
    for i in 0..5u8 {
        forged.push([i; 32]);
    }
    let (other, _) = group_of(
        &s,
        Head {
            log_id: head.log_id.clone(),
            frontier: forged,
        },
        &["g1"],
    );
    assert!(matches!(send(&db, &other).await, Err(Failure::HeadMoved)));
    assert_eq!(stored(&db).await, (15, true, 15, 15));

    // A group built on a head that is no longer the stored one (another write appended)
    // is not written either.
    let (stale, _) = group_of(&s, head, &["f1"]);
    assert!(matches!(send(&db, &stale).await, Err(Failure::HeadMoved)));
    assert_eq!(stored(&db).await, (15, true, 15, 15));
    drop(db);
    drop_schema(&base, &name).await;
}

/// Through the appender: callers in groups chained on a failing one are appended again
/// and answered with their own index; only the poisoned decision fails, and nothing
/// answered is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appender_fails_only_the_poisoned_decision() {
    let Some((db, base, name)) = store().await else {
        return;
    };
    let db = Arc::new(db);
    let s = settings();
    let mut answers = Vec::new();
    let tx = db.appender("t");
    for round in 0..6 {
        for i in 0..40 {
            let id = if round == 2 && i == 5 {
                "poison-1".to_string()
            } else {
                format!("r{round}-{i}")
            };
            let (w, answer) = work(&s, &id);
            tx.send(w).await.expect("queued");
            answers.push((id, answer));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut indexes = std::collections::BTreeSet::new();
    for (id, answer) in answers {
        match answer.await.expect("answered") {
            Ok(i) => assert!(indexes.insert(i), "{id}: index {i} given twice"),
            Err(e) => assert!(id.starts_with("poison"), "{id} failed: {e}"),
        }
    }
    assert_eq!(indexes, (0..239).collect());
    assert_eq!(stored(&db).await, (239, true, 239, 239));
    drop(tx);
    drop(db);
    drop_schema(&base, &name).await;
}
