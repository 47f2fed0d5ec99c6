//! Hook payloads of every agent → one [`HookEvent`].
//!
//! Each agent offers more hook events than the tool calls cavra decides. A person may register
//! cavra for any of them, so every event is parsed into one of the [`EventKind`]s and answered
//! in its own shape: a tool event is decided or recorded, a lifecycle event (a prompt, a stop,
//! a session start) is answered with the event's neutral answer — never with a deny, which
//! would block the person's prompt or keep the agent from stopping.

use crate::{AdapterError, Agent};
use serde_json::{Value, json};

/// What the event is for cavra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Before a tool runs: cavra decides.
    PreToolUse,
    /// The agent is about to show its own permission dialog for a tool call (Claude Code and
    /// Codex `PermissionRequest`): cavra decides, and answers allow or deny in that event's
    /// shape, or nothing so that the dialog appears.
    PermissionRequest,
    /// After a tool ran: cavra records the outcome.
    PostToolUse,
    /// After a tool call failed (Claude Code `PostToolUseFailure`, Cursor
    /// `postToolUseFailure`): recorded as a failed outcome.
    PostToolUseFailure,
    /// An event about the session rather than a tool call (`UserPromptSubmit`, `Stop`,
    /// `SessionStart`, `BeforeAgent`, …): answered with the event's neutral answer.
    Lifecycle,
}

impl EventKind {
    /// Whether cavra decides on this event.
    pub fn decides(self) -> bool {
        matches!(self, EventKind::PreToolUse | EventKind::PermissionRequest)
    }

    /// Whether this event reports a tool's outcome.
    pub fn records_outcome(self) -> bool {
        matches!(self, EventKind::PostToolUse | EventKind::PostToolUseFailure)
    }
}

/// A hook event in one shape, whichever agent sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// Who sent it.
    pub agent: Agent,
    /// What it is for cavra.
    pub kind: EventKind,
    /// The event name as sent (`PreToolUse`, `beforeShellExecution`, `BeforeTool`, …).
    pub event_name: String,
    /// The agent session (`session_id`, Cursor's `conversation_id`).
    pub session_id: Option<String>,
    /// The agent's working folder.
    pub cwd: Option<String>,
    /// The tool, in the agent's own naming (Cursor's before* events get `Shell`, `Read`, `MCP:…`);
    /// empty for lifecycle events.
    pub tool_name: String,
    /// The tool's arguments.
    pub tool_input: Value,
    /// The tool call id, when the agent gives one.
    pub tool_use_id: Option<String>,
    /// Claude Code's permission mode.
    pub permission_mode: Option<String>,
    /// For PostToolUse: what the tool returned.
    pub tool_response: Option<Value>,
    /// For MCP calls where the agent names the server separately (Cursor, Gemini's
    /// `mcp_context.server_name`).
    pub mcp_server: Option<String>,
    /// For MCP calls where the agent names the server's own tool name separately (Gemini's
    /// `mcp_context.tool_name`).
    pub mcp_tool: Option<String>,
}

pub(crate) fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A tool input given either as an object or as a JSON string holding one.
fn object_or_json_string(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({ "raw": text })),
        Some(Value::Null) | None => json!({}),
        Some(other) => other.clone(),
    }
}

/// Parses an agent's hook payload.
pub fn parse_event(agent: Agent, payload: &Value) -> Result<HookEvent, AdapterError> {
    if !payload.is_object() {
        return Err(AdapterError::NotAnObject);
    }
    match agent {
        Agent::ClaudeCode | Agent::Codex => parse_claude_like(agent, payload),
        Agent::Gemini => parse_gemini(payload),
        Agent::Cursor => parse_cursor(payload),
        Agent::Copilot => parse_copilot(payload),
    }
}

fn lifecycle(agent: Agent, p: &Value, event: String) -> HookEvent {
    HookEvent {
        agent,
        kind: EventKind::Lifecycle,
        event_name: event,
        session_id: s(p, "session_id")
            .or_else(|| s(p, "conversation_id"))
            .or_else(|| s(p, "sessionId")),
        cwd: s(p, "cwd"),
        tool_name: String::new(),
        tool_input: json!({}),
        tool_use_id: None,
        permission_mode: s(p, "permission_mode"),
        tool_response: None,
        mcp_server: None,
        mcp_tool: None,
    }
}

/// An event this adapter does not know: one that carries a tool call fails closed (it may be
/// a new "before tool" event), one that does not is a lifecycle event and gets a neutral
/// answer.
fn unknown_event(
    agent: Agent,
    p: &Value,
    event: String,
    tool_key: &str,
    expected: &'static str,
) -> Result<HookEvent, AdapterError> {
    if p.get(tool_key).is_some() {
        return Err(AdapterError::UnknownEvent {
            agent,
            event,
            expected,
        });
    }
    Ok(lifecycle(agent, p, event))
}

fn tool_name(p: &Value, key: &'static str) -> Result<String, AdapterError> {
    s(p, key)
        .filter(|t| !t.is_empty())
        .ok_or(AdapterError::Missing(key))
}

fn parse_claude_like(agent: Agent, p: &Value) -> Result<HookEvent, AdapterError> {
    let event = s(p, "hook_event_name").ok_or(AdapterError::Missing("hook_event_name"))?;
    let kind = match event.as_str() {
        "PreToolUse" => EventKind::PreToolUse,
        "PermissionRequest" => EventKind::PermissionRequest,
        "PostToolUse" => EventKind::PostToolUse,
        "PostToolUseFailure" => EventKind::PostToolUseFailure,
        _ => {
            return unknown_event(
                agent,
                p,
                event,
                "tool_name",
                "PreToolUse, PermissionRequest, PostToolUse, PostToolUseFailure and the lifecycle events",
            );
        }
    };
    Ok(HookEvent {
        agent,
        kind,
        event_name: event,
        session_id: s(p, "session_id"),
        cwd: s(p, "cwd"),
        tool_name: tool_name(p, "tool_name")?,
        tool_input: object_or_json_string(p.get("tool_input")),
        tool_use_id: s(p, "tool_use_id"),
        permission_mode: s(p, "permission_mode"),
        tool_response: p.get("tool_response").cloned().or_else(|| {
            // PostToolUseFailure carries the error instead of a response.
            p.get("error")
                .map(|e| json!({ "error": e, "success": false }))
        }),
        mcp_server: None,
        mcp_tool: None,
    })
}

fn parse_gemini(p: &Value) -> Result<HookEvent, AdapterError> {
    let event = s(p, "hook_event_name").ok_or(AdapterError::Missing("hook_event_name"))?;
    let kind = match event.as_str() {
        "BeforeTool" => EventKind::PreToolUse,
        "AfterTool" => {
            // AfterTool reports failures too: `tool_response.error` is set.
            let failed = p
                .get("tool_response")
                .and_then(|r| r.get("error"))
                .is_some_and(|e| !e.is_null());
            if failed {
                EventKind::PostToolUseFailure
            } else {
                EventKind::PostToolUse
            }
        }
        _ => {
            return unknown_event(
                Agent::Gemini,
                p,
                event,
                "tool_name",
                "BeforeTool, AfterTool and the lifecycle events",
            );
        }
    };
    let context = p.get("mcp_context");
    Ok(HookEvent {
        agent: Agent::Gemini,
        kind,
        event_name: event,
        session_id: s(p, "session_id"),
        cwd: s(p, "cwd"),
        tool_name: tool_name(p, "tool_name")?,
        tool_input: object_or_json_string(p.get("tool_input")),
        tool_use_id: s(p, "tool_use_id"),
        permission_mode: None,
        tool_response: p.get("tool_response").cloned(),
        mcp_server: context.and_then(|c| s(c, "server_name")),
        mcp_tool: context.and_then(|c| s(c, "tool_name")),
    })
}

fn parse_cursor(p: &Value) -> Result<HookEvent, AdapterError> {
    let event = s(p, "hook_event_name").ok_or(AdapterError::Missing("hook_event_name"))?;
    let cwd = s(p, "cwd").or_else(|| {
        p.get("workspace_roots")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let base = |kind, tool_name: &str, tool_input: Value| HookEvent {
        agent: Agent::Cursor,
        kind,
        event_name: event.clone(),
        session_id: s(p, "conversation_id").or_else(|| s(p, "session_id")),
        cwd: cwd.clone(),
        tool_name: tool_name.to_string(),
        tool_input,
        tool_use_id: s(p, "tool_use_id").or_else(|| s(p, "generation_id")),
        permission_mode: None,
        tool_response: None,
        mcp_server: None,
        mcp_tool: None,
    };
    match event.as_str() {
        "beforeShellExecution" => {
            let command = s(p, "command").ok_or(AdapterError::Missing("command"))?;
            Ok(base(
                EventKind::PreToolUse,
                "Shell",
                json!({ "command": command }),
            ))
        }
        // A Tab completion reading a file is a read like the agent's own.
        "beforeReadFile" | "beforeTabFileRead" => {
            let path = s(p, "file_path").ok_or(AdapterError::Missing("file_path"))?;
            // The file's content is in the payload too; it is not needed to decide and is not kept.
            Ok(base(
                EventKind::PreToolUse,
                "Read",
                json!({ "file_path": path }),
            ))
        }
        "beforeMCPExecution" => {
            let tool = s(p, "tool_name").ok_or(AdapterError::Missing("tool_name"))?;
            let mut e = base(
                EventKind::PreToolUse,
                "MCP",
                object_or_json_string(p.get("tool_input")),
            );
            // Newer Cursor versions name the tool `MCP:<server>:<tool>`; older ones name only the
            // tool and the server by its launch command or URL. An explicit name wins.
            let (named_server, tool) =
                match tool.strip_prefix("MCP:").and_then(|r| r.split_once(':')) {
                    Some((server, t)) if !server.is_empty() && !t.is_empty() => {
                        (Some(server.to_string()), t.to_string())
                    }
                    _ => (None, tool.strip_prefix("MCP:").unwrap_or(&tool).to_string()),
                };
            e.mcp_server = s(p, "server_name")
                .or(named_server)
                .or_else(|| s(p, "server"))
                .or_else(|| s(p, "url"))
                .or_else(|| s(p, "command"));
            e.tool_name = format!("MCP:{tool}");
            Ok(e)
        }
        "preToolUse" | "postToolUse" | "postToolUseFailure" => {
            let tool = tool_name(p, "tool_name")?;
            let kind = match event.as_str() {
                "preToolUse" => EventKind::PreToolUse,
                "postToolUse" => EventKind::PostToolUse,
                _ => EventKind::PostToolUseFailure,
            };
            let mut e = base(kind, &tool, object_or_json_string(p.get("tool_input")));
            e.tool_response = p
                .get("tool_output")
                .or_else(|| p.get("tool_response"))
                .cloned()
                .or_else(|| {
                    p.get("error_message")
                        .map(|m| json!({ "error": m, "success": false }))
                });
            // `MCP:<server>:<tool>` in preToolUse names the server too.
            if let Some((server, t)) = tool.strip_prefix("MCP:").and_then(|r| r.split_once(':'))
                && !server.is_empty()
                && !t.is_empty()
            {
                e.mcp_server = Some(server.to_string());
                e.tool_name = format!("MCP:{t}");
            }
            Ok(e)
        }
        "afterFileEdit" | "afterTabFileEdit" => {
            let path = s(p, "file_path").ok_or(AdapterError::Missing("file_path"))?;
            Ok(base(
                EventKind::PostToolUse,
                "Write",
                json!({ "file_path": path }),
            ))
        }
        "afterShellExecution" | "afterMCPExecution" => {
            let mut e = base(
                EventKind::PostToolUse,
                if event == "afterShellExecution" {
                    "Shell"
                } else {
                    "MCP"
                },
                json!({}),
            );
            if let Some(c) = s(p, "command") {
                e.tool_input = json!({ "command": c });
            }
            Ok(e)
        }
        _ => unknown_event(
            Agent::Cursor,
            p,
            event,
            "tool_name",
            "beforeShellExecution, beforeReadFile, beforeTabFileRead, beforeMCPExecution, preToolUse, the after* events and the lifecycle events",
        ),
    }
}

fn parse_copilot(p: &Value) -> Result<HookEvent, AdapterError> {
    // Copilot CLI sends the VS Code-compatible, Claude-like shape when the event is configured
    // in PascalCase, and camelCase fields (toolName/toolArgs) otherwise.
    if p.get("hook_event_name").is_some() {
        let mut e = parse_claude_like(Agent::Copilot, p)?;
        e.agent = Agent::Copilot;
        return Ok(e);
    }
    if p.get("toolName").is_none() {
        // camelCase payloads carry no event name. The lifecycle events each carry their own
        // field (userPromptSubmitted `prompt`, sessionStart `source`, sessionEnd `reason`,
        // errorOccurred `error`); anything else without a tool is a broken tool event.
        let event = ["prompt", "source", "reason", "error"]
            .into_iter()
            .find(|k| p.get(*k).is_some());
        return match event {
            Some(field) => Ok(lifecycle(
                Agent::Copilot,
                p,
                match field {
                    "prompt" => "userPromptSubmitted",
                    "source" => "sessionStart",
                    "reason" => "sessionEnd",
                    _ => "errorOccurred",
                }
                .to_string(),
            )),
            None => Err(AdapterError::Missing("toolName")),
        };
    }
    let tool_name = tool_name(p, "toolName")?;
    // A tool result means postToolUse.
    let kind = if p.get("toolResult").is_some() {
        let failed = p
            .get("toolResult")
            .and_then(|r| r.get("resultType"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "failure" || t == "denied");
        if failed {
            EventKind::PostToolUseFailure
        } else {
            EventKind::PostToolUse
        }
    } else {
        EventKind::PreToolUse
    };
    Ok(HookEvent {
        agent: Agent::Copilot,
        kind,
        event_name: if kind == EventKind::PreToolUse {
            "preToolUse".into()
        } else {
            "postToolUse".into()
        },
        session_id: s(p, "sessionId"),
        cwd: s(p, "cwd"),
        tool_name,
        tool_input: object_or_json_string(p.get("toolArgs")),
        tool_use_id: s(p, "toolCallId").or_else(|| s(p, "toolUseId")),
        permission_mode: None,
        tool_response: p.get("toolResult").cloned(),
        mcp_server: None,
        mcp_tool: None,
    })
}
