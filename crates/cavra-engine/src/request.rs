//! The request every entry point builds: CLI, hooks, API, MCP and CI alike.

use cavra_policy::{ActionType, Mode};
use serde::{Deserialize, Serialize};

/// An action an agent is about to take, with its context.
///
/// Unknown fields are rejected so that a misspelt field (`brnach`) is an error rather than a
/// silently ignored condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// What kind of action.
    pub action: ActionType,
    /// The file path, command line, git target (`origin/main`), URL or PR title.
    #[serde(default)]
    pub target: String,
    /// For git: `push`, `commit`, `merge`, `tag`, `reset`, `rebase`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// For git: a force push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// The branch the agent works on (or pushes to, for git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// For MCP: the server name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// For MCP: the tool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For MCP: the tool's capability class (filesystem, shell, network, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// For MCP: the call's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    /// The repository root (absolute); paths inside it are matched repo-relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_root: Option<String>,
    /// The working folder relative paths and commands are resolved against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The user's home folder, for `~` patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Who is acting (a person or service account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Which agent (claude-code, codex, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The repository (`org/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The deployment environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The agent session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// A correlation id linking related decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Overrides the pack's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Who invokes break glass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_actor: Option<String>,
    /// Why (an incident reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_reason: Option<String>,
}

impl Request {
    /// A request with only an action and a target.
    pub fn new(action: ActionType, target: impl Into<String>) -> Self {
        Request {
            action,
            target: target.into(),
            operation: None,
            force: None,
            branch: None,
            server: None,
            tool: None,
            capability: None,
            arguments: None,
            repo_root: None,
            cwd: None,
            home: None,
            actor: None,
            agent_id: None,
            tenant: None,
            repository: None,
            environment: None,
            session_id: None,
            correlation_id: None,
            mode: None,
            break_glass_actor: None,
            break_glass_reason: None,
        }
    }
}

impl Request {
    /// A stable fingerprint of *what* is being done (not who, when or in which mode): the
    /// action, its target, operation, MCP server/tool/arguments, force flag, and the folders the
    /// target is resolved against. An approval is bound to this value, so it unlocks exactly
    /// the action it was granted for.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let parts = serde_json::json!({
            "action": self.action.as_str(),
            "target": self.target.trim(),
            "operation": self.operation,
            "force": self.force.unwrap_or(false),
            "server": self.server,
            "tool": self.tool,
            "arguments": self.arguments,
            "repo_root": self.repo_root,
            "cwd": self.cwd,
            "tenant": self.tenant,
            "repository": self.repository,
        });
        // serde_json keeps insertion order here (preserve_order), so the text is stable.
        let digest = Sha256::digest(parts.to_string().as_bytes());
        format!("sha256:{}", hex::encode(digest))
    }
}
