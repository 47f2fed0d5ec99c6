//! Throughput and latency of the durable outbox delivering to NATS JetStream while decisions
//! continue (docs/benchmarks.md, "Connectors"). In one process: writers record decisions in a
//! tenant store (each blocked decision's event written in its transaction) for `--seconds`,
//! the real delivery worker publishes the events to a JetStream stream, and a NATS subscriber
//! on the same subjects times each event from its decision's commit to its arrival.
//!
//! ```sh
//! cargo run --release -p cavra-connectors --example nats_throughput -- \
//!     --nats nats://127.0.0.1:4222 --seconds 20 --writers 64 --worker on --decision block
//! ```
//!
//! `--worker off` records the same decisions with no delivery running (the decision path's
//! baseline); `--decision allow` records decisions that make no event (no outbox row).
//! `--db URL` takes a database (default: SQLite in a temporary folder). `--rate N` paces the
//! writers to N decisions per second in all (open loop; default 0: as fast as they can), so
//! that the decision latency with and without delivery is compared at the same load.
//! `--batch N` sets the worker's claim size, `--gather-ms N` its pause after a step that took
//! less than a full batch; `--claim-chunk N`, `--record-chunk N` and `--seal-nice N` its
//! other settings (`WorkerSettings`); `--thread-nice N` the niceness of the worker's own
//! thread, and `--worker-thread off` runs the worker as a task of the writers' runtime instead
//! (as the service did before `Worker::spawn`); `--subscriber-nice N` runs the timing
//! subscriber (the receiver's side) N below the rest. Prints one JSON line; `service_cpu_us_per_decision_during_load` is
//! the process's CPU time per decision without the subscriber's thread (the receiver's work).
//!
//! `--prefill N` measures the cost of delivering one event apart from any timing, for an
//! instruction counter (`valgrind --tool=callgrind`): the writers record N decisions with
//! no worker running, then (with `--worker on`) the worker's steps run back to back until
//! the outbox is empty, with no subscriber. The instructions of a run with `--worker on`
//! minus one with `--worker off`, divided by N, are the delivery's per event (batches are
//! full there: the best case of a backlog).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cavra_connectors::retry::{Clock as _, SystemClock, SystemJitter};
use cavra_connectors::worker::build_destinations;
use cavra_connectors::{ConnectorsConfig, Worker, WorkerSettings};
use cavra_redact::Redactor;
use cavra_tenant_store::{
    ActionType, Db, Decision, DecisionWrite, Decisions, LogSettings, LogSigner, NewDecision,
};
use serde_json::{Value, json};

// The allocator of the `cavra` binary (which runs the delivery worker in the service), so that
// the CPU figures are those of the service: glibc's malloc took about a fifth of this
// example's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    nats: String,
    seconds: u64,
    writers: usize,
    worker: bool,
    block: bool,
    db: Option<String>,
    rate: f64,
    batch: usize,
    gather_ms: Option<u64>,
    prefill: u64,
    claim_chunk: Option<usize>,
    record_chunk: Option<usize>,
    seal_nice: Option<i32>,
    thread_nice: Option<i32>,
    worker_thread: bool,
    subscriber_nice: i32,
}

fn args() -> Args {
    let mut a = Args {
        nats: "nats://127.0.0.1:4222".into(),
        seconds: 20,
        writers: 64,
        worker: true,
        block: true,
        db: None,
        rate: 0.0,
        batch: WorkerSettings::default().batch,
        gather_ms: None,
        prefill: 0,
        claim_chunk: None,
        record_chunk: None,
        seal_nice: None,
        thread_nice: None,
        worker_thread: true,
        subscriber_nice: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--nats" => a.nats = v,
            "--seconds" => a.seconds = v.parse().unwrap_or(a.seconds),
            "--writers" => a.writers = v.parse().unwrap_or(a.writers),
            "--worker" => a.worker = v == "on",
            "--decision" => a.block = v == "block",
            "--db" => a.db = Some(v),
            "--rate" => a.rate = v.parse().unwrap_or(a.rate),
            "--batch" => a.batch = v.parse().unwrap_or(a.batch),
            "--gather-ms" => a.gather_ms = v.parse().ok(),
            "--prefill" => a.prefill = v.parse().unwrap_or(0),
            "--claim-chunk" => a.claim_chunk = v.parse().ok(),
            "--record-chunk" => a.record_chunk = v.parse().ok(),
            "--seal-nice" => a.seal_nice = v.parse().ok(),
            "--thread-nice" => a.thread_nice = v.parse().ok(),
            "--worker-thread" => a.worker_thread = v == "on",
            "--subscriber-nice" => a.subscriber_nice = v.parse().unwrap_or(0),
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    a
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// This process's CPU time so far (user and system), in seconds, from /proc/self/stat (in
/// clock ticks of 1/100 s, as Linux reports them on x86-64): CPU per event does not depend on
/// what else runs on the machine, as wall-clock figures do.
fn cpu_seconds() -> f64 {
    cpu_seconds_of("/proc/self/stat")
}

/// [`cpu_seconds`] of the process or thread whose `stat` file is `path`.
fn cpu_seconds_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The write of decision `id` (blocked: with its event in the same transaction).
fn decision_write(id: &str, block: bool) -> DecisionWrite {
    let decision = if block {
        Decision::Block
    } else {
        Decision::Allow
    };
    let ts = now_rfc3339();
    let record = json!({
        "decision_id": id, "decision": decision.as_str(), "severity": "high",
        "repository": "bench/app", "policy_pack": "cavra-baseline",
        "target": ".env", "reason": "secrets file", "timestamp": ts,
    });
    DecisionWrite {
        decision: NewDecision {
            decision_id: id.to_string(),
            session_id: Some("s1".into()),
            agent: Some("claude-code".into()),
            action_type: ActionType::ReadFile.into(),
            decision,
            rule_id: "r1".into(),
            timestamp: cavra_tenant_store::Timestamp::parse(&ts).expect("an RFC 3339 time"),
            fingerprint: format!("fp-{id}"),
            extra: cavra_tenant_store::Caller {
                requested_by: "agent-1".into(),
                policy_digest: "sha256:p".into(),
                record: record.into(),
            },
        },
        new_approval: None,
        use_grant: None,
    }
}

/// Records decision `id` (see [`decision_write`]).
async fn record(db: &Db, id: &str, block: bool) {
    db.record_decision("bench", decision_write(id, block))
        .await
        .expect("record a decision");
}

/// The delivery worker of the benchmark, as the service builds it (`batch` and `gather` as
/// asked).
fn worker(a: &Args, db: &Db, config: &ConnectorsConfig, redactor: &Arc<Redactor>) -> Worker {
    Worker::new(
        db.clone(),
        config,
        build_destinations(config).expect("destinations"),
        redactor.clone(),
        Some(Arc::new(
            cavra_connectors::event::EnvelopeSigner::new(
                "bench",
                &cavra_evidence::keys::from_seed(&[3; 32]),
            )
            .expect("the signer"),
        )),
        Arc::new(SystemClock),
        Box::new(SystemJitter::new()),
        {
            let d = WorkerSettings::default();
            WorkerSettings {
                batch: a.batch,
                gather: a.gather_ms.map(Duration::from_millis).unwrap_or(d.gather),
                claim_chunk: a.claim_chunk.unwrap_or(d.claim_chunk),
                record_chunk: a.record_chunk.unwrap_or(d.record_chunk),
                seal_nice: a.seal_nice.unwrap_or(d.seal_nice),
                thread_nice: a.thread_nice.unwrap_or(d.thread_nice),
                ..d
            }
        },
    )
}

/// `--prefill N`: N decisions recorded by the writers with no worker, then (`--worker on`)
/// the worker's steps back to back until nothing is left; one JSON line.
async fn prefill(a: &Args, db: &Db, config: &ConnectorsConfig, redactor: &Arc<Redactor>) {
    let per = a.prefill.div_ceil(a.writers.max(1) as u64);
    let started = Instant::now();
    let mut writers = Vec::new();
    for wi in 0..a.writers.max(1) {
        let (db, block) = (db.clone(), a.block);
        let n = per.min(a.prefill.saturating_sub(per * wi as u64));
        writers.push(tokio::spawn(async move {
            for i in 1..=n {
                record(&db, &format!("dec_{wi}_{i}"), block).await;
            }
        }));
    }
    for w in writers {
        w.await.expect("a writer");
    }
    let recorded_s = started.elapsed().as_secs_f64();
    let (mut delivered, mut steps) = (0usize, 0usize);
    let started = Instant::now();
    if a.worker {
        let mut w = worker(a, db, config, redactor);
        let failed = w.prepare().await;
        assert!(failed.is_empty(), "{failed:?}");
        loop {
            let p = w.step().await.expect("a step");
            steps += 1;
            delivered += p.delivered;
            if p.routed == 0 && p.attempted == 0 {
                break;
            }
        }
        let client = async_nats::connect(a.nats.as_str()).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        let _ = js
            .delete_stream(
                config.0[0]
                    .nats_jetstream
                    .as_ref()
                    .map_or("", |n| n.stream.as_str()),
            )
            .await;
    }
    println!(
        "{}",
        json!({
            "prefill": a.prefill, "worker": a.worker, "batch": a.batch,
            "recorded_s": recorded_s, "delivered": delivered, "steps": steps,
            "delivery_s": started.elapsed().as_secs_f64(),
        })
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let url =
        a.db.clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let signer = Arc::new(LogSigner {
        key_id: "bench".into(),
        key: cavra_evidence::keys::from_seed(&[3; 32]),
    });
    let redactor = Arc::new(Redactor::new(cavra_redact::builtin_rules()).expect("rules"));
    let db = Db::open(
        &url,
        LogSettings {
            signer: signer.clone(),
            redactor: redactor.clone(),
        },
    )
    .await
    .expect("open the store");

    let run = format!("{}x{}", std::process::id(), SystemClock.now_ms());
    let stream = format!("CAVRA_BENCH_{run}");
    let prefix = format!("cavrabench.r{run}");
    let yaml = format!(
        "- name: queue\n  tenant: bench\n  events: [\"decision.*\"]\n  nats_jetstream:\n    url: {}\n    stream: {stream}\n    subject_prefix: {prefix}\n    duplicate_window_seconds: 600\n",
        a.nats
    );
    let config = ConnectorsConfig::from_yaml(&yaml).expect("configuration");
    if a.prefill > 0 {
        prefill(&a, &db, &config, &redactor).await;
        return;
    }

    // The subscriber: arrival time of each event, by its decision id. It runs on a thread of
    // its own (its client too), so that its CPU time can be told apart from the service's:
    // it is the receiver's work, not the delivery's.
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let received = Arc::new(AtomicU64::new(0));
    let (ask_cpu, cpu_asked) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<f64>>();
    {
        let (committed, latencies, received) =
            (committed.clone(), latencies.clone(), received.clone());
        let (nats, subject) = (a.nats.clone(), format!("{prefix}.>"));
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let nice = a.subscriber_nice;
        std::thread::spawn(move || {
            // `--subscriber-nice N`: the receiver's thread below the service's, to tell its
            // competition for the CPU apart from the delivery's.
            #[cfg(target_os = "linux")]
            if nice > 0 {
                // SAFETY: setpriority reads no memory of ours; who 0 is the calling thread.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, 0, nice.min(19));
                }
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use futures_util::StreamExt as _;
                let client = async_nats::connect(nats.as_str()).await.expect("NATS");
                let mut sub = client.subscribe(subject).await.expect("subscribe");
                client.flush().await.expect("flush");
                let _ = ready_tx.send(());
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tokio::select! {
                        m = sub.next() => {
                            let Some(m) = m else { break };
                            let at = Instant::now();
                            received.fetch_add(1, Ordering::Relaxed);
                            let Ok(env) = serde_json::from_slice::<Value>(&m.payload) else {
                                continue;
                            };
                            let id = env["subject"].as_str().unwrap_or("").to_string();
                            if let Some(t) = committed.lock().unwrap().remove(&id) {
                                latencies
                                    .lock()
                                    .unwrap()
                                    .push(at.duration_since(t).as_secs_f64() * 1000.0);
                            }
                        }
                        _ = tick.tick() => {
                            while let Ok(reply) = cpu_asked.try_recv() {
                                let _ = reply.send(cpu_seconds_of("/proc/thread-self/stat"));
                            }
                        }
                    }
                }
            });
        });
        ready.recv().expect("the subscriber is ready");
    }
    let subscriber_cpu = move || {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = ask_cpu.send(tx);
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or(0.0)
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker_task = if a.worker {
        let mut w = worker(&a, &db, &config, &redactor);
        let failed = w.prepare().await;
        assert!(failed.is_empty(), "{failed:?}");
        // As the service runs it: on a thread of its own (`--thread-nice` below the rest),
        // or with `--worker-thread off` as a task of the decisions' runtime.
        Some(if a.worker_thread {
            let h = w.spawn(stop_rx).expect("the worker's thread");
            tokio::task::spawn_blocking(move || {
                let _ = h.join();
            })
        } else {
            tokio::spawn(w.run(stop_rx))
        })
    } else {
        None
    };

    let stop = Arc::new(AtomicBool::new(false));
    let cpu_start = cpu_seconds();
    let sub_cpu_start = subscriber_cpu();
    let decided = Arc::new(AtomicU64::new(0));
    let decision_ms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let started = Instant::now();
    let mut writers = Vec::new();
    for wi in 0..a.writers {
        let (db, stop, decided, decision_ms, committed) = (
            db.clone(),
            stop.clone(),
            decided.clone(),
            decision_ms.clone(),
            committed.clone(),
        );
        let block = a.block;
        // Each writer's share of the rate, as a fixed schedule (a late decision does not
        // push the next ones back).
        let every = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.writers as f64 / a.rate));
        let offset = wi as f64 / a.writers as f64;
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut mine = Vec::new();
            let mut tick = every.map(|e| {
                let mut i =
                    tokio::time::interval_at(tokio::time::Instant::now() + e.mul_f64(offset), e);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                i
            });
            while !stop.load(Ordering::Relaxed) {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                n += 1;
                let id = format!("dec_{wi}_{n}");
                let write = decision_write(&id, block);
                let t = Instant::now();
                db.record_decision("bench", write)
                    .await
                    .expect("record a decision");
                let done = Instant::now();
                mine.push(done.duration_since(t).as_secs_f64() * 1000.0);
                if block {
                    committed.lock().unwrap().insert(id, done);
                }
                decided.fetch_add(1, Ordering::Relaxed);
            }
            decision_ms.lock().unwrap().extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let load_secs = started.elapsed().as_secs_f64();
    let cpu_load = cpu_seconds() - cpu_start;
    let sub_cpu_load = subscriber_cpu() - sub_cpu_start;
    let received_during = received.load(Ordering::Relaxed);
    let decisions = decided.load(Ordering::Relaxed);
    // Then let the backlog drain (at most 120 s), for the end-to-end figures.
    let mut drained_at = load_secs;
    if a.worker && a.block {
        let deadline = Instant::now() + Duration::from_secs(120);
        while received.load(Ordering::Relaxed) < decisions && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drained_at = started.elapsed().as_secs_f64();
    }
    let _ = stop_tx.send(true);
    if let Some(t) = worker_task {
        let _ = t.await;
    }
    let mut d = decision_ms.lock().unwrap().clone();
    d.sort_by(f64::total_cmp);
    let mut e = latencies.lock().unwrap().clone();
    e.sort_by(f64::total_cmp);
    let total_received = received.load(Ordering::Relaxed);
    let out = json!({
        "store": url.split("://").next(),
        "worker": a.worker, "worker_thread": a.worker_thread, "decision": if a.block { "block" } else { "allow" },
        "writers": a.writers, "rate": a.rate, "batch": a.batch, "gather_ms": a.gather_ms, "seconds": load_secs,
        "decisions": decisions, "decisions_per_s": decisions as f64 / load_secs,
        "decision_ms": {"p50": percentile(&d, 0.5), "p90": percentile(&d, 0.9), "p99": percentile(&d, 0.99)},
        "events_received_during_load": received_during,
        "events_per_s_during_load": received_during as f64 / load_secs,
        "events_received": total_received,
        "events_per_s_overall": if drained_at > 0.0 { total_received as f64 / drained_at } else { 0.0 },
        "drained_after_s": drained_at,
        "cpu_s_during_load": cpu_load,
        "cpu_us_per_decision_during_load": cpu_load * 1e6 / decisions.max(1) as f64,
        "subscriber_cpu_s_during_load": sub_cpu_load,
        "service_cpu_us_per_decision_during_load": (cpu_load - sub_cpu_load) * 1e6 / decisions.max(1) as f64,
        "cpu_s_until_drained": cpu_seconds() - cpu_start,
        "end_to_end_ms": {"n": e.len(), "p50": percentile(&e, 0.5), "p90": percentile(&e, 0.9), "p99": percentile(&e, 0.99), "max": e.last()},
    });
    println!("{out}");
    if a.worker && a.block {
        let client = async_nats::connect(a.nats.as_str()).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(&stream).await;
    }
}
