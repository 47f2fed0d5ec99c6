//! The delivery core end to end: decisions and approvals recorded in a real tenant store
//! (SQLite in a temporary file; PostgreSQL at `CAVRA_TEST_POSTGRES_URL`, a fresh schema per
//! test), routed and delivered by the worker to receivers written here on loopback (a Splunk
//! HEC collector with indexer acknowledgement, OCSF receivers) that check what they get, and
//! receivers that fail on purpose (5xx, 429 with Retry-After, resets, timeouts, refused
//! connections). The worker's clock is a hand-moved one, so backoffs and the breaker are
//! exercised without sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cavra_connectors::event::verify_envelope;
use cavra_connectors::worker::Progress;
use cavra_tenant_store::Outbox;
use cavra_tenant_store::outbox::{DeliveryFilter, DeliveryState};
use cavra_tenant_store::{
    ActionType, ApprovalState, Approvals, Db, Decision, DecisionWrite, Decisions, EntryQuery,
    Evidence, NewApproval, NewDecision, Transition, TransitionOutcome,
};
use serde_json::{Value, json};

mod support;

use support::*;

// ---------------------------------------------------------------------------------------
// Receivers

/// What a receiver answers, in turn; the last answer repeats.
#[derive(Clone)]
enum Answer {
    Ok,
    Status(u16),
    RetryAfter(u16, u64),
    Slow(u64),
}

#[derive(Default)]
struct Receiver {
    script: Mutex<VecDeque<Answer>>,
    last: Mutex<Option<Answer>>,
    /// Every request body that passed the receiver's checks.
    accepted: Mutex<Vec<Value>>,
    /// Every raw request body, checks passed or not.
    raw: Mutex<Vec<String>>,
    /// Why requests were refused by the checks.
    refused: Mutex<Vec<String>>,
    hits: AtomicI64,
    /// HEC: ack ids issued, and how often each was asked about.
    acks: Mutex<HashMap<u64, u32>>,
    next_ack: std::sync::atomic::AtomicU64,
}

impl Receiver {
    fn new(script: Vec<Answer>) -> Arc<Receiver> {
        Arc::new(Receiver {
            script: Mutex::new(script.into()),
            ..Receiver::default()
        })
    }

    fn next(&self) -> Answer {
        let mut s = self.script.lock().unwrap();
        let mut last = self.last.lock().unwrap();
        if let Some(a) = s.pop_front() {
            *last = Some(a.clone());
            a
        } else {
            last.clone().unwrap_or(Answer::Ok)
        }
    }

    fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }

    fn refuse(&self, why: String) -> Response {
        self.refused.lock().unwrap().push(why.clone());
        (StatusCode::BAD_REQUEST, why).into_response()
    }

    /// Checks an envelope as any receiver would: format, signature by the service's key.
    fn check_envelope(&self, env: &Value) -> Result<(), String> {
        if env["format"] != "cavra-event/v1" {
            return Err(format!("not a cavra envelope: {env}"));
        }
        verify_envelope(env, &signing_key().verifying_key())
    }

    /// Answers by the script once the request passed its checks.
    async fn answer(&self, ok: Value) -> Response {
        self.hits.fetch_add(1, Ordering::SeqCst);
        match self.next() {
            Answer::Ok => (StatusCode::OK, axum::Json(ok)).into_response(),
            Answer::Status(c) => (
                StatusCode::from_u16(c).expect("status"),
                "failing on purpose",
            )
                .into_response(),
            Answer::RetryAfter(c, secs) => (
                StatusCode::from_u16(c).expect("status"),
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response(),
            Answer::Slow(ms) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                (StatusCode::OK, axum::Json(ok)).into_response()
            }
        }
    }
}

const HEC_TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const CHANNEL: &str = "0b8c6a1e-2c47-4f3e-9a57-3c1f0d2e5a11";

async fn hec_event(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    r.raw
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Splunk {HEC_TOKEN}"))
    {
        r.refused.lock().unwrap().push("bad token".into());
        return (
            StatusCode::FORBIDDEN,
            r#"{"text":"Invalid token","code":4}"#,
        )
            .into_response();
    }
    if headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        != Some(CHANNEL)
    {
        return r.refuse("no channel".into());
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return r.refuse("not JSON".into());
    };
    if event["source"] != "cavra" || !event["time"].is_number() {
        return r.refuse(format!("not an HEC event: {event}"));
    }
    if let Err(e) = r.check_envelope(&event["event"]) {
        return r.refuse(e);
    }
    // Ack ids are issued to accepted events only, in order.
    let ack_id = r.next_ack.fetch_add(1, Ordering::SeqCst);
    let resp = r
        .answer(json!({"text": "Success", "code": 0, "ackId": ack_id}))
        .await;
    if resp.status().is_success() {
        r.acks.lock().unwrap().insert(ack_id, 0);
        r.accepted.lock().unwrap().push(event);
    } else {
        r.next_ack.fetch_sub(1, Ordering::SeqCst);
    }
    resp
}

#[derive(serde::Deserialize)]
struct Channel {
    channel: String,
}

/// Indexer acknowledgement: each ack id is reported indexed the second time it is asked.
async fn hec_ack(
    State(r): State<Arc<Receiver>>,
    Query(q): Query<Channel>,
    body: Bytes,
) -> Response {
    if q.channel != CHANNEL {
        return r.refuse("ack on another channel".into());
    }
    let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    let mut acks = r.acks.lock().unwrap();
    for id in asked["acks"].as_array().into_iter().flatten() {
        let id = id.as_u64().unwrap_or(u64::MAX);
        let done = match acks.get_mut(&id) {
            Some(n) => {
                *n += 1;
                *n >= 2
            }
            None => false,
        };
        out.insert(id.to_string(), json!(done));
    }
    axum::Json(json!({"acks": out})).into_response()
}

async fn ocsf(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    r.raw
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&body).into_owned());
    let Ok(o) = serde_json::from_slice::<Value>(&body) else {
        return r.refuse("not JSON".into());
    };
    if o["class_uid"] != 6003
        || o["metadata"]["version"] != "1.1.0"
        || !o["src_endpoint"].is_object()
    {
        return r.refuse(format!("not an OCSF API Activity: {o}"));
    }
    let env = &o["unmapped"]["cavra"];
    if let Err(e) = r.check_envelope(env) {
        return r.refuse(e);
    }
    if headers.get("idempotency-key").and_then(|v| v.to_str().ok())
        != env["idempotency_key"].as_str()
    {
        return r.refuse("idempotency key header differs".into());
    }
    let resp = r.answer(json!({"ok": true})).await;
    if resp.status().is_success() {
        r.accepted.lock().unwrap().push(o);
    }
    resp
}

/// Serves `r` on loopback; returns the base URL.
async fn serve(r: Arc<Receiver>) -> String {
    let app = axum::Router::new()
        .route("/services/collector/event", post(hec_event))
        .route("/services/collector/ack", post(hec_ack))
        .route("/ocsf", post(ocsf))
        .with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn socket2_linger(s: &tokio::net::TcpStream) -> std::io::Result<()> {
    s.set_zero_linger()
}

/// A peer that accepts connections and drops them at once (a reset, no answer).
async fn resetting() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            // Read the request's start, then reset the connection (no orderly close, no
            // answer): the request was sent, and nothing comes back.
            use tokio::io::AsyncReadExt as _;
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).await;
            let _ = socket2_linger(&s);
            drop(s);
        }
    });
    format!("http://{addr}")
}

fn hec_yaml(tenant: &str, url: &str, token_ref: &str) -> String {
    format!(
        "
- name: siem
  tenant: {tenant}
  events: [\"decision.*\"]
  filter: {{severity: [high]}}
  breaker: {{failures: 10, open_seconds: 1}}
  splunk_hec:
    url: {url}
    token: {token_ref}
    channel: {CHANNEL}
    ack: true
    ack_timeout_ms: 5000
"
    )
}

// ---------------------------------------------------------------------------------------
// Tests

/// A blocked decision reaches the HEC collector after two 503s, counted delivered only once
/// the indexer acknowledged it; each attempt is an evidence entry with its number, and the
/// success shows the whole history.
async fn hec_with_retries_and_acknowledgement(store: Store) {
    let r = Receiver::new(vec![Answer::Status(503), Answer::Status(503), Answer::Ok]);
    let url = serve(r.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Manual::default();
    clock.set(1_000);
    let mut w = worker(
        &store.db,
        &hec_yaml("acme", &url, &secret_file(&dir, "hec-token", HEC_TOKEN)),
        &clock,
        "w1",
    );
    decide(&store.db, "acme", "dec-1", Decision::Block, "rm -rf build").await;
    decide(&store.db, "acme", "dec-2", Decision::Allow, "ls").await;

    let p = drain(&mut w).await;
    assert_eq!(p.routed, 1, "an allow makes no event: {p:?}");
    assert_eq!((p.attempted, p.delivered, p.dead), (3, 1, 0), "{p:?}");
    assert!(
        r.refused.lock().unwrap().is_empty(),
        "{:?}",
        r.refused.lock().unwrap()
    );
    let got = r.accepted();
    assert_eq!(got.len(), 1);
    let env = &got[0]["event"];
    assert_eq!(env["type"], "decision.block");
    assert_eq!(env["tenant"], "acme");
    assert_eq!(env["subject"], "dec-1");
    assert_eq!(env["time"], "2026-01-01T00:00:00.000Z");
    assert_eq!(env["data"]["severity"], "high");
    assert_eq!(
        got[0]["fields"]["cavra_idempotency_key"],
        env["idempotency_key"]
    );

    let d = only_delivery(&store.db, "acme", "siem").await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 3));
    let history = attempts(&store.db, "acme", &d.event_id).await;
    let outcomes: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h["attempt"].as_u64().unwrap(),
                h["outcome"].as_str().unwrap().to_string(),
                h["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, "retry".into(), "503".into()),
            (2, "retry".into(), "503".into()),
            (3, "delivered".into(), "acked 0".into()),
        ]
    );
    for h in &history {
        assert_eq!(h["destination"], "siem");
        assert_eq!(h["connector_kind"], "splunk_hec");
        assert_eq!(h["idempotency_key"], env["idempotency_key"]);
        assert!(
            h["request"]
                .as_str()
                .unwrap()
                .starts_with("POST http://127.0.0.1:")
        );
        assert!(h["latency_ms"].is_u64());
        let text = h.to_string();
        assert!(
            !text.contains(HEC_TOKEN),
            "the token is never recorded: {text}"
        );
    }
    // Each attempt is an entry of its own in the tenant's log (issue 18: "every attempt is
    // an entry"), not one entry for a batch: three leaves at three positions, each leaf the
    // hash of that entry's canonical bytes, as the log's stored leaves (which its checkpoints
    // sign) have them.
    let records = store
        .db
        .entries(
            "acme",
            &EntryQuery {
                kind: Some("delivery".into()),
                ref_id: Some(d.event_id.clone()),
                limit: 100,
                ..EntryQuery::default()
            },
        )
        .await
        .expect("entries");
    assert_eq!(records.len(), 3, "one entry per attempt");
    let mut indexes: Vec<u64> = records.iter().map(|e| e.index).collect();
    indexes.dedup();
    assert_eq!(indexes.len(), 3, "three positions: {indexes:?}");
    for (n, e) in records.iter().enumerate() {
        assert_eq!(e.entry["body"]["attempt"], n as u64 + 1);
        let leaf = cavra_evidence::merkle::leaf_hash(
            &cavra_evidence::canonical::to_canonical_bytes(&e.entry),
        );
        let stored = store
            .db
            .leaf_range("acme", e.index, e.index + 1)
            .await
            .expect("leaf");
        assert_eq!(stored, vec![leaf], "entry {} is its own leaf", e.index);
        assert_eq!(e.leaf_hash, hex::encode(leaf));
    }
    // Nothing more to do.
    assert_eq!(drain(&mut w).await, Progress::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_with_retries_and_acknowledgement_sqlite() {
    hec_with_retries_and_acknowledgement(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_with_retries_and_acknowledgement_postgres() {
    if let Some(s) = postgres().await {
        hec_with_retries_and_acknowledgement(s).await;
    }
}

/// A wrong token is refused by the collector (403): a permanent failure, dead at once, and
/// the dead letter is that tenant's only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_makes_a_dead_letter_of_that_tenant_only() {
    let store = sqlite().await;
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Manual::default();
    let yaml = format!(
        "{}{}",
        hec_yaml("acme", &url, &secret_file(&dir, "hec-token", "wrong-token")),
        hec_yaml(
            "globex",
            &url,
            &format!("file:{}", dir.path().join("hec-token").display())
        )
        .trim_start_matches('\n')
    );
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(&store.db, "acme", "dec-a", Decision::Block, "x").await;
    let p = drain(&mut w).await;
    assert_eq!((p.attempted, p.dead), (1, 1), "{p:?}");
    assert_eq!(r.refused.lock().unwrap().as_slice(), ["bad token"]);
    let d = only_delivery(&store.db, "acme", "siem").await;
    assert_eq!(d.state, DeliveryState::Dead);
    assert_eq!(d.last_status.as_deref(), Some("403"));
    let dead_b = store
        .db
        .deliveries(
            "globex",
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                limit: 10,
                ..DeliveryFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(
        dead_b.is_empty(),
        "another tenant's dead letter is not globex's"
    );
}

/// 429 with Retry-After parks the delivery that long; 500s open the breaker (deliveries wait
/// without attempts), a trial goes through after the open period; at the attempt limit the
/// delivery is a dead letter, whose `connector.failure` event reaches the tenant's other
/// connector and not the failing one; an operator's retry puts it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_breaker_and_dead_letters() {
    let store = sqlite().await;
    let failing = Receiver::new(vec![Answer::RetryAfter(429, 7), Answer::Status(500)]);
    let healthy = Receiver::new(vec![]);
    let (a, b) = (serve(failing.clone()).await, serve(healthy.clone()).await);
    let yaml = format!(
        "
- name: flaky
  tenant: acme
  events: [\"decision.*\"]
  retry: {{max_attempts: 4}}
  breaker: {{failures: 2, open_seconds: 60}}
  ocsf_https: {{url: \"{a}/ocsf\"}}
- name: ops
  tenant: acme
  events: [connector.failure]
  ocsf_https: {{url: \"{b}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(&store.db, "acme", "dec-1", Decision::Warn, "x").await;

    let p = w.step().await.unwrap();
    assert_eq!((p.routed, p.attempted), (1, 1));
    let d = only_delivery(&store.db, "acme", "flaky").await;
    assert_eq!(d.next_at_ms, 7_000, "Retry-After: 7 honoured");
    assert_eq!(w.step().await.unwrap().attempted, 0, "not due before then");

    clock.set(7_000);
    assert_eq!(w.step().await.unwrap().attempted, 1); // 500: the breaker opens (2 failures)
    clock.set(8_000);
    let p = w.step().await.unwrap();
    assert_eq!(
        (p.attempted, p.deferred),
        (0, 1),
        "the open breaker holds it back"
    );
    assert_eq!(failing.hits.load(Ordering::SeqCst), 2);
    let d = only_delivery(&store.db, "acme", "flaky").await;
    assert_eq!(d.next_at_ms, 67_000, "due when the breaker half-opens");

    clock.set(67_000);
    assert_eq!(w.step().await.unwrap().attempted, 1, "one trial");
    assert_eq!(
        w.step().await.unwrap().deferred,
        1,
        "the failed trial reopened it"
    );
    clock.set(127_000);
    let p = w.step().await.unwrap();
    assert_eq!(
        (p.attempted, p.dead),
        (1, 1),
        "the fourth attempt was the last"
    );
    assert_eq!(failing.hits.load(Ordering::SeqCst), 4);

    let p = drain(&mut w).await;
    assert_eq!((p.routed, p.delivered), (1, 1), "the failure event: {p:?}");
    let got = healthy.accepted();
    assert_eq!(got.len(), 1);
    let env = &got[0]["unmapped"]["cavra"];
    assert_eq!(env["type"], "connector.failure");
    assert_eq!(env["data"]["destination"], "flaky");
    assert_eq!(env["data"]["attempts"], 4);
    assert_eq!(
        failing.hits.load(Ordering::SeqCst),
        4,
        "never sent to the failing one"
    );

    let d = only_delivery(&store.db, "acme", "flaky").await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Dead, 4));
    let history = attempts(&store.db, "acme", &d.event_id).await;
    let words: Vec<_> = history
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["retry", "retry", "retry", "dead_letter"]);
    assert_eq!(history[0]["status"], "429");
    assert_eq!(history[0]["next_attempt_at"], "1970-01-01T00:00:07.000Z");

    // The operator retries the dead letter once the destination is back.
    *failing.script.lock().unwrap() = vec![Answer::Ok].into();
    clock.set(200_000);
    let n = store
        .db
        .retry_dead(
            "acme",
            None,
            Some("flaky"),
            200_000,
            cavra_tenant_store::Timestamp::EPOCH,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 1, "{p:?}");
    let d = only_delivery(&store.db, "acme", "flaky").await;
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(
        attempts(&store.db, "acme", &d.event_id).await.len(),
        5,
        "the whole history"
    );
}

/// Resets, refused connections and timeouts are failures worth retrying, recorded with what
/// happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_refusals_and_timeouts_are_retried() {
    let store = sqlite().await;
    let reset = resetting().await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        format!("http://{a}")
    };
    let slow = serve(Receiver::new(vec![Answer::Slow(3_000)])).await;
    let yaml = format!(
        "
- name: reset
  tenant: acme
  ocsf_https: {{url: \"{reset}/ocsf\"}}
- name: refused
  tenant: acme
  ocsf_https: {{url: \"{refused}/ocsf\"}}
- name: slow
  tenant: acme
  timeout_ms: 300
  ocsf_https: {{url: \"{slow}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    decide(&store.db, "acme", "dec-1", Decision::Block, "x").await;
    let p = w.step().await.unwrap();
    assert_eq!((p.routed, p.attempted, p.delivered), (1, 3, 0), "{p:?}");
    for (name, status) in [
        ("reset", "no answer"),
        ("refused", "connect failed"),
        ("slow", "timeout"),
    ] {
        let d = only_delivery(&store.db, "acme", name).await;
        assert_eq!(d.state, DeliveryState::Pending, "{name}");
        assert_eq!(d.attempts, 1, "{name}");
        assert_eq!(d.last_status.as_deref(), Some(status), "{name}: {d:?}");
    }
}

/// Two workers (two replicas) on one store: every event reaches the receiver exactly once.
async fn two_workers_deliver_each_event_once(store: Store) {
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let yaml = format!(
        "
- name: q
  tenant: acme
  ocsf_https: {{url: \"{url}/ocsf\"}}
"
    );
    let other = Db::open(&store.url, settings())
        .await
        .expect("second replica");
    let clock = Manual::default();
    // Small batches, so that the two interleave.
    let mut w1 = worker_with(&store.db, &yaml, &clock, "w1", 4);
    let mut w2 = worker_with(&other, &yaml, &clock, "w2", 4);
    for i in 0..60 {
        decide(&store.db, "acme", &format!("dec-{i}"), Decision::Block, "x").await;
    }
    let (a, b) = tokio::join!(
        tokio::spawn(async move { drain(&mut w1).await }),
        tokio::spawn(async move { drain(&mut w2).await })
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    // The 60 decisions, and the checkpoint events the log's growth signed on the way.
    let accepted = r.accepted();
    assert_eq!(
        a.routed + b.routed,
        a.delivered + b.delivered,
        "{a:?} {b:?}"
    );
    assert_eq!(accepted.len(), a.delivered + b.delivered, "{a:?} {b:?}");
    let mut ids: Vec<String> = accepted
        .iter()
        .filter(|o| o["unmapped"]["cavra"]["type"] == "decision.block")
        .map(|o| o["unmapped"]["cavra"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 60);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "no event twice");
    eprintln!("worker 1: {a:?}; worker 2: {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_deliver_each_event_once_sqlite() {
    two_workers_deliver_each_event_once(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_deliver_each_event_once_postgres() {
    if let Some(s) = postgres().await {
        two_workers_deliver_each_event_once(s).await;
    }
}

/// A step's batch larger than one record write (the worker records at most 256 attempts a
/// write, so that the decisions do not wait long behind it): every attempt of the step is
/// recorded, each delivery row and each audit entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_record_write_is_recorded_whole() {
    let store = sqlite().await;
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let yaml = format!(
        "
- name: q
  tenant: acme
  events: [\"decision.*\"]
  ocsf_https: {{url: \"{url}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let mut w = worker_with(&store.db, &yaml, &clock, "w1", 1024);
    for i in 0..300 {
        decide(&store.db, "acme", &format!("dec-{i}"), Decision::Block, "x").await;
    }
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (300, 300), "{p:?}");
    assert_eq!(r.accepted().len(), 300);
    let delivered = store
        .db
        .deliveries(
            "acme",
            &DeliveryFilter {
                state: Some(DeliveryState::Delivered),
                limit: 1000,
                ..DeliveryFilter::default()
            },
        )
        .await
        .expect("deliveries");
    assert_eq!(delivered.len(), 300);
    assert_eq!(
        delivery_entries(&store.db).await,
        300,
        "one audit record per attempt"
    );
}

/// The running worker (`Worker::run`) writes a batch's attempts while it claims and sends the
/// next, in chunks of claims smaller than its batch: every event is delivered once, and when
/// it is stopped every attempt has its delivery row and its evidence entry (the last write
/// is finished, not dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_worker_records_every_attempt_before_it_stops() {
    let store = sqlite().await;
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let yaml = format!(
        "
- name: q
  tenant: acme
  events: [\"decision.*\"]
  ocsf_https: {{url: \"{url}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let w = worker_with(&store.db, &yaml, &clock, "w1", 64);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(w.run(stopped));
    for i in 0..150 {
        decide(&store.db, "acme", &format!("dec-{i}"), Decision::Block, "x").await;
    }
    wait_for_accepted(&r, 150).await;
    stop.send(true).expect("the worker listens");
    running.await.expect("the worker stops");
    assert_eq!(
        (r.accepted().len(), distinct_subjects(&r.accepted())),
        (150, 150),
        "each once"
    );
    let delivered = store
        .db
        .deliveries(
            "acme",
            &DeliveryFilter {
                state: Some(DeliveryState::Delivered),
                limit: 1000,
                ..DeliveryFilter::default()
            },
        )
        .await
        .expect("deliveries");
    assert_eq!(delivered.len(), 150);
    assert_eq!(
        delivery_entries(&store.db).await,
        150,
        "one audit record per attempt"
    );
}

/// The niceness in a thread's `/proc/…/stat` line: field 19, the 17th after the name (which
/// is in parentheses and may hold spaces).
fn niceness_in_stat(stat: &str) -> Option<i64> {
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// The tenant `acme`'s delivery audit entries (one per attempt).
async fn delivery_entries(db: &Db) -> usize {
    db.entries(
        "acme",
        &EntryQuery {
            kind: Some("delivery".into()),
            limit: 1000,
            ..EntryQuery::default()
        },
    )
    .await
    .expect("entries")
    .len()
}

/// Waits (up to 30 s) until the receiver has accepted `n` events.
async fn wait_for_accepted(r: &Receiver, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while r.accepted().len() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// How many distinct decisions (the OCSF events' `unmapped.cavra.subject`) a receiver accepted.
fn distinct_subjects(accepted: &[serde_json::Value]) -> usize {
    accepted
        .iter()
        .map(|o| o["unmapped"]["cavra"]["subject"].as_str().unwrap_or(""))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The niceness of this process's threads named `name` (Linux), from their `stat`.
fn niceness_of(name: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        if let Some(n) = niceness_in_stat(&stat) {
            out.push(n);
        }
    }
    out
}

/// The worker as the service starts it (`Worker::spawn`): on a thread of its own below the
/// service's priority, it delivers every event once and records every attempt, and its
/// thread ends when told to stop. On PostgreSQL its store calls run on the service's
/// runtime, whose pooled connections the decisions share: the decisions recorded after the
/// worker stopped (its runtime gone) still go through.
async fn the_worker_on_its_own_thread_delivers_every_event(store: Store) {
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let yaml = format!(
        "
- name: q
  tenant: acme
  events: [\"decision.*\"]
  ocsf_https: {{url: \"{url}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let w = worker_with(&store.db, &yaml, &clock, "w1", 16);
    let nice = w.settings().thread_nice;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let thread = w.spawn(stopped).expect("the worker's thread");
    for i in 0..40 {
        decide(&store.db, "acme", &format!("dec-{i}"), Decision::Block, "x").await;
    }
    wait_for_accepted(&r, 40).await;
    let own = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| niceness_in_stat(&stat))
        .expect("this thread's niceness");
    // Every worker thread of this process (the tests of both backends may run at once)
    // runs below this one.
    let found = niceness_of(cavra_connectors::worker::WORKER_THREAD);
    let below = (own + i64::from(nice)).min(19);
    assert!(
        !found.is_empty() && found.iter().all(|n| *n == below),
        "worker threads at {found:?}, expected {below}"
    );
    stop.send(true).expect("the worker listens");
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("joined")
        .expect("the worker's thread ends without a panic");
    assert_eq!(
        (r.accepted().len(), distinct_subjects(&r.accepted())),
        (40, 40),
        "each once"
    );
    assert_eq!(
        delivery_entries(&store.db).await,
        40,
        "one audit record per attempt"
    );
    // The store still serves the decisions with the worker's thread gone.
    for i in 40..60 {
        decide(&store.db, "acme", &format!("dec-{i}"), Decision::Block, "x").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_on_its_own_thread_delivers_every_event_sqlite() {
    the_worker_on_its_own_thread_delivers_every_event(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_on_its_own_thread_delivers_every_event_postgres() {
    if let Some(s) = postgres().await {
        the_worker_on_its_own_thread_delivers_every_event(s).await;
    }
}

/// The secrets corpus: every secret in decisions, and in an approver's free-text reason
/// (which the approval record keeps as written), never reaches a receiver or the delivery
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_receiver() {
    let store = sqlite().await;
    let hec = Receiver::new(vec![]);
    let ocsf_r = Receiver::new(vec![]);
    let (hu, ou) = (serve(hec.clone()).await, serve(ocsf_r.clone()).await);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{}
- name: lake
  tenant: acme
  ocsf_https: {{url: \"{ou}/ocsf\"}}
",
        hec_yaml("acme", &hu, &secret_file(&dir, "hec-token", HEC_TOKEN)).trim_end()
    );
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    let cases = cavra_redact::corpus::secrets();
    for (i, case) in cases.iter().enumerate() {
        decide(
            &store.db,
            "acme",
            &format!("dec-{i}"),
            Decision::Block,
            &case.text,
        )
        .await;
        // An approval asked, then denied with the secret in the approver's reason.
        let mut write = DecisionWrite {
            decision: NewDecision {
                decision_id: format!("ask-{i}"),
                session_id: None,
                agent: None,
                action_type: ActionType::ExecuteCommand.into(),
                decision: Decision::RequireApproval,
                rule_id: "r".into(),
                timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
                fingerprint: format!("fp-ask-{i}"),
                extra: cavra_tenant_store::Caller {
                    requested_by: "agent-1".into(),
                    policy_digest: "sha256:p".into(),
                    record: json!({"severity": "high", "target": case.text}).into(),
                },
            },
            new_approval: None,
            use_grant: None,
        };
        write.new_approval = Some(NewApproval {
            id: format!("apr-{i}"),
            decision_id: format!("ask-{i}"),
            requested_at: "2026-01-01T00:00:00.000Z".parse().unwrap(),
            fingerprint: format!("fp-ask-{i}"),
            session_id: None,
            approver_group: "sec".into(),
            requested_by: "agent-1".into(),
            summary: "run it".into(),
            expires_at: "2026-01-02T00:00:00.000Z".parse().unwrap(),
        });
        store.db.record_decision("acme", write).await.unwrap();
        let t = Transition {
            to: ApprovalState::Denied,
            from: vec![ApprovalState::Pending],
            actor: "bob".into(),
            reason: Some(case.text.clone()),
            at: "2026-01-01T00:01:00.000Z".parse().unwrap(),
            expires_at: None,
            grant: None,
            not_requested_by: None,
            unexpired_at: None,
        };
        assert!(matches!(
            store
                .db
                .transition("acme", &format!("apr-{i}"), t)
                .await
                .unwrap(),
            TransitionOutcome::Done(_)
        ));
    }
    let p = drain(&mut w).await;
    assert!(p.delivered >= 4 * cases.len(), "{p:?}");
    assert!(
        hec.refused.lock().unwrap().is_empty(),
        "{:?}",
        hec.refused.lock().unwrap()
    );
    assert!(ocsf_r.refused.lock().unwrap().is_empty());
    let received: Vec<String> = hec
        .raw
        .lock()
        .unwrap()
        .iter()
        .chain(ocsf_r.raw.lock().unwrap().iter())
        .cloned()
        .collect();
    assert!(
        received.iter().any(|b| b.contains("approval.denied")),
        "the denials were delivered"
    );
    let records = store
        .db
        .entries(
            "acme",
            &EntryQuery {
                kind: Some("delivery".into()),
                limit: 100_000,
                ..EntryQuery::default()
            },
        )
        .await
        .unwrap();
    for case in &cases {
        for secret in &case.secrets {
            for body in &received {
                assert!(
                    !body.contains(secret.as_str()),
                    "{}: a receiver got {secret}",
                    case.name
                );
            }
            for e in &records {
                assert!(
                    !e.entry.to_string().contains(secret.as_str()),
                    "{}",
                    case.name
                );
            }
        }
    }
}

/// A connector's `text` template is rendered from the event into the envelope before it is
/// signed (the receiver verifies the signature over it), its values redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_renders_into_the_signed_envelope() {
    let store = sqlite().await;
    let r = Receiver::new(vec![]);
    let url = serve(r.clone()).await;
    let yaml = format!(
        "
- name: lake
  tenant: acme
  template:
    text: \"{{{{data.requested_by}}}} was stopped in {{{{data.repository}}}}: {{{{data.reason}}}} [{{{{data.branch}}}}]\"
  ocsf_https: {{url: \"{url}/ocsf\"}}
"
    );
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    let secret = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    decide(
        &store.db,
        "acme",
        "dec-1",
        Decision::Block,
        &format!("curl -H {secret}"),
    )
    .await;
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 1, "{p:?}");
    assert!(
        r.refused.lock().unwrap().is_empty(),
        "{:?}",
        r.refused.lock().unwrap()
    );
    let got = r.accepted();
    let env = &got[0]["unmapped"]["cavra"];
    let text = env["text"].as_str().expect("the rendered text");
    assert!(
        text.starts_with("agent-1 was stopped in acme/app: because curl -H "),
        "{text}"
    );
    assert!(
        text.ends_with(" []"),
        "a field the event lacks renders as nothing: {text}"
    );
    assert!(!text.contains(secret), "{text}");
}
