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
        /// The fingerprinted members in their order; serialised as the `json!` object of
        /// them was (same members, same order, same text), without building a value.
        #[derive(Serialize)]
        struct Parts<'a> {
            action: &'a str,
            target: &'a str,
            operation: &'a Option<String>,
            force: bool,
            server: &'a Option<String>,
            tool: &'a Option<String>,
            arguments: &'a Option<serde_json::Value>,
            repo_root: &'a Option<String>,
            cwd: &'a Option<String>,
            tenant: &'a Option<String>,
            repository: &'a Option<String>,
        }
        let parts = Parts {
            action: self.action.as_str(),
            target: self.target.trim(),
            operation: &self.operation,
            force: self.force.unwrap_or(false),
            server: &self.server,
            tool: &self.tool,
            arguments: &self.arguments,
            repo_root: &self.repo_root,
            cwd: &self.cwd,
            tenant: &self.tenant,
            repository: &self.repository,
        };
        // Strings, options and a JSON value (whose keys are strings) always serialise.
        let text = serde_json::to_vec(&parts).unwrap_or_default();
        let digest = Sha256::digest(&text);
        format!("sha256:{}", hex::encode(digest))
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;
    use proptest::prelude::*;

    /// The fingerprint as it was computed before: a `json!` object, then its text.
    fn fingerprint_by_value(r: &Request) -> String {
        use sha2::{Digest, Sha256};
        let parts = serde_json::json!({
            "action": r.action.as_str(),
            "target": r.target.trim(),
            "operation": r.operation,
            "force": r.force.unwrap_or(false),
            "server": r.server,
            "tool": r.tool,
            "arguments": r.arguments,
            "repo_root": r.repo_root,
            "cwd": r.cwd,
            "tenant": r.tenant,
            "repository": r.repository,
        });
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(parts.to_string().as_bytes()))
        )
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ./_-]{0,10}",
            Just(" \"q\" \\ \n\t\u{1} é \u{1f600} ".to_string())
        ]
    }

    fn arguments() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e30f64..1e30f64).prop_map(serde_json::Value::from),
            text().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::vec(("[a-z]{0,4}", inner), 0..4)
                    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Written out from the request's fields, the fingerprint is the one the `json!`
        /// value gave, for any of the fingerprinted fields set or not.
        #[test]
        fn the_fingerprint_is_that_of_the_json_value(
            action in prop_oneof![
                Just(ActionType::ReadFile),
                Just(ActionType::ExecuteCommand),
                Just(ActionType::McpToolCall),
            ],
            target in text(),
            operation in proptest::option::of(text()),
            force in proptest::option::of(any::<bool>()),
            server in proptest::option::of(text()),
            tool in proptest::option::of(text()),
            args in proptest::option::of(arguments()),
            repo_root in proptest::option::of(text()),
            cwd in proptest::option::of(text()),
            tenant in proptest::option::of(text()),
            repository in proptest::option::of(text()),
        ) {
            let mut r = Request::new(action, target);
            r.operation = operation;
            r.force = force;
            r.server = server;
            r.tool = tool;
            r.arguments = args;
            r.repo_root = repo_root;
            r.cwd = cwd;
            r.tenant = tenant;
            r.repository = repository;
            prop_assert_eq!(r.fingerprint(), fingerprint_by_value(&r));
        }
    }
}
