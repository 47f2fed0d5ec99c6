//! Where the proxy's time per tools/call goes, in process: the decision (evaluate and record
//! it) and the result's record, each timed over many calls against a scratch store.
//!
//! `cargo run --release -p cavra-mcp --example gate_cost -- [CALLS] [full|process]`

use cavra_mcp::proxy::{Gate, GateConfig, OnToolChange, Send};
use cavra_mcp::{Governor, GovernorConfig, KeyLoader};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let durable = args.next().as_deref() != Some("process");
    let dir = std::env::temp_dir().join(format!("cavra-gate-cost-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".git")).expect("scratch repository");
    let yaml = "metadata: {id: bench, version: \"1\"}\nmcp:\n  block_unknown_servers: true\n  allowed_servers: [echo]\n";
    let resolved = cavra_policy::load_pack_str(yaml, "<bench>", &dir).expect("pack");
    let pack = cavra_policy::compile(&resolved).expect("compiles");
    let mut store = cavra_store::Store::open_repo(&dir).expect("store");
    store.set_power_loss_durable(durable).expect("durability");
    let key = cavra_evidence::keys::from_seed(&[9u8; 32]);
    store.set_log_signer(Box::new(move || {
        Ok(cavra_store::LogSigner {
            key_id: "log-bench".into(),
            key: key.clone(),
        })
    }));
    let log_key: KeyLoader = Arc::new(|| Err("not used".into()));
    let governor = Governor::new(GovernorConfig {
        repo_root: dir.clone(),
        policy_reference: "<bench>".into(),
        resolved,
        pack,
        store,
        log_key,
        bundle_key: None,
        session_id: "bench".into(),
        agent: "mcp-proxy".into(),
        approval_ttl: Duration::from_secs(600),
        resolver: Box::new(cavra_engine::NoSymlinks),
        home: None,
    });
    let mut gate = Gate::new(
        governor,
        GateConfig {
            server_name: "echo".into(),
            on_tool_change: OnToolChange::Block,
            call_timeout: Duration::from_secs(60),
            defer_result_fsync: durable,
        },
    );
    // The session lists its tools first, as agents do: each call is then checked against the
    // listed definition's pin.
    let list = json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list", "params": {}});
    gate.from_agent(list.to_string().as_bytes());
    let listed = json!({"jsonrpc": "2.0", "id": "list", "result": {"tools": [{"name": "add",
        "description": "Adds two numbers", "inputSchema": {"type": "object"}}]}});
    gate.from_upstream(listed.to_string().as_bytes());
    let mut decide = Vec::with_capacity(calls);
    let mut answer = Vec::with_capacity(calls);
    let mut record = Vec::with_capacity(calls);
    for i in 0..calls {
        let call = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": i, "b": 1}}})
        .to_string();
        let t0 = Instant::now();
        let out = gate.from_agent(call.as_bytes());
        let t1 = Instant::now();
        assert!(
            matches!(out.first(), Some(Send::Upstream(_))),
            "forwarded: {out:?}"
        );
        let reply = json!({"jsonrpc": "2.0", "id": i, "result": {
            "content": [{"type": "text", "text": (i + 1).to_string()}], "isError": false}})
        .to_string();
        let back = gate.from_upstream(reply.as_bytes());
        let t2 = Instant::now();
        assert!(matches!(back.first(), Some(Send::Agent(_))));
        gate.record_answered();
        let t3 = Instant::now();
        decide.push(t1 - t0);
        answer.push(t2 - t1);
        record.push(t3 - t2);
    }
    let p50 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    println!(
        "calls {calls} durability {}: decide+record p50 {:.4} ms, answer p50 {:.4} ms, result record p50 {:.4} ms",
        if durable { "full" } else { "process" },
        p50(&mut decide),
        p50(&mut answer),
        p50(&mut record)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
