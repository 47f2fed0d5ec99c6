//! A decision → the exact answer each agent understands for each event (stdout JSON, stderr,
//! exit code).

use crate::Agent;
use crate::events::{EventKind, HookEvent};
use cavra_engine::{Decision, DecisionRecord};
use serde_json::{Map, Value, json};

/// What the agent is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The tool call must not run.
    Deny(String),
    /// A person must confirm it (agents without an `ask` answer get `Deny`).
    Ask(String),
    /// It may run, by an explicit rule.
    Allow(String),
    /// No decision: the agent's own permission flow applies.
    NoDecision,
    /// No decision, with a message for the user.
    Warn(String),
}

/// The verdict for a decision record (PreToolUse).
pub fn verdict_for(record: &DecisionRecord) -> Verdict {
    // Engine reasons usually name the rule already; say it once.
    let reason = if record.reason.contains(&record.rule_id) {
        format!("cavra {}: {}", record.decision, record.reason)
    } else {
        format!(
            "cavra {}: {} (rule {})",
            record.decision, record.reason, record.rule_id
        )
    };
    match record.decision {
        Decision::Block => Verdict::Deny(reason),
        Decision::RequireApproval => {
            let group = record
                .approver_group
                .clone()
                .unwrap_or_else(|| cavra_engine::evaluate::DEFAULT_APPROVER_GROUP.to_string());
            Verdict::Ask(format!("{reason}; approval needed from {group}"))
        }
        Decision::AllowWithAttestation => Verdict::Allow(reason),
        Decision::Allow if record.explicit => Verdict::Allow(reason),
        Decision::Allow | Decision::AuditOnly => Verdict::NoDecision,
        Decision::Warn => Verdict::Warn(reason),
    }
}

/// The answer written back: stdout, stderr, exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Exit code.
    pub exit_code: i32,
    /// Standard output (JSON, or empty).
    pub stdout: String,
    /// Standard error (the reason, for exit code 2).
    pub stderr: String,
}

impl Answer {
    fn json(value: Value, exit_code: i32, stderr: String) -> Answer {
        Answer {
            exit_code,
            stdout: value.to_string(),
            stderr,
        }
    }

    /// Exit 0, nothing printed.
    pub fn empty() -> Answer {
        Answer {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// The exit code that blocks a tool call in every agent that honours exit codes.
pub const EXIT_BLOCK: i32 = 2;

/// Whether the agent's answer to this event can ask a person to confirm.
pub fn supports_ask(agent: Agent, event_name: &str) -> bool {
    match agent {
        Agent::ClaudeCode => true,
        // Gemini CLI turns `decision: "ask"` into its own confirmation prompt; Copilot CLI
        // takes `permissionDecision: "ask"`.
        Agent::Gemini | Agent::Copilot => true,
        Agent::Cursor => event_name != "beforeReadFile" && event_name != "beforeTabFileRead",
        // Codex's PreToolUse takes only deny (allow and ask mark the hook failed).
        Agent::Codex => false,
    }
}

/// Renders a verdict in the agent's format for the event.
///
/// A deny is said both ways wherever the agent supports both: the JSON deny on stdout *and*
/// exit code 2 with the reason on stderr. Exit code 2 has blocked PreToolUse since hooks first
/// shipped in Claude Code (and in Codex, Gemini CLI and Cursor), so it blocks in every version;
/// the JSON is there for readers of the transcript and tools that parse it. Copilot documents
/// only the JSON deny, so it gets exit 0 with it (a non-zero exit there is a hook failure).
/// Agents without an `ask` answer (Codex, Cursor's file reads) get a deny for
/// require_approval: failing closed, with the approver group in the reason.
///
/// Events that decide nothing get their neutral answer: nothing, or the JSON the agent
/// expects (Gemini `{}`, Cursor `{"continue": true}` before a prompt).
pub fn render(agent: Agent, event: &HookEvent, verdict: &Verdict) -> Answer {
    match event.kind {
        EventKind::PreToolUse => render_pre(agent, &event.event_name, verdict),
        EventKind::PermissionRequest => render_permission_request(agent, verdict),
        EventKind::PostToolUse | EventKind::PostToolUseFailure => Answer::empty(),
        EventKind::Lifecycle => render_neutral(agent, &event.event_name),
    }
}

/// The neutral answer to an event cavra does not decide.
pub fn render_neutral(agent: Agent, event_name: &str) -> Answer {
    match agent {
        Agent::Gemini => Answer::json(json!({}), 0, String::new()),
        Agent::Cursor if event_name == "beforeSubmitPrompt" => {
            Answer::json(json!({ "continue": true }), 0, String::new())
        }
        Agent::Cursor => Answer::json(json!({}), 0, String::new()),
        _ => Answer::empty(),
    }
}

/// The deny answer for a failure (bad input, no policy, internal error), in the agent's format.
pub fn render_failure(agent: Agent, message: &str) -> Answer {
    let event = match agent {
        Agent::Cursor => "preToolUse",
        Agent::Gemini => "BeforeTool",
        _ => "PreToolUse",
    };
    render_pre(
        agent,
        event,
        &Verdict::Deny(format!("cavra blocked this tool call: {message}")),
    )
}

/// Claude Code's answer that lets a call run with a rewritten input (`updatedInput`), such as
/// a search with the protected files excluded.
pub fn render_rewritten(reason: &str, updated_input: &Value) -> Answer {
    Answer::json(
        json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": reason, "updatedInput": updated_input}}),
        0,
        String::new(),
    )
}

/// `PermissionRequest` (Claude Code, Codex): allow or deny the permission the agent is about
/// to ask for; anything else leaves the agent's own dialog to the person.
fn render_permission_request(agent: Agent, verdict: &Verdict) -> Answer {
    let out = |decision: Value| json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}});
    match verdict {
        Verdict::Deny(r) => Answer::json(
            out(json!({"behavior": "deny", "message": r})),
            EXIT_BLOCK,
            r.clone(),
        ),
        Verdict::Allow(_) => Answer::json(out(json!({"behavior": "allow"})), 0, String::new()),
        Verdict::Ask(_) | Verdict::NoDecision => Answer::empty(),
        Verdict::Warn(m) if agent != Agent::Copilot => {
            Answer::json(json!({ "systemMessage": m }), 0, String::new())
        }
        Verdict::Warn(_) => Answer::empty(),
    }
}

fn render_pre(agent: Agent, event_name: &str, verdict: &Verdict) -> Answer {
    let verdict = match verdict {
        Verdict::Ask(r) if !supports_ask(agent, event_name) => Verdict::Deny(format!(
            "{r} ({agent} cannot ask a person from this hook; run the hook with --approval-mode store to route it through `cavra approval`)"
        )),
        v => v.clone(),
    };
    match agent {
        Agent::ClaudeCode | Agent::Codex => {
            let out = |decision: &str, reason: &str| json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision, "permissionDecisionReason": reason}});
            match &verdict {
                Verdict::Deny(r) => Answer::json(out("deny", r), EXIT_BLOCK, r.clone()),
                Verdict::Ask(r) => Answer::json(out("ask", r), 0, String::new()),
                // Codex rejects `allow` without `updatedInput` and reports the hook as failed,
                // so an allow there is no decision: the call proceeds either way.
                Verdict::Allow(_) if agent == Agent::Codex => Answer::empty(),
                Verdict::Allow(r) => Answer::json(out("allow", r), 0, String::new()),
                Verdict::NoDecision => Answer::empty(),
                Verdict::Warn(m) => Answer::json(json!({ "systemMessage": m }), 0, String::new()),
            }
        }
        Agent::Cursor => {
            let out = |permission: &str, message: Option<&str>| {
                let mut m = Map::new();
                m.insert("permission".into(), json!(permission));
                if let Some(msg) = message {
                    m.insert("user_message".into(), json!(msg));
                    m.insert("agent_message".into(), json!(msg));
                }
                Value::Object(m)
            };
            // A Cursor permission hook that prints nothing is treated as a failure when
            // failClosed is set, so "no decision" is said as allow.
            match &verdict {
                Verdict::Deny(r) => Answer::json(out("deny", Some(r)), EXIT_BLOCK, r.clone()),
                Verdict::Ask(r) => Answer::json(out("ask", Some(r)), 0, String::new()),
                Verdict::Allow(_) | Verdict::NoDecision => {
                    Answer::json(out("allow", None), 0, String::new())
                }
                Verdict::Warn(m) => Answer::json(out("allow", Some(m)), 0, String::new()),
            }
        }
        Agent::Gemini => match &verdict {
            Verdict::Deny(r) => Answer::json(
                json!({"decision": "deny", "reason": r}),
                EXIT_BLOCK,
                r.clone(),
            ),
            // The system message is what Gemini shows beside its confirmation prompt.
            Verdict::Ask(r) => Answer::json(
                json!({"decision": "ask", "reason": r, "systemMessage": r}),
                0,
                String::new(),
            ),
            Verdict::Allow(r) => {
                Answer::json(json!({"decision": "allow", "reason": r}), 0, String::new())
            }
            Verdict::NoDecision => Answer::json(json!({}), 0, String::new()),
            Verdict::Warn(m) => Answer::json(json!({ "systemMessage": m }), 0, String::new()),
        },
        Agent::Copilot => {
            let out = |decision: &str, reason: &str| json!({"permissionDecision": decision, "permissionDecisionReason": reason});
            match &verdict {
                Verdict::Deny(r) => Answer::json(out("deny", r), 0, r.clone()),
                Verdict::Ask(r) => Answer::json(out("ask", r), 0, String::new()),
                Verdict::Allow(r) => Answer::json(out("allow", r), 0, String::new()),
                Verdict::NoDecision | Verdict::Warn(_) => Answer::empty(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_event;

    fn event(agent: Agent, payload: Value) -> HookEvent {
        parse_event(agent, &payload).expect("valid payload")
    }

    fn pre_tool(agent: Agent) -> HookEvent {
        event(
            agent,
            match agent {
                Agent::ClaudeCode | Agent::Codex => {
                    json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}})
                }
                Agent::Gemini => {
                    json!({"hook_event_name": "BeforeTool", "tool_name": "run_shell_command", "tool_input": {"command": "ls"}})
                }
                Agent::Cursor => {
                    json!({"hook_event_name": "preToolUse", "tool_name": "Shell", "tool_input": {"command": "ls"}})
                }
                Agent::Copilot => json!({"toolName": "bash", "toolArgs": "{\"command\":\"ls\"}"}),
            },
        )
    }

    #[test]
    fn ask_where_the_agent_can_ask_and_deny_where_it_cannot() {
        let ask = Verdict::Ask("needs ok".into());
        let gemini = render(Agent::Gemini, &pre_tool(Agent::Gemini), &ask);
        assert_eq!(gemini.exit_code, 0);
        assert_eq!(
            serde_json::from_str::<Value>(&gemini.stdout).expect("json"),
            json!({"decision": "ask", "reason": "needs ok", "systemMessage": "needs ok"})
        );
        let copilot = render(Agent::Copilot, &pre_tool(Agent::Copilot), &ask);
        assert_eq!(
            (copilot.exit_code, copilot.stdout.as_str()),
            (
                0,
                r#"{"permissionDecision":"ask","permissionDecisionReason":"needs ok"}"#
            )
        );
        let codex = render(Agent::Codex, &pre_tool(Agent::Codex), &ask);
        assert_eq!(codex.exit_code, EXIT_BLOCK);
        assert!(codex.stdout.contains("\"deny\""), "{codex:?}");
    }

    /// Codex marks a hook that answers `allow` without `updatedInput` as failed, so an allow
    /// there is said as no decision.
    #[test]
    fn codex_allow_is_no_decision() {
        let a = render(
            Agent::Codex,
            &pre_tool(Agent::Codex),
            &Verdict::Allow("rule".into()),
        );
        assert_eq!(a, Answer::empty());
        let a = render(
            Agent::ClaudeCode,
            &pre_tool(Agent::ClaudeCode),
            &Verdict::Allow("rule".into()),
        );
        assert!(a.stdout.contains("\"allow\""));
    }

    #[test]
    fn permission_request_is_answered_in_its_own_shape() {
        for agent in [Agent::ClaudeCode, Agent::Codex] {
            let e = event(
                agent,
                json!({"hook_event_name": "PermissionRequest", "tool_name": "Bash", "tool_input": {"command": "rm -rf /"}}),
            );
            assert_eq!(e.kind, EventKind::PermissionRequest);
            let deny = render(agent, &e, &Verdict::Deny("no".into()));
            assert_eq!(deny.exit_code, EXIT_BLOCK);
            assert_eq!(
                serde_json::from_str::<Value>(&deny.stdout).expect("json"),
                json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": "no"}}})
            );
            let allow = render(agent, &e, &Verdict::Allow("yes".into()));
            assert_eq!(
                serde_json::from_str::<Value>(&allow.stdout).expect("json"),
                json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}})
            );
            // Ask: the agent's own dialog asks the person.
            assert_eq!(
                render(agent, &e, &Verdict::Ask("ok?".into())),
                Answer::empty()
            );
        }
    }

    #[test]
    fn lifecycle_events_get_their_neutral_answer_and_failures_are_outcomes() {
        let cases = [
            (
                Agent::ClaudeCode,
                json!({"hook_event_name": "UserPromptSubmit", "prompt": "hi"}),
                "",
            ),
            (
                Agent::ClaudeCode,
                json!({"hook_event_name": "Stop", "stop_hook_active": false}),
                "",
            ),
            (
                Agent::Codex,
                json!({"hook_event_name": "SessionStart", "source": "startup"}),
                "",
            ),
            (
                Agent::Gemini,
                json!({"hook_event_name": "BeforeAgent", "prompt": "hi"}),
                "{}",
            ),
            (
                Agent::Cursor,
                json!({"hook_event_name": "beforeSubmitPrompt", "prompt": "hi"}),
                r#"{"continue":true}"#,
            ),
            (
                Agent::Cursor,
                json!({"hook_event_name": "stop", "status": "completed"}),
                "{}",
            ),
            (Agent::Copilot, json!({"prompt": "hi", "cwd": "/r"}), ""),
        ];
        for (agent, payload, stdout) in cases {
            let e = event(agent, payload);
            assert_eq!(e.kind, EventKind::Lifecycle, "{agent}");
            let a = render(agent, &e, &Verdict::NoDecision);
            assert_eq!((a.exit_code, a.stdout.as_str()), (0, stdout), "{agent}");
        }
        let failed = event(
            Agent::ClaudeCode,
            json!({"hook_event_name": "PostToolUseFailure", "tool_name": "Bash", "tool_input": {"command": "false"}, "tool_use_id": "t", "error": "exit 1"}),
        );
        assert_eq!(failed.kind, EventKind::PostToolUseFailure);
        assert!(failed.kind.records_outcome());
        let failed = event(
            Agent::Gemini,
            json!({"hook_event_name": "AfterTool", "tool_name": "run_shell_command", "tool_input": {}, "tool_response": {"error": "boom"}}),
        );
        assert_eq!(failed.kind, EventKind::PostToolUseFailure);
        let failed = event(
            Agent::Cursor,
            json!({"hook_event_name": "postToolUseFailure", "tool_name": "Shell", "tool_input": {"command": "false"}, "error_message": "exit 1"}),
        );
        assert_eq!(failed.kind, EventKind::PostToolUseFailure);
    }
}
