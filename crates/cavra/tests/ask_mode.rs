//! Approvals in ask mode (issue 13, point 6), through the real hook binary: an `ask` is a
//! pending approval routed to the person at the agent's prompt; the agent's tool result closes
//! it as approved by them, and no result before expiry closes it as declined or abandoned.
//! Every step is in the evidence log.

mod support;

use serde_json::{Value, json};
use support::{cavra, claude_decision, evidence, hook, json, project, run};

const POLICY: &str = include_str!("../../../tests/data/conformance/hooks/policy.yaml");

/// A Claude Code event for `make deploy` (which the conformance policy asks about).
fn event(dir: &std::path::Path, name: &str, tool_use_id: &str) -> Value {
    let mut e = json!({
        "session_id": "sess-ask",
        "transcript_path": "/home/dev/.claude/projects/x/t.jsonl",
        "cwd": dir.to_string_lossy(),
        "permission_mode": "default",
        "hook_event_name": name,
        "tool_name": "Bash",
        "tool_input": {"command": "make deploy"},
        "tool_use_id": tool_use_id,
    });
    if name == "PostToolUse" {
        e["tool_response"] = json!({"stdout": "deployed", "stderr": "", "interrupted": false});
    }
    e
}

/// The approval log entries for `id`, as (state, actor).
fn logged(dir: &std::path::Path, id: &str) -> Vec<(String, String)> {
    evidence(dir)
        .iter()
        .filter_map(|e| {
            let p = e.get("body").unwrap_or(e);
            (p["approval_id"] == json!(id)).then(|| {
                (
                    p["state"].as_str().unwrap_or_default().to_string(),
                    p["actor"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn an_ask_is_pending_until_the_tool_result_closes_it_as_approved_by_the_user() {
    let dir = project(POLICY);
    let user = [("USER", "alice")];
    let ask = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PreToolUse", "toolu_1"),
        &[],
        &user,
    );
    assert_eq!(claude_decision(&ask), "ask", "{ask:?}");

    // The question is a pending approval, routed to the agent's prompt, with its expiry.
    let pending = json(dir.path(), &["approval", "list", "--state", "pending"]);
    let pending = pending.as_array().expect("a list");
    assert_eq!(pending.len(), 1, "{pending:?}");
    let a = &pending[0];
    let id = a["id"].as_str().expect("id").to_string();
    assert_eq!(a["route"], "agent_prompt");
    assert_eq!(a["tool_use_id"], "toolu_1");
    assert_eq!(a["requested_by"], "claude-code:sess-ask");
    assert_eq!(a["session_id"], "sess-ask");
    assert!(
        a["expires_at"]
            .as_str()
            .is_some_and(|t| t > a["requested_at"].as_str().unwrap_or(""))
    );
    // The decision record points at it.
    let decisions = json(dir.path(), &["decision", "list"]);
    assert!(
        decisions.to_string().contains(&format!("approval:{id}")),
        "{decisions}"
    );

    // The same call asked about again (its PermissionRequest, answered with no decision so
    // that the agent's own dialog asks) keeps the one approval.
    let again = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PermissionRequest", "toolu_1"),
        &[],
        &user,
    );
    assert_eq!(claude_decision(&again), "none", "{again:?}");
    assert_eq!(
        json(dir.path(), &["approval", "list"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // An approver cannot answer it for the person at the prompt.
    let refused = run(
        cavra(dir.path()).args([
            "approval", "approve", &id, "--reason", "ok", "--actor", "bob",
        ]),
        b"",
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("permission prompt"),
        "{}",
        refused.stderr
    );

    // The tool ran: the person approved it in the prompt.
    let post = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PostToolUse", "toolu_1"),
        &[],
        &user,
    );
    assert_eq!(post.code, 0, "{post:?}");
    assert_eq!(
        json(dir.path(), &["approval", "list", "--state", "pending"]),
        json!([])
    );
    let closed = json(dir.path(), &["approval", "list", "--state", "consumed"]);
    let closed = &closed[0];
    assert_eq!(closed["id"], json!(id));
    assert_eq!(closed["decided_by"], "alice");
    let history: Vec<(&str, &str)> = closed["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["state"].as_str().unwrap_or(""),
                h["actor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("pending", "claude-code:sess-ask"),
            ("approved", "alice"),
            ("consumed", "claude-code:sess-ask")
        ]
    );
    // Each step is in the evidence log.
    let states: Vec<String> = logged(dir.path(), &id)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(states, ["pending", "approved", "consumed"]);

    // It unlocks nothing: the same command later is asked about again, under a new approval.
    let later = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PreToolUse", "toolu_2"),
        &[],
        &user,
    );
    assert_eq!(claude_decision(&later), "ask", "{later:?}");
    let pending = json(dir.path(), &["approval", "list", "--state", "pending"]);
    assert_eq!(pending.as_array().map(Vec::len), Some(1));
    assert_ne!(pending[0]["id"], json!(id));
}

#[test]
fn an_ask_that_is_never_answered_closes_as_declined_or_abandoned_at_expiry() {
    let dir = project(POLICY);
    // Expires at once: the person never answered (or declined, and no tool result came).
    let ask = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PreToolUse", "toolu_9"),
        &["--approval-ttl", "0"],
        &[],
    );
    assert_eq!(claude_decision(&ask), "ask", "{ask:?}");
    let all = json(dir.path(), &["approval", "list"]);
    let id = all[0]["id"].as_str().expect("id").to_string();

    // The next tool result in the repository (of another call) closes overdue questions.
    let mut other = event(dir.path(), "PostToolUse", "toolu_other");
    other["tool_input"] = json!({"command": "ls"});
    let post = hook(dir.path(), "claude-code", &other, &[], &[]);
    assert_eq!(post.code, 0, "{post:?}");

    let expired = json(dir.path(), &["approval", "list", "--state", "expired"]);
    assert_eq!(expired[0]["id"], json!(id), "{expired}");
    let last = expired[0]["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned();
    let reason = last
        .as_ref()
        .and_then(|h| h["reason"].as_str())
        .unwrap_or("");
    assert!(reason.contains("declined or abandoned"), "{last:?}");
    // A late result for it changes nothing: it stays expired.
    let late = hook(
        dir.path(),
        "claude-code",
        &event(dir.path(), "PostToolUse", "toolu_9"),
        &[],
        &[],
    );
    assert_eq!(late.code, 0, "{late:?}");
    assert_eq!(
        json(dir.path(), &["approval", "list", "--state", "expired"])[0]["id"],
        json!(id)
    );
    let states: Vec<String> = logged(dir.path(), &id)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(states, ["pending", "expired"]);
}

#[test]
fn an_agent_that_cannot_ask_records_no_question() {
    // Codex's PreToolUse takes only deny: a decision that needs approval is a deny there, and
    // no question is put to anyone.
    let dir = project(POLICY);
    let payload = json!({
        "session_id": "s",
        "cwd": dir.path().to_string_lossy(),
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "make deploy"},
        "tool_use_id": "c1",
    });
    let out = hook(dir.path(), "codex", &payload, &[], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(json(dir.path(), &["approval", "list"]), json!([]));
}
