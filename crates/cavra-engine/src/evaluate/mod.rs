//! `evaluate`: a request and a compiled pack in, a decision record out.
//!
//! The request is first *normalised* into subjects: the file it names (in every form, and the
//! symlink target), or, for a command line, every simple command, every file it touches, every
//! `git push` in it and every risk class it has. Each subject is matched against the pack's
//! rules; a subject no rule names gets the pack's default. Among all matches the strictest
//! decides. The mode is applied last.

use crate::guards;
use crate::paths::{NormalizedPath, PatchText, PathContext, PathResolver};
use crate::record::{BreakGlass, DecisionRecord, RuleMatch};
use crate::registry::{McpRegistry, ToolCapability};
use crate::request::Request;
use cavra_policy::compile::{ConditionContext, PathForms, PatternHit, RuleOrigin, ancestors, ids};
use cavra_policy::{ActionType, CompiledPack, CompiledRule, Decision, Mode, Severity};
use cavra_shell::{AccessKind, CommandAnalysis, CommandRole, RiskClass};
use serde::Serialize;
use std::borrow::Cow;

mod collect;
mod decide;
mod normalize;

pub use collect::glob_witness;
pub(crate) use collect::*;
pub(crate) use decide::*;
pub use normalize::normalize;
pub(crate) use normalize::*;

/// What the caller supplies that the engine may not fetch itself: the time and the ids.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The decision's timestamp (RFC 3339), read from the caller's clock.
    pub timestamp: &'a str,
    /// A fresh, unique decision id.
    pub decision_id: &'a str,
    /// Symlink resolution, when the caller can look at the disk.
    pub resolver: &'a dyn PathResolver,
}

/// The approver group used when neither the rule nor the defaults name one.
pub const DEFAULT_APPROVER_GROUP: &str = "Repository Owners";

/// One thing a request was normalised into, matched on its own.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A file access (from a file action, or derived from a command).
    File {
        /// read_file, write_file or delete_file.
        access: ActionType,
        /// The path as given.
        written: String,
        /// Its normalised forms.
        path: NormalizedPath,
        /// Whether the path is not fully known (it holds an expansion).
        dynamic: bool,
        /// Where it came from (`request`, `redirect > of echo …`, `symlink target of …`).
        from: String,
    },
    /// A simple command of a command line.
    Command {
        /// Index into the analysis's commands.
        index: usize,
        /// Its canonical form.
        canonical: String,
        /// Its canonical form as a match key (words as path components, see
        /// [`cavra_shell::match_key`]).
        #[serde(skip)]
        match_key: String,
        /// Executed or wrapper.
        role: CommandRole,
    },
    /// A risk class of a command line.
    Class {
        /// The class.
        class: RiskClass,
    },
    /// A git operation (given, or a `git push` found in a command line).
    Git {
        /// push, commit, …
        operation: String,
        /// Branches it targets.
        branches: Vec<String>,
        /// A force push.
        force: bool,
        /// Every branch (`--all`, `--mirror`).
        all_branches: bool,
        /// Where it came from.
        from: String,
    },
    /// An MCP tool call.
    Mcp {
        /// Server.
        server: String,
        /// Tool.
        tool: String,
    },
    /// A network request.
    Network {
        /// The lower-cased host.
        host: String,
    },
    /// A pull request.
    PullRequest,
    /// A request that cannot be judged as given; it is blocked.
    Invalid {
        /// Why.
        problem: String,
    },
}

impl Subject {
    /// A short description for records and messages.
    pub fn describe(&self) -> String {
        match self {
            Subject::File {
                access,
                path,
                written,
                from,
                ..
            } => {
                let shown = if path.display().is_empty() {
                    written.as_str()
                } else {
                    path.display()
                };
                let verb = match access {
                    ActionType::ReadFile => "read",
                    ActionType::DeleteFile => "delete",
                    _ => "write",
                };
                if from == "request" {
                    normalize::concat(&[verb, " of ", shown])
                } else {
                    normalize::concat(&[verb, " of ", shown, " (", from, ")"])
                }
            }
            Subject::Command { canonical, .. } => format!("command `{canonical}`"),
            Subject::Class { class } => format!("risk class {class}"),
            Subject::Git {
                operation,
                branches,
                force,
                all_branches,
                ..
            } => {
                let mut s = format!("git {operation}");
                if *all_branches {
                    s.push_str(" of every branch");
                } else if !branches.is_empty() {
                    s.push_str(&format!(" to {}", branches.join(", ")));
                }
                if *force {
                    s.push_str(" (force)");
                }
                s
            }
            Subject::Mcp { server, tool } => format!("MCP tool {server}/{tool}"),
            Subject::Network { host } => format!("network request to {host}"),
            Subject::PullRequest => "pull request".to_string(),
            Subject::Invalid { problem } => format!("invalid request: {problem}"),
        }
    }
}

/// How a request was understood: its subjects and, for commands, the shell analysis.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Normalization {
    /// The subjects matched.
    pub subjects: Vec<Subject>,
    /// The shell analysis, for execute_command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<CommandAnalysis>,
}

/// Why a rule that could apply to a subject did not (explain output).
#[derive(Debug, Clone, Serialize)]
pub struct Consideration {
    /// The rule.
    pub rule_id: String,
    /// The subject (index into the normalisation's subjects).
    pub subject: usize,
    /// `matched`, `matched ignoring letter case`, `no pattern matched`, `condition failed:
    /// environment`, `excepted by …`.
    pub outcome: String,
}

/// A full explanation: the record, how the request was normalised, every rule considered.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The decision.
    pub record: DecisionRecord,
    /// The normalisation.
    pub normalization: Normalization,
    /// Every rule that applied to a subject's action type, and what came of it.
    pub considered: Vec<Consideration>,
}

/// Evaluates a request.
pub fn evaluate(pack: &CompiledPack, request: &Request, env: &Env<'_>) -> DecisionRecord {
    evaluate_with_registry(pack, request, env, None)
}

/// Evaluates a request, with an MCP registry when there is one: an MCP tool call then also
/// gets the registry's verdict as a matched rule (`mcp.registry.*`), and a server the registry
/// knows counts as known to the pack (`mcp.block_unknown_servers`). The strictest decides.
/// Without a registry this is exactly [`evaluate`].
pub fn evaluate_with_registry(
    pack: &CompiledPack,
    request: &Request,
    env: &Env<'_>,
    registry: Option<&McpRegistry>,
) -> DecisionRecord {
    let normalization = normalize(pack, request, env.resolver);
    decide(pack, request, env, &normalization, registry)
}

/// Evaluates a request and explains how the decision was reached.
pub fn explain(pack: &CompiledPack, request: &Request, env: &Env<'_>) -> Explanation {
    explain_with_registry(pack, request, env, None)
}

/// [`explain`] with an MCP registry (see [`evaluate_with_registry`]).
pub fn explain_with_registry(
    pack: &CompiledPack,
    request: &Request,
    env: &Env<'_>,
    registry: Option<&McpRegistry>,
) -> Explanation {
    let normalization = normalize(pack, request, env.resolver);
    let record = decide(pack, request, env, &normalization, registry);
    let considered = consider(pack, request, &normalization, registry);
    Explanation {
        record,
        normalization,
        considered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_targets() {
        assert_eq!(
            git_target_branches("origin/main"),
            vec!["origin/main", "main"]
        );
        assert_eq!(git_target_branches("main"), vec!["main"]);
        assert_eq!(git_target_branches("HEAD:refs/heads/main"), vec!["main"]);
        assert_eq!(
            git_target_branches("origin/feature/x"),
            vec!["origin/feature/x", "feature/x"]
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(
            url_host("https://API.Example.com:443/x?y").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(url_host("http://user:pw@h.io/").as_deref(), Some("h.io"));
        assert_eq!(url_host("example.com/path").as_deref(), Some("example.com"));
        assert_eq!(url_host("https://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(url_host("https:///nohost"), None);
        assert_eq!(url_host(""), None);
    }
}
