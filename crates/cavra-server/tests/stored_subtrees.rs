//! Inclusion proofs read stored subtree hashes, not the log (issue 16: a proof read every
//! leaf hash, 0.3 s at 71,500 entries and growing). The hashes are kept in the database, so
//! a restarted service (or another replica) proves an entry of a 1,100-entry log reading at
//! most two blocks of 64 leaf hashes, on SQLite and on PostgreSQL; and the proofs verify.

mod common;

use cavra_tenant_store::Evidence;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const LOG: usize = 1100;

async fn fill(s: &Server, agent: &str) {
    let mut writers = Vec::new();
    for w in 0..4 {
        let http = s.http.clone();
        let url = format!("{}/v1/decisions", s.base);
        let agent = agent.to_string();
        writers.push(tokio::spawn(async move {
            for i in 0..LOG / 4 {
                let r = http
                    .post(&url)
                    .bearer_auth(&agent)
                    .json(&decide("read_file", &format!("src/{w}/{i}.rs"), "s"))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), StatusCode::OK);
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
}

async fn leaves_read(s: &Server) -> u64 {
    let (st, text) = s.call("GET", "/metrics", None, None).await;
    assert_eq!(st, StatusCode::OK);
    text.as_str()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("cavra_proof_leaves_read_total "))
        })
        .and_then(|n| n.trim().parse().ok())
        .expect("cavra_proof_leaves_read_total")
}

/// Fetches the proof of `index` and checks it against the checkpoint it comes with.
async fn verified_proof(s: &Server, token: &str, index: u64) {
    let (st, proof) = s
        .call(
            "GET",
            &format!("/v1/evidence/entries/{index}/proof"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{proof}");
    let env = cavra_evidence::dsse::Envelope::from_json(proof["checkpoint"].as_str().unwrap())
        .expect("envelope");
    let payload: Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    let root: [u8; 32] = hex::decode(payload["root_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let leaf = cavra_evidence::merkle::leaf_hash(proof["entry"].as_str().unwrap().as_bytes());
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let size = payload["tree_size"].as_u64().unwrap();
    cavra_evidence::merkle::verify_inclusion(&leaf, index, size, &hashes, &root)
        .unwrap_or_else(|e| panic!("index {index} of {size}: {e}"));
}

/// Fills a log, proves one entry (which stores the subtrees it computed), then starts a
/// second service on the same database and proves entries there.
async fn proofs_survive_a_restart(first: Server, second: impl AsyncFnOnce() -> Server) {
    let agent = first.token("a", "agent", "agent-a", &[]).await;
    fill(&first, &agent).await;
    assert_eq!(first.state.db.stored_subtree_count("a").await.unwrap(), 0);
    verified_proof(&first, &agent, 5).await;
    let stored = first.state.db.stored_subtree_count("a").await.unwrap();
    // Every complete aligned subtree of 64 leaves and more below 1,088: 17 + 8 + 4 + 2 + 1.
    assert!(stored >= 16, "{stored} subtree hashes stored");

    let again = second().await;
    assert_eq!(leaves_read(&again).await, 0);
    for index in [5u64, 700, (LOG - 1) as u64] {
        let before = leaves_read(&again).await;
        verified_proof(&again, &agent, index).await;
        let read = leaves_read(&again).await - before;
        assert!(
            read <= 128,
            "proving entry {index} of {LOG} read {read} leaf hashes after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_subtrees_serve_proofs_after_a_restart_on_sqlite() {
    let first = sqlite_server().await;
    let config = first.state.config.clone();
    let first_dir = first.dir.path().to_path_buf();
    proofs_survive_a_restart(first, async || {
        assert!(config.database_url.contains(first_dir.to_str().unwrap()));
        start(config, tempfile::tempdir().unwrap()).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_subtrees_serve_proofs_after_a_restart_on_postgres() {
    let Some(first) = postgres_with(|_| {}).await else {
        return;
    };
    let config = first.state.config.clone();
    proofs_survive_a_restart(first, async || {
        // The same database and signing key (the key file lives in the first service's folder).
        start(config, tempfile::tempdir().unwrap()).await
    })
    .await;
}
