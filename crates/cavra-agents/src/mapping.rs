//! A tool call → the requests cavra decides, by the agent's tool table ([`crate::tools`]) and
//! the agent's MCP naming.

use crate::Agent;
use crate::events::HookEvent;
use crate::tools::{self, Effect};
use cavra_engine::{ActionType, Request};
use serde_json::Value;

/// Where paths are resolved: supplied by the caller, who may look at the disk.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The agent's working folder (absolute).
    pub cwd: String,
    /// The repository root (absolute): the git top level found from `cwd`, else `cwd`.
    pub repo_root: String,
    /// The user's home folder.
    pub home: Option<String>,
    /// MCP server names cavra knows (the repository's registry and the pack's server lists),
    /// used to split a flattened MCP tool name (`mcp__a__b__c`, Gemini's `mcp_a_b`, Copilot's
    /// `a-b`) that could be read more than one way. See [`needs_known_servers`].
    pub known_mcp_servers: Vec<String>,
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
    /// A tool cavra does not know, or knows but cannot express as requests (it runs code
    /// cavra cannot read, or acts on a remote service), or an MCP tool name whose server
    /// cannot be told: decided by the pack's `agents.unknown_tool` setting (default
    /// `require_approval`), never allowed silently.
    Unknown {
        /// Why, and what to do.
        reason: String,
    },
    /// A known tool whose input lacks what cavra needs to judge it (a `Bash` call without a
    /// `command`): blocked.
    Invalid {
        /// What is missing.
        reason: String,
    },
}

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

fn invalid(tool: &str, keys: &[&str]) -> Mapping {
    Mapping::Invalid {
        reason: format!(
            "{tool} without {} cannot be judged",
            if keys.is_empty() {
                "its input".to_string()
            } else {
                keys.join(" or ")
            }
        ),
    }
}

fn file(ctx: &Context, action: ActionType, input: &Value, keys: &[&str], tool: &str) -> Mapping {
    match str_field(input, keys) {
        Some(path) => Mapping::Requests(vec![make(ctx, action, path)]),
        None => invalid(tool, keys),
    }
}

/// A search or listing: a read of the folder (or file) it searches, the working folder when
/// none is given; and when a glob filter names the files whose content is searched, a read of
/// every file it can match. Without a `/` the glob matches a name at any depth (ripgrep's
/// rule); the engine judges a globbed path by what it can expand to.
fn search(ctx: &Context, input: &Value, path_keys: &[&str], filter_keys: &[&str]) -> Mapping {
    let base = str_field(input, path_keys).unwrap_or(&ctx.cwd).to_string();
    let mut requests = vec![make(ctx, ActionType::ReadFile, base.clone())];
    if let Some(glob) = str_field(input, filter_keys).map(str::trim) {
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

/// A word as the shell reads it back: bare when it holds nothing special, else single-quoted.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:@%+,-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line in the first of `keys`: a string as given, an argv array (Codex's
/// `shell`) joined into the line that runs it.
fn command_text(input: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match input.get(*k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Array(words) if !words.is_empty() => {
            let words: Option<Vec<&str>> = words.iter().map(Value::as_str).collect();
            Some(
                words?
                    .into_iter()
                    .map(shell_quote)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
        _ => None,
    })
}

fn command(ctx: &Context, input: &Value, keys: &[&str], tool: &str) -> Mapping {
    match command_text(input, keys) {
        Some(c) => Mapping::Requests(vec![make(ctx, ActionType::ExecuteCommand, c)]),
        None => Mapping::Invalid {
            reason: format!("{tool} without a command cannot be judged"),
        },
    }
}

fn urls_in(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches([',', '.', ')', ']', '"', '\'']))
        .collect()
}

fn network(ctx: &Context, input: &Value, tool: &str) -> Mapping {
    if let Some(url) = str_field(input, &["url"]) {
        return Mapping::Requests(vec![make(ctx, ActionType::NetworkRequest, url)]);
    }
    // Gemini's web_fetch takes a prompt holding the URLs.
    let urls = str_field(input, &["prompt"])
        .map(urls_in)
        .unwrap_or_default();
    if urls.is_empty() {
        return Mapping::Invalid {
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
        return Mapping::Invalid {
            reason: "an MCP call without a server and a tool name cannot be judged".into(),
        };
    }
    let mut r = make(ctx, ActionType::McpToolCall, format!("{server}/{tool}"));
    r.server = Some(server.to_string());
    r.tool = Some(tool.to_string());
    r.arguments = Some(arguments.clone());
    Mapping::Requests(vec![r])
}

/// `mcp__<server>__<tool>` (Claude Code, Codex) read the simple way: the server up to the
/// first `__`, the tool after it. A name with more `__` can be read more than one way; see
/// [`mcp_name`] for how cavra decides which.
pub fn split_mcp_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then_some((server, tool))
}

/// How an agent flattens an MCP server and tool into one tool name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct McpNaming {
    prefix: &'static str,
    separator: &'static str,
}

/// The naming conventions an agent's MCP tool names may follow, in the order tried.
fn namings(agent: Agent) -> &'static [McpNaming] {
    const DOUBLE: McpNaming = McpNaming {
        prefix: "mcp__",
        separator: "__",
    };
    match agent {
        Agent::ClaudeCode | Agent::Codex => &[DOUBLE],
        // Gemini CLI names them `mcp_<server>_<tool>` (and before 0.2x `mcp__…__…`).
        Agent::Gemini => &[
            DOUBLE,
            McpNaming {
                prefix: "mcp_",
                separator: "_",
            },
        ],
        // Copilot CLI names them `<server-key>-<tool>`; its built-in names hold no `-`.
        Agent::Copilot => &[
            DOUBLE,
            McpNaming {
                prefix: "",
                separator: "-",
            },
        ],
        // Cursor's `MCP:<server>:<tool>` is split by the parser, which sets the server.
        Agent::Cursor => &[DOUBLE],
    }
}

/// Every (flattened server, tool) split of `rest` at one `separator`.
fn readings<'a>(rest: &'a str, separator: &str) -> Vec<(&'a str, &'a str)> {
    rest.match_indices(separator)
        .map(|(i, _)| (&rest[..i], &rest[i + separator.len()..]))
        .filter(|(server, tool)| !server.is_empty() && !tool.is_empty())
        .collect()
}

/// Servers Copilot always has: its built-in GitHub MCP server.
const COPILOT_BUILTIN_SERVERS: &[&str] = &["github-mcp-server"];

/// How Claude Code writes a server's name inside a tool name: every character other than an
/// ASCII letter, digit, `_` or `-` becomes `_`. A plugin's server, which Claude Code names
/// `plugin:<plugin>:<server>`, is written `plugin_<plugin>_<server>`.
pub fn flattened_server_name(server: &str) -> String {
    server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What the flattened server part of a Claude Code tool name can stand for, when no known
/// server settles it: a plugin's server `plugin:<plugin>:<server>` for each `_` the plugin
/// and server names can be split at (`plugin_my_tools_db`: plugin `my` server `tools_db`, or
/// plugin `my_tools` server `db`), else the name itself.
fn unknown_servers(agent: Agent, naming: McpNaming, flat: &str) -> Vec<String> {
    let plugin = (agent == Agent::ClaudeCode && naming.prefix == "mcp__")
        .then(|| flat.strip_prefix("plugin_"))
        .flatten();
    match plugin {
        Some(rest) => readings(rest, "_")
            .into_iter()
            .map(|(plugin, server)| format!("plugin:{plugin}:{server}"))
            .collect(),
        None => vec![flat.to_string()],
    }
}

/// The MCP server and tool a tool name stands for, if it is an MCP tool name of this agent:
/// `Ok((server, tool))`, or `Err(reason)` when the name can be read as more than one server
/// and tool and cavra's known servers do not settle which (`mcp__github__shady__exec` is
/// server `github` with tool `shady__exec`, or server `github__shady` with tool `exec`).
/// A reading whose server is known wins; a name that has a single reading needs no lookup.
///
/// Claude Code names a plugin's MCP tools `mcp__plugin_<plugin>_<server>__<tool>` (its server
/// `plugin:<plugin>:<server>`, flattened): such a name is read as that plugin's server, named
/// `plugin:<plugin>:<server>` as Claude Code names it, never as a server of the same name
/// configured elsewhere. Known servers are compared in Claude Code's flattened spelling, so a
/// registry entry `my.docs` or `plugin:my-tools:db` settles `mcp__my_docs__…` and
/// `mcp__plugin_my-tools_db__…`.
pub fn mcp_name(
    event: &HookEvent,
    known_servers: &[String],
) -> Option<Result<(String, String), String>> {
    let name = event.tool_name.as_str();
    // The agent named the server itself (Gemini's mcp_context, Cursor): take the tool from
    // the agent too, or from the name after the server.
    if let Some(server) = event.mcp_server.as_deref().filter(|s| !s.is_empty()) {
        if let Some(tool) = event.mcp_tool.as_deref().filter(|t| !t.is_empty()) {
            return Some(Ok((server.to_string(), tool.to_string())));
        }
        for naming in namings(event.agent) {
            if naming.prefix.is_empty() {
                continue;
            }
            let lead = format!("{}{server}{}", naming.prefix, naming.separator);
            if let Some(tool) = name.strip_prefix(&lead).filter(|t| !t.is_empty()) {
                return Some(Ok((server.to_string(), tool.to_string())));
            }
        }
    }
    for naming in namings(event.agent) {
        let Some(rest) = name.strip_prefix(naming.prefix) else {
            continue;
        };
        if naming.prefix.is_empty() && tools::find(event.agent, name).is_some() {
            continue;
        }
        let splits = readings(rest, naming.separator);
        if splits.is_empty() {
            continue;
        }
        let flattens = event.agent == Agent::ClaudeCode && naming.prefix == "mcp__";
        let builtin: &[&str] = if event.agent == Agent::Copilot {
            COPILOT_BUILTIN_SERVERS
        } else {
            &[]
        };
        let names_server = |known: &str, flat: &str| {
            known == flat || (flattens && flattened_server_name(known) == flat)
        };
        let mut known: Vec<(String, &str)> = Vec::new();
        for (flat, tool) in &splits {
            for k in known_servers
                .iter()
                .map(String::as_str)
                .chain(builtin.iter().copied())
            {
                if names_server(k, flat) && !known.iter().any(|(s, t)| s == k && t == tool) {
                    known.push((k.to_string(), tool));
                }
            }
        }
        let all: Vec<(String, &str)> = splits
            .iter()
            .flat_map(|(flat, tool)| {
                unknown_servers(event.agent, *naming, flat)
                    .into_iter()
                    .map(move |server| (server, *tool))
            })
            .collect();
        return Some(match (all.as_slice(), known.as_slice()) {
            (_, [(server, tool)]) | ([(server, tool)], []) => {
                Ok((server.clone(), tool.to_string()))
            }
            _ => {
                let listed = if known.is_empty() { &all } else { &known };
                Err(format!(
                    "the MCP tool name `{name}` can be read as {}; cavra cannot tell which server it calls: {} (add the server to `cavra registry mcp` or the pack's mcp.allowed_servers — a Claude Code plugin's server as `plugin:<plugin>:<server>` — or rename the server without the separator)",
                    listed
                        .iter()
                        .map(|(s, t)| format!("server `{s}` tool `{t}`"))
                        .collect::<Vec<_>>()
                        .join(", or "),
                    if known.is_empty() {
                        "none of these servers is in the MCP registry or the pack's server lists"
                    } else {
                        "more than one of these servers is known"
                    },
                ))
            }
        });
    }
    None
}

/// Whether mapping this event may need the known MCP servers (its name could be read as
/// more than one server and tool, or, for Claude Code, its server could be spelled otherwise
/// in the registry or the pack), so the caller loads them only then.
pub fn needs_known_servers(event: &HookEvent) -> bool {
    if event.mcp_server.is_some() {
        return false;
    }
    match mcp_name(event, &[]) {
        Some(Err(_)) => true,
        // Claude Code writes other characters as `_` (`my.docs` is `my_docs`) and a plugin's
        // server as `plugin_<plugin>_<server>`: a known server may be spelled otherwise.
        Some(Ok((server, _))) => event.agent == Agent::ClaudeCode && server.contains(['_', ':']),
        None => false,
    }
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

fn string_list<'a>(input: &'a Value, keys: &[&str]) -> Vec<&'a str> {
    keys.iter()
        .find_map(|k| match input.get(*k)? {
            Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>()),
            Value::String(s) => Some(vec![s.as_str()]),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// What one built-in tool's call becomes.
fn by_effect(ctx: &Context, effect: Effect, input: &Value, name: &str) -> Mapping {
    match effect {
        Effect::Command(keys) => command(ctx, input, keys, name),
        Effect::Read(keys) => file(ctx, ActionType::ReadFile, input, keys, name),
        Effect::ReadOrWorkspace(keys) => {
            let paths = string_list(input, keys);
            let paths = if paths.is_empty() {
                vec![ctx.cwd.as_str()]
            } else {
                paths
            };
            Mapping::Requests(
                paths
                    .into_iter()
                    .map(|p| make(ctx, ActionType::ReadFile, p))
                    .collect(),
            )
        }
        Effect::Write(keys) => file(ctx, ActionType::WriteFile, input, keys, name),
        Effect::Delete(keys) => file(ctx, ActionType::DeleteFile, input, keys, name),
        Effect::Search { path, filter } => search(ctx, input, path, filter),
        Effect::ReadList(keys) => {
            let paths = string_list(input, keys);
            if paths.is_empty() {
                return invalid(name, keys);
            }
            Mapping::Requests(
                paths
                    .into_iter()
                    .map(|p| make(ctx, ActionType::ReadFile, p))
                    .collect(),
            )
        }
        Effect::Fetch => network(ctx, input, name),
        Effect::Patch => {
            let text = str_field(input, &["command", "patch", "input", "raw"]).unwrap_or_default();
            let files = patch_files(text);
            if files.is_empty() {
                return Mapping::Invalid {
                    reason: format!("{name} names no file (`*** Add/Update/Delete File:`)"),
                };
            }
            Mapping::Requests(files.into_iter().map(|(a, p)| make(ctx, a, p)).collect())
        }
        Effect::McpOperation {
            method,
            needs_server,
        } => match str_field(input, &["server", "server_name"]) {
            Some(server) => mcp(ctx, server, method, input),
            None if needs_server => invalid(name, &["server"]),
            None => Mapping::Harmless {
                reason: format!("{name} lists what the configured MCP servers offer"),
            },
        },
        Effect::Monitor => {
            if input.get("command").is_some() {
                command(ctx, input, &["command"], name)
            } else if let Some(url) = input
                .get("ws")
                .and_then(|w| w.get("url"))
                .and_then(Value::as_str)
            {
                Mapping::Requests(vec![make(ctx, ActionType::NetworkRequest, url)])
            } else {
                invalid(name, &["command", "ws.url"])
            }
        }
        Effect::EnterWorktree => {
            let path = str_field(input, &["path"])
                .map(str::to_string)
                .or_else(|| str_field(input, &["name"]).map(|n| format!(".claude/worktrees/{n}")))
                .unwrap_or_else(|| ".claude/worktrees/".to_string());
            Mapping::Requests(vec![make(
                ctx,
                ActionType::ExecuteCommand,
                format!("git worktree add {}", shell_quote(&path)),
            )])
        }
        Effect::ExitWorktree => {
            if str_field(input, &["action"]) != Some("remove") {
                return Mapping::Harmless {
                    reason: format!("{name} leaves the worktree and keeps it"),
                };
            }
            let force = input
                .get("discard_changes")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Mapping::Requests(vec![make(
                ctx,
                ActionType::ExecuteCommand,
                if force {
                    "git worktree remove --force ."
                } else {
                    "git worktree remove ."
                },
            )])
        }
        Effect::Upload => {
            let mut requests: Vec<Request> =
                string_list(input, &["file_path", "file_paths", "local_path"])
                    .into_iter()
                    .map(|p| make(ctx, ActionType::ReadFile, p))
                    .collect();
            if let Some(dir) = str_field(input, &["out_dir"]) {
                requests.push(make(ctx, ActionType::WriteFile, format!("{dir}/**")));
            }
            if requests.is_empty() {
                Mapping::Harmless {
                    reason: format!(
                        "{name} reads or lists content on the agent vendor's service, no local file"
                    ),
                }
            } else {
                Mapping::Requests(requests)
            }
        }
        Effect::Workflow => match str_field(input, &["scriptPath"]) {
            Some(script) => Mapping::Requests(vec![make(ctx, ActionType::ReadFile, script)]),
            None => Mapping::Harmless {
                reason: format!(
                    "{name} orchestrates subagents whose own tool calls pass through these hooks"
                ),
            },
        },
        Effect::Harmless(why) => Mapping::Harmless {
            reason: format!("{name} {why}"),
        },
        Effect::Opaque(why) => Mapping::Unknown {
            reason: format!("the {name} tool {why}"),
        },
    }
}

/// Maps a tool call to what cavra decides.
pub fn map_tool(event: &HookEvent, ctx: &Context) -> Mapping {
    let input = &event.tool_input;
    let name = event.tool_name.as_str();
    if let Some(tool) = tools::find(event.agent, name) {
        return by_effect(ctx, tool.effect, input, name);
    }
    // Cursor's MCP events: `MCP:<tool>` with the server set by the parser.
    if event.agent == Agent::Cursor
        && let Some(tool) = name.strip_prefix("MCP:")
    {
        return match event.mcp_server.as_deref() {
            Some(server) => mcp(ctx, server, tool, input),
            None => Mapping::Unknown {
                reason: format!(
                    "the MCP tool `{tool}` came without its server; cavra cannot tell which server it calls"
                ),
            },
        };
    }
    match mcp_name(event, &ctx.known_mcp_servers) {
        Some(Ok((server, tool))) => mcp(ctx, &server, &tool, input),
        Some(Err(reason)) => Mapping::Unknown { reason },
        None => Mapping::Unknown {
            reason: format!(
                "cavra does not know the {} tool `{name}`, so it cannot tell what it reads, writes or runs",
                event.agent
            ),
        },
    }
}

#[cfg(test)]
mod tests;
