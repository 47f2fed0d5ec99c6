//! The words every part of cavra shares: action types, decisions, modes, severities.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word used in policy files, requests and records.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
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
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        kind: stringify!($name),
                        word: s.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}

/// A word that is not one of the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{word}` (expected one of: {})", expected.join(", "))]
pub struct UnknownWord {
    /// The kind of word (`Decision`, `ActionType`, …).
    pub kind: &'static str,
    /// What was given.
    pub word: String,
    /// What would have been accepted.
    pub expected: &'static [&'static str],
}

word_enum! {
    /// The kind of action an agent attempts.
    ActionType {
        /// Read a file's content.
        ReadFile = "read_file",
        /// Create or modify a file.
        WriteFile = "write_file",
        /// Remove a file (judged by the write rules).
        DeleteFile = "delete_file",
        /// Run a shell command line.
        ExecuteCommand = "execute_command",
        /// A git operation (push, commit, branch, merge, tag, reset, rebase, …).
        GitOperation = "git_operation",
        /// Call a tool on an MCP server.
        McpToolCall = "mcp_tool_call",
        /// Open or update a pull request.
        PullRequest = "pull_request",
        /// Fetch or send to a URL.
        NetworkRequest = "network_request",
    }
}

word_enum! {
    /// What cavra answers. Ordered here from least to most strict is *not* the declaration
    /// order; use [`Decision::strictness`].
    Decision {
        /// The action may proceed.
        Allow = "allow",
        /// The action must not run.
        Block = "block",
        /// A human in the approver group must approve first.
        RequireApproval = "require_approval",
        /// The action may proceed, with a warning shown.
        Warn = "warn",
        /// The action may proceed; the decision is only recorded.
        AuditOnly = "audit_only",
        /// The action may proceed and is recorded with an attestation.
        AllowWithAttestation = "allow_with_attestation",
    }
}

impl Decision {
    /// Rank used to pick the strictest of several decisions:
    /// block > require_approval > allow_with_attestation > warn > audit_only > allow.
    pub fn strictness(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::AuditOnly => 1,
            Decision::Warn => 2,
            Decision::AllowWithAttestation => 3,
            Decision::RequireApproval => 4,
            Decision::Block => 5,
        }
    }

    /// The stricter of two decisions (the first on a tie).
    pub fn stricter(self, other: Decision) -> Decision {
        if other.strictness() > self.strictness() {
            other
        } else {
            self
        }
    }

    /// Whether the action may proceed (CLI exit code 0).
    pub fn may_proceed(self) -> bool {
        !matches!(self, Decision::Block | Decision::RequireApproval)
    }

    /// The CLI exit code for this decision: 0 may proceed, 3 require_approval, 4 block.
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Block => 4,
            Decision::RequireApproval => 3,
            _ => 0,
        }
    }
}

word_enum! {
    /// How decisions are turned into effective decisions.
    Mode {
        /// Decisions take effect as made.
        Enforce = "enforce",
        /// Every non-allow becomes `audit_only`; the base decision is kept in the record.
        AuditOnly = "audit_only",
        /// Every allow becomes `require_approval`.
        Strict = "strict",
        /// With an actor and a reason, block and require_approval become `allow_with_attestation`.
        BreakGlass = "break_glass",
    }
}

word_enum! {
    /// How serious a matched rule is.
    Severity {
        /// Informational.
        Info = "info",
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Critical.
        Critical = "critical",
    }
}

// Written out because the enum is generated by `word_enum!`, which has no `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for Mode {
    fn default() -> Self {
        Mode::Enforce
    }
}
