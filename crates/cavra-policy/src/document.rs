//! The policy pack as written in YAML. Every struct rejects unknown keys.
//!
//! This is the *document* model: what one file says. Inheritance ([`crate::resolve`]) merges
//! documents into one, and [`crate::compile`] turns the merged document into matchers.

pub use crate::knowledge::KnowledgeSection;
use crate::model::{ActionType, Decision, Mode, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One policy pack document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackDocument {
    /// Identity, inheritance and mode.
    pub metadata: Metadata,
    /// Path rules.
    pub filesystem: FilesystemSection,
    /// Command rules.
    pub commands: CommandsSection,
    /// Git rules.
    pub git: GitSection,
    /// MCP server rules.
    pub mcp: McpSection,
    /// Network domain rules.
    pub network: NetworkSection,
    /// What happens when no rule matches, per action type.
    pub defaults: BTreeMap<ActionType, DefaultDecision>,
    /// Ordered custom rules.
    pub rules: Vec<RuleDocument>,
    /// Embedded policy tests (same format as a policy test file's `cases`).
    pub tests: Vec<TestCase>,
    /// Redaction rules added to (or built-ins disabled from) cavra's built-in set. Left out of
    /// the serialized form when empty, so packs without it keep their digests.
    #[serde(skip_serializing_if = "RedactionSection::is_empty")]
    pub redaction: RedactionSection,
    /// How agent hooks treat tools cavra cannot judge. Left out of the serialized form when
    /// empty, so packs without it keep their digests.
    #[serde(skip_serializing_if = "AgentsSection::is_empty")]
    pub agents: AgentsSection,
    /// Whose name a decision is made under. Left out of the serialized form when empty, so
    /// packs without it keep their digests.
    #[serde(skip_serializing_if = "IdentitySection::is_empty")]
    pub identity: IdentitySection,
    /// What programs do with their arguments, added to the built-in knowledge base. Left out
    /// of the serialized form when empty, so packs without it keep their digests.
    #[serde(skip_serializing_if = "KnowledgeSection::is_empty")]
    pub knowledge: KnowledgeSection,
}

/// `identity:` whose name the service decides under.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySection {
    /// Whether a service account that the API service's configuration allows to act for
    /// others (`act_for_others`) may name the actor in a request: its `when: {actor: …}`
    /// conditions then see the named actor, and the record keeps the credential's subject as
    /// `actor` and the name as `claimed_actor`. Absent or false: such a request is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_claimed_actor: Option<bool>,
}

impl IdentitySection {
    /// Whether the section says nothing (the defaults apply).
    pub fn is_empty(&self) -> bool {
        self.accept_claimed_actor.is_none()
    }

    /// Whether the pack accepts an actor claimed by an account allowed to act for others.
    pub fn accepts_claimed_actor(&self) -> bool {
        self.accept_claimed_actor == Some(true)
    }
}

/// `agents:` settings for the agent hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsSection {
    /// The decision for a tool call cavra cannot judge (a tool the agent's table does not
    /// list, a tool that runs code cavra cannot read, an MCP tool name whose server cannot be
    /// told): `require_approval` (the default when absent) or `block`. Never an allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_tool: Option<Decision>,
}

impl AgentsSection {
    /// Whether the section says nothing (the defaults apply).
    pub fn is_empty(&self) -> bool {
        self.unknown_tool.is_none()
    }

    /// The decision for a tool cavra cannot judge: the pack's setting, else
    /// `require_approval`. A value other than `block` or `require_approval` (which
    /// validation rejects) is read as `require_approval`, never as an allow.
    pub fn unknown_tool_decision(&self) -> Decision {
        match self.unknown_tool {
            Some(Decision::Block) => Decision::Block,
            _ => Decision::RequireApproval,
        }
    }
}

/// `redaction:` what is masked before anything is stored, beyond the built-in rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionSection {
    /// Rules of the pack, applied after the built-in ones. An inheriting pack's rule with a
    /// parent rule's id replaces it.
    pub rules: Vec<cavra_redact::RuleSpec>,
    /// Built-in rule ids that do not apply (for false positives that cannot be fixed otherwise).
    pub disable: Vec<String>,
}

impl PackDocument {
    /// Warnings about command patterns whose meaning may surprise (see
    /// [`cavra_shell::command_pattern_warnings`]), each prefixed with where the pattern stands.
    pub fn command_pattern_warnings(&self) -> Vec<String> {
        let c = &self.commands;
        let sections = [
            ("commands.allow", &c.allow),
            ("commands.block", &c.block),
            ("commands.require_approval", &c.require_approval),
            ("commands.warn", &c.warn),
        ];
        let mut out = Vec::new();
        for (section, patterns) in sections {
            for p in patterns {
                for w in cavra_shell::command_pattern_warnings(p) {
                    out.push(format!("{section}: {w}"));
                }
            }
        }
        for rule in &self.rules {
            for p in &rule.commands {
                for w in cavra_shell::command_pattern_warnings(p) {
                    out.push(format!("rule `{}`: {w}", rule.id));
                }
            }
        }
        out
    }
}

impl RedactionSection {
    /// Whether the section adds and disables nothing (the built-in rules apply as they are).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.disable.is_empty()
    }
}

/// `metadata:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metadata {
    /// Stable identifier, e.g. `cavra-baseline`.
    pub id: String,
    /// Human title.
    pub title: String,
    /// What the pack is for.
    pub description: String,
    /// The pack's version.
    pub version: String,
    /// Parent packs: built-in ids or paths relative to this file.
    pub inherits: Vec<String>,
    /// The pack's mode; a request may override it.
    pub mode: Option<Mode>,
    /// Whether the pack must carry a trusted signature to be loaded.
    pub require_signature: bool,
}

/// `filesystem:` path patterns per access and decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemSection {
    /// Reads blocked.
    pub block_read: Vec<String>,
    /// Reads that need approval.
    pub require_approval_read: Vec<String>,
    /// Reads that warn.
    pub warn_read: Vec<String>,
    /// Reads explicitly allowed.
    pub allow_read: Vec<String>,
    /// Writes (and deletes) blocked.
    pub block_write: Vec<String>,
    /// Writes (and deletes) that need approval.
    pub require_approval_write: Vec<String>,
    /// Writes that warn.
    pub warn_write: Vec<String>,
    /// Writes explicitly allowed (also outside the repository root).
    pub allow_write: Vec<String>,
}

/// `commands:` command globs and risk classes per decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsSection {
    /// Commands allowed.
    pub allow: Vec<String>,
    /// Commands blocked.
    pub block: Vec<String>,
    /// Commands that need approval.
    pub require_approval: Vec<String>,
    /// Commands that warn.
    pub warn: Vec<String>,
    /// Risk classes blocked.
    pub block_classes: Vec<String>,
    /// Risk classes that need approval.
    pub require_approval_classes: Vec<String>,
    /// Risk classes that warn.
    pub warn_classes: Vec<String>,
}

/// `git:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitSection {
    /// Branch globs that may not be pushed to directly.
    pub block_push_branches: Vec<String>,
    /// Force pushes are blocked.
    pub block_force_push: bool,
    /// Changes must reach protected branches through pull requests.
    pub require_pull_request: bool,
    /// Pull requests carry an AI attestation (`allow_with_attestation`).
    pub require_ai_attestation: bool,
}

/// `mcp:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSection {
    /// Servers not in `allowed_servers` are blocked (default true).
    pub block_unknown_servers: bool,
    /// Server name globs that are allowed.
    pub allowed_servers: Vec<String>,
    /// Server name globs that are blocked.
    pub blocked_servers: Vec<String>,
    /// What `cavra mcp proxy` does with a tool whose description or schema changed since it was
    /// first seen: `block` (the default when absent) or `warn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_tool_change: Option<String>,
}

impl Default for McpSection {
    fn default() -> Self {
        McpSection {
            block_unknown_servers: true,
            allowed_servers: Vec::new(),
            blocked_servers: Vec::new(),
            on_tool_change: None,
        }
    }
}

/// `network:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Domain globs allowed (`*.github.com`). When non-empty, other domains get the default.
    pub allowed_domains: Vec<String>,
    /// Domain globs blocked.
    pub blocked_domains: Vec<String>,
}

/// One entry of `defaults:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultDecision {
    /// The decision when no rule matches.
    pub decision: Decision,
    /// Who approves, when the decision is `require_approval`.
    #[serde(default)]
    pub approver_group: Option<String>,
}

/// One or many strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    /// The values as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

/// One entry of `rules:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// Stable id, unique in the pack (reported as the deciding `rule_id`).
    pub id: String,
    /// The action type(s) the rule applies to.
    pub action: OneOrMany<ActionType>,
    /// Path globs (file actions).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Command globs over canonical simple commands (execute_command).
    #[serde(default)]
    pub commands: Vec<String>,
    /// Risk classes (execute_command).
    #[serde(default)]
    pub classes: Vec<String>,
    /// MCP server globs (mcp_tool_call).
    #[serde(default)]
    pub servers: Vec<String>,
    /// MCP tool globs (mcp_tool_call).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Git operations (git_operation): push, commit, merge, …
    #[serde(default)]
    pub operations: Vec<String>,
    /// Branch globs the git operation targets (git_operation).
    #[serde(default)]
    pub branches: Vec<String>,
    /// Domain globs (network_request).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Context conditions: every given condition must hold.
    #[serde(default)]
    pub when: Conditions,
    /// Patterns (of the same kind as the rule's own) that the rule does not apply to.
    #[serde(default)]
    pub except: Vec<String>,
    /// The decision when the rule matches.
    pub decision: Decision,
    /// Severity.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Why, shown to the agent and the approver.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who approves, when the decision is `require_approval`.
    #[serde(default)]
    pub approver_group: Option<String>,
}

/// Context conditions of a rule; each list holds globs, and an empty list always holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    /// Deployment environment (`prod`, `staging`, …).
    pub environment: Vec<String>,
    /// The branch the agent works on.
    pub branch: Vec<String>,
    /// The repository (`org/name`).
    pub repository: Vec<String>,
    /// The agent id.
    pub agent: Vec<String>,
    /// The actor.
    pub actor: Vec<String>,
    /// The tenant.
    pub tenant: Vec<String>,
}

/// The expected outcome of a test case: one decision or any of several.
pub type Expectation = OneOrMany<Decision>;

/// One policy test case (conformance format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case shows.
    pub name: String,
    /// The request: the JSON request fields (`action`, `target`, …).
    pub request: serde_json::Map<String, serde_json::Value>,
    /// The effective decision(s) accepted.
    pub expect: Expectation,
    /// The deciding rule id, when pinned.
    #[serde(default)]
    pub rule: Option<String>,
    /// Files the case's command reads to be judged — the patch files it applies (`git apply
    /// fix.patch`) — by path (relative to the request's working folder, else its repository
    /// root) with their text. No other file exists for the case.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, String>,
}
