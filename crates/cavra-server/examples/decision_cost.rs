//! The service's cost per `POST /v1/decisions`, for `docs/benchmarks.md`: the whole
//! application (authentication, the handler, the SQLite writer with its durable group commit)
//! driven in process through its router, without sockets, so that
//! `valgrind --tool=callgrind` instruction counts of two runs give the instructions per
//! request whatever the machine's load:
//!
//! ```sh
//! cargo build --release -p cavra-server --example decision_cost
//! valgrind --tool=callgrind --callgrind-out-file=cg.0 target/release/examples/decision_cost 0
//! valgrind --tool=callgrind --callgrind-out-file=cg.2000 target/release/examples/decision_cost 2000
//! # (instructions of cg.2000 - instructions of cg.0) / 2000
//! ```
//!
//! The requests are the four of `benches/load/decisions.lua` (a source read, `cargo test`, a
//! `.env` read that is blocked, a source write) in turn, sent by `CONCURRENCY` tasks at once
//! (default 16) so that the writer commits groups of decisions as it does under load. Every
//! request runs before the `0` run's work ends, so the difference is the requests alone (and
//! the first request's one-off costs: compiling the pack's matchers, the first redaction
//! rules used, preparing statements, which the `0` run also pays by sending one warm-up
//! request).

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use cavra_server::{AppState, ServerConfig};
use tower::Service;

// The allocator of the `cavra` binary, so that the counts are those of the service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODIES: [&str; 4] = [
    r#"{"request":{"action":"read_file","target":"src/main.rs","session_id":"load","agent_id":"wrk"}}"#,
    r#"{"request":{"action":"execute_command","target":"cargo test --workspace","session_id":"load","agent_id":"wrk"}}"#,
    r#"{"request":{"action":"read_file","target":".env","session_id":"load","agent_id":"wrk"}}"#,
    r#"{"request":{"action":"write_file","target":"src/lib.rs","session_id":"load","agent_id":"wrk"}}"#,
];

async fn decide(app: &axum::Router, token: &str, i: usize) {
    let req = Request::post("/v1/decisions")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(BODIES[i % BODIES.len()]))
        .expect("request");
    let mut svc = app.clone();
    std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut svc, cx))
        .await
        .expect("ready");
    let resp = svc.call(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let concurrency: usize = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ServerConfig {
            database_url: format!("sqlite://{}", dir.path().join("server.db").display()),
            ..ServerConfig::default()
        };
        let state = AppState::new(config).await.expect("state");
        state.create_tenant("acme", "acme").await.expect("tenant");
        let (_, issued) = cavra_server::admin::create_token(
            &state.db,
            &cavra_server::admin::NewToken {
                tenant: "acme",
                role: cavra_identity::Role::Agent,
                subject: Some("agent"),
                groups: &[],
                expires_in_days: None,
            },
            time::OffsetDateTime::now_utc(),
        )
        .await
        .expect("token");
        let token: Arc<str> = issued.plaintext().into();
        let app = cavra_server::app(state);
        // The warm-up request, in both runs.
        decide(&app, &token, 0).await;
        let mut tasks = Vec::new();
        for t in 0..concurrency {
            let (app, token) = (app.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = t;
                while i < n {
                    decide(&app, &token, i).await;
                    i += concurrency;
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
}
