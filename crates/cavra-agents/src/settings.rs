//! Where each agent keeps its hook settings, which of its events cavra registers for, and how
//! cavra's own hook command is recognised there. Pure data and parsing: `cavra init` writes
//! the settings by it and `cavra doctor` reads them by it, so the two never disagree.

use crate::Agent;
use serde_json::Value;

/// The hook timeout `cavra init` registers, in seconds (the hook's own deadline stays well
/// inside it).
pub const HOOK_TIMEOUT_SECS: u64 = 10;

/// An agent's hook settings file and what cavra registers in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSettings {
    /// The settings file, relative to the repository root.
    pub file: &'static str,
    /// The hook events cavra registers for.
    pub events: &'static [&'static str],
    /// Claude-style files nest hooks in `{matcher, hooks: [...]}` groups.
    pub grouped: bool,
    /// Cursor and Copilot files carry `"version": 1`.
    pub versioned: bool,
}

/// The hook settings of an agent.
pub fn hook_settings(agent: Agent) -> HookSettings {
    match agent {
        Agent::ClaudeCode => HookSettings {
            file: ".claude/settings.json",
            events: &["PreToolUse", "PostToolUse"],
            grouped: true,
            versioned: false,
        },
        Agent::Codex => HookSettings {
            file: ".codex/hooks.json",
            events: &["PreToolUse", "PostToolUse"],
            grouped: true,
            versioned: false,
        },
        Agent::Gemini => HookSettings {
            file: ".gemini/settings.json",
            events: &["BeforeTool", "AfterTool"],
            grouped: true,
            versioned: false,
        },
        Agent::Cursor => HookSettings {
            file: ".cursor/hooks.json",
            events: &[
                "beforeShellExecution",
                "beforeReadFile",
                "beforeMCPExecution",
                "preToolUse",
            ],
            grouped: false,
            versioned: true,
        },
        Agent::Copilot => HookSettings {
            file: ".github/hooks/cavra.json",
            events: &["preToolUse", "postToolUse"],
            grouped: false,
            versioned: true,
        },
    }
}

/// cavra's hook command taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CavraHookCommand {
    /// The program as written (quotes kept).
    pub written: String,
    /// The program without quotes: a name looked up through `PATH`, or a path.
    pub program: String,
    /// Whether it is the slim client `cavra-hook` (which needs `cavra` beside it).
    pub slim: bool,
    /// Whether calls go through the repository's hook server (`cavra-hook`, or `--daemon`).
    pub daemon: bool,
    /// The options after the agent, other than `--daemon`.
    pub options: Vec<String>,
}

/// A command's program (as written, quotes kept), its unquoted text, and the rest.
fn split_program(command: &str) -> Option<(&str, &str, &str)> {
    let command = command.trim_start();
    // The program may be quoted (a path with spaces).
    match command.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let end = command[1..].find(q)?;
            Some((
                &command[..end + 2],
                &command[1..=end],
                command.get(end + 2..).unwrap_or(""),
            ))
        }
        _ => {
            let (p, rest) = command
                .split_once(char::is_whitespace)
                .unwrap_or((command, ""));
            Some((p, p, rest))
        }
    }
}

/// cavra's hook command for `agent` (`<…/cavra> hook <agent> …` or `<…/cavra-hook> <agent> …`)
/// taken apart; none when the command is not cavra's for that agent.
pub fn parse_hook_command(command: &str, agent: Agent) -> Option<CavraHookCommand> {
    let (written, program, rest) = split_program(command)?;
    let base = program.rsplit('/').next().unwrap_or("");
    let mut words = rest.split_whitespace();
    let ours = match base {
        "cavra" => words.next() == Some("hook") && words.next() == Some(agent.as_str()),
        "cavra-hook" => words.next() == Some(agent.as_str()),
        _ => false,
    };
    if !ours {
        return None;
    }
    let mut daemon = base == "cavra-hook";
    let mut options = Vec::new();
    for word in words {
        if word == "--daemon" {
            daemon = true;
        } else {
            options.push(word.to_string());
        }
    }
    Some(CavraHookCommand {
        written: written.to_string(),
        program: program.to_string(),
        slim: base == "cavra-hook",
        daemon,
        options,
    })
}

/// The commands of one entry of an event's list (a group's hooks, or the entry itself).
pub fn entry_commands(entry: &Value, grouped: bool) -> Vec<String> {
    let command = |h: &Value| {
        h.get("command")
            .or_else(|| h.get("bash"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if grouped {
        entry
            .get("hooks")
            .and_then(Value::as_array)
            .map(|hs| hs.iter().filter_map(command).collect())
            .unwrap_or_default()
    } else {
        command(entry).into_iter().collect()
    }
}

/// cavra's hook commands for `agent` in its parsed settings, per event cavra registers for
/// (an event without one is listed with none).
pub fn registered(doc: &Value, agent: Agent) -> Vec<(&'static str, Vec<CavraHookCommand>)> {
    let settings = hook_settings(agent);
    settings
        .events
        .iter()
        .map(|event| {
            let found = doc["hooks"][*event]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|entry| entry_commands(entry, settings.grouped))
                .filter_map(|c| parse_hook_command(&c, agent))
                .collect();
            (*event, found)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_cavra_commands() {
        let plain = parse_hook_command("/usr/local/bin/cavra hook claude-code", Agent::ClaudeCode)
            .expect("ours");
        assert_eq!(plain.program, "/usr/local/bin/cavra");
        assert!(!plain.slim && !plain.daemon);
        let quoted =
            parse_hook_command("'/opt/my tools/cavra' hook cursor --daemon", Agent::Cursor)
                .expect("ours");
        assert_eq!(quoted.program, "/opt/my tools/cavra");
        assert_eq!(quoted.written, "'/opt/my tools/cavra'");
        assert!(quoted.daemon && quoted.options.is_empty());
        let slim = parse_hook_command("cavra-hook codex --approval-mode store", Agent::Codex)
            .expect("ours");
        assert!(slim.slim && slim.daemon);
        assert_eq!(slim.options, ["--approval-mode", "store"]);
        assert!(parse_hook_command("cavra hook codex", Agent::ClaudeCode).is_none());
        assert!(parse_hook_command("./lint.sh", Agent::ClaudeCode).is_none());
        assert!(parse_hook_command("", Agent::ClaudeCode).is_none());
    }

    #[test]
    fn finds_registered_commands_per_event() {
        let doc = json!({"hooks": {
            "PreToolUse": [{"matcher": "*", "hooks": [
                {"type": "command", "command": "./lint.sh"},
                {"type": "command", "command": "cavra-hook claude-code"}
            ]}]
        }});
        let found = registered(&doc, Agent::ClaudeCode);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, "PreToolUse");
        assert_eq!(found[0].1.len(), 1);
        assert_eq!(found[1].0, "PostToolUse");
        assert!(found[1].1.is_empty());
        let copilot =
            json!({"version": 1, "hooks": {"preToolUse": [{"bash": "cavra hook copilot"}]}});
        assert_eq!(registered(&copilot, Agent::Copilot)[0].1.len(), 1);
    }
}
