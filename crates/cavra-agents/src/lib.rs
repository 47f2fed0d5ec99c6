//! Adapters between agents' hook payloads and cavra: pure functions, no I/O.
//!
//! - [`parse_event`]: an agent's hook JSON (Claude Code, Codex CLI, Cursor, Gemini CLI,
//!   GitHub Copilot), for every hook event it offers → a [`HookEvent`] in one shape;
//! - [`map_tool`]: a tool call → the [`Request`](cavra_engine::Request)s cavra decides, by each
//!   agent's tool table ([`tools`]: every built-in tool and what it does, as data) and each
//!   agent's MCP naming; [`Mapping::Harmless`] for tools that touch nothing (`TodoWrite`),
//!   [`Mapping::Unknown`] for tools cavra cannot judge (decided by the pack's
//!   `agents.unknown_tool`, never allowed silently), [`Mapping::Invalid`] for a known tool
//!   without the input it needs (blocked);
//! - [`verdict_for`] and [`render`]: a decision → the exact answer the agent understands for
//!   that event (stdout JSON, stderr, exit code).
//!
//! Finding the repository root is I/O and is done by the caller (the CLI), which passes it in.

mod answer;
mod events;
mod mapping;
mod protected;
pub mod settings;
pub mod tools;

pub use answer::{
    Answer, EXIT_BLOCK, Verdict, render, render_failure, render_neutral, render_rewritten,
    supports_ask, verdict_for,
};
pub use events::{EventKind, HookEvent, parse_event};
pub use mapping::{
    Context, Mapping, map_tool, mcp_name, needs_known_servers, patch_files, split_mcp_name,
};
pub use protected::{
    FolderSearch, exclude_from_search, filter_reaches, folder_search, pattern_inside, witness,
};

use std::fmt;
use std::str::FromStr;

/// An agent whose hooks cavra answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agent {
    /// Anthropic's Claude Code.
    ClaudeCode,
    /// OpenAI's Codex CLI (Claude-compatible hook JSON).
    Codex,
    /// Cursor.
    Cursor,
    /// Google's Gemini CLI.
    Gemini,
    /// GitHub Copilot (CLI and coding agent).
    Copilot,
}

impl Agent {
    /// Every agent.
    pub const ALL: [Agent; 5] = [
        Agent::ClaudeCode,
        Agent::Codex,
        Agent::Cursor,
        Agent::Gemini,
        Agent::Copilot,
    ];

    /// The name used on the command line and in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
            Agent::Cursor => "cursor",
            Agent::Gemini => "gemini",
            Agent::Copilot => "copilot",
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Agent {
    type Err = AdapterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Agent::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| AdapterError::UnknownAgent(s.to_string()))
    }
}

/// Why a payload cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// Not one of the agents.
    #[error("unknown agent `{0}` (expected one of: claude-code, codex, cursor, gemini, copilot)")]
    UnknownAgent(String),
    /// The payload is not a JSON object.
    #[error("the hook input is not a JSON object")]
    NotAnObject,
    /// A required field is missing or has the wrong type.
    #[error("the hook input has no {0}")]
    Missing(&'static str),
    /// An event this adapter does not handle.
    #[error("unsupported hook event `{event}` for {agent}; register cavra only for {expected}")]
    UnknownEvent {
        /// The agent.
        agent: Agent,
        /// The event name.
        event: String,
        /// What is supported.
        expected: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::{ActionType, Request};
    use serde_json::{Value, json};

    fn ctx() -> Context {
        Context {
            cwd: "/repo/sub".into(),
            repo_root: "/repo".into(),
            home: Some("/home/u".into()),
            known_mcp_servers: Vec::new(),
        }
    }

    fn claude(tool: &str, input: Value) -> HookEvent {
        parse_event(
            Agent::ClaudeCode,
            &json!({"session_id": "s", "cwd": "/repo/sub", "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input, "tool_use_id": "t"}),
        )
        .expect("valid payload")
    }

    fn one(m: Mapping) -> Request {
        match m {
            Mapping::Requests(mut v) if v.len() == 1 => v.remove(0),
            other => panic!("expected one request, got {other:?}"),
        }
    }

    #[test]
    fn claude_tools() {
        let r = one(map_tool(
            &claude("Bash", json!({"command": "ls -la"})),
            &ctx(),
        ));
        assert_eq!(
            (r.action, r.target.as_str(), r.repo_root.as_deref()),
            (ActionType::ExecuteCommand, "ls -la", Some("/repo"))
        );
        match map_tool(
            &claude("Grep", json!({"pattern": "KEY", "glob": ".env"})),
            &ctx(),
        ) {
            Mapping::Requests(v) => assert_eq!(
                v.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
                ["/repo/sub", "/repo/sub/**/.env"]
            ),
            other => panic!("{other:?}"),
        }
        let r = one(map_tool(&claude("Grep", json!({"pattern": "x"})), &ctx()));
        assert_eq!(
            (r.action, r.target.as_str()),
            (ActionType::ReadFile, "/repo/sub")
        );
        let r = one(map_tool(
            &claude(
                "NotebookEdit",
                json!({"notebook_path": "/repo/a.ipynb", "new_source": "x"}),
            ),
            &ctx(),
        ));
        assert_eq!(
            (r.action, r.target.as_str()),
            (ActionType::WriteFile, "/repo/a.ipynb")
        );
        let r = one(map_tool(
            &claude("mcp__git_hub__create_issue", json!({"title": "t"})),
            &ctx(),
        ));
        assert_eq!(
            (r.server.as_deref(), r.tool.as_deref()),
            (Some("git_hub"), Some("create_issue"))
        );
        assert_eq!(r.arguments, Some(json!({"title": "t"})));
        assert!(matches!(
            map_tool(&claude("TodoWrite", json!({})), &ctx()),
            Mapping::Harmless { .. }
        ));
        assert!(matches!(
            map_tool(&claude("Frobnicate", json!({})), &ctx()),
            Mapping::Unknown { .. }
        ));
        assert!(matches!(
            map_tool(&claude("Bash", json!({})), &ctx()),
            Mapping::Invalid { .. }
        ));
    }

    #[test]
    fn codex_patch() {
        let e = parse_event(
            Agent::Codex,
            &json!({"hook_event_name": "PreToolUse", "tool_name": "apply_patch", "cwd": "/repo", "tool_input": {"command": "*** Begin Patch\n*** Update File: a.rs\n@@\n-x\n+y\n*** Delete File: b.rs\n*** End Patch"}}),
        )
        .expect("valid");
        match map_tool(&e, &ctx()) {
            Mapping::Requests(v) => {
                assert_eq!(
                    v.iter()
                        .map(|r| (r.action, r.target.as_str()))
                        .collect::<Vec<_>>(),
                    [
                        (ActionType::WriteFile, "a.rs"),
                        (ActionType::DeleteFile, "b.rs")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_agents_parse() {
        let e = parse_event(Agent::Cursor, &json!({"hook_event_name": "beforeShellExecution", "command": "rm -rf /", "cwd": "/repo", "conversation_id": "c"})).expect("cursor");
        assert_eq!(
            (e.tool_name.as_str(), e.session_id.as_deref()),
            ("Shell", Some("c"))
        );
        let e = parse_event(Agent::Cursor, &json!({"hook_event_name": "beforeMCPExecution", "tool_name": "q", "tool_input": "{\"a\":1}", "command": "npx srv", "workspace_roots": ["/repo"]})).expect("cursor mcp");
        let r = one(map_tool(&e, &ctx()));
        assert_eq!(
            (r.server.as_deref(), r.arguments.clone()),
            (Some("npx srv"), Some(json!({"a": 1})))
        );
        // Newer Cursor versions name the server inside the tool name.
        let e = parse_event(Agent::Cursor, &json!({"hook_event_name": "beforeMCPExecution", "tool_name": "MCP:github:create_issue", "tool_input": {"title": "t"}, "command": "npx srv", "workspace_roots": ["/repo"]})).expect("cursor mcp, named");
        let r = one(map_tool(&e, &ctx()));
        assert_eq!(
            (r.server.as_deref(), r.tool.as_deref()),
            (Some("github"), Some("create_issue"))
        );
        let e = parse_event(Agent::Copilot, &json!({"timestamp": 1, "cwd": "/repo", "toolName": "bash", "toolArgs": "{\"command\":\"ls\"}"})).expect("copilot");
        assert_eq!(one(map_tool(&e, &ctx())).target, "ls");
        let e = parse_event(Agent::Gemini, &json!({"hook_event_name": "BeforeTool", "tool_name": "web_fetch", "tool_input": {"prompt": "summarise https://example.com/a, please"}})).expect("gemini");
        assert_eq!(one(map_tool(&e, &ctx())).target, "https://example.com/a");
        // A lifecycle event is answered neutrally; an unknown event carrying a tool fails closed.
        assert_eq!(
            parse_event(Agent::ClaudeCode, &json!({"hook_event_name": "Stop"}))
                .expect("lifecycle")
                .kind,
            EventKind::Lifecycle
        );
        assert!(matches!(
            parse_event(
                Agent::ClaudeCode,
                &json!({"hook_event_name": "PreToolUse2", "tool_name": "Bash"})
            ),
            Err(AdapterError::UnknownEvent { .. })
        ));
        assert_eq!(
            parse_event(Agent::ClaudeCode, &json!([1])),
            Err(AdapterError::NotAnObject)
        );
    }

    #[test]
    fn answers() {
        let e = claude("Bash", json!({"command": "x"}));
        let a = render(Agent::ClaudeCode, &e, &Verdict::Deny("no".into()));
        assert_eq!((a.exit_code, a.stderr.as_str()), (2, "no"));
        assert_eq!(
            a.stdout,
            r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}"#
        );
        assert_eq!(
            render(Agent::ClaudeCode, &e, &Verdict::NoDecision),
            Answer::empty()
        );
        let a = render(Agent::Codex, &e, &Verdict::Ask("needs ok".into()));
        assert_eq!(a.exit_code, 2);
        let a = render(Agent::Copilot, &e, &Verdict::Deny("no".into()));
        assert_eq!(
            (a.exit_code, a.stdout.as_str()),
            (
                0,
                r#"{"permissionDecision":"deny","permissionDecisionReason":"no"}"#
            )
        );
    }
}
