//! Kill an appending process at random points, many times: nothing acknowledged is lost and
//! the log (hashes, positions, signed checkpoints) verifies after every kill.
//!
//! The test re-runs its own binary as the appender (`CAVRA_CRASH_CHILD` set): the child
//! records decisions in a loop and prints `ack <id>` after each one is committed.

use cavra_evidence::keys;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{EntryFilter, LogSigner, NewDecision, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::macros::datetime;

fn signer() -> LogSigner {
    LogSigner {
        key_id: "log".into(),
        key: keys::from_seed(&[5; 32]),
    }
}

fn decision(id: &str) -> NewDecision {
    NewDecision {
        decision_id: id.into(),
        session_id: Some("crash".into()),
        agent: Some("claude-code".into()),
        action_type: cavra_store::ActionType::ExecuteCommand.into(),
        decision: cavra_store::Decision::Allow,
        rule_id: "r".into(),
        timestamp: "2026-01-02T03:04:05.000Z".parse().unwrap(),
        fingerprint: id.into(),
        extra: cavra_store::ToolCall {
            cwd: None,
            tool_use_id: Some(id.into()),
            record: serde_json::json!({"target": format!("echo {id}"), "padding": "x".repeat(300)}),
        },
    }
}

/// The appender, when run as the child.
#[test]
fn appender_child() {
    let Ok(dir) = std::env::var("CAVRA_CRASH_CHILD") else {
        return;
    };
    let round = std::env::var("CAVRA_CRASH_ROUND").unwrap_or_default();
    let mut store = Store::open_repo(std::path::Path::new(&dir)).expect("open");
    store.set_log_signer(Box::new(|| Ok(signer())));
    store.checkpoint_every(7);
    let stdout = std::io::stdout();
    for i in 0.. {
        let id = format!("r{round}-{i}");
        store.record_decision(&decision(&id)).expect("record");
        let mut lock = stdout.lock();
        writeln!(lock, "ack {id}").expect("print");
        lock.flush().expect("flush");
    }
}

#[test]
fn killed_appenders_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tmp");
    let exe = std::env::current_exe().expect("test binary");
    let mut acknowledged = Vec::new();
    // A cheap deterministic spread of kill times (0.5 ms to ~60 ms after start).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(500 + seed % 60_000);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "appender_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CAVRA_CRASH_CHILD", dir.path())
            .env("CAVRA_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ack ") {
                    acks.push(id.to_string());
                }
            }
            acks
        });
        let start = Instant::now();
        while start.elapsed() < delay {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        acknowledged.extend(reader.join().expect("reader"));

        // After every kill: open (recovering the WAL), everything acknowledged is there, and
        // the log verifies.
        let store = Store::open_repo(dir.path()).expect("reopen");
        let mut trust = TrustRoot::default();
        trust
            .add(
                KeyRecord::new(
                    "log",
                    "tests",
                    &signer().key.verifying_key(),
                    datetime!(2020-01-01 0:00 UTC),
                    None,
                )
                .expect("record"),
            )
            .expect("add");
        let report = store.verify_log(Some(&trust)).expect("verify");
        assert!(report.ok(), "round {round}: {:?}", report.problems);
        let logged: std::collections::HashSet<String> = store
            .log_entries(&EntryFilter::default())
            .expect("entries")
            .into_iter()
            .filter_map(|e| e.ref_id)
            .collect();
        for id in &acknowledged {
            assert!(logged.contains(id), "round {round}: acknowledged {id} lost");
        }
    }
    assert!(
        acknowledged.len() > 40,
        "too few appends to mean anything: {}",
        acknowledged.len()
    );
    eprintln!(
        "{} acknowledged appends survived 40 kills",
        acknowledged.len()
    );
}

/// A torn tail: the last commit's frames cut short in the WAL (as a power loss mid-write
/// leaves them). The next open drops the incomplete commit — its frames fail SQLite's WAL
/// checksums — and the log is whole without it: detected and truncated, never half-accepted.
#[test]
fn a_torn_tail_is_dropped_on_the_next_open() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let mut store = Store::open_repo(dir.path()).expect("open");
        store.set_log_signer(Box::new(|| Ok(signer())));
        store.checkpoint_every(1000);
        for i in 0..5 {
            store
                .record_decision(&decision(&format!("t{i}")))
                .expect("record");
        }
    }
    let wal = dir.path().join(".cavra/cavra.db-wal");
    let len = std::fs::metadata(&wal)
        .expect("the WAL is kept between processes")
        .len();
    assert!(len > 4096, "{len}");
    // Cut into the last commit's frames.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("wal");
    f.set_len(len - 700).expect("truncate");
    drop(f);
    let store = Store::open_repo(dir.path()).expect("reopen");
    let ids: Vec<String> = store
        .log_entries(&EntryFilter::default())
        .expect("entries")
        .into_iter()
        .filter_map(|e| e.ref_id)
        .collect();
    assert_eq!(
        ids,
        ["t0", "t1", "t2", "t3"],
        "the torn commit is gone, the rest intact"
    );
    let (_, size, _) = store.log_state().expect("state");
    assert_eq!(size, 4);
    let mut trust = TrustRoot::default();
    trust
        .add(
            KeyRecord::new(
                "log",
                "tests",
                &signer().key.verifying_key(),
                datetime!(2020-01-01 0:00 UTC),
                None,
            )
            .expect("record"),
        )
        .expect("add");
    let report = store.verify_log(Some(&trust)).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(store.integrity_check().expect("check"), "ok");
}
