//! The MCP registry: which MCP servers an organisation knows, how far it trusts each, which
//! tools and capabilities each may use — and the pure decision it implies for one tool call.
//!
//! Every place that governs an MCP tool call (the agent hook, `cavra evaluate`, the MCP proxy,
//! the API service) passes the same registry to [`crate::evaluate_with_registry`], so they all
//! decide the same way. The registry's verdict is one more matched rule (stable ids in
//! [`ids`]) combined with the pack's rules; the strictest decides.
//!
//! The order of the checks is fixed: an unregistered server is blocked; a blocked or denied
//! server is blocked; a pending or experimental (or unknown-tier) server needs approval; a tool
//! outside the allowed tools, or a capability outside the allowed capabilities, needs
//! approval; anything else is allowed.

use cavra_policy::Decision;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Stable rule ids of the registry's verdicts.
pub mod ids {
    /// The server is not in the registry.
    pub const UNREGISTERED: &str = "mcp.registry.unregistered";
    /// The server's trust tier is `blocked` or its approval was denied.
    pub const BLOCKED: &str = "mcp.registry.blocked";
    /// The server's approval is pending, or its tier is experimental or unknown.
    pub const PENDING: &str = "mcp.registry.pending";
    /// The tool is not among the server's allowed tools.
    pub const TOOL_NOT_ALLOWED: &str = "mcp.registry.tool_not_allowed";
    /// The tool's capability is outside the server's allowed capabilities.
    pub const CAPABILITY_NOT_ALLOWED: &str = "mcp.registry.capability_not_allowed";
    /// Every check passed.
    pub const ALLOWED: &str = "mcp.registry.allowed";
}

/// A value that is not one of the known words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`; expected one of: {expected}")]
pub struct UnknownWord {
    /// What kind of word.
    pub what: &'static str,
    /// What was given.
    pub given: String,
    /// The accepted words.
    pub expected: &'static str,
}

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word used in files, flags and records.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        what: $what,
                        given: s.to_string(),
                        expected: concat!($($word, " "),+),
                    }),
                }
            }
        }
    };
}

word_enum!(
    /// How far an organisation trusts an MCP server.
    TrustTier, "trust tier", {
        /// Vetted and relied on.
        Trusted => "trusted",
        /// Reviewed and approved for use.
        Approved => "approved",
        /// Being tried out: every call needs approval.
        Experimental => "experimental",
        /// Never to be used.
        Blocked => "blocked",
        /// Registered but not yet assessed: every call needs approval.
        Unknown => "unknown",
    }
);

word_enum!(
    /// Where the server's own approval stands.
    ServerApproval, "approval state", {
        /// Approved by its owner or a reviewer.
        Approved => "approved",
        /// Asked for, not yet decided.
        Pending => "pending",
        /// Refused.
        Denied => "denied",
    }
);

word_enum!(
    /// What a tool can reach.
    ToolCapability, "tool capability", {
        /// Reads or writes files.
        Filesystem => "filesystem",
        /// Runs commands.
        Shell => "shell",
        /// Talks to the network.
        Network => "network",
        /// Changes cloud resources.
        Cloud => "cloud",
        /// Reads or handles secrets.
        Secrets => "secrets",
        /// Works on source repositories (issues, pull requests, commits).
        Repository => "repository",
    }
);

/// One registered MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerEntry {
    /// The server's name, as agents and `.mcp.json` call it.
    pub name: String,
    /// The trust tier.
    pub trust_tier: TrustTier,
    /// Who answers for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where its approval stands.
    pub approval_state: ServerApproval,
    /// The tools it may be asked to run: exact names, `*` for every tool, or a trailing `*` as
    /// a prefix (`list_*`). Empty: no tool is allowed without approval.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// The capabilities its tools may have. Empty: no restriction by capability (the tool list
    /// governs); otherwise a call whose capability is outside the set, or cannot be told,
    /// needs approval.
    #[serde(default)]
    pub capabilities: Vec<ToolCapability>,
    /// Known capabilities of its tools, by tool name (overrides any classification).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_capabilities: BTreeMap<String, ToolCapability>,
}

impl McpServerEntry {
    /// A new entry with no tools and no capability restriction.
    pub fn new(
        name: impl Into<String>,
        trust_tier: TrustTier,
        approval_state: ServerApproval,
    ) -> Self {
        McpServerEntry {
            name: name.into(),
            trust_tier,
            owner: None,
            approval_state,
            allowed_tools: Vec::new(),
            capabilities: Vec::new(),
            tool_capabilities: BTreeMap::new(),
        }
    }

    /// Whether a tool name is among the allowed tools.
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.allowed_tools.iter().any(|pattern| {
            let pattern = pattern.trim();
            pattern == "*"
                || pattern == tool
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| !prefix.is_empty() && tool.starts_with(prefix))
        })
    }

    /// The capability recorded for a tool, if any.
    pub fn capability_of(&self, tool: &str) -> Option<ToolCapability> {
        self.tool_capabilities.get(tool).copied()
    }
}

/// The registry: every known MCP server by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpRegistry {
    /// Servers by name.
    #[serde(default)]
    pub servers: BTreeMap<String, McpServerEntry>,
}

/// The registry's verdict on one tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryVerdict {
    /// One of [`ids`].
    pub rule_id: String,
    /// The decision.
    pub decision: Decision,
    /// Why, in words.
    pub reason: String,
    /// The capability the call was judged with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<ToolCapability>,
}

impl McpRegistry {
    /// A registry of these entries (a later entry with the same name replaces an earlier one).
    pub fn from_entries(entries: impl IntoIterator<Item = McpServerEntry>) -> Self {
        McpRegistry {
            servers: entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        }
    }

    /// The entry of a server.
    pub fn server(&self, name: &str) -> Option<&McpServerEntry> {
        self.servers.get(name.trim())
    }

    /// Whether the registry has no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Decides one tool call. `capability` is what the caller knows about the tool (from the
    /// request, or the tool's annotations); the registry's own record for the tool wins over
    /// it, and name-based classification is the last resort.
    pub fn check(
        &self,
        server: &str,
        tool: &str,
        capability: Option<ToolCapability>,
    ) -> RegistryVerdict {
        let verdict = |rule_id: &str, decision: Decision, reason: String, cap| RegistryVerdict {
            rule_id: rule_id.to_string(),
            decision,
            reason,
            capability: cap,
        };
        let Some(entry) = self.server(server) else {
            return verdict(
                ids::UNREGISTERED,
                Decision::Block,
                format!("MCP server `{server}` is not in the MCP registry"),
                None,
            );
        };
        if entry.trust_tier == TrustTier::Blocked {
            return verdict(
                ids::BLOCKED,
                Decision::Block,
                format!("MCP server `{server}` is blocked in the MCP registry"),
                None,
            );
        }
        if entry.approval_state == ServerApproval::Denied {
            return verdict(
                ids::BLOCKED,
                Decision::Block,
                format!("MCP server `{server}` was denied approval in the MCP registry"),
                None,
            );
        }
        if entry.approval_state == ServerApproval::Pending {
            return verdict(
                ids::PENDING,
                Decision::RequireApproval,
                format!("MCP server `{server}`'s approval is pending in the MCP registry"),
                None,
            );
        }
        if matches!(
            entry.trust_tier,
            TrustTier::Experimental | TrustTier::Unknown
        ) {
            return verdict(
                ids::PENDING,
                Decision::RequireApproval,
                format!(
                    "MCP server `{server}` is {} in the MCP registry; each call is approved",
                    entry.trust_tier
                ),
                None,
            );
        }
        let capability = entry
            .capability_of(tool)
            .or(capability)
            .or_else(|| classify_tool(tool, ""));
        if !entry.allows_tool(tool) {
            return verdict(
                ids::TOOL_NOT_ALLOWED,
                Decision::RequireApproval,
                format!(
                    "tool `{tool}` is not among `{server}`'s allowed tools in the MCP registry"
                ),
                capability,
            );
        }
        if !entry.capabilities.is_empty() {
            match capability {
                Some(c) if entry.capabilities.contains(&c) => {}
                Some(c) => {
                    return verdict(
                        ids::CAPABILITY_NOT_ALLOWED,
                        Decision::RequireApproval,
                        format!(
                            "tool `{tool}` has capability {c}, outside `{server}`'s allowed capabilities ({})",
                            join(&entry.capabilities)
                        ),
                        Some(c),
                    );
                }
                None => {
                    return verdict(
                        ids::CAPABILITY_NOT_ALLOWED,
                        Decision::RequireApproval,
                        format!(
                            "tool `{tool}`'s capability is unknown and `{server}` is limited to {}",
                            join(&entry.capabilities)
                        ),
                        None,
                    );
                }
            }
        }
        verdict(
            ids::ALLOWED,
            Decision::Allow,
            format!(
                "MCP server `{server}` is {} and approved in the MCP registry, tool `{tool}` allowed",
                entry.trust_tier
            ),
            capability,
        )
    }
}

fn join(caps: &[ToolCapability]) -> String {
    caps.iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Classifies a tool by the words of its name and description, when nothing better is known.
/// The strongest class found wins (secrets, shell and cloud before network, filesystem and
/// repository), so a tool that both fetches and runs is judged as running.
pub fn classify_tool(name: &str, description: &str) -> Option<ToolCapability> {
    let text = format!("{name} {description}").to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    const TABLE: &[(ToolCapability, &[&str])] = &[
        (
            ToolCapability::Secrets,
            &[
                "secret",
                "secrets",
                "password",
                "passwords",
                "credential",
                "credentials",
                "token",
                "tokens",
                "vault",
                "apikey",
                "keychain",
            ],
        ),
        (
            ToolCapability::Shell,
            &[
                "shell",
                "exec",
                "execute",
                "command",
                "commands",
                "bash",
                "terminal",
                "run",
                "spawn",
                "subprocess",
            ],
        ),
        (
            ToolCapability::Cloud,
            &[
                "aws",
                "gcp",
                "azure",
                "s3",
                "ec2",
                "lambda",
                "kubernetes",
                "kubectl",
                "k8s",
                "terraform",
                "cloud",
                "iam",
                "bucket",
                "cluster",
            ],
        ),
        (
            ToolCapability::Network,
            &[
                "http", "https", "fetch", "url", "download", "upload", "request", "webhook",
                "browse", "web", "curl",
            ],
        ),
        (
            ToolCapability::Repository,
            &[
                "git",
                "github",
                "gitlab",
                "repo",
                "repository",
                "commit",
                "branch",
                "pull",
                "issue",
                "issues",
                "merge",
            ],
        ),
        (
            ToolCapability::Filesystem,
            &[
                "file",
                "files",
                "directory",
                "directories",
                "dir",
                "path",
                "read",
                "write",
                "filesystem",
                "folder",
                "mkdir",
                "move",
                "copy",
                "delete",
            ],
        ),
    ];
    TABLE.iter().find(|(_, list)| has(list)).map(|(c, _)| *c)
}

/// The capability of a tool as the server describes it: an explicit
/// `annotations.capability` / `_meta.capability` word, else the MCP hints (an open-world tool
/// reaches the network), else classification of its name and description.
pub fn capability_from_tool(tool: &serde_json::Value) -> Option<ToolCapability> {
    let explicit = ["annotations", "_meta"].iter().find_map(|k| {
        tool.get(k)
            .and_then(|v| v.get("capability"))
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse().ok())
    });
    if explicit.is_some() {
        return explicit;
    }
    let name = tool
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let description = tool
        .get("description")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    classify_tool(name, description).or_else(|| {
        tool.get("annotations")
            .and_then(|a| a.get("openWorldHint"))
            .and_then(serde_json::Value::as_bool)
            .filter(|open| *open)
            .map(|_| ToolCapability::Network)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tier: TrustTier, state: ServerApproval) -> McpServerEntry {
        let mut e = McpServerEntry::new("github", tier, state);
        e.allowed_tools = vec!["list_*".into(), "create_issue".into()];
        e
    }

    fn reg(e: McpServerEntry) -> McpRegistry {
        McpRegistry::from_entries([e])
    }

    #[test]
    fn the_order_of_the_checks() {
        let r = reg(entry(TrustTier::Trusted, ServerApproval::Approved));
        assert_eq!(r.check("gitlab", "x", None).rule_id, ids::UNREGISTERED);
        assert_eq!(r.check("gitlab", "x", None).decision, Decision::Block);
        assert_eq!(
            r.check("github", "list_repos", None).decision,
            Decision::Allow
        );
        assert_eq!(
            r.check("github", "create_issue", None).rule_id,
            ids::ALLOWED
        );
        let v = r.check("github", "delete_repo", None);
        assert_eq!(
            (v.rule_id.as_str(), v.decision),
            (ids::TOOL_NOT_ALLOWED, Decision::RequireApproval)
        );

        // Blocked beats pending beats tools.
        let r = reg(entry(TrustTier::Blocked, ServerApproval::Pending));
        assert_eq!(r.check("github", "list_repos", None).rule_id, ids::BLOCKED);
        let r = reg(entry(TrustTier::Trusted, ServerApproval::Denied));
        assert_eq!(
            r.check("github", "list_repos", None).decision,
            Decision::Block
        );
        let r = reg(entry(TrustTier::Trusted, ServerApproval::Pending));
        assert_eq!(r.check("github", "delete_repo", None).rule_id, ids::PENDING);
        for tier in [TrustTier::Experimental, TrustTier::Unknown] {
            let r = reg(entry(tier, ServerApproval::Approved));
            let v = r.check("github", "list_repos", None);
            assert_eq!(
                (v.rule_id.as_str(), v.decision),
                (ids::PENDING, Decision::RequireApproval)
            );
        }
    }

    #[test]
    fn capabilities_restrict_when_declared() {
        let mut e = entry(TrustTier::Approved, ServerApproval::Approved);
        e.allowed_tools = vec!["*".into()];
        e.capabilities = vec![ToolCapability::Repository];
        e.tool_capabilities
            .insert("list_secrets".into(), ToolCapability::Secrets);
        let r = reg(e);
        assert_eq!(
            r.check("github", "create_issue", None).decision,
            Decision::Allow
        );
        // The registry's record for the tool wins over what the caller says.
        let v = r.check("github", "list_secrets", Some(ToolCapability::Repository));
        assert_eq!(v.rule_id, ids::CAPABILITY_NOT_ALLOWED);
        assert_eq!(v.capability, Some(ToolCapability::Secrets));
        // Given by the caller.
        let v = r.check("github", "zap", Some(ToolCapability::Shell));
        assert_eq!(v.rule_id, ids::CAPABILITY_NOT_ALLOWED);
        // Unknown while restricted: approval.
        let v = r.check("github", "zap", None);
        assert_eq!(v.decision, Decision::RequireApproval);
    }

    #[test]
    fn empty_tool_list_allows_nothing_without_approval() {
        let r = reg(McpServerEntry::new(
            "s",
            TrustTier::Trusted,
            ServerApproval::Approved,
        ));
        assert_eq!(
            r.check("s", "anything", None).rule_id,
            ids::TOOL_NOT_ALLOWED
        );
        let mut e = McpServerEntry::new("s", TrustTier::Trusted, ServerApproval::Approved);
        e.allowed_tools = vec!["*".into()];
        assert_eq!(
            reg(e).check("s", "anything", None).decision,
            Decision::Allow
        );
        // A bare `*` prefix pattern is only the wildcard, never an empty prefix.
        let mut e = McpServerEntry::new("s", TrustTier::Trusted, ServerApproval::Approved);
        e.allowed_tools = vec!["list_".into()];
        assert!(!e.allows_tool("list_x"));
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify_tool("read_file", ""),
            Some(ToolCapability::Filesystem)
        );
        assert_eq!(
            classify_tool("run_command", "runs a shell command"),
            Some(ToolCapability::Shell)
        );
        assert_eq!(
            classify_tool("fetch", "GET a URL"),
            Some(ToolCapability::Network)
        );
        assert_eq!(
            classify_tool("get_secret", "from vault"),
            Some(ToolCapability::Secrets)
        );
        assert_eq!(
            classify_tool("create_issue", ""),
            Some(ToolCapability::Repository)
        );
        assert_eq!(classify_tool("s3_put", ""), Some(ToolCapability::Cloud));
        assert_eq!(classify_tool("add", "adds two numbers"), None);
        let tool = serde_json::json!({"name": "add", "annotations": {"openWorldHint": true}});
        assert_eq!(capability_from_tool(&tool), Some(ToolCapability::Network));
        let tool = serde_json::json!({"name": "read_file", "annotations": {"capability": "shell"}});
        assert_eq!(capability_from_tool(&tool), Some(ToolCapability::Shell));
    }

    #[test]
    fn serde_round_trip_and_words() {
        let mut e = entry(TrustTier::Experimental, ServerApproval::Pending);
        e.owner = Some("platform".into());
        e.capabilities = vec![ToolCapability::Network];
        let r = reg(e);
        let text = serde_json::to_string(&r).unwrap_or_default();
        let back: McpRegistry = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, r);
        assert!(text.contains("\"experimental\""));
        assert_eq!("Trusted".parse::<TrustTier>(), Ok(TrustTier::Trusted));
        assert!("sorta".parse::<TrustTier>().is_err());
        assert!(
            serde_json::from_str::<McpServerEntry>(
                r#"{"name":"x","trust_tier":"trusted","approval_state":"approved","extra":1}"#
            )
            .is_err()
        );
    }
}
