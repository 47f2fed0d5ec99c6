//! The text people read of an explanation: `cavra policy explain` (a request decided now) and
//! `cavra policy explain --decision` (a recorded decision). The JSON forms are the types'
//! own serialisations; these are the lines printed without `--json`.

use crate::recorded::{EvidenceStatus, PackStatus, RecordedExplanation, Replay};
use cavra_engine::{DecisionRecord, Explanation, Mode, RuleMatch};
use serde_json::Value;
use std::fmt::Write as _;

// Writing to a String cannot fail: the results of `writeln!` below are ignored for that reason.

/// The `matched` section: each rule that matched, its pattern and the sub-request it matched.
fn matched(out: &mut String, matched: &[RuleMatch]) {
    let _ = writeln!(out, "matched");
    for m in matched {
        let pattern = m
            .pattern
            .as_deref()
            .map(|p| format!(" `{p}`"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<18} {}{pattern}  <- {}",
            m.decision.as_str(),
            m.rule_id,
            m.subject
        );
    }
}

/// ` (mode M, base D)` when the pack's mode changed the decision's standing, else nothing.
fn mode_note(record: &DecisionRecord) -> String {
    if record.mode == Mode::Enforce {
        String::new()
    } else {
        format!(" (mode {}, base {})", record.mode, record.base_decision)
    }
}

/// `cavra policy explain`: the request, the policy (loaded from `origin`), the shell analysis,
/// the subjects, every rule considered, what matched and the decision.
pub fn explanation(explanation: &Explanation, origin: &str) -> String {
    let mut out = String::new();
    let record = &explanation.record;
    let _ = writeln!(out, "request    {} {}", record.action_type, record.target);
    let _ = writeln!(
        out,
        "policy     {} {} ({origin})",
        record.policy_pack, record.policy_version
    );
    if let Some(analysis) = &explanation.normalization.analysis {
        let _ = writeln!(out, "commands");
        for (i, c) in analysis.commands.iter().enumerate() {
            let role = match c.role {
                cavra_shell::CommandRole::Executed => "",
                cavra_shell::CommandRole::Wrapper => " [wrapper]",
            };
            let via = if c.via.is_empty() {
                String::new()
            } else {
                format!(" via {}", c.via.join(" > "))
            };
            let _ = writeln!(out, "  #{i} {}{role}{via}", c.canonical);
        }
        if !analysis.classes.is_empty() {
            let classes: Vec<_> = analysis.classes.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(out, "classes    {}", classes.join(", "));
        }
        for p in &analysis.problems {
            let _ = writeln!(out, "problem    {p}");
        }
    }
    let _ = writeln!(out, "subjects");
    for (i, s) in explanation.normalization.subjects.iter().enumerate() {
        let _ = writeln!(out, "  [{i}] {}", s.describe());
    }
    let _ = writeln!(out, "rules");
    for c in &explanation.considered {
        let _ = writeln!(out, "  [{}] {:<44} {}", c.subject, c.rule_id, c.outcome);
    }
    matched(&mut out, &record.matched_rules);
    let _ = writeln!(
        out,
        "decision   {}{}  {}  {}",
        record.decision,
        mode_note(record),
        record.rule_id,
        record.reason
    );
    out
}

/// `cavra policy explain --decision`: a recorded decision, the pack kept for it, the deciding
/// rule as written, the evidence log's agreement and the replay. `stored` is the stored record
/// (for the agent's tool name).
pub fn recorded(e: &RecordedExplanation, stored: &Value) -> String {
    let mut out = String::new();
    let r = &e.record;
    let _ = writeln!(out, "decision   {}  {}", r.decision_id, r.timestamp);
    let _ = writeln!(
        out,
        "by         {} in session {}{}",
        r.agent_id.as_deref().unwrap_or("-"),
        r.session_id.as_deref().unwrap_or("-"),
        stored["tool_name"]
            .as_str()
            .map(|t| format!(", tool {t}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "request    {} {}", r.action_type, r.target);
    let kept = match e.pack.status {
        PackStatus::Retained => "kept in the store, unaltered",
        PackStatus::Altered => "kept in the store, ALTERED since",
        PackStatus::Missing => "NOT KEPT in this store",
    };
    let now = match e.pack.current_is_same {
        Some(true) => "; it is the pack that applies now",
        Some(false) => "; the pack that applies now is a different one",
        None => "",
    };
    let _ = writeln!(
        out,
        "policy     {} {} ({}) — {kept}{now}",
        e.pack.id, e.pack.version, e.pack.digest
    );
    match &e.deciding_rule {
        Some(rule) => {
            let _ = writeln!(
                out,
                "rule       {} — {} {}, on {}",
                rule.id,
                rule.decision,
                rule.severity,
                rule.actions.join(", ")
            );
            if !rule.patterns.is_empty() {
                let patterns: Vec<String> =
                    rule.patterns.iter().map(|p| format!("`{p}`")).collect();
                let _ = writeln!(out, "           patterns {}", patterns.join(", "));
            }
            if let Some(reason) = &rule.reason {
                let _ = writeln!(out, "           reason: {reason}");
            }
            if let Some(group) = &rule.approver_group {
                let _ = writeln!(out, "           approver group: {group}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "rule       {} ({})",
                r.rule_id,
                if r.explicit {
                    "not listed in the kept pack"
                } else {
                    "a default or built-in rule"
                }
            );
        }
    }
    matched(&mut out, &e.matched);
    let _ = writeln!(
        out,
        "decided    {}{}  {}",
        r.decision,
        mode_note(r),
        r.reason
    );
    for reference in &r.evidence_refs {
        let _ = writeln!(out, "           {reference}");
    }
    let _ = writeln!(
        out,
        "evidence   {}",
        match e.evidence {
            EvidenceStatus::Matches => "the evidence log's entry holds this decision",
            EvidenceStatus::Differs => "the evidence log's entry DIFFERS (see problems)",
            EvidenceStatus::Absent => "no evidence log entry",
        }
    );
    match &e.replay {
        Replay::Identical {
            subjects,
            considered,
        } => {
            let _ = writeln!(
                out,
                "replay     decided again from the recorded request: identical"
            );
            for (i, s) in subjects.iter().enumerate() {
                let _ = writeln!(out, "  [{i}] {s}");
            }
            let _ = writeln!(out, "considered");
            for c in considered {
                let _ = writeln!(out, "  [{}] {:<44} {}", c.subject, c.rule_id, c.outcome);
            }
        }
        Replay::Differs {
            differences,
            subjects,
        } => {
            let _ = writeln!(
                out,
                "replay     decided again from the recorded request: DIFFERS"
            );
            for d in differences {
                let _ = writeln!(out, "           {d}");
            }
            for (i, s) in subjects.iter().enumerate() {
                let _ = writeln!(out, "  [{i}] {s}");
            }
        }
        Replay::NotPossible { why } => {
            let _ = writeln!(out, "replay     not possible: {why}");
        }
    }
    if e.exact {
        let _ = writeln!(out, "exact      yes");
    } else {
        let _ = writeln!(out, "exact      no");
        for p in &e.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

/// The decision word, coloured on a terminal (`colour`).
pub fn paint_decision(decision: cavra_engine::Decision, colour: bool) -> String {
    use cavra_engine::Decision::*;
    let word = decision.as_str();
    if !colour {
        return word.to_string();
    }
    let code = match decision {
        Block => "1;31",
        RequireApproval => "1;33",
        Warn => "33",
        AllowWithAttestation => "36",
        AuditOnly => "35",
        Allow => "32",
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

/// One decision on one line: the word (coloured on a terminal), the rule, the reason.
pub fn decision_line(
    decision: cavra_engine::Decision,
    rule_id: &str,
    reason: &str,
    colour: bool,
) -> String {
    format!("{}  {rule_id}  {reason}", paint_decision(decision, colour))
}

/// `cavra evaluate`: the decision's line, with the approver group when it needs approval.
pub fn evaluated(record: &DecisionRecord, colour: bool) -> String {
    let mut line = decision_line(record.decision, &record.rule_id, &record.reason, colour);
    if let Some(group) = record
        .approver_group
        .as_deref()
        .filter(|_| record.decision == cavra_engine::Decision::RequireApproval)
    {
        let _ = write!(line, " (approver group: {group})");
    }
    line
}

/// `cavra evaluate --server`: the service's answer (`POST /v1/decisions`) on one line, with
/// the approval it asked for or used.
pub fn service_decision(decision: cavra_engine::Decision, answer: &Value, colour: bool) -> String {
    let record = &answer["record"];
    let mut line = decision_line(
        decision,
        record["rule_id"].as_str().unwrap_or_default(),
        record["reason"].as_str().unwrap_or_default(),
        colour,
    );
    if let Some(id) = answer["approval"]["id"].as_str() {
        let _ = write!(
            line,
            " (approval {id}, {} for {})",
            answer["approval"]["state"].as_str().unwrap_or_default(),
            answer["approval"]["approver_group"]
                .as_str()
                .unwrap_or_default()
        );
    }
    line
}

/// `cavra registry mcp list`: a line a registered MCP server.
pub fn registry(registry: &cavra_engine::McpRegistry) -> String {
    if registry.is_empty() {
        return "no MCP servers registered (cavra registry mcp add NAME --trust …)\n".into();
    }
    let mut out = String::new();
    for e in registry.servers.values() {
        let tools = if e.allowed_tools.is_empty() {
            "(none)".to_string()
        } else {
            e.allowed_tools.join(",")
        };
        let caps = if e.capabilities.is_empty() {
            "any".to_string()
        } else {
            let words: Vec<_> = e.capabilities.iter().map(|c| c.as_str()).collect();
            words.join(",")
        };
        let _ = writeln!(
            out,
            "{}  trust={}  approval={}  owner={}  tools={tools}  capabilities={caps}",
            e.name,
            e.trust_tier,
            e.approval_state,
            e.owner.as_deref().unwrap_or("-"),
        );
    }
    out
}

/// The service's connectors (`GET /v1/connectors`): a line each.
pub fn connectors(list: &Value) -> String {
    let mut out = String::new();
    for c in list.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\tdead letters {}",
            c["name"].as_str().unwrap_or_default(),
            c["kind"].as_str().unwrap_or_default(),
            c["destination"].as_str().unwrap_or_default(),
            c["dead_letters"],
        );
    }
    out
}

/// `cavra session list`: a table of the sessions.
pub fn sessions(sessions: &[cavra_store::Session]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<38} {:<12} {:>9} {:>7} {:>9} {:<24}",
        "SESSION", "AGENT", "DECISIONS", "BLOCKED", "APPROVALS", "LAST SEEN"
    );
    for s in sessions {
        let _ = writeln!(
            out,
            "{:<38} {:<12} {:>9} {:>7} {:>9} {:<24}",
            s.id,
            s.agent.as_deref().unwrap_or_default(),
            s.decisions,
            s.blocked,
            s.approvals,
            s.last_seen
        );
    }
    out
}

/// `cavra session show`: the session's counts, then its decisions, oldest first.
pub fn session(
    s: &cavra_store::Session,
    decisions: &[cavra_store::StoredDecision],
    colour: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "session {}  agent {}  cwd {}",
        s.id,
        s.agent.as_deref().unwrap_or("-"),
        s.cwd.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "first seen {}  last seen {}",
        s.first_seen, s.last_seen
    );
    let _ = writeln!(
        out,
        "{} decisions: {} blocked, {} routed for approval, {} warned; {} outcomes recorded",
        s.decisions, s.blocked, s.approvals, s.warned, s.outcomes
    );
    out + &self::decisions(decisions.iter().rev(), colour)
}

/// `cavra decision list`: a line a decision (time, decision, action, rule, target).
pub fn decisions<'a>(
    decisions: impl Iterator<Item = &'a cavra_store::StoredDecision>,
    colour: bool,
) -> String {
    let mut out = String::new();
    for d in decisions {
        let word = paint_decision(d.decision, colour);
        let target = d
            .record
            .get("target")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let _ = writeln!(
            out,
            "{}  {:<17} {:<16} {:<36} {}",
            d.timestamp, word, d.action_type, d.rule_id, target
        );
    }
    out
}

/// `cavra approval list`: a table of the approvals.
pub fn approvals(approvals: &[cavra_store::Approval]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<38} {:<11} {:<20} {:<26} {:<24} SUMMARY",
        "ID", "STATE", "APPROVER GROUP", "REQUESTED BY", "EXPIRES"
    );
    for a in approvals {
        // Display impls need not honour widths: pad the text, not the value.
        let _ = writeln!(
            out,
            "{:<38} {:<11} {:<20} {:<26} {:<24} {}",
            a.id.to_string(),
            a.state.to_string(),
            a.approver_group.to_string(),
            a.requested_by.to_string(),
            a.expires_at.to_string(),
            a.summary
        );
    }
    out
}

/// `cavra approval approve|deny`: what the decision did.
pub fn decided_approval(a: &cavra_store::Approval, approved: bool, who: &str) -> String {
    if approved {
        format!(
            "approved {} by {who}: the same action is allowed once, until {}\n",
            a.id, a.expires_at
        )
    } else {
        format!("denied {} by {who}: the action stays blocked\n", a.id)
    }
}

/// `cavra approval expire`: how many expired, and their ids.
pub fn expired(ids: &[String]) -> String {
    let mut out = format!("{} approval(s) expired\n", ids.len());
    for id in ids {
        let _ = writeln!(out, "  {id}");
    }
    out
}

/// The service's deliveries (`GET /v1/connectors/deliveries`, dead letters): a line each.
pub fn deliveries(list: &Value) -> String {
    let mut out = String::new();
    for d in list.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\tattempts {}\t{}",
            d["event_id"].as_str().unwrap_or_default(),
            d["event_type"].as_str().unwrap_or_default(),
            d["destination"].as_str().unwrap_or_default(),
            d["state"].as_str().unwrap_or_default(),
            d["attempts"],
            d["last_status"].as_str().unwrap_or("-"),
        );
    }
    out
}

/// One event's deliveries and every attempt (`GET /v1/connectors/deliveries/ID`).
pub fn delivery_detail(detail: &Value) -> String {
    let mut out = deliveries(&detail["deliveries"]);
    for a in detail["attempts"].as_array().into_iter().flatten() {
        let at = &a["attempt"];
        let _ = writeln!(
            out,
            "  #{} {} → {}: {} ({}), {} ms [evidence entry {}]",
            at["attempt"],
            a["time"].as_str().unwrap_or_default(),
            at["destination"].as_str().unwrap_or_default(),
            at["outcome"].as_str().unwrap_or_default(),
            at["status"].as_str().unwrap_or_default(),
            at["latency_ms"],
            a["index"],
        );
    }
    out
}

/// The service's approvals (`GET /v1/approvals`): a line each.
pub fn service_approvals(list: &Value) -> String {
    let mut out = String::new();
    for a in list.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            a["id"].as_str().unwrap_or_default(),
            a["state"].as_str().unwrap_or_default(),
            a["approver_group"].as_str().unwrap_or_default(),
            a["expires_at"].as_str().unwrap_or_default(),
            a["summary"].as_str().unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::{ActionType, Env, NoSymlinks, Request};

    fn pack(mode: &str) -> cavra_engine::CompiledPack {
        let text = format!(
            "metadata: {{id: t, version: '1', mode: {mode}}}\nrules:\n  - id: no-force\n    action: execute_command\n    commands: ['git push --force*']\n    decision: block\n    reason: no force pushes\n"
        );
        let resolved =
            cavra_policy::load_pack_str(&text, "t.yaml", std::path::Path::new("/")).expect("pack");
        cavra_policy::compile(&resolved).expect("compile")
    }

    fn explained(mode: &str, command: &str) -> Explanation {
        let env = Env {
            timestamp: "2026-01-01T00:00:00.000Z",
            decision_id: "d1",
            resolver: &NoSymlinks,
        };
        cavra_engine::explain(
            &pack(mode),
            &Request::new(ActionType::ExecuteCommand, command),
            &env,
        )
    }

    #[test]
    fn an_explanation_lists_commands_subjects_rules_matches_and_the_decision_in_order() {
        let text = explanation(&explained("enforce", "cd x && git push --force"), "t.yaml");
        let heads: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(
            heads,
            [
                "request", "policy", "commands", "classes", "subjects", "rules", "matched",
                "decision"
            ],
            "{text}"
        );
        assert!(text.starts_with("request    execute_command cd x && git push --force\n"));
        assert!(text.contains("policy     t 1 (t.yaml)\n"), "{text}");
        assert!(text.contains("  block              no-force `git push --force*`  <- "));
        assert!(
            text.ends_with(
                "decision   block  no-force  command `git push --force`: no force pushes\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_service_answers_read_as_a_line_each() {
        let list = serde_json::json!([{"event_id": "e1", "event_type": "decision", "destination": "siem",
            "state": "delivered", "attempts": 2, "last_status": "200"}]);
        assert_eq!(
            deliveries(&list),
            "e1\tdecision\tsiem\tdelivered\tattempts 2\t200\n"
        );
        let detail = serde_json::json!({"deliveries": list, "attempts": [{"time": "t",
            "index": 7, "attempt": {"attempt": 1, "destination": "siem", "outcome": "ok",
            "status": "200", "latency_ms": 12}}]});
        assert!(
            delivery_detail(&detail)
                .ends_with("  #1 t → siem: ok (200), 12 ms [evidence entry 7]\n")
        );
        let approvals = serde_json::json!([{"id": "apr_1", "state": "pending",
            "approver_group": "sre", "expires_at": "x", "summary": "deploy"}]);
        assert_eq!(
            service_approvals(&approvals),
            "apr_1\tpending\tsre\tx\tdeploy\n"
        );
        assert_eq!(deliveries(&Value::Null), "");
    }

    #[test]
    fn decision_words_are_painted_only_for_a_terminal() {
        use cavra_engine::Decision;
        assert_eq!(paint_decision(Decision::Block, false), "block");
        assert_eq!(
            paint_decision(Decision::Block, true),
            "\x1b[1;31mblock\x1b[0m"
        );
        assert_eq!(
            paint_decision(Decision::Allow, true),
            "\x1b[32mallow\x1b[0m"
        );
    }

    #[test]
    fn a_session_shows_its_counts_then_its_decisions_oldest_first() {
        let s = cavra_store::Session {
            id: "s1".into(),
            agent: Some("codex".into()),
            first_seen: "2026-01-01T00:00:00.000Z".parse().expect("time"),
            last_seen: "2026-01-01T00:01:00.000Z".parse().expect("time"),
            cwd: None,
            decisions: 2,
            blocked: 1,
            approvals: 0,
            warned: 0,
            outcomes: 0,
        };
        let table = sessions(std::slice::from_ref(&s));
        assert!(table.starts_with("SESSION "), "{table}");
        assert!(
            table.lines().nth(1).is_some_and(|l| l.starts_with("s1 ")),
            "{table}"
        );
        let shown = session(&s, &[], false);
        assert_eq!(
            shown,
            "session s1  agent codex  cwd -\nfirst seen 2026-01-01T00:00:00.000Z  last seen 2026-01-01T00:01:00.000Z\n2 decisions: 1 blocked, 0 routed for approval, 0 warned; 0 outcomes recorded\n"
        );
    }

    #[test]
    fn a_mode_that_changed_the_standing_is_noted_beside_the_decision() {
        let text = explanation(&explained("audit_only", "git push --force"), "t.yaml");
        let last = text.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("decision   audit_only (mode audit_only, base block)  no-force"),
            "{last}"
        );
    }

    #[test]
    fn the_registry_and_approval_lines_say_what_people_need() {
        use cavra_engine::{McpRegistry, McpServerEntry, ServerApproval, TrustTier};
        let empty = registry(&McpRegistry::default());
        assert!(empty.starts_with("no MCP servers registered"), "{empty}");
        let mut e = McpServerEntry::new("github", TrustTier::Trusted, ServerApproval::Approved);
        e.allowed_tools = vec!["list_*".into()];
        let listed = registry(&McpRegistry::from_entries(vec![e]));
        assert_eq!(
            listed,
            "github  trust=trusted  approval=approved  owner=-  tools=list_*  capabilities=any\n"
        );
        assert_eq!(expired(&[]), "0 approval(s) expired\n");
        assert_eq!(
            expired(&["apr_1".into(), "apr_2".into()]),
            "2 approval(s) expired\n  apr_1\n  apr_2\n"
        );
        let record = explained("enforce", "git push --force origin main").record;
        assert_eq!(
            evaluated(&record, false),
            "block  no-force  command `git push --force origin main`: no force pushes"
        );
        let answer = serde_json::json!({
            "record": {"rule_id": "r", "reason": "why"},
            "approval": {"id": "apr_1", "state": "pending", "approver_group": "sre"},
        });
        assert_eq!(
            service_decision(cavra_engine::Decision::RequireApproval, &answer, false),
            "require_approval  r  why (approval apr_1, pending for sre)"
        );
    }
}
