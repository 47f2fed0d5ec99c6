//! Adapters between agents' hook payloads and cavra: pure functions, no I/O.
//!
//! - [`parse_event`]: an agent's hook JSON (Claude Code, Codex CLI, Cursor, Gemini CLI,
//!   GitHub Copilot) → a [`HookEvent`] in one shape;
//! - [`map_tool`]: a tool call → the [`Request`]s cavra decides (a `Bash` call is one
//!   `execute_command`, a `MultiEdit` one `write_file`, Codex's `apply_patch` one write per file),
//!   or [`Mapping::Harmless`] for tools that touch nothing (`TodoWrite`), or
//!   [`Mapping::Unknown`] for tools cavra cannot judge — which the hook blocks (fail closed);
//! - [`verdict_for`] and [`render`]: a decision → the exact answer the agent understands
//!   (stdout JSON, stderr, exit code).
//!
//! Finding the repository root is I/O and is done by the caller (the CLI), which passes it in.

use cavra_engine::{ActionType, Decision, DecisionRecord, Request};
use serde_json::{Map, Value, json};
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

/// Before or after the tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Before: cavra decides.
    PreToolUse,
    /// After: cavra records the outcome.
    PostToolUse,
}

/// A hook event in one shape, whichever agent sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// Who sent it.
    pub agent: Agent,
    /// Before or after.
    pub kind: EventKind,
    /// The event name as sent (`PreToolUse`, `beforeShellExecution`, `BeforeTool`, …).
    pub event_name: String,
    /// The agent session (`session_id`, Cursor's `conversation_id`).
    pub session_id: Option<String>,
    /// The agent's working folder.
    pub cwd: Option<String>,
    /// The tool, in the agent's own naming (Cursor's before* events get `Shell`, `Read`, `MCP`).
    pub tool_name: String,
    /// The tool's arguments.
    pub tool_input: Value,
    /// The tool call id, when the agent gives one.
    pub tool_use_id: Option<String>,
    /// Claude Code's permission mode.
    pub permission_mode: Option<String>,
    /// For PostToolUse: what the tool returned.
    pub tool_response: Option<Value>,
    /// For MCP calls where the agent names the server separately (Cursor, Gemini).
    pub mcp_server: Option<String>,
}

fn s(v: &Value, key: &str) -> Option<String> {
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
        Agent::ClaudeCode | Agent::Codex => {
            parse_claude_like(agent, payload, "PreToolUse or PostToolUse")
        }
        Agent::Gemini => parse_gemini(payload),
        Agent::Cursor => parse_cursor(payload),
        Agent::Copilot => parse_copilot(payload),
    }
}

fn parse_claude_like(
    agent: Agent,
    p: &Value,
    expected: &'static str,
) -> Result<HookEvent, AdapterError> {
    let event = s(p, "hook_event_name").ok_or(AdapterError::Missing("hook_event_name"))?;
    let kind = match event.as_str() {
        "PreToolUse" => EventKind::PreToolUse,
        "PostToolUse" => EventKind::PostToolUse,
        _ => {
            return Err(AdapterError::UnknownEvent {
                agent,
                event,
                expected,
            });
        }
    };
    let tool_name = s(p, "tool_name")
        .filter(|t| !t.is_empty())
        .ok_or(AdapterError::Missing("tool_name"))?;
    Ok(HookEvent {
        agent,
        kind,
        event_name: event,
        session_id: s(p, "session_id"),
        cwd: s(p, "cwd"),
        tool_name,
        tool_input: object_or_json_string(p.get("tool_input")),
        tool_use_id: s(p, "tool_use_id"),
        permission_mode: s(p, "permission_mode"),
        tool_response: p.get("tool_response").cloned(),
        mcp_server: None,
    })
}

fn parse_gemini(p: &Value) -> Result<HookEvent, AdapterError> {
    let event = s(p, "hook_event_name").ok_or(AdapterError::Missing("hook_event_name"))?;
    let kind = match event.as_str() {
        "BeforeTool" => EventKind::PreToolUse,
        "AfterTool" => EventKind::PostToolUse,
        _ => {
            return Err(AdapterError::UnknownEvent {
                agent: Agent::Gemini,
                event,
                expected: "BeforeTool or AfterTool",
            });
        }
    };
    let tool_name = s(p, "tool_name")
        .filter(|t| !t.is_empty())
        .ok_or(AdapterError::Missing("tool_name"))?;
    let mcp_server = p.get("mcp_context").and_then(|c| s(c, "server_name"));
    Ok(HookEvent {
        agent: Agent::Gemini,
        kind,
        event_name: event,
        session_id: s(p, "session_id"),
        cwd: s(p, "cwd"),
        tool_name,
        tool_input: object_or_json_string(p.get("tool_input")),
        tool_use_id: s(p, "tool_use_id"),
        permission_mode: None,
        tool_response: p.get("tool_response").cloned(),
        mcp_server,
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
        "beforeReadFile" => {
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
        "preToolUse" | "postToolUse" => {
            let tool = s(p, "tool_name")
                .filter(|t| !t.is_empty())
                .ok_or(AdapterError::Missing("tool_name"))?;
            let kind = if event == "preToolUse" {
                EventKind::PreToolUse
            } else {
                EventKind::PostToolUse
            };
            let mut e = base(kind, &tool, object_or_json_string(p.get("tool_input")));
            e.tool_response = p
                .get("tool_output")
                .or_else(|| p.get("tool_response"))
                .cloned();
            Ok(e)
        }
        "afterFileEdit" => {
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
        _ => Err(AdapterError::UnknownEvent {
            agent: Agent::Cursor,
            event,
            expected: "beforeShellExecution, beforeReadFile, beforeMCPExecution, preToolUse (and after* for evidence)",
        }),
    }
}

fn parse_copilot(p: &Value) -> Result<HookEvent, AdapterError> {
    // Copilot CLI sends the VS Code-compatible, Claude-like shape when the event is configured
    // in PascalCase, and camelCase fields (toolName/toolArgs) otherwise.
    if p.get("hook_event_name").is_some() {
        return parse_claude_like(
            Agent::Copilot,
            p,
            "preToolUse/PreToolUse or postToolUse/PostToolUse",
        );
    }
    let tool_name = s(p, "toolName")
        .filter(|t| !t.is_empty())
        .ok_or(AdapterError::Missing("toolName"))?;
    // camelCase payloads carry no event name: a tool result means postToolUse.
    let kind = if p.get("toolResult").is_some() {
        EventKind::PostToolUse
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
    })
}

/// Where paths are resolved: supplied by the caller, who may look at the disk.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The agent's working folder (absolute).
    pub cwd: String,
    /// The repository root (absolute): the git top level found from `cwd`, else `cwd`.
    pub repo_root: String,
    /// The user's home folder.
    pub home: Option<String>,
}

/// What a tool call is, for cavra.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    /// Decide these; the strictest decides the call.
    Requests(Vec<Request>),
    /// A tool that reads or changes nothing cavra governs; no decision is given.
    Harmless {
        /// Why it is harmless.
        reason: String,
    },
    /// A tool cavra cannot judge: blocked, with this explanation.
    Unknown {
        /// Why, and what to do.
        reason: String,
    },
}

/// Tools that touch nothing cavra governs. Their own sub-actions (a subagent's tool calls)
/// pass through the same hooks.
const HARMLESS: &[(&str, &str)] = &[
    ("TodoWrite", "updates the agent's task list"),
    ("TodoRead", "reads the agent's task list"),
    (
        "Task",
        "starts a subagent whose tool calls pass through these hooks too",
    ),
    (
        "Agent",
        "starts a subagent whose tool calls pass through these hooks too",
    ),
    ("ExitPlanMode", "leaves plan mode"),
    ("EnterPlanMode", "enters plan mode"),
    ("AskUserQuestion", "asks the user"),
    (
        "BashOutput",
        "reads the output of a shell the agent already started",
    ),
    ("KillShell", "stops a shell the agent started"),
    ("KillBash", "stops a shell the agent started"),
    (
        "TaskOutput",
        "reads the output of a background task the agent already started",
    ),
    ("TaskStop", "stops a background task the agent started"),
    (
        "Skill",
        "loads a skill's instructions; whatever the skill then runs goes through Bash and the file tools, which are decided",
    ),
    (
        "WebSearch",
        "the query goes to the model provider's search; no page reaches this machine (fetches go through WebFetch, which is decided)",
    ),
    (
        "ListMcpResourcesTool",
        "lists MCP resources without reading them",
    ),
    // Gemini CLI
    ("write_todos", "updates the agent's task list"),
    (
        "save_memory",
        "stores a note in the agent's own memory file",
    ),
    (
        "google_web_search",
        "the query goes to the model provider's search; fetched pages go through web_fetch, which is decided",
    ),
    // Copilot CLI
    (
        "read_bash",
        "reads the output of a shell the agent already started",
    ),
    ("stop_bash", "stops a shell the agent started"),
    ("report_intent", "reports what the agent intends to do"),
    ("think", "the agent's own reasoning"),
];

fn str_field<'a>(input: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .filter(|v| !v.trim().is_empty())
}

fn make(ctx: &Context, action: ActionType, target: impl Into<String>) -> Request {
    let mut r = Request::new(action, target);
    r.repo_root = Some(ctx.repo_root.clone());
    r.cwd = Some(ctx.cwd.clone());
    r.home = ctx.home.clone();
    r
}

fn file(ctx: &Context, action: ActionType, input: &Value, keys: &[&str], tool: &str) -> Mapping {
    match str_field(input, keys) {
        Some(path) => Mapping::Requests(vec![make(ctx, action, path)]),
        None => Mapping::Unknown {
            reason: format!("{tool} without {} cannot be judged", keys.join(" or ")),
        },
    }
}

/// A search or listing: a read of the folder (or file) it searches, the working folder when
/// none is given.
fn search(ctx: &Context, input: &Value, keys: &[&str]) -> Mapping {
    let path = str_field(input, keys).unwrap_or(&ctx.cwd).to_string();
    Mapping::Requests(vec![make(ctx, ActionType::ReadFile, path)])
}

/// Claude Code's `Grep` reads the contents of what it searches: the `path`, and when its
/// `glob` filter names one file (`.env`, no wildcard), that file inside the path too.
fn grep(ctx: &Context, input: &Value) -> Mapping {
    let Mapping::Requests(mut requests) = search(ctx, input, &["path"]) else {
        return Mapping::Unknown {
            reason: "Grep could not be mapped".into(),
        };
    };
    // The `glob` filter names the files whose content is searched: a read of every file it
    // can match. Without a `/` it matches a name at any depth (ripgrep's rule); the engine
    // judges a globbed path by what it can expand to.
    if let Some(glob) = str_field(input, &["glob"])
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        let base = str_field(input, &["path"]).unwrap_or(&ctx.cwd);
        let glob = glob.trim_start_matches("./");
        let joined = if glob.contains('/') {
            format!("{}/{}", base.trim_end_matches('/'), glob)
        } else {
            format!("{}/**/{}", base.trim_end_matches('/'), glob)
        };
        requests.push(make(ctx, ActionType::ReadFile, joined));
    }
    Mapping::Requests(requests)
}

fn command(ctx: &Context, input: &Value, keys: &[&str], tool: &str) -> Mapping {
    match str_field(input, keys) {
        Some(c) => Mapping::Requests(vec![make(ctx, ActionType::ExecuteCommand, c)]),
        None => Mapping::Unknown {
            reason: format!("{tool} without a command cannot be judged"),
        },
    }
}

fn network(ctx: &Context, input: &Value, tool: &str) -> Mapping {
    if let Some(url) = str_field(input, &["url"]) {
        return Mapping::Requests(vec![make(ctx, ActionType::NetworkRequest, url)]);
    }
    // Gemini's web_fetch takes a prompt holding the URLs.
    let urls: Vec<&str> = str_field(input, &["prompt"])
        .map(|p| {
            p.split_whitespace()
                .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                .map(|w| w.trim_end_matches([',', '.', ')', ']', '"', '\'']))
                .collect()
        })
        .unwrap_or_default();
    if urls.is_empty() {
        return Mapping::Unknown {
            reason: format!("{tool} without a URL cannot be judged"),
        };
    }
    Mapping::Requests(
        urls.into_iter()
            .map(|u| make(ctx, ActionType::NetworkRequest, u))
            .collect(),
    )
}

fn mcp(ctx: &Context, server: &str, tool: &str, arguments: &Value) -> Mapping {
    if server.trim().is_empty() || tool.trim().is_empty() {
        return Mapping::Unknown {
            reason: "an MCP call without a server and a tool name cannot be judged".into(),
        };
    }
    let mut r = make(ctx, ActionType::McpToolCall, format!("{server}/{tool}"));
    r.server = Some(server.to_string());
    r.tool = Some(tool.to_string());
    r.arguments = Some(arguments.clone());
    Mapping::Requests(vec![r])
}

/// `mcp__<server>__<tool>` (Claude Code, Codex, Gemini). Server names may hold `_` but not
/// `__`; the tool is everything after the second separator.
pub fn split_mcp_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

/// The files a Codex `apply_patch` touches: `*** Add File:`, `*** Update File:` (and its
/// `*** Move to:`) are writes, `*** Delete File:` deletes.
pub fn patch_files(patch: &str) -> Vec<(ActionType, String)> {
    let mut out = Vec::new();
    for line in patch.lines() {
        let line = line.trim_end();
        let found = [
            ("*** Add File: ", ActionType::WriteFile),
            ("*** Update File: ", ActionType::WriteFile),
            ("*** Move to: ", ActionType::WriteFile),
            ("*** Delete File: ", ActionType::DeleteFile),
        ]
        .into_iter()
        .find_map(|(prefix, action)| {
            line.strip_prefix(prefix)
                .map(|p| (action, p.trim().to_string()))
        });
        if let Some(hit) = found.filter(|(_, p)| !p.is_empty()) {
            out.push(hit);
        }
    }
    out
}

/// Maps a tool call to what cavra decides.
pub fn map_tool(event: &HookEvent, ctx: &Context) -> Mapping {
    let input = &event.tool_input;
    let name = event.tool_name.as_str();
    if let Some((_, why)) = HARMLESS.iter().find(|(n, _)| *n == name) {
        return Mapping::Harmless {
            reason: format!("{name} {why}"),
        };
    }
    if let Some((server, tool)) = split_mcp_name(name) {
        let server = event.mcp_server.as_deref().unwrap_or(server);
        return mcp(ctx, server, tool, input);
    }
    match (event.agent, name) {
        // Claude Code and Codex (Codex uses Claude's names, plus apply_patch).
        (_, "Bash") => command(ctx, input, &["command"], name),
        (_, "Read") => file(
            ctx,
            ActionType::ReadFile,
            input,
            &["file_path", "path"],
            name,
        ),
        (_, "Grep") => grep(ctx, input),
        (_, "Glob" | "LS") => search(ctx, input, &["path"]),
        (_, "Write" | "Edit" | "MultiEdit") => file(
            ctx,
            ActionType::WriteFile,
            input,
            &["file_path", "path"],
            name,
        ),
        (_, "NotebookEdit") => file(
            ctx,
            ActionType::WriteFile,
            input,
            &["notebook_path", "file_path"],
            name,
        ),
        (_, "NotebookRead") => file(
            ctx,
            ActionType::ReadFile,
            input,
            &["notebook_path", "file_path"],
            name,
        ),
        (_, "WebFetch") => network(ctx, input, name),
        (_, "ReadMcpResourceTool") => match str_field(input, &["server"]) {
            Some(server) => mcp(ctx, server, "resources/read", input),
            None => Mapping::Unknown {
                reason: "ReadMcpResourceTool without a server cannot be judged".into(),
            },
        },
        (_, "apply_patch") => {
            let text = str_field(input, &["command", "patch", "input", "raw"]).unwrap_or_default();
            let files = patch_files(text);
            if files.is_empty() {
                return Mapping::Unknown {
                    reason: "apply_patch names no file (`*** Add/Update/Delete File:`)".into(),
                };
            }
            Mapping::Requests(files.into_iter().map(|(a, p)| make(ctx, a, p)).collect())
        }
        // Cursor.
        (Agent::Cursor, "Shell") => command(ctx, input, &["command"], name),
        (Agent::Cursor, "Delete") => file(
            ctx,
            ActionType::DeleteFile,
            input,
            &["file_path", "path"],
            name,
        ),
        (Agent::Cursor, "StrReplace" | "TabWrite") => file(
            ctx,
            ActionType::WriteFile,
            input,
            &["file_path", "path"],
            name,
        ),
        (Agent::Cursor, n) if n.starts_with("MCP:") => {
            let tool = &n["MCP:".len()..];
            match event.mcp_server.as_deref() {
                Some(server) => mcp(ctx, server, tool, input),
                None => Mapping::Unknown {
                    reason: format!("MCP tool `{tool}` without a server cannot be judged"),
                },
            }
        }
        // Gemini CLI.
        (_, "run_shell_command") => command(ctx, input, &["command"], name),
        (_, "read_file") => file(
            ctx,
            ActionType::ReadFile,
            input,
            &["file_path", "absolute_path", "path"],
            name,
        ),
        (_, "read_many_files") => {
            let paths: Vec<String> = input
                .get("paths")
                .or_else(|| input.get("include"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if paths.is_empty() {
                return Mapping::Unknown {
                    reason: "read_many_files without paths cannot be judged".into(),
                };
            }
            Mapping::Requests(
                paths
                    .into_iter()
                    .map(|p| make(ctx, ActionType::ReadFile, p))
                    .collect(),
            )
        }
        (_, "write_file" | "replace") => file(
            ctx,
            ActionType::WriteFile,
            input,
            &["file_path", "absolute_path", "path"],
            name,
        ),
        (_, "glob" | "search_file_content" | "grep_search" | "list_directory") => {
            search(ctx, input, &["path", "dir_path", "absolute_path"])
        }
        (_, "web_fetch") => network(ctx, input, name),
        // GitHub Copilot CLI.
        (Agent::Copilot, "bash" | "write_bash") => command(ctx, input, &["command", "input"], name),
        (Agent::Copilot, "view") => file(
            ctx,
            ActionType::ReadFile,
            input,
            &["path", "file_path"],
            name,
        ),
        (Agent::Copilot, "create" | "edit" | "str_replace" | "str_replace_editor") => file(
            ctx,
            ActionType::WriteFile,
            input,
            &["path", "file_path"],
            name,
        ),
        (Agent::Copilot, "grep") => search(ctx, input, &["path"]),
        _ => Mapping::Unknown {
            reason: format!(
                "cavra does not know the {} tool `{name}`, so it cannot tell what it reads, writes or runs; \
                 it is blocked until cavra supports it (report it, or deny the tool in the agent's own settings)",
                event.agent
            ),
        },
    }
}

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

    fn empty() -> Answer {
        Answer {
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// The exit code that blocks a tool call in every agent that honours exit codes.
pub const EXIT_BLOCK: i32 = 2;

/// Renders a verdict in the agent's format.
///
/// A deny is said both ways wherever the agent supports both: the JSON deny on stdout *and*
/// exit code 2 with the reason on stderr. Exit code 2 has blocked PreToolUse since hooks first
/// shipped in Claude Code (and in Codex, Gemini CLI and Cursor), so it blocks in every version;
/// the JSON is there for readers of the transcript and tools that parse it. Copilot documents
/// only the JSON deny, so it gets exit 0 with it (a non-zero exit there is a hook failure).
/// Agents without an `ask` answer (Codex, Gemini CLI, Copilot, Cursor's file reads) get a deny
/// for require_approval: failing closed, with the approver group in the reason.
pub fn render(agent: Agent, event: &HookEvent, verdict: &Verdict) -> Answer {
    if event.kind == EventKind::PostToolUse {
        return Answer::empty();
    }
    render_pre(agent, &event.event_name, verdict)
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

fn render_pre(agent: Agent, event_name: &str, verdict: &Verdict) -> Answer {
    let supports_ask = match agent {
        Agent::ClaudeCode => true,
        Agent::Cursor => event_name != "beforeReadFile",
        Agent::Codex | Agent::Gemini | Agent::Copilot => false,
    };
    let verdict = match verdict {
        Verdict::Ask(r) if !supports_ask => Verdict::Deny(format!(
            "{r} ({agent} hooks cannot ask a person; run the hook with --approval-mode store to route it through `cavra approval`)"
        )),
        v => v.clone(),
    };
    match agent {
        Agent::ClaudeCode | Agent::Codex => {
            let out = |decision: &str, reason: &str| json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision, "permissionDecisionReason": reason}});
            match &verdict {
                Verdict::Deny(r) => Answer::json(out("deny", r), EXIT_BLOCK, r.clone()),
                Verdict::Ask(r) => Answer::json(out("ask", r), 0, String::new()),
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
            Verdict::Ask(r) => Answer::json(
                json!({"decision": "deny", "reason": r}),
                EXIT_BLOCK,
                r.clone(),
            ),
            Verdict::Allow(r) => {
                Answer::json(json!({"decision": "allow", "reason": r}), 0, String::new())
            }
            Verdict::NoDecision => Answer::json(json!({}), 0, String::new()),
            Verdict::Warn(m) => Answer::json(json!({ "systemMessage": m }), 0, String::new()),
        },
        Agent::Copilot => match &verdict {
            Verdict::Deny(r) | Verdict::Ask(r) => Answer::json(
                json!({"permissionDecision": "deny", "permissionDecisionReason": r}),
                0,
                r.clone(),
            ),
            Verdict::Allow(r) => Answer::json(
                json!({"permissionDecision": "allow", "permissionDecisionReason": r}),
                0,
                String::new(),
            ),
            Verdict::NoDecision | Verdict::Warn(_) => Answer::empty(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            cwd: "/repo/sub".into(),
            repo_root: "/repo".into(),
            home: Some("/home/u".into()),
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
            Mapping::Unknown { .. }
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
        assert!(matches!(
            parse_event(Agent::ClaudeCode, &json!({"hook_event_name": "Stop"})),
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
