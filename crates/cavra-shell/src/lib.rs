//! Shell text to a typed command IR.
//!
//! cavra never matches a command line as one string. [`analyze`] parses the text with a real
//! shell grammar (tree-sitter-bash), walks every place a command can run (lists, pipelines,
//! subshells, groups, compound statements, functions, `$(…)`, backticks, `<(…)`), unwraps
//! wrappers (`sh -c`, `sudo`, `env`, `xargs`, `find -exec`, …) recursively, and reports:
//!
//! - every simple command in a canonical form (quotes removed, executable directory dropped,
//!   spacing normalised, flag spellings folded) that policy globs are matched against;
//! - the file accesses the line implies (redirections and the file operands of common tools);
//! - the `git push` operations it contains;
//! - the risk classes it falls into.
//!
//! The work is bounded ([`Limits`]): hostile input never panics, hangs or grows memory without
//! bound; input past a limit is reported as [`RiskClass::Unparseable`].

use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The default parse budget: generous for any line within the input limit that a person or an
/// agent writes, small enough that hostile input stops within milliseconds.
/// The largest line within the input limit an agent writes needs about 2,000.
pub const DEFAULT_MAX_PARSE_STEPS: u64 = 8_000;

/// Bounds on the work one analysis may do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest accepted input, in bytes.
    pub max_input_bytes: usize,
    /// Deepest nesting of wrappers / `sh -c` strings / substitutions followed.
    pub max_depth: usize,
    /// Most simple commands reported before the analysis stops (and marks the input unparseable).
    pub max_commands: usize,
    /// Most parser steps (of about a hundred tree-sitter parse operations each) spent over all
    /// parses of one analysis. Counted, never timed: the same text gets the same analysis on
    /// any machine under any load. Input past it is reported as [`RiskClass::Unparseable`].
    pub max_parse_steps: u64,
    /// Deepest nesting of brackets, braces, parentheses and backquotes parsed at all (the cost
    /// of one parse step grows with it); deeper text is reported as unparseable.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 * 1024,
            max_depth: 16,
            max_commands: 512,
            max_parse_steps: DEFAULT_MAX_PARSE_STEPS,
            max_nesting: 512,
        }
    }
}

/// Risk classes a command line can fall into; policies refer to them in `*_classes` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    /// A shell or interpreter runs code that arrives at run time (`curl … | sh`, `bash <(curl …)`).
    RemoteCodeExecution,
    /// sudo, doas, su, pkexec, …
    PrivilegeEscalation,
    /// The command name (or `eval`/`sh -c` text) is not a literal.
    DynamicCommand,
    /// rm -r, find -delete, …
    RecursiveDelete,
    /// git push --force / -f / --force-with-lease / +refspec / --mirror.
    ForcePush,
    /// python -c, node -e, perl -e, ruby -e, …
    InterpreterInlineCode,
    /// curl, wget, nc, ssh, scp, rsync to a remote, …
    NetworkEgress,
    /// npm install, pip install, cargo install, apt-get install, …
    PackageInstall,
    /// The text could not be parsed completely, or a limit was hit.
    Unparseable,
}

impl RiskClass {
    /// Every class, in a stable order.
    pub const ALL: [RiskClass; 9] = [
        RiskClass::RemoteCodeExecution,
        RiskClass::PrivilegeEscalation,
        RiskClass::DynamicCommand,
        RiskClass::RecursiveDelete,
        RiskClass::ForcePush,
        RiskClass::InterpreterInlineCode,
        RiskClass::NetworkEgress,
        RiskClass::PackageInstall,
        RiskClass::Unparseable,
    ];

    /// The snake_case name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::RemoteCodeExecution => "remote_code_execution",
            RiskClass::PrivilegeEscalation => "privilege_escalation",
            RiskClass::DynamicCommand => "dynamic_command",
            RiskClass::RecursiveDelete => "recursive_delete",
            RiskClass::ForcePush => "force_push",
            RiskClass::InterpreterInlineCode => "interpreter_inline_code",
            RiskClass::NetworkEgress => "network_egress",
            RiskClass::PackageInstall => "package_install",
            RiskClass::Unparseable => "unparseable",
        }
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not a risk class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRiskClass(pub String);

impl fmt::Display for UnknownRiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown risk class `{}`", self.0)
    }
}

impl std::error::Error for UnknownRiskClass {}

impl FromStr for RiskClass {
    type Err = UnknownRiskClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RiskClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownRiskClass(s.to_string()))
    }
}

/// What a command is in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandRole {
    /// The command runs as itself and is judged by the command rules.
    Executed,
    /// A wrapper (`sudo`, `timeout`, `env`, `sh -c`, `xargs`, …) whose inner command is reported
    /// separately. A wrapper is still matched against rules (so `sudo*` can be blocked), but when
    /// no rule names it, it adds no default decision of its own.
    Wrapper,
}

/// One simple command, as it would be executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimpleCommand {
    /// The words with quotes and backslashes removed. A word that is not a literal (holds an
    /// expansion) keeps its source text, e.g. `$(echo rm)` or `"$HOME"/x`.
    pub argv: Vec<String>,
    /// Whether `argv[0]` is a literal name (no expansion anywhere in it).
    pub name_is_literal: bool,
    /// The canonical form policy globs are matched against: the executable's base name and the
    /// arguments joined by single spaces, global options that do not change the meaning removed
    /// (`git -C dir`), flag spellings folded (see [`SimpleCommand::variants`]).
    pub canonical: String,
    /// Other spellings of the same command that a pattern may be written in (`rm -rf x`,
    /// `rm -fr x`, `rm -r -f x`, …). Always starts with [`SimpleCommand::canonical`].
    pub variants: Vec<String>,
    /// The same spellings as [`SimpleCommand::variants`], word by word, in the form command
    /// patterns are matched against (see [`command_pattern_globs`]): words joined by `/`, a `/`
    /// inside a word written as NUL, so no glob reaches across a word boundary.
    #[serde(skip)]
    pub match_keys: Vec<String>,
    /// Where an option cavra does not know stands before a word that may be a subcommand
    /// (`gh pr --weird merge 12`: `merge`, or the option's value and then `12`), the match
    /// keys of the other readings (their spellings are in `variants` too). Each reading is
    /// judged: a rule naming any of them applies, and one that no rule names gets the
    /// default, as the command would alone.
    #[serde(skip)]
    pub readings: Vec<String>,
    /// Executed or wrapper.
    pub role: CommandRole,
    /// Whether cavra knows what the program does with its arguments (the knowledge base or
    /// the shell analysis describes it). An unknown program given a command line as arguments
    /// may run it.
    pub known_program: bool,
    /// The wrappers this command was found inside, outermost first (e.g. `["sudo", "sh -c"]`).
    pub via: Vec<String>,
    /// Risk classes of this command itself.
    pub classes: BTreeSet<RiskClass>,
    /// Byte range in the analysed text (for commands found in nested strings: the range of the
    /// outermost word that held them).
    pub span: (usize, usize),
}

/// How a derived file access touches the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// The file's content is read.
    Read,
    /// The file is created or modified.
    Write,
    /// The file is removed.
    Delete,
}

/// A file access implied by a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileAccess {
    /// The path as written, quotes removed. A leading `~` or `$HOME` is kept as `~`.
    pub path: String,
    /// Whether the path is fully literal (no expansion other than a leading `~`/`$HOME`).
    pub literal: bool,
    /// Read, write or delete.
    pub kind: AccessKind,
    /// Index into [`CommandAnalysis::commands`] of the command it comes from.
    pub command_index: usize,
    /// Why it is an access, for explain output (`redirect >`, `operand of cat`, `sed -i`, …).
    pub reason: String,
}

/// A `git push` found in the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitPush {
    /// The remote, when given.
    pub remote: Option<String>,
    /// The refspecs as written (after quote removal).
    pub refspecs: Vec<String>,
    /// The destination branch names the refspecs push to (`HEAD:main` → `main`,
    /// `+feature` → `feature`, `refs/heads/x` → `x`).
    pub branches: Vec<String>,
    /// --force, -f, --force-with-lease, --force-if-includes, a `+` refspec, or --mirror.
    pub force: bool,
    /// --all or --mirror: every branch is pushed.
    pub all_branches: bool,
    /// Index into [`CommandAnalysis::commands`].
    pub command_index: usize,
}

/// A pull (merge) request the line opens on a forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestOpen {
    /// Index into [`CommandAnalysis::commands`] of the command that opens it.
    pub command_index: usize,
}

/// Everything cavra learns from one command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CommandAnalysis {
    /// Every simple command that would run, in source order, wrappers and inner commands both.
    pub commands: Vec<SimpleCommand>,
    /// File accesses derived from redirections and known tools' operands.
    pub file_accesses: Vec<FileAccess>,
    /// `git push` operations.
    pub git_pushes: Vec<GitPush>,
    /// Pull (merge) requests opened: `gh pr create`, `glab mr create`, `hub pull-request`,
    /// `git push -o merge_request.create`.
    pub pull_requests: Vec<PullRequestOpen>,
    /// The union of all commands' classes plus line-level classes (pipelines into shells,
    /// unparseable input).
    pub classes: BTreeSet<RiskClass>,
    /// Human-readable reasons the input was (partly) unparseable; empty when it parsed cleanly.
    pub problems: Vec<String>,
    /// Patch files a command applies: what they write is known once they are read (by the
    /// caller, with [`patch_file_accesses`]).
    pub patch_files: Vec<PatchFile>,
}

/// How a program applies a patch: what [`patch_file_accesses`] needs besides the patch's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchApplying {
    /// `-pN`; `None` for the program's default.
    pub strip: Option<usize>,
    /// `git apply`/`git am` (default strip 1) rather than GNU `patch` (judged at strips 0 and 1
    /// and by base name, since it guesses).
    pub git: bool,
    /// The folder it patches in (`patch -d DIR`, `git apply --directory=DIR`), as written.
    pub directory: Option<String>,
    /// Whether `directory` is literal (else every derived path is a run-time path).
    pub literal: bool,
    /// `git apply`, `git am` or `patch`, for explain output.
    pub program: String,
}

/// A patch file a command applies (`git apply fix.patch`, `patch -i x.diff`, `patch < x.diff`,
/// `cat x.diff | git apply`). The analysis touches no disk, so the files the patch names are
/// not known here: the caller reads the file (bounded) and derives them with
/// [`patch_file_accesses`], or judges them as run-time paths when it cannot read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchFile {
    /// The patch file's path as written.
    pub path: String,
    /// Whether that path is literal.
    pub literal: bool,
    /// Index into [`CommandAnalysis::commands`] of the command that applies it.
    pub command_index: usize,
    /// How it is applied.
    pub how: PatchApplying,
}

mod analyze;
mod canon;
mod fast;
mod folders;
mod gitconfig;
pub mod knowledge;
mod net;
mod opts;
mod pattern;
mod tools;
mod words;
pub use analyze::{analyze, analyze_with, analyze_with_knowledge, canonicalize_pattern};
pub use knowledge::{Knowledge, ProgramEntry};
pub use net::{destination_host, fetcher_destinations, names_remotes, remote_destinations};
pub use pattern::{command_pattern_globs, command_pattern_warnings, match_key};
pub use tools::patch_file_accesses;

#[cfg(test)]
mod tests;
