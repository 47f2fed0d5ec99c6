//! The service's posture path at scale: seeds a tenant's log in a SQLite database from a
//! bundle's `entries.jsonl` (as `cavra-aispm`'s `synthetic_log` example writes it), then times
//! `cavra_server::aispm::tenant_posture` — what `GET /v1/posture` and `cavra aispm posture
//! --database-url` compute — and checks it equals the posture folded offline from the same
//! file (docs/benchmarks.md):
//!
//! ```sh illustration
//! cargo build --release -p cavra-aispm --example synthetic_log -p cavra-server --example posture_service
//! target/release/examples/synthetic_log /tmp/posture-1m 1000000
//! target/release/examples/posture_service /tmp/posture-1m /tmp/posture-1m/service.db [RUNS]
//! ```
//!
//! A database that already holds the tenant is not seeded again.

use std::io::BufRead as _;

use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::{Directory as _, Outbox as _};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(db)) = (args.next(), args.next()) else {
        eprintln!("usage: posture_service BUNDLE_DIR DB_FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().unwrap_or_else(|| "3".into()).parse()?;
    let dir = std::path::PathBuf::from(dir);
    let config = ServerConfig {
        database_url: format!("sqlite://{db}"),
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let state = AppState::new(config).await?;
        let tenant = "acme";
        if state.db.tenant(tenant).await?.is_none() {
            state
                .create_tenant(tenant, tenant)
                .await
                .map_err(|p| p.detail)?;
            let started = std::time::Instant::now();
            let file = std::fs::File::open(dir.join("entries.jsonl"))?;
            let mut n = 0u64;
            for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
                let entry: serde_json::Value = serde_json::from_str(&line?)?;
                let kind = entry["kind"].as_str().unwrap_or("entry").to_string();
                let at = entry["time"]
                    .as_str()
                    .unwrap_or("2026-03-01T00:00:00.000Z")
                    .to_string();
                state
                    .db
                    .append_entry(tenant, &kind, None, &at, entry["body"].clone())
                    .await?;
                n += 1;
                if n.is_multiple_of(100_000) {
                    eprintln!(
                        "seeded {n} entries ({:.0} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            eprintln!(
                "seeded {n} entries in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let offline = cavra_aispm::posture_from_bundle(&dir)?;
        for _ in 0..runs {
            let started = std::time::Instant::now();
            let p = cavra_server::aispm::tenant_posture(&state.db, tenant).await?;
            let took = started.elapsed().as_secs_f64();
            let same = serde_json::to_value(&p)? == serde_json::to_value(&offline)?;
            println!(
                "{} entries, score {:?}, {took:.3} s, equal to the offline posture: {same}",
                p.covers.entries, p.score
            );
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
