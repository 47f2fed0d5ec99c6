//! The posture's figures and factors from hand-built entries of every kind it reads.

use cavra_aispm::{Accumulator, FactorId, Posture, WEIGHTS};
use serde_json::{Value, json};

/// A tenant's log being built, entry by entry, in the tenant store's entry format.
struct Log {
    entries: Vec<Value>,
}

impl Log {
    fn new() -> Self {
        Log {
            entries: Vec::new(),
        }
    }

    fn push(&mut self, kind: &str, time: &str, body: Value) -> &mut Self {
        let index = self.entries.len();
        self.entries.push(json!({
            "body": body, "format": "cavra-log-entry/v1", "index": index,
            "kind": kind, "tenant": "acme", "time": time,
        }));
        self
    }

    fn decision(&mut self, decision: &str, mode: &str, repo: &str, agent: &str) -> &mut Self {
        self.decision_with(decision, mode, repo, agent, "r1", json!(null))
    }

    fn decision_with(
        &mut self,
        decision: &str,
        mode: &str,
        repo: &str,
        agent: &str,
        rule: &str,
        break_glass: Value,
    ) -> &mut Self {
        self.push(
            "decision",
            "2026-03-01T10:00:00.000Z",
            json!({
                "decision_id": format!("d{}", self.entries.len()), "decision": decision,
                "agent": agent, "rule_id": rule, "action_type": "execute_command",
                "requested_by": "token:a",
                "record": {"mode": mode, "repository": repo, "break_glass": break_glass,
                           "reason": "why \"quoted\"", "matched_rules": [{"rule_id": rule}]},
            }),
        )
    }

    fn approval(&mut self, id: &str, state: &str, time: &str) -> &mut Self {
        self.push(
            "approval",
            time,
            json!({"approval_id": id, "state": state, "actor": "bob", "expires_at": "x"}),
        )
    }

    fn posture(&self) -> Posture {
        let mut acc = Accumulator::new();
        for e in &self.entries {
            acc.push_value(e);
        }
        acc.finish()
    }
}

fn factor(p: &Posture, id: FactorId) -> &cavra_aispm::Factor {
    p.factors.iter().find(|f| f.id == id).expect("factor")
}

#[test]
fn an_empty_log_has_no_score_and_no_factor_applies() {
    let p = Log::new().posture();
    assert_eq!(p.score, None);
    assert_eq!(p.covers.entries, 0);
    assert!(p.factors.iter().all(|f| f.value.is_none()));
    assert!(p.factors.iter().all(|f| f.contribution == 0.0));
}

#[test]
fn the_weights_add_up_to_100_and_the_score_is_the_sum_of_contributions() {
    assert_eq!(WEIGHTS.iter().map(|(_, w)| w).sum::<u32>(), 100);
    let mut log = Log::new();
    log.decision("allow", "enforce", "a", "claude")
        .decision("block", "audit_only", "b", "claude")
        .push(
            "delivery",
            "2026-03-01T10:00:00.000Z",
            json!({"event_id": "e1", "destination": "splunk", "outcome": "dead_letter"}),
        )
        .push(
            "delivery",
            "2026-03-01T10:00:00.000Z",
            json!({"event_id": "e2", "destination": "splunk", "outcome": "delivered"}),
        );
    let p = log.posture();
    // Enforcement 1/2 (weight 25) and connector health 1/2 (15) apply: 40 points of 40.
    let sum: f64 = p.factors.iter().map(|f| f.contribution).sum();
    assert_eq!(p.score, Some(50.0));
    assert!((sum - 50.0).abs() < 0.11, "{sum}");
    assert_eq!(factor(&p, FactorId::Enforcement).contribution, 31.3);
    assert_eq!(factor(&p, FactorId::ConnectorHealth).contribution, 18.8);
    assert_eq!(factor(&p, FactorId::HookCoverage).value, None);
}

#[test]
fn outcome_rates_and_the_latest_mode_of_each_repository() {
    let mut log = Log::new();
    log.decision("allow", "audit_only", "web", "claude")
        .decision("block", "enforce", "web", "claude")
        .decision("require_approval", "enforce", "api", "codex")
        .decision("warn", "strict", "docs", "codex")
        .decision("audit_only", "audit_only", "infra", "codex");
    let p = log.posture();
    assert_eq!(p.decisions.total, 5);
    assert_eq!(p.decisions.block_rate, Some(0.2));
    assert_eq!(p.decisions.approval_rate, Some(0.2));
    assert_eq!(p.decisions.warn_rate, Some(0.2));
    assert_eq!(p.decisions.by_mode["audit_only"], 2);
    // web's latest decision enforces; infra's does not; strict counts as enforcing.
    assert_eq!(p.repositories.total, 4);
    assert_eq!(p.repositories.enforcing, 3);
    assert_eq!(p.repositories.not_enforcing, vec!["infra".to_string()]);
    assert_eq!(factor(&p, FactorId::Enforcement).value, Some(0.75));
    assert_eq!(factor(&p, FactorId::Outcomes).weight, 0);
}

#[test]
fn approval_latency_percentiles_and_expiries() {
    let mut log = Log::new();
    // Answered after 1, 2, ... 10 minutes.
    for i in 1..=10 {
        let id = format!("apr_{i}");
        log.approval(&id, "pending", "2026-03-01T10:00:00.000Z")
            .approval(
                &id,
                if i % 2 == 0 { "approved" } else { "denied" },
                &format!("2026-03-01T10:{i:02}:00.000Z"),
            );
    }
    log.approval("apr_x", "pending", "2026-03-01T10:00:00Z")
        .approval("apr_x", "expired", "2026-03-01T11:00:00Z")
        .approval("apr_g", "pending", "2026-03-01T10:00:00Z")
        .approval("apr_g", "approved", "2026-03-01T10:00:30Z")
        .approval("apr_g", "expired", "2026-03-01T11:00:00Z")
        .approval("apr_o", "pending", "2026-03-01T12:00:00Z");
    let p = log.posture();
    let a = &p.approvals;
    assert_eq!(a.requested, 13);
    assert_eq!(a.answered, 11);
    assert_eq!(a.denied, 5);
    assert_eq!(a.approved, 6);
    assert_eq!(a.expired_unanswered, 1);
    assert_eq!(a.expired_grants, 1);
    assert_eq!(a.open, 1);
    // 11 latencies: 30 s and 1..10 min; nearest rank p50 is the 6th, p95 the 11th.
    assert_eq!(a.latency_p50_ms, Some(5 * 60_000));
    assert_eq!(a.latency_p95_ms, Some(10 * 60_000));
    assert_eq!(
        factor(&p, FactorId::ApprovalsAnswered).value,
        Some(11.0 / 12.0)
    );
}

#[test]
fn break_glass_uses_count_approvals_and_decisions() {
    let mut log = Log::new();
    log.approval("apr_1", "pending", "2026-03-01T10:00:00Z")
        .approval("apr_1", "break_glass", "2026-03-01T10:01:00Z")
        .approval("apr_2", "pending", "2026-03-01T10:00:00Z")
        .approval("apr_3", "pending", "2026-03-01T10:00:00Z")
        .decision_with(
            "allow_with_attestation",
            "break_glass",
            "web",
            "claude",
            "r1",
            json!({"actor": "alice", "reason": "outage"}),
        );
    let p = log.posture();
    assert_eq!(p.break_glass.approvals, 1);
    assert_eq!(p.break_glass.decisions, 1);
    assert_eq!(p.break_glass.total, 2);
    // 2 uses of 4 gated actions (3 approvals asked, 1 decision under break glass).
    assert_eq!(factor(&p, FactorId::BreakGlass).value, Some(0.5));
}

#[test]
fn mcp_servers_untrusted_changed_and_refused_calls() {
    let server = |name: &str, tier: &str, state: &str, tools: Value| {
        json!({"kind": "mcp_server", "name": name, "by": "admin",
               "record": {"name": name, "trust_tier": tier, "approval_state": state,
                          "allowed_tools": tools}})
    };
    let mut log = Log::new();
    log.push(
        "registry",
        "t",
        server("github", "trusted", "approved", json!(["list_*"])),
    )
    .push(
        "registry",
        "t",
        server("docs", "experimental", "approved", json!([])),
    )
    .push(
        "registry",
        "t",
        server("jira", "approved", "pending", json!([])),
    )
    .push(
        "registry",
        "t",
        server("github", "trusted", "approved", json!(["*"])),
    )
    // The same record again is no change.
    .push(
        "registry",
        "t",
        server("docs", "experimental", "approved", json!([])),
    )
    .decision_with(
        "block",
        "enforce",
        "web",
        "claude",
        cavra_engine::registry::ids::UNREGISTERED,
        json!(null),
    )
    .decision_with(
        "require_approval",
        "enforce",
        "web",
        "claude",
        cavra_engine::registry::ids::PENDING,
        json!(null),
    );
    let p = log.posture();
    assert_eq!(p.mcp.registered, 3);
    assert_eq!(
        p.mcp.untrusted,
        vec!["docs".to_string(), "jira".to_string()]
    );
    assert_eq!(p.mcp.changed, vec!["github".to_string()]);
    assert_eq!(p.mcp.refused_calls, 2);
    assert_eq!(factor(&p, FactorId::McpTrust).value, Some(0.0));
}

#[test]
fn a_dead_letter_retried_and_delivered_is_no_longer_open() {
    let attempt = |event: &str, dest: &str, outcome: &str| json!({"event_id": event, "destination": dest, "outcome": outcome, "attempt": 1});
    let mut log = Log::new();
    log.push("delivery", "t", attempt("e1", "splunk", "retry"))
        .push("delivery", "t", attempt("e1", "splunk", "dead_letter"))
        .push("delivery", "t", attempt("e2", "splunk", "dead_letter"))
        .push("delivery", "t", attempt("e1", "nats", "delivered"))
        .push("delivery", "t", attempt("e3", "nats", "retry"))
        // e1 to splunk retried by an operator, then delivered.
        .push("delivery", "t", attempt("e1", "splunk", "delivered"));
    let p = log.posture();
    let c = &p.connectors;
    assert_eq!((c.delivered, c.dead_letters, c.retrying), (2, 1, 1));
    assert_eq!(c.destinations["splunk"].attempts, 4);
    assert_eq!(c.destinations["splunk"].dead_letters, 1);
    assert_eq!(c.destinations["nats"].retrying, 1);
    assert_eq!(factor(&p, FactorId::ConnectorHealth).value, Some(2.0 / 3.0));
}

#[test]
fn hook_coverage_is_the_enabled_inventory_seen_deciding() {
    let agent = |name: &str, enabled: bool| {
        json!({"kind": "agent", "name": name, "by": "admin",
               "record": {"kind": "claude-code", "owner": "team", "enabled": enabled}})
    };
    let mut log = Log::new();
    log.push("registry", "t", agent("bot-a", true))
        .push("registry", "t", agent("bot-b", true))
        .push("registry", "t", agent("bot-c", false))
        .decision("allow", "enforce", "web", "bot-a")
        .decision("allow", "enforce", "web", "stranger");
    let p = log.posture();
    let h = &p.hook_coverage;
    assert_eq!((h.inventory, h.seen, h.unregistered), (2, 1, 1));
    assert_eq!(h.unseen, vec!["bot-b".to_string()]);
    assert_eq!(factor(&p, FactorId::HookCoverage).value, Some(0.5));
}

#[test]
fn assigned_packs_signed_unsigned_and_built_in() {
    let mut log = Log::new();
    log.push(
        "policy_pack",
        "t",
        json!({"digest": "sha256:aa", "pack_id": "p", "signed_by": {"key_id": "k1"}}),
    )
    .push(
        "policy_pack",
        "t",
        json!({"digest": "sha256:bb", "pack_id": "q", "signed_by": null}),
    )
    .push(
        "policy_assignment",
        "t",
        json!({"scope": "", "pack": "sha256:bb"}),
    )
    .push(
        "policy_assignment",
        "t",
        json!({"scope": "web", "pack": "builtin:cavra-baseline"}),
    )
    .push(
        "policy_assignment",
        "t",
        json!({"scope": "api", "pack": "sha256:cc"}),
    )
    // The tenant's pack replaced by the signed one.
    .push(
        "policy_assignment",
        "t",
        json!({"scope": "", "pack": "sha256:aa"}),
    );
    let p = log.posture();
    assert_eq!(p.packs.assigned, 3);
    assert_eq!(p.packs.signed, 1);
    assert_eq!(p.packs.built_in, 1);
    assert_eq!(p.packs.unsigned, vec!["api: sha256:cc".to_string()]);
    assert_eq!(factor(&p, FactorId::SignedPacks).value, Some(2.0 / 3.0));
}

#[test]
fn lines_and_values_give_the_same_posture_and_damage_is_counted() {
    let mut log = Log::new();
    log.decision("block", "enforce", "we\"b\\é", "claude")
        .approval("apr_1", "pending", "2026-03-01T10:00:00Z")
        .approval("apr_1", "approved", "2026-03-01T10:00:05Z")
        .push("connector_test", "t", json!({"destination": "x"}))
        // A decision word the engine does not know is damage, not a decision.
        .decision("maybe", "enforce", "web", "claude");
    let from_values = log.posture();
    let mut acc = Accumulator::new();
    let mut text = String::new();
    for e in &log.entries {
        text.push_str(&e.to_string());
        text.push('\n');
    }
    text.push_str("\n{not json\n");
    acc.push_lines(text.as_bytes()).expect("lines");
    let from_lines = acc.finish();
    assert_eq!(from_values.covers.unreadable, 1);
    assert_eq!(from_values.covers.other, 1);
    assert_eq!(from_lines.covers.unreadable, 2, "the broken line too");
    assert_eq!(from_values.repositories.not_enforcing, Vec::<String>::new());
    assert_eq!(from_values.approvals.latency_p50_ms, Some(5000));
    let mut from_lines = from_lines;
    from_lines.covers.unreadable = 1;
    from_lines.covers.entries -= 1;
    assert_eq!(from_values, from_lines);
    assert_eq!(from_values.tenant.as_deref(), Some("acme"));
    assert_eq!(from_values.covers.last_index, Some(4));
}

#[test]
fn chunks_read_ahead_give_the_posture_of_one_by_one() {
    let mut log = Log::new();
    log.decision("block", "enforce", "web", "claude")
        .approval("apr_1", "pending", "2026-03-01T10:00:00Z")
        .decision("allow", "audit_only", "web", "codex")
        .approval("apr_1", "approved", "2026-03-01T10:00:07Z")
        .push("connector_test", "t", json!({}))
        .decision("maybe", "enforce", "web", "claude")
        .push(
            "delivery",
            "2026-03-01T10:01:00Z",
            json!({"event_id": "e", "destination": "siem", "outcome": "dead_letter"}),
        )
        .decision("warn", "enforce", "infra", "claude");
    let mut lines: Vec<String> = log.entries.iter().map(|e| e.to_string()).collect();
    lines.insert(3, "{not json".into());
    let mut one = Accumulator::new();
    for l in &lines {
        one.push_line(l.as_bytes());
    }
    let one = one.finish();
    // Every way of cutting the entries into chunks gives the same figures.
    for size in 1..=lines.len() {
        let mut acc = Accumulator::new();
        for part in lines.chunks(size) {
            let mut chunk = cavra_aispm::Chunk::new();
            for l in part {
                chunk.push_line(l.as_bytes());
            }
            acc.push_chunk(chunk);
        }
        assert_eq!(acc.finish(), one, "chunks of {size}");
    }
    assert_eq!(one.covers.unreadable, 2);
    assert_eq!(one.approvals.latency_p50_ms, Some(7000));
}
