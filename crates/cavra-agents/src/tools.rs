//! Every built-in tool of every agent, and what it does — as data.
//!
//! One table per agent ([`tools_of`]), each entry a tool name as the agent sends it in its
//! hook payload and the [`Effect`] that says which cavra requests a call becomes. The tables
//! were checked against the agents' own releases (the versions are in [`CHECKED_AGAINST`] and
//! docs/agents.md); a tool an agent ships later is not in its table and is decided by the
//! pack's `agents.unknown_tool` setting until it is added here.
//!
//! Kept as `const` tables rather than a data file so that a lookup costs no parsing on the
//! hook's path, and so that a typo in an effect is a compile error; each table is one screen
//! of reviewable rows.

use crate::Agent;

/// What a tool call does, which decides the requests it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Runs the command line in the first of these input fields (a string, or an argv array).
    Command(&'static [&'static str]),
    /// Reads the file in the first of these fields.
    Read(&'static [&'static str]),
    /// Reads the file in the first of these fields; the working folder when none is given
    /// (code-intelligence tools that may look at the whole workspace).
    ReadOrWorkspace(&'static [&'static str]),
    /// Writes (creates, edits) the file in the first of these fields.
    Write(&'static [&'static str]),
    /// Deletes the file in the first of these fields.
    Delete(&'static [&'static str]),
    /// Reads every file under the folder in the first of `path` (the working folder when none
    /// is given), narrowed by the glob in the first of `filter` when there is one.
    Search {
        /// Fields naming the searched folder.
        path: &'static [&'static str],
        /// Fields naming a glob filter on the files searched.
        filter: &'static [&'static str],
    },
    /// Reads every path of the list in the first of these fields.
    ReadList(&'static [&'static str]),
    /// Fetches the URL in `url`, or every URL in a `prompt` (Gemini's `web_fetch`).
    Fetch,
    /// A patch in Codex's `apply_patch` format: one write or delete per file it names.
    Patch,
    /// An MCP protocol operation (`resources/read`, `resources/list`) on the server named in
    /// `server`; without a server it is harmless when `needs_server` is false.
    McpOperation {
        /// The MCP method it performs.
        method: &'static str,
        /// Whether a call without a server cannot be judged (it reads an unnamed server).
        needs_server: bool,
    },
    /// Claude Code's `Monitor`: a command (`command`) or a WebSocket (`ws.url`).
    Monitor,
    /// Claude Code's `EnterWorktree`: `git worktree add` of `path` (or of
    /// `.claude/worktrees/<name>`).
    EnterWorktree,
    /// Claude Code's `ExitWorktree`: `git worktree remove` when `action` is `remove`.
    ExitWorktree,
    /// A tool that uploads local files (`file_path`, `file_paths`, `local_path`) somewhere
    /// and may save one (`out_dir`): reads of the uploaded files, a write of the saved one.
    Upload,
    /// Reads the script in `scriptPath` when given; what the script starts (subagents) passes
    /// through the hooks itself.
    Workflow,
    /// Touches nothing cavra governs; the reason says why.
    Harmless(&'static str),
    /// Does something cavra cannot express as requests (runs code it cannot read, acts on a
    /// remote service): decided by the pack's `agents.unknown_tool` setting, like an unknown
    /// tool, with this reason.
    Opaque(&'static str),
}

/// One built-in tool of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The name in the agent's hook payload.
    pub name: &'static str,
    /// What a call does.
    pub effect: Effect,
}

/// The agent releases the tables were checked against.
pub const CHECKED_AGAINST: &[(Agent, &str)] = &[
    (
        Agent::ClaudeCode,
        "@anthropic-ai/claude-code 2.1.332 (tool names from the native binary, inputs from its sdk-tools.d.ts)",
    ),
    (
        Agent::Codex,
        "@openai/codex 0.171.0 (tool names from the binary; hook payloads from codex-rs/hooks)",
    ),
    (
        Agent::Gemini,
        "@google/gemini-cli 0.61.0 (packages/core/src/tools/tool-names.ts, bundled)",
    ),
    (
        Agent::Copilot,
        "@github/copilot 1.0.102 (docs.github.com Copilot CLI reference; the bundle is compressed)",
    ),
    (
        Agent::Cursor,
        "Cursor agent hooks reference (cursor.com/docs/agent/hooks), 2026-11",
    ),
];

const SUBAGENT: &str = "starts a subagent whose own tool calls pass through these hooks";
const TASKS: &str = "updates the agent's own task list";
const ASKS: &str = "asks the person a question";
const OWN_OUTPUT: &str =
    "reads or stops a process the agent already started (its start was decided)";
const SEARCH_ONLINE: &str = "the query goes to the model provider's search; no page reaches this machine (fetches are decided)";
const MODE: &str = "changes the agent's own mode or plan";
const MESSAGE: &str = "sends the agent's own text to the person or another agent";
const TOOL_LOOKUP: &str = "loads the definitions of more tools; their calls are decided";
const SKILL: &str =
    "loads a skill's instructions; what the skill runs goes through the decided tools";

const PATH: &[&str] = &["file_path", "path"];
const NOTEBOOK: &[&str] = &["notebook_path", "file_path"];
const GEMINI_PATH: &[&str] = &["file_path", "absolute_path", "path"];
const GEMINI_DIR: &[&str] = &["dir_path", "path", "absolute_path"];

/// Claude Code.
const CLAUDE_CODE: &[Tool] = &[
    t("Bash", Effect::Command(&["command"])),
    t("PowerShell", Effect::Command(&["command"])),
    t("Monitor", Effect::Monitor),
    t("Read", Effect::Read(PATH)),
    t("NotebookRead", Effect::Read(NOTEBOOK)),
    t(
        "LSP",
        Effect::ReadOrWorkspace(&["filePath", "file_path", "path"]),
    ),
    t(
        "Grep",
        Effect::Search {
            path: &["path"],
            filter: &["glob"],
        },
    ),
    t(
        "Glob",
        Effect::Search {
            path: &["path"],
            filter: &[],
        },
    ),
    t(
        "LS",
        Effect::Search {
            path: &["path"],
            filter: &[],
        },
    ),
    t("Write", Effect::Write(PATH)),
    t("Edit", Effect::Write(PATH)),
    t("MultiEdit", Effect::Write(PATH)),
    t("NotebookEdit", Effect::Write(NOTEBOOK)),
    t("WebFetch", Effect::Fetch),
    t("WebSearch", Effect::Harmless(SEARCH_ONLINE)),
    t(
        "ReadMcpResourceTool",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "ReadMcpResourceDirTool",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "ReadMcpResource",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "ReadMcpResourceDir",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "ListMcpResourcesTool",
        Effect::McpOperation {
            method: "resources/list",
            needs_server: false,
        },
    ),
    t(
        "ListMcpResources",
        Effect::McpOperation {
            method: "resources/list",
            needs_server: false,
        },
    ),
    t(
        "RefreshMcpTools",
        Effect::Harmless("reconnects the configured MCP servers; their tool calls are decided"),
    ),
    t(
        "WaitForMcpServers",
        Effect::Harmless("waits for the configured MCP servers to start"),
    ),
    t("EnterWorktree", Effect::EnterWorktree),
    t("ExitWorktree", Effect::ExitWorktree),
    t("Workflow", Effect::Workflow),
    t("SendUserFile", Effect::Upload),
    t("Artifact", Effect::Upload),
    t("Projects", Effect::Upload),
    t("Agent", Effect::Harmless(SUBAGENT)),
    t("Task", Effect::Harmless(SUBAGENT)),
    t("TeamCreate", Effect::Harmless(SUBAGENT)),
    t("TeamDelete", Effect::Harmless("stops a team of subagents")),
    t("SendMessage", Effect::Harmless(MESSAGE)),
    t(
        "ListAgents",
        Effect::Harmless("lists the agent's subagents"),
    ),
    t("ListPeers", Effect::Harmless("lists the agent's peers")),
    t(
        "SubagentHandback",
        Effect::Harmless("returns a subagent's result"),
    ),
    t("TaskCreate", Effect::Harmless(TASKS)),
    t("TaskGet", Effect::Harmless(TASKS)),
    t("TaskUpdate", Effect::Harmless(TASKS)),
    t("TaskList", Effect::Harmless(TASKS)),
    t("TodoWrite", Effect::Harmless(TASKS)),
    t("TodoRead", Effect::Harmless(TASKS)),
    t("TaskOutput", Effect::Harmless(OWN_OUTPUT)),
    t("TaskStop", Effect::Harmless(OWN_OUTPUT)),
    t("BashOutput", Effect::Harmless(OWN_OUTPUT)),
    t("KillShell", Effect::Harmless(OWN_OUTPUT)),
    t("KillBash", Effect::Harmless(OWN_OUTPUT)),
    t(
        "CronCreate",
        Effect::Harmless(
            "schedules a prompt for later in this session; the tools it then calls are decided",
        ),
    ),
    t("CronDelete", Effect::Harmless("removes a scheduled prompt")),
    t("CronList", Effect::Harmless("lists scheduled prompts")),
    t(
        "ScheduleWakeup",
        Effect::Harmless("resumes this session later; the tools it then calls are decided"),
    ),
    t("ToolSearch", Effect::Harmless(TOOL_LOOKUP)),
    t("Skill", Effect::Harmless(SKILL)),
    t("AskUserQuestion", Effect::Harmless(ASKS)),
    t("EnterPlanMode", Effect::Harmless(MODE)),
    t("ExitPlanMode", Effect::Harmless(MODE)),
    t("SetGoal", Effect::Harmless(MODE)),
    t("ProposeGoal", Effect::Harmless(MODE)),
    t("propose_skills", Effect::Harmless(MODE)),
    t("EndConversation", Effect::Harmless("ends the conversation")),
    t("SendUserMessage", Effect::Harmless(MESSAGE)),
    t("Brief", Effect::Harmless(MESSAGE)),
    t("PushNotification", Effect::Harmless(MESSAGE)),
    t("ReportFindings", Effect::Harmless(MESSAGE)),
    t(
        "SendFeedback",
        Effect::Harmless("sends the agent's feedback text to its vendor"),
    ),
    t(
        "ReadNotifications",
        Effect::Harmless("reads the agent's own notifications"),
    ),
    t(
        "ShowOnboardingRolePicker",
        Effect::Harmless("shows the agent's onboarding"),
    ),
    t(
        "ShareOnboardingGuide",
        Effect::Harmless("shows the agent's onboarding"),
    ),
    t(
        "OfferChromeSetup",
        Effect::Harmless("offers the agent's browser extension set-up"),
    ),
    t(
        "StructuredOutput",
        Effect::Harmless("returns the agent's final answer in a schema"),
    ),
    t(
        "Sleep",
        Effect::Harmless("waits; the agent's next calls are decided"),
    ),
    t(
        "RemoteTrigger",
        Effect::Opaque(
            "creates or runs agents on Anthropic's cloud, whose tool calls never pass through this machine's hooks",
        ),
    ),
    t(
        "ClaudeDesign",
        Effect::Opaque("acts on a Claude Design project on a remote service"),
    ),
    t(
        "REPL",
        Effect::Opaque("runs code that cavra cannot read as commands or file access"),
    ),
    t(
        "Config",
        Effect::Opaque("changes the agent's own settings, which can include its permissions"),
    ),
];

/// OpenAI Codex CLI. Codex reports its shell tools (`shell`, `exec_command`, …) as `Bash`
/// and its edit tool as `apply_patch`; the other names are its function tools.
const CODEX: &[Tool] = &[
    t("Bash", Effect::Command(&["command", "cmd"])),
    t("shell", Effect::Command(&["command", "cmd"])),
    t("shell_command", Effect::Command(&["command", "cmd"])),
    t("exec_command", Effect::Command(&["cmd", "command"])),
    t("local_shell", Effect::Command(&["command", "cmd"])),
    // What is typed into a running session is run by whatever that session runs.
    t("write_stdin", Effect::Command(&["chars", "input"])),
    t("apply_patch", Effect::Patch),
    t("Edit", Effect::Patch),
    t("Write", Effect::Patch),
    t("view_image", Effect::Read(&["path", "file_path"])),
    t(
        "read_file",
        Effect::Read(&["file_path", "path", "absolute_path"]),
    ),
    t(
        "list_dir",
        Effect::Search {
            path: &["dir_path", "path"],
            filter: &[],
        },
    ),
    t(
        "grep_files",
        Effect::Search {
            path: &["path"],
            filter: &["include"],
        },
    ),
    t(
        "read_mcp_resource",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "list_mcp_resources",
        Effect::McpOperation {
            method: "resources/list",
            needs_server: false,
        },
    ),
    t(
        "list_mcp_resource_templates",
        Effect::McpOperation {
            method: "resources/templates/list",
            needs_server: false,
        },
    ),
    t("web_search", Effect::Harmless(SEARCH_ONLINE)),
    t(
        "image_generation",
        Effect::Harmless("generates an image on the model provider's side"),
    ),
    t("update_plan", Effect::Harmless(TASKS)),
    t("request_user_input", Effect::Harmless(ASKS)),
    t(
        "request_permissions",
        Effect::Harmless("asks the person for wider sandbox permissions; the person answers"),
    ),
    t("spawn_agent", Effect::Harmless(SUBAGENT)),
    t("send_input", Effect::Harmless(MESSAGE)),
    t("send_message", Effect::Harmless(MESSAGE)),
    t("followup_task", Effect::Harmless(MESSAGE)),
    t("wait_agent", Effect::Harmless("waits for a subagent")),
    t("wait", Effect::Harmless("waits for a subagent")),
    t("close_agent", Effect::Harmless("stops a subagent")),
    t("resume_agent", Effect::Harmless(SUBAGENT)),
    t(
        "list_agents",
        Effect::Harmless("lists the agent's subagents"),
    ),
    t("tool_search", Effect::Harmless(TOOL_LOOKUP)),
    t("tool_suggest", Effect::Harmless(TOOL_LOOKUP)),
    t(
        "js_repl",
        Effect::Opaque("runs JavaScript that cavra cannot read as commands or file access"),
    ),
];

/// Google Gemini CLI.
const GEMINI: &[Tool] = &[
    t("run_shell_command", Effect::Command(&["command"])),
    t("read_file", Effect::Read(GEMINI_PATH)),
    t("read_many_files", Effect::ReadList(&["include", "paths"])),
    t(
        "list_directory",
        Effect::Search {
            path: GEMINI_DIR,
            filter: &[],
        },
    ),
    t(
        "glob",
        Effect::Search {
            path: GEMINI_DIR,
            filter: &[],
        },
    ),
    t(
        "grep_search",
        Effect::Search {
            path: GEMINI_DIR,
            filter: &["include_pattern", "include"],
        },
    ),
    t(
        "search_file_content",
        Effect::Search {
            path: GEMINI_DIR,
            filter: &["include_pattern", "include"],
        },
    ),
    t("write_file", Effect::Write(GEMINI_PATH)),
    t("replace", Effect::Write(GEMINI_PATH)),
    t("web_fetch", Effect::Fetch),
    t("google_web_search", Effect::Harmless(SEARCH_ONLINE)),
    t(
        "read_mcp_resource",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "list_mcp_resources",
        Effect::McpOperation {
            method: "resources/list",
            needs_server: false,
        },
    ),
    t("write_todos", Effect::Harmless(TASKS)),
    t("tracker_create_task", Effect::Harmless(TASKS)),
    t("tracker_update_task", Effect::Harmless(TASKS)),
    t("tracker_get_task", Effect::Harmless(TASKS)),
    t("tracker_list_tasks", Effect::Harmless(TASKS)),
    t("tracker_add_dependency", Effect::Harmless(TASKS)),
    t("tracker_visualize", Effect::Harmless(TASKS)),
    t("complete_task", Effect::Harmless(TASKS)),
    t("update_topic", Effect::Harmless(TASKS)),
    t(
        "save_memory",
        Effect::Harmless("stores a note in the agent's own memory file"),
    ),
    t("activate_skill", Effect::Harmless(SKILL)),
    t("ask_user", Effect::Harmless(ASKS)),
    t("enter_plan_mode", Effect::Harmless(MODE)),
    t("exit_plan_mode", Effect::Harmless(MODE)),
    t(
        "get_internal_docs",
        Effect::Harmless("reads the agent's own bundled documentation"),
    ),
    t("invoke_agent", Effect::Harmless(SUBAGENT)),
    t("codebase_investigator", Effect::Harmless(SUBAGENT)),
    t("cli_help", Effect::Harmless(SUBAGENT)),
    t("generalist", Effect::Harmless(SUBAGENT)),
    t(
        "browser_agent",
        Effect::Opaque(
            "drives a web browser, which reaches whatever sites it is told to outside cavra's network rules",
        ),
    ),
    t("list_background_processes", Effect::Harmless(OWN_OUTPUT)),
    t("read_background_output", Effect::Harmless(OWN_OUTPUT)),
];

/// GitHub Copilot CLI (and the coding agent). Newer CLI versions also send Claude Code's
/// names (`Bash`, `Read`, `Write`, `Edit`) in the snake_case payload.
const COPILOT: &[Tool] = &[
    t("bash", Effect::Command(&["command"])),
    t("powershell", Effect::Command(&["command"])),
    t("write_bash", Effect::Command(&["input", "command"])),
    t("write_powershell", Effect::Command(&["input", "command"])),
    t("Bash", Effect::Command(&["command"])),
    t("view", Effect::Read(PATH)),
    t("Read", Effect::Read(PATH)),
    t("show_file", Effect::Read(PATH)),
    t("create", Effect::Write(PATH)),
    t("edit", Effect::Write(PATH)),
    t("str_replace", Effect::Write(PATH)),
    t("str_replace_editor", Effect::Write(PATH)),
    t("Write", Effect::Write(PATH)),
    t("Edit", Effect::Write(PATH)),
    t("apply_patch", Effect::Patch),
    t(
        "grep",
        Effect::Search {
            path: &["path"],
            filter: &["glob"],
        },
    ),
    t(
        "rg",
        Effect::Search {
            path: &["path"],
            filter: &["glob"],
        },
    ),
    t(
        "glob",
        Effect::Search {
            path: &["path"],
            filter: &[],
        },
    ),
    t("web_fetch", Effect::Fetch),
    t("web_search", Effect::Harmless(SEARCH_ONLINE)),
    t("read_bash", Effect::Harmless(OWN_OUTPUT)),
    t("stop_bash", Effect::Harmless(OWN_OUTPUT)),
    t("list_bash", Effect::Harmless(OWN_OUTPUT)),
    t("read_powershell", Effect::Harmless(OWN_OUTPUT)),
    t("stop_powershell", Effect::Harmless(OWN_OUTPUT)),
    t("list_powershell", Effect::Harmless(OWN_OUTPUT)),
    t("task", Effect::Harmless(SUBAGENT)),
    t("read_agent", Effect::Harmless(SUBAGENT)),
    t("write_agent", Effect::Harmless(MESSAGE)),
    t(
        "list_agents",
        Effect::Harmless("lists the agent's subagents"),
    ),
    t("ask_user", Effect::Harmless(ASKS)),
    t(
        "report_intent",
        Effect::Harmless("reports what the agent intends to do"),
    ),
    t("think", Effect::Harmless("the agent's own reasoning")),
    t("update_todo", Effect::Harmless(TASKS)),
    t(
        "sql",
        Effect::Harmless("queries the session's own task database"),
    ),
    t(
        "store_memory",
        Effect::Harmless("stores a note in the agent's own memory"),
    ),
    t("skill", Effect::Harmless(SKILL)),
    t(
        "fetch_copilot_cli_documentation",
        Effect::Harmless("reads the agent's own documentation"),
    ),
    t("exit_plan_mode", Effect::Harmless(MODE)),
    t("task_complete", Effect::Harmless(MODE)),
];

/// Cursor (the `preToolUse` names; the `before*` events are mapped onto `Shell`, `Read` and
/// `MCP:` by the parser).
const CURSOR: &[Tool] = &[
    t("Shell", Effect::Command(&["command"])),
    t("WriteShellStdin", Effect::Command(&["input", "chars"])),
    t("Read", Effect::Read(PATH)),
    t(
        "ReadLints",
        Effect::ReadOrWorkspace(&["path", "file_path", "paths"]),
    ),
    t(
        "Grep",
        Effect::Search {
            path: &["path"],
            filter: &["glob"],
        },
    ),
    t(
        "Glob",
        Effect::Search {
            path: &["target_directory", "path"],
            filter: &[],
        },
    ),
    t(
        "LS",
        Effect::Search {
            path: &["target_directory", "path"],
            filter: &[],
        },
    ),
    t(
        "SemanticSearch",
        Effect::Search {
            path: &["target_directory", "path"],
            filter: &[],
        },
    ),
    t(
        "SemSearch",
        Effect::Search {
            path: &["target_directory", "path"],
            filter: &[],
        },
    ),
    t("Write", Effect::Write(PATH)),
    t("Edit", Effect::Write(PATH)),
    t("StrReplace", Effect::Write(PATH)),
    t("TabWrite", Effect::Write(PATH)),
    t("EditNotebook", Effect::Write(NOTEBOOK)),
    t("ApplyAgentDiff", Effect::Write(PATH)),
    t("Delete", Effect::Delete(PATH)),
    t("WebFetch", Effect::Fetch),
    t("Fetch", Effect::Fetch),
    t("WebSearch", Effect::Harmless(SEARCH_ONLINE)),
    t(
        "ReadMcpResource",
        Effect::McpOperation {
            method: "resources/read",
            needs_server: true,
        },
    ),
    t(
        "ListMcpResources",
        Effect::McpOperation {
            method: "resources/list",
            needs_server: false,
        },
    ),
    t("TodoWrite", Effect::Harmless(TASKS)),
    t("UpdateTodos", Effect::Harmless(TASKS)),
    t("ReadTodos", Effect::Harmless(TASKS)),
    t("CreatePlan", Effect::Harmless(MODE)),
    t("SwitchMode", Effect::Harmless(MODE)),
    t("AskQuestion", Effect::Harmless(ASKS)),
    t("Task", Effect::Harmless(SUBAGENT)),
];

const fn t(name: &'static str, effect: Effect) -> Tool {
    Tool { name, effect }
}

/// An agent's built-in tools.
pub fn tools_of(agent: Agent) -> &'static [Tool] {
    match agent {
        Agent::ClaudeCode => CLAUDE_CODE,
        Agent::Codex => CODEX,
        Agent::Gemini => GEMINI,
        Agent::Copilot => COPILOT,
        Agent::Cursor => CURSOR,
    }
}

/// The built-in tool of this name, if the agent has one.
pub fn find(agent: Agent, name: &str) -> Option<&'static Tool> {
    tools_of(agent).iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_table_names_each_tool_once_and_every_agent_is_checked() {
        for agent in Agent::ALL {
            let mut seen = BTreeSet::new();
            for tool in tools_of(agent) {
                assert!(seen.insert(tool.name), "{agent}: {} twice", tool.name);
                assert!(!tool.name.is_empty());
            }
            assert!(
                CHECKED_AGAINST.iter().any(|(a, _)| *a == agent),
                "{agent} has no checked-against version"
            );
        }
    }

    #[test]
    fn the_issue_s_current_tools_are_known() {
        let expect = [
            (
                Agent::ClaudeCode,
                &[
                    "TaskCreate",
                    "TaskUpdate",
                    "ToolSearch",
                    "PowerShell",
                    "Monitor",
                    "LSP",
                    "EnterWorktree",
                    "SendMessage",
                    "CronCreate",
                    "Workflow",
                ][..],
            ),
            (Agent::Codex, &["spawn_agent"][..]),
            (
                Agent::Gemini,
                &[
                    "ask_user",
                    "activate_skill",
                    "invoke_agent",
                    "tracker_create_task",
                    "tracker_visualize",
                ][..],
            ),
            (Agent::Copilot, &["task", "ask_user", "powershell"][..]),
            (Agent::Cursor, &["ReadLints", "SemanticSearch"][..]),
        ];
        for (agent, names) in expect {
            for name in names {
                assert!(find(agent, name).is_some(), "{agent}: {name}");
            }
        }
    }
}
