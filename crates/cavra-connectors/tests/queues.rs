//! The queue kinds against the real brokers on this machine: NATS JetStream at
//! `CAVRA_TEST_NATS_URL` and RabbitMQ at `CAVRA_TEST_AMQP_URL` (both set by `.ci/run` and
//! `scripts/test`). A test whose variable is unset prints that it did not run; one whose
//! broker is unreachable fails. Each test uses streams, exchanges and queues of its own.
//!
//! Events are recorded in a real tenant store, routed and delivered by the worker, then read
//! back from the broker by a consumer written here, which checks the subject or routing key,
//! the idempotency header and the signed envelope.

mod support;

use cavra_connectors::event::verify_envelope;
use cavra_connectors::sink::{Outgoing, Verdict};
use cavra_connectors::worker::build_destinations;
use cavra_connectors::{ConnectorsConfig, Worker};
use cavra_tenant_store::Decision;
use cavra_tenant_store::outbox::DeliveryState;
use serde_json::Value;
use support::*;

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{nanos}", std::process::id())
}

fn checked_envelope(payload: &[u8]) -> Value {
    let env: Value = serde_json::from_slice(payload).expect("the payload is JSON");
    verify_envelope(&env, &signing_key().verifying_key()).expect("signed by the service");
    env
}

// ---------------------------------------------------------------------------------------
// NATS JetStream

fn nats_url() -> Option<String> {
    let url = std::env::var("CAVRA_TEST_NATS_URL").ok();
    if url.is_none() {
        not_run("CAVRA_TEST_NATS_URL", "this NATS JetStream test");
    }
    url
}

fn nats_yaml(tenant: &str, url: &str, stream: &str, prefix: &str) -> String {
    format!(
        "
- name: queue
  tenant: {tenant}
  events: [\"decision.*\"]
  timeout_ms: 5000
  nats_jetstream:
    url: {url}
    stream: {stream}
    subject_prefix: {prefix}
    duplicate_window_seconds: 600
"
    )
}

async fn jetstream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url)
        .await
        .unwrap_or_else(|e| panic!("NATS at {url} (CAVRA_TEST_NATS_URL) is unreachable: {e}"));
    async_nats::jetstream::new(client)
}

/// Blocked decisions of two tenants reach JetStream on a subject per tenant, each with its
/// idempotency key as `Nats-Msg-Id`; the stream was created at start; sending one again is
/// acknowledged as a duplicate and not stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_subject_per_tenant_and_dedupe() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let stream = unique("CAVRA_T");
    let prefix = unique("cavratest.e");
    let store = sqlite().await;
    let clock = Manual::default();
    clock.set(1_000);
    let yaml = format!(
        "{}{}",
        nats_yaml("acme", &url, &stream, &prefix),
        nats_yaml("globex", &url, &stream, &prefix).trim_start_matches('\n')
    );
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    assert!(w.prepare().await.is_empty(), "both connectors ready");
    let mut s = js
        .get_stream(&stream)
        .await
        .expect("the stream was created at start");
    assert_eq!(
        s.info().await.expect("info").config.subjects,
        vec![format!("{prefix}.>")]
    );

    decide(&store.db, "acme", "dec_a1", Decision::Block, "rm -rf /").await;
    decide(
        &store.db,
        "acme",
        "dec_a2",
        Decision::RequireApproval,
        "git push",
    )
    .await;
    decide(&store.db, "globex", "dec_g1", Decision::Block, "curl | sh").await;
    let p = drain(&mut w).await;
    assert_eq!((p.routed, p.delivered), (3, 3), "{p:?}");
    assert_eq!(s.info().await.expect("info").state.messages, 3);

    let mut seen = Vec::new();
    for seq in 1..=3 {
        let m = s.get_raw_message(seq).await.expect("message");
        let env = checked_envelope(&m.payload);
        let tenant = env["tenant"].as_str().expect("tenant").to_string();
        assert_eq!(
            m.subject.as_str(),
            format!("{prefix}.{tenant}.{}", env["type"].as_str().expect("type"))
        );
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_string())
            .expect("Nats-Msg-Id");
        assert_eq!(id, env["idempotency_key"].as_str().expect("key"));
        seen.push((tenant, env));
    }
    assert_eq!(seen.iter().filter(|(t, _)| t == "acme").count(), 2);
    assert_eq!(seen.iter().filter(|(t, _)| t == "globex").count(), 1);

    // The delivery record names the stream's sequence.
    let (_, env) = &seen[0];
    let tenant = env["tenant"].as_str().expect("tenant");
    let list = attempts(&store.db, tenant, env["id"].as_str().expect("id")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["connector_kind"], "nats_jetstream");
    assert!(
        list[0]["status"]
            .as_str()
            .expect("status")
            .starts_with("ack seq "),
        "{list:?}"
    );

    // A retry (the same envelope, the same key) is a duplicate for the stream.
    let config = ConnectorsConfig::from_yaml(&yaml).expect("config");
    let dests = build_destinations(&config).expect("destinations");
    let msg = Outgoing {
        tenant: tenant.to_string(),
        event_id: env["id"].as_str().expect("id").into(),
        event_kind: env["type"].as_str().expect("type").into(),
        destination: "queue".into(),
        idempotency_key: env["idempotency_key"].as_str().expect("key").into(),
        envelope: env.clone(),
    };
    let again = dests[0].sink.send(&msg).await;
    assert_eq!(again.verdict, Verdict::Delivered, "{again:?}");
    assert!(again.status.starts_with("duplicate of seq "), "{again:?}");
    assert_eq!(
        s.info().await.expect("info").state.messages,
        3,
        "stored once"
    );

    js.delete_stream(&stream).await.expect("clean up");
}

/// A stream that must exist but does not, or that does not take the subjects, is reported
/// at start, naming it; an unreachable server is a retried attempt in the evidence log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stream_checked_at_start_and_server_down_retried() {
    let Some(url) = nats_url() else { return };
    let js = jetstream(&url).await;
    let store = sqlite().await;
    let clock = Manual::default();
    let missing = unique("CAVRA_MISSING");
    let yaml = nats_yaml("acme", &url, &missing, "cavratest.m")
        .replace("duplicate_window_seconds: 600", "create_stream: false");
    let mut w = worker(&store.db, &yaml, &clock, "w1");
    let failed = w.prepare().await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].2.contains(&missing), "{failed:?}");

    let other = unique("CAVRA_OTHER");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: other.clone(),
        subjects: vec![format!("{}.>", unique("elsewhere"))],
        ..Default::default()
    })
    .await
    .expect("create a stream");
    let mut w = worker(
        &store.db,
        &nats_yaml("acme", &url, &other, "cavratest.o"),
        &clock,
        "w1",
    );
    let failed = w.prepare().await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]
            .2
            .contains("does not take the subjects cavratest.o.>"),
        "{failed:?}"
    );
    js.delete_stream(&other).await.expect("clean up");

    let port = closed_port();
    let mut w = worker(
        &store.db,
        &nats_yaml(
            "acme",
            &format!("nats://127.0.0.1:{port}"),
            "CAVRA_DOWN",
            "cavratest.d",
        ),
        &clock,
        "w1",
    );
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (1, 0), "{p:?}");
    let d = only_delivery(&store.db, "acme", "queue").await;
    assert_eq!(d.state, DeliveryState::Pending);
    let list = attempts(&store.db, "acme", &d.event_id).await;
    assert_eq!(list[0]["outcome"], "retry", "{list:?}");
    assert_eq!(list[0]["status"], "connect failed", "{list:?}");
}

// ---------------------------------------------------------------------------------------
// AMQP 0-9-1

/// The broker's URL without its credentials, the user, and a `file:` reference to the
/// password (connectors take credentials by reference only).
struct Amqp {
    url: String,
    user: String,
    password_ref: String,
    full: String,
    _dir: tempfile::TempDir,
}

fn amqp() -> Option<Amqp> {
    let Ok(full) = std::env::var("CAVRA_TEST_AMQP_URL") else {
        not_run("CAVRA_TEST_AMQP_URL", "this AMQP test");
        return None;
    };
    let mut u = url::Url::parse(&full).expect("CAVRA_TEST_AMQP_URL is a URL");
    let user = u.username().to_string();
    let password = u.password().unwrap_or("").to_string();
    u.set_username("").expect("no user");
    u.set_password(None).expect("no password");
    let dir = tempfile::tempdir().expect("temp dir");
    let password_ref = secret_file(&dir, "amqp-password", &password);
    Some(Amqp {
        url: u.to_string(),
        user,
        password_ref,
        full,
        _dir: dir,
    })
}

fn amqp_yaml(a: &Amqp, exchange: &str, queue: Option<&str>) -> String {
    let queue = queue
        .map(|q| format!("\n    queue: {q}"))
        .unwrap_or_default();
    format!(
        "
- name: rabbit
  tenant: acme
  events: [\"decision.*\"]
  timeout_ms: 5000
  amqp:
    url: {}
    user: {}
    password: {}
    exchange: {exchange}
    routing_key_prefix: cavratest{queue}
",
        a.url, a.user, a.password_ref
    )
}

async fn amqp_channel(a: &Amqp) -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(&a.full, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at CAVRA_TEST_AMQP_URL is unreachable: {e}"));
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

/// Decisions reach a durable queue through the exchange declared at start: persistent,
/// confirmed, with the idempotency key as `message-id` and a routing key per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publisher_confirms_persistent_with_message_id() {
    let Some(a) = amqp() else { return };
    let (_conn, ch) = amqp_channel(&a).await;
    let exchange = unique("cavratest.x");
    let queue = unique("cavratest.q");
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w = worker(
        &store.db,
        &amqp_yaml(&a, &exchange, Some(&queue)),
        &clock,
        "w1",
    );
    assert!(w.prepare().await.is_empty());
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    decide(&store.db, "acme", "dec_2", Decision::Warn, "npm install").await;
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 2, "{p:?}");

    let mut got = Vec::new();
    while let Some(m) = ch
        .basic_get(
            queue.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
    {
        got.push(m);
    }
    assert_eq!(got.len(), 2);
    for m in &got {
        let env = checked_envelope(&m.delivery.data);
        let props = &m.delivery.properties;
        assert_eq!(props.delivery_mode(), &Some(2), "persistent");
        assert_eq!(
            props.message_id().as_ref().map(|s| s.as_str()),
            env["idempotency_key"].as_str()
        );
        assert_eq!(
            m.delivery.routing_key.as_str(),
            format!("cavratest.acme.{}", env["type"].as_str().expect("type"))
        );
        let list = attempts(&store.db, "acme", env["id"].as_str().expect("id")).await;
        assert_eq!(list[0]["status"], "confirmed", "{list:?}");
    }
    ch.queue_delete(queue.as_str().into(), Default::default())
        .await
        .expect("clean up");
    ch.exchange_delete(exchange.as_str().into(), Default::default())
        .await
        .expect("clean up");
}

/// A message no queue takes is returned by the broker and retried, not counted delivered;
/// a wrong password is a retried connection failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_unroutable_and_refused_are_retried() {
    let Some(a) = amqp() else { return };
    let (_conn, ch) = amqp_channel(&a).await;
    let exchange = unique("cavratest.x");
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w: Worker = worker(&store.db, &amqp_yaml(&a, &exchange, None), &clock, "w1");
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (1, 0), "{p:?}");
    let d = only_delivery(&store.db, "acme", "rabbit").await;
    let list = attempts(&store.db, "acme", &d.event_id).await;
    assert_eq!(list[0]["status"], "unroutable", "{list:?}");
    assert!(
        list[0]["response"]
            .as_str()
            .expect("response")
            .contains("NO_ROUTE"),
        "{list:?}"
    );

    let dir = tempfile::tempdir().expect("dir");
    let bad = Amqp {
        password_ref: secret_file(&dir, "wrong", "not-the-password"),
        url: a.url.clone(),
        user: a.user.clone(),
        full: a.full.clone(),
        _dir: dir,
    };
    let store2 = sqlite().await;
    let mut w = worker(&store2.db, &amqp_yaml(&bad, &exchange, None), &clock, "w1");
    assert_eq!(w.prepare().await.len(), 1);
    decide(&store2.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (1, 0), "{p:?}");
    let d = only_delivery(&store2.db, "acme", "rabbit").await;
    let list = attempts(&store2.db, "acme", &d.event_id).await;
    assert_eq!(list[0]["status"], "connect failed", "{list:?}");
    assert!(
        !list[0].to_string().contains("not-the-password"),
        "the password never reaches the record"
    );
    ch.exchange_delete(exchange.as_str().into(), Default::default())
        .await
        .expect("clean up");
}
