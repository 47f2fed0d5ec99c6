//! What the entitlement check costs a request once the tenant's entitlement is cached: the
//! cache lookup (`AppState::tenant_gate`) and `Gate::admit`, `N` times, for an active tenant
//! without expiry (`plain`) or with one (`expiring`: the clock is read); and, for scale, `N`
//! whole `POST /v1/decisions` requests through the service's router (`decide`: token,
//! entitlement, engine, the durable write). Measured with callgrind as the difference between
//! two runs (docs/benchmarks.md#entitlement-check):
//!
//! ```sh illustration
//! cargo build --release -p cavra-server --example entitlement_cost
//! valgrind --tool=callgrind target/release/examples/entitlement_cost 10000 plain
//! valgrind --tool=callgrind target/release/examples/entitlement_cost 20000 plain
//! ```

use std::collections::BTreeSet;

use axum::http::Method;
use cavra_identity::{AuthMethod, Principal, Role};
use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::{Directory, Entitlement};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().unwrap_or_else(|| "10000".into()).parse()?;
    let mode = args.next().unwrap_or_else(|| "plain".into());
    let expiring = mode == "expiring";
    let dir = tempfile::tempdir()?;
    let config = ServerConfig {
        database_url: format!("sqlite://{}", dir.path().join("cost.db").display()),
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let state = AppState::new(config).await?;
        state.create_tenant("a", "a").await.map_err(|p| p.detail)?;
        if expiring {
            let e = Entitlement {
                expires_at: Some("2999-01-01T00:00:00Z".parse().unwrap()),
                ..Entitlement::default()
            };
            state.db.set_entitlement("a", &e).await?;
        }
        if mode == "decide" {
            return decide(state, n).await;
        }
        let principal = Principal {
            subject: "token:cost".into(),
            tenant: "a".into(),
            roles: BTreeSet::from([Role::Agent]),
            approver_groups: BTreeSet::new(),
            method: AuthMethod::ApiToken {
                token_id: "cost".into(),
            },
        };
        let mut admitted = 0u64;
        for _ in 0..n {
            let gate = state
                .tenant_gate(std::hint::black_box("a"))
                .await
                .map_err(|p| p.detail)?
                .ok_or("no tenant")?;
            if gate.admit(&Method::POST, &principal).is_ok() {
                admitted += 1;
            }
        }
        println!("{admitted} of {n} admitted");
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// `n` decisions through the router, as a client's requests arrive.
async fn decide(state: std::sync::Arc<AppState>, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    use tower::ServiceExt as _;
    let issued = cavra_identity::IssuedToken::generate()?;
    state
        .db
        .insert_token(&cavra_tenant_store::TokenRecord {
            id: issued.token_id.clone(),
            tenant: "a".into(),
            subject: "agent".into(),
            roles: vec![cavra_identity::Role::Agent],
            groups: Vec::new(),
            digest: issued.digest,
            created_at: time::OffsetDateTime::now_utc(),
            expires_at: None,
            revoked_at: None,
        })
        .await?;
    let app = cavra_server::app(state);
    let body = r#"{"request": {"action": "read_file", "target": "src/main.rs", "session_id": "s1", "agent_id": "claude-code"}}"#;
    let mut ok = 0u64;
    for _ in 0..n {
        let req = axum::http::Request::post("/v1/decisions")
            .header("authorization", format!("Bearer {}", issued.plaintext()))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))?;
        if app.clone().oneshot(req).await?.status().is_success() {
            ok += 1;
        }
    }
    println!("{ok} of {n} decided");
    Ok(())
}
