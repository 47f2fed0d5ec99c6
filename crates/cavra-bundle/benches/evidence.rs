//! Evidence throughput: durable appends to the log, and verifying a large bundle.
//!
//! `cargo bench -p cavra-bundle --bench evidence` (CAVRA_BENCH_ENTRIES sets the bundle size,
//! default 1,000,000; the bundle is generated once under target/cavra-bench/ and reused).

use cavra_bundle::{BundleOptions, Selection, VerifyOptions, verify_bundle, write_bundle};
use cavra_evidence::keys;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{LogSigner, NewDecision, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn signer() -> LogSigner {
    LogSigner {
        key_id: "bench".into(),
        key: keys::from_seed(&[42; 32]),
    }
}

fn trust() -> TrustRoot {
    let mut t = TrustRoot::default();
    t.add(
        KeyRecord::new(
            "bench",
            "bench",
            &signer().key.verifying_key(),
            time::OffsetDateTime::UNIX_EPOCH,
            None,
        )
        .expect("record"),
    )
    .expect("add");
    t
}

/// A decision shaped like the hook's records (about 1.3 KB of canonical JSON per entry).
pub fn decision(i: u64) -> NewDecision {
    let id = format!("0193b2c4-7e1f-7c3a-9d2e-{i:012x}");
    let command = format!("cargo test -p cavra-engine --lib evaluate::tests::case_{i}");
    NewDecision {
        decision_id: id.clone(),
        session_id: Some(format!("session-{}", i / 500)),
        agent: Some("claude-code".into()),
        action_type: cavra_store::ActionType::ExecuteCommand.into(),
        decision: if i.is_multiple_of(10) {
            cavra_store::Decision::Block
        } else {
            cavra_store::Decision::Allow
        },
        rule_id: "commands.allow".into(),
        timestamp: format!(
            "2026-11-25T{:02}:{:02}:{:02}.000Z",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60
        )
        .parse()
        .unwrap(),
        fingerprint: format!("{:064x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        extra: cavra_store::ToolCall {
            cwd: Some("/home/dev/src/cavra".into()),
            tool_use_id: Some(format!("toolu_01{i:020}")),
            record: serde_json::json!({
                "decision_id": id,
                "correlation_id": format!("toolu_01{i:020}"),
                "timestamp": "2026-11-25T10:00:00.000Z",
                "session_id": format!("session-{}", i / 500),
                "agent_id": "claude-code",
                "action_type": "execute_command",
                "target": command,
                "policy_pack": "cavra-baseline",
                "policy_version": "1.0.0",
                "policy_digest": format!("sha256:{}", sha256_hex(br#"{"metadata":{"id":"bench"}}"#)),
                "rule_id": "commands.allow",
                "severity": "info",
                "reason": "allowed by commands.allow: `cargo test*`",
                "mode": "enforce",
                "base_decision": "allow",
                "decision": "allow",
                "explicit": true,
                "matched_rules": [{"rule_id": "commands.allow", "decision": "allow", "severity": "info", "pattern": "cargo test*", "subject": command, "explicit": true}],
                "tool_name": "Bash",
                "tool_input": {"command": command, "description": "Run the engine's unit tests"},
                "redactions": [],
            }),
        },
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn bench_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("cavra-bench")
}

/// Builds (once) a store of `n` decisions and a signed bundle of all of them.
fn large_bundle(n: u64) -> PathBuf {
    let dir = bench_root().join(format!("log-{n}"));
    let bundle = dir.join("bundle");
    if bundle.join("bundle.dsse.json").exists() {
        return bundle;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let mut store = Store::open_repo(&dir).expect("store");
    store.checkpoint_every(u64::MAX);
    let policy = r#"{"metadata":{"id":"bench"}}"#;
    let digest = format!("sha256:{}", sha256_hex(policy.as_bytes()));
    store
        .record_policy(&digest, "bench", policy, "2026-11-25T00:00:00.000Z")
        .expect("policy");
    let started = Instant::now();
    let batch = 10_000;
    let mut i = 0;
    while i < n {
        let chunk: Vec<NewDecision> = (i..(i + batch).min(n)).map(decision).collect();
        store.record_decisions(&chunk).expect("append");
        i += batch;
    }
    eprintln!(
        "appended {n} entries in batches of {batch}: {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let s = signer();
    let written = write_bundle(
        &mut store,
        &bundle,
        BundleOptions {
            selection: Selection::default(),
            sign: Some(&s),
            log_signer: Some(&s),
            retention_days: 365,
            legal_hold: false,
            created_at: time::OffsetDateTime::now_utc(),
            progress: None,
        },
    )
    .expect("bundle");
    let size: u64 = written.files.iter().map(|f| f.size).sum();
    eprintln!(
        "wrote a bundle of {} entries ({:.0} MB) in {:.1?}",
        written.entries,
        size as f64 / 1e6,
        started.elapsed()
    );
    std::fs::write(dir.join("trust.json"), trust().to_json()).expect("trust");
    bundle
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open_repo(dir.path()).expect("store");
    store.set_log_signer(Box::new(|| Ok(signer())));
    let mut group = c.benchmark_group("log_append");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut i = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("durable_one_per_commit", |b| {
        b.iter(|| {
            i += 1;
            store.record_decision(&decision(i)).expect("append");
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("durable_100_per_commit", |b| {
        b.iter(|| {
            let chunk: Vec<NewDecision> = (0..100)
                .map(|_| {
                    i += 1;
                    decision(i)
                })
                .collect();
            store.record_decisions(&chunk).expect("append");
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let n: u64 = std::env::var("CAVRA_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bundle = large_bundle(n);
    let trust = trust();
    let report = verify_bundle(&bundle, &trust, &VerifyOptions::default());
    assert!(report.ok(), "{:?}", report.failures);
    let mut group = c.benchmark_group("verify_bundle");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(n));
    group.bench_function(format!("{n}_entries"), |b| {
        b.iter(|| {
            let r = verify_bundle(&bundle, &trust, &VerifyOptions::default());
            assert!(r.ok());
        })
    });
    group.finish();
}

criterion_group!(benches, appends, verify);
criterion_main!(benches);
