//! Writes a synthetic tenant log as a bundle's `entries.jsonl`, for the posture benchmark
//! (docs/benchmarks.md): `cargo run --release -p cavra-aispm --example synthetic_log -- DIR
//! [ENTRIES]` (default 1,000,000). The mix is a busy tenant's: mostly decisions with full
//! engine records, approvals asked and answered, connector delivery attempts, a few
//! registry records and pack assignments, in the tenant store's entry format.

use std::io::Write;

use serde_json::{Value, json};

fn decision(i: u64) -> Value {
    let decision = match i % 20 {
        0 => "block",
        1 => "require_approval",
        2 => "warn",
        _ => "allow",
    };
    let repo = format!("org/repo-{}", i % 50);
    let rule = if decision == "allow" {
        "default.allow".to_string()
    } else {
        format!("rule.{}", i % 17)
    };
    json!({
        "action_type": "execute_command",
        "agent": format!("agent-{}", i % 7),
        "decision": decision,
        "decision_id": format!("dec_{i:016x}"),
        "fingerprint": format!("sha256:{:064x}", i),
        "policy_digest": "sha256:5d9c0f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5",
        "record": {
            "action_type": "execute_command",
            "actor": "alice@example.com",
            "agent_id": format!("agent-{}", i % 7),
            "base_decision": decision,
            "branch": "feature/posture",
            "correlation_id": format!("dec_{i:016x}"),
            "decision": decision,
            "decision_id": format!("dec_{i:016x}"),
            "environment": "dev",
            "evidence_refs": [],
            "explicit": decision != "allow",
            "matched_rules": [{"rule_id": rule, "decision": decision, "sub_request": 0}],
            "mode": if i % 50 == 49 { "audit_only" } else { "enforce" },
            "policy_digest": "sha256:5d9c0f1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5",
            "policy_pack": "acme-engineering",
            "policy_version": "3.2.0",
            "reason": "the command writes outside the repository and touches credentials (matched by the pack's deny list)",
            "repository": repo,
            "requested_operation": null,
            "rule_id": rule,
            "session_id": format!("ses_{:08x}", i / 40),
            "severity": "medium",
            "target": format!("cargo test -p cavra-aispm --test posture -- case_{i}"),
            "tenant": "acme",
            "timestamp": "2026-03-01T10:00:00.000Z",
        },
        "requested_by": "token:agent-ci",
        "rule_id": rule,
        "session_id": format!("ses_{:08x}", i / 40),
    })
}

/// An approval's course: asked, approved, used, and (for the benchmark's sake) expired.
const APPROVAL_STATES: [&str; 4] = ["pending", "approved", "consumed", "expired"];

/// Spreads the entries over days (None: every entry on 2026-03-01, as before).
static SPREAD: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();

/// Entry `index`'s time: on 2026-03-01 at `minute` (modulo a day), or its share of the days.
fn time_of(index: u64, minute: u64) -> String {
    match SPREAD.get().copied().flatten() {
        None => format!(
            "2026-03-01T{:02}:{:02}:00.000Z",
            (minute / 60) % 24,
            minute % 60
        ),
        Some((n, days)) => {
            let per_day = n.div_ceil(days).max(1);
            let day = time::Date::from_calendar_date(2026, time::Month::September, 1)
                .map(|d| d + time::Duration::days((index / per_day) as i64))
                .unwrap_or(time::Date::MIN);
            let ms = (index % per_day) * 86_400_000 / per_day;
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                day.year(),
                u8::from(day.month()),
                day.day(),
                ms / 3_600_000,
                (ms / 60_000) % 60,
                (ms / 1000) % 60,
                ms % 1000
            )
        }
    }
}

fn entry(index: u64, kind: &str, minute: u64, body: Value) -> Value {
    json!({
        "body": body,
        "format": "cavra-log-entry/v1",
        "index": index,
        "kind": kind,
        "tenant": "acme",
        "time": time_of(index, minute),
    })
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "posture-bench".into()));
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let days: Option<u64> = args.next().and_then(|s| s.parse().ok()).filter(|d| *d > 0);
    let _ = SPREAD.set(days.map(|d| (n, d)));
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::File::create(dir.join("entries.jsonl"))?;
    let mut out = std::io::BufWriter::new(file);
    let mut bytes = 0u64;
    for i in 0..n {
        let minute = i / 100;
        let e = match i % 100 {
            0 => entry(
                i,
                "registry",
                minute,
                json!({"by": "admin", "kind": "mcp_server", "name": format!("mcp-{}", i % 900),
                       "record": {"name": format!("mcp-{}", i % 900), "trust_tier": "approved",
                                  "approval_state": "approved", "allowed_tools": ["list_*"]}}),
            ),
            1 => entry(
                i,
                "policy_assignment",
                minute,
                json!({"assigned_at": "t", "assigned_by": "admin", "pack": "builtin:cavra-baseline",
                       "scope": format!("org/repo-{}", i % 50)}),
            ),
            2..=5 => entry(
                i,
                "approval",
                minute + u64::from(i % 100 != 2),
                json!({"actor": "bob", "approval_id": format!("apr_{}", i / 100),
                       "approver_group": "leads", "decision_id": format!("dec_{i:016x}"),
                       "expires_at": "2026-03-02T00:00:00.000Z", "fingerprint": "sha256:00",
                       "grant": "once", "reason": null, "requested_by": "token:agent-ci",
                       "session_id": null, "summary": "git push origin main",
                       "state": APPROVAL_STATES[(i % 100 - 2) as usize],
                       "uses": 0}),
            ),
            6..=10 => entry(
                i,
                "delivery",
                minute,
                json!({"attempt": 1, "connector_kind": "splunk_hec", "destination": format!("siem-{}", i % 3),
                       "event_id": format!("evt_{i:x}"), "event_log_index": i - 1,
                       "event_type": "decision.block", "idempotency_key": format!("k{i}"),
                       "latency_ms": 12, "next_attempt_at": null,
                       "outcome": if i % 1000 == 7 { "dead_letter" } else { "delivered" },
                       "request": {"bytes": 900}, "response": {"status": 200}, "status": "200"}),
            ),
            _ => entry(i, "decision", minute, decision(i)),
        };
        let text = e.to_string();
        bytes += text.len() as u64 + 1;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!(
        "wrote {n} entries ({:.0} MB) to {}",
        bytes as f64 / 1e6,
        dir.join("entries.jsonl").display()
    );
    Ok(())
}
