//! The service's posture path at scale (docs/benchmarks.md). A tenant's log is seeded in a
//! SQLite database (or the PostgreSQL database of a `postgres://` URL) from a bundle's
//! `entries.jsonl`, as `cavra-aispm`'s `synthetic_log` example writes it, through the store's
//! own appender in transactions of 10,000 entries (`Db::append_entries`: redaction,
//! canonical form, leaf hashes and signed checkpoints as for any write, so the log verifies);
//! then the posture is computed as `GET /v1/posture` computes it.
//!
//! ```sh illustration
//! cargo build --release -p cavra-aispm --example synthetic_log -p cavra-server --example posture_service
//! target/release/examples/synthetic_log /tmp/posture-1m 1000000 90
//! target/release/examples/posture_service seed /tmp/posture-1m sqlite:///tmp/posture-1m/service.db
//! target/release/examples/posture_service check /tmp/posture-1m sqlite:///tmp/posture-1m/service.db
//! target/release/examples/posture_service posture sqlite:///tmp/posture-1m/service.db
//! target/release/examples/posture_service trend sqlite:///tmp/posture-1m/service.db 2026-09-01 2026-11-29 [--cold]
//! ```
//!
//! `check` verifies the seeded log (leaf hashes, tree head, checkpoint, as the readiness
//! gate's `evidence.verify` does) and compares the service's posture with the offline fold of
//! the same file; `posture` prints one posture's time; `trend` one trend's (`--cold` forgets
//! the stored days first).

use std::io::BufRead as _;

use cavra_server::{AppState, ServerConfig};
use cavra_tenant_store::{BulkEntry, Db, Directory as _};

const TENANT: &str = "acme";
const BATCH: usize = 10_000;

type Error = Box<dyn std::error::Error>;

async fn open(url: &str) -> Result<std::sync::Arc<AppState>, Error> {
    let config = ServerConfig {
        database_url: url.to_string(),
        ..ServerConfig::default()
    };
    Ok(AppState::new(config).await?)
}

async fn seed(dir: &std::path::Path, state: &AppState) -> Result<(), Error> {
    if state.db.tenant(TENANT).await?.is_some() {
        eprintln!("{TENANT} is already seeded");
        return Ok(());
    }
    state
        .create_tenant(TENANT, TENANT)
        .await
        .map_err(|p| p.detail)?;
    let started = std::time::Instant::now();
    let file = std::fs::File::open(dir.join("entries.jsonl"))?;
    let mut batch: Vec<BulkEntry> = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    let flush =
        |db: Db, batch: Vec<BulkEntry>| async move { db.append_entries(TENANT, batch).await };
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let mut entry: serde_json::Value = serde_json::from_str(&line?)?;
        let kind = entry["kind"].as_str().unwrap_or("entry").to_string();
        let at = entry["time"]
            .as_str()
            .unwrap_or("2026-03-01T00:00:00.000Z")
            .to_string();
        batch.push((kind, None, at, entry["body"].take()));
        n += 1;
        if batch.len() == BATCH {
            flush(state.db.clone(), std::mem::take(&mut batch)).await?;
            if n.is_multiple_of(100_000) {
                eprintln!(
                    "seeded {n} entries ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    flush(state.db.clone(), batch).await?;
    eprintln!(
        "seeded {n} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["seed", dir, url] => seed(std::path::Path::new(dir), &*open(url).await?).await,
            ["check", dir, url] => {
                let state = open(url).await?;
                let tenants = [TENANT.to_string()];
                let gate = cavra_server::readiness::Gate::of_service(
                    &state,
                    &tenants,
                    time::OffsetDateTime::now_utc(),
                );
                let readiness = cavra_server::readiness::check(&state.db, &gate).await?;
                let broken: Vec<_> = readiness
                    .blockers
                    .iter()
                    .filter(|b| b.validator == "evidence.verify")
                    .collect();
                println!("log verifies: {}", broken.is_empty());
                for b in &broken {
                    println!("  {}", b.problem);
                }
                let offline = cavra_aispm::posture_from_bundle(std::path::Path::new(dir))?;
                let started = std::time::Instant::now();
                let p = cavra_server::aispm::tenant_posture(&state.db, TENANT).await?;
                let took = started.elapsed().as_secs_f64();
                let same = serde_json::to_string(&p)? == serde_json::to_string(&offline)?;
                println!(
                    "{} entries, score {:?}, {took:.3} s, equal to the offline posture: {same}",
                    p.covers.entries, p.score
                );
                if same && broken.is_empty() {
                    Ok(())
                } else {
                    Err("the service's posture or log does not check".into())
                }
            }
            ["posture", url] => {
                let state = open(url).await?;
                let started = std::time::Instant::now();
                let p = cavra_server::aispm::tenant_posture(&state.db, TENANT).await?;
                println!(
                    "{} entries, score {:?}, {:.3} s",
                    p.covers.entries,
                    p.score,
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            }
            ["trend", url, since, until, rest @ ..] => {
                let state = open(url).await?;
                if rest.contains(&"--cold") {
                    state.db.delete_posture_days(TENANT).await?;
                }
                let now = time::OffsetDateTime::now_utc();
                let (first, last) =
                    cavra_server::aispm::trend::span(None, Some(since), Some(until), now.date())?;
                let started = std::time::Instant::now();
                let t = cavra_server::aispm::trend::trend(&state.db, TENANT, first, last, now)
                    .await?;
                println!(
                    "{} days ({} entries): {} from snapshots, {} computed, {:.3} s",
                    t.days.len(),
                    t.days.iter().map(|d| d.entries).sum::<u64>(),
                    t.from_snapshots,
                    t.computed,
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            }
            _ => {
                eprintln!(
                    "usage: posture_service seed|check BUNDLE_DIR DB_URL | posture DB_URL | trend DB_URL SINCE UNTIL [--cold]"
                );
                std::process::exit(2);
            }
        }
    })
}
