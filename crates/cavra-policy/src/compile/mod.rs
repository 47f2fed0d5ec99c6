//! A resolved pack turned into matchers.
//!
//! Every section entry and every custom rule becomes a [`CompiledRule`]. The patterns of all
//! rules of one kind (repository paths, absolute paths, home paths, commands, MCP servers,
//! domains) are compiled into one `GlobSet` each, so a lookup costs one pass over the
//! candidate no matter how many rules the pack has; the rule that owns each pattern is kept
//! beside the set.

use crate::document::{Conditions, DefaultDecision, PackDocument, RuleDocument};
use crate::error::{PolicyError, PolicyErrorKind};
use crate::load::ResolvedPack;
use crate::model::{ActionType, Decision, Mode, Severity};
use cavra_redact::Redactor;
use cavra_shell::RiskClass;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

mod compiler;
mod globs;

pub use compiler::{ancestors, compile};

/// A set of action types (a bit per [`ActionType`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(u16);

impl ActionSet {
    /// The set holding exactly these actions.
    pub fn of(actions: &[ActionType]) -> Self {
        ActionSet(actions.iter().fold(0, |bits, a| bits | Self::bit(*a)))
    }

    fn bit(action: ActionType) -> u16 {
        1 << (action as u16)
    }

    /// Whether the set holds `action`.
    pub fn contains(self, action: ActionType) -> bool {
        self.0 & Self::bit(action) != 0
    }

    /// The actions in the set.
    pub fn iter(self) -> impl Iterator<Item = ActionType> {
        ActionType::ALL
            .iter()
            .copied()
            .filter(move |a| self.contains(*a))
    }
}

/// Where a compiled rule came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A built-in section entry such as `filesystem.block_read`.
    Section(&'static str),
    /// The n-th entry of `rules:` (0-based).
    Custom(usize),
    /// A default (no rule matched) or a floor cavra always applies.
    Builtin,
}

/// One rule, ready to be matched.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule id reported when it decides (`filesystem.read.block`, a custom id, …).
    pub id: String,
    /// The action types it applies to.
    pub actions: ActionSet,
    /// Its decision.
    pub decision: Decision,
    /// Its severity.
    pub severity: Severity,
    /// Its reason, when the pack gives one.
    pub reason: Option<String>,
    /// Who approves, when the pack names a group.
    pub approver_group: Option<String>,
    /// Where it came from.
    pub origin: RuleOrigin,
    /// The patterns as written in the pack (paths, commands, classes, servers, domains, …).
    pub patterns: Vec<String>,
    /// Context conditions.
    pub conditions: CompiledConditions,
    /// Exceptions, matched against the same subject as the rule's patterns.
    except: Option<Matcher>,
    /// For custom MCP rules: tool globs (empty: any tool).
    tools: Option<Matcher>,
    /// For custom git rules: operations (empty: any operation).
    pub operations: Vec<String>,
    /// For custom git rules: branch globs (empty: any branch).
    branches: Option<Matcher>,
}

impl CompiledRule {
    /// Whether an exception pattern covers `subject`.
    pub fn is_excepted(&self, subject: &str) -> bool {
        self.except
            .as_ref()
            .is_some_and(|m| m.set.is_match(subject))
    }

    /// The exception pattern that covers `subject`, for explanations.
    pub fn excepted_by(&self, subject: &str) -> Option<&str> {
        self.except.as_ref().and_then(|m| m.first_match(subject))
    }

    /// Whether the rule's tool globs (if any) accept `tool`.
    pub fn accepts_tool(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|m| m.set.is_match(tool))
    }

    /// Whether the rule names branches at all.
    pub fn has_branch_patterns(&self) -> bool {
        self.branches.is_some()
    }

    /// Whether the rule's operation list and branch globs (if any) accept this git operation.
    /// A rule with branch globs needs at least one of `branches` to match.
    pub fn accepts_git(&self, operation: &str, branches: &[String]) -> bool {
        let op_ok = self.operations.is_empty() || self.operations.iter().any(|o| o == operation);
        let branch_ok = match &self.branches {
            None => true,
            Some(m) => branches.iter().any(|b| m.set.is_match(b.as_str())),
        };
        op_ok && branch_ok
    }
}

/// Compiled context conditions; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct CompiledConditions {
    environment: Option<Matcher>,
    branch: Option<Matcher>,
    repository: Option<Matcher>,
    agent: Option<Matcher>,
    actor: Option<Matcher>,
    tenant: Option<Matcher>,
}

/// The request context conditions are checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConditionContext<'a> {
    /// Deployment environment.
    pub environment: Option<&'a str>,
    /// Branch.
    pub branch: Option<&'a str>,
    /// Repository.
    pub repository: Option<&'a str>,
    /// Agent id.
    pub agent: Option<&'a str>,
    /// Actor.
    pub actor: Option<&'a str>,
    /// Tenant.
    pub tenant: Option<&'a str>,
}

impl CompiledConditions {
    /// Whether every condition holds. A condition on a field the request does not carry fails.
    pub fn holds(&self, ctx: &ConditionContext<'_>) -> bool {
        self.failing(ctx).is_none()
    }

    /// The first condition that fails, by field name.
    pub fn failing(&self, ctx: &ConditionContext<'_>) -> Option<&'static str> {
        let checks: [(&'static str, &Option<Matcher>, Option<&str>); 6] = [
            ("environment", &self.environment, ctx.environment),
            ("branch", &self.branch, ctx.branch),
            ("repository", &self.repository, ctx.repository),
            ("agent", &self.agent, ctx.agent),
            ("actor", &self.actor, ctx.actor),
            ("tenant", &self.tenant, ctx.tenant),
        ];
        checks
            .into_iter()
            .find_map(|(name, matcher, value)| match (matcher, value) {
                (None, _) => None,
                (Some(m), Some(v)) if m.set.is_match(v) => None,
                _ => Some(name),
            })
    }

    /// Whether the rule has any condition at all.
    pub fn is_empty(&self) -> bool {
        self.environment.is_none()
            && self.branch.is_none()
            && self.repository.is_none()
            && self.agent.is_none()
            && self.actor.is_none()
            && self.tenant.is_none()
    }
}

/// A glob set with the source text of each glob.
#[derive(Debug, Clone)]
struct Matcher {
    set: globs::GlobSet,
    texts: Vec<String>,
}

impl Matcher {
    fn first_match(&self, subject: &str) -> Option<&str> {
        self.set
            .first_match(subject)
            .and_then(|i| self.texts.get(i))
            .map(String::as_str)
    }
}

/// A pattern hit: which rule, and which of its patterns (as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternHit {
    /// Index into [`CompiledPack::rules`].
    pub rule: usize,
    /// Index into that rule's `patterns`.
    pub pattern: usize,
    /// The pattern matched only once letter case was ignored (see [`CompiledPack::path_hits`]).
    pub ignoring_case: bool,
}

/// Globs of many rules in one set, each with the rule pattern it came from.
#[derive(Debug, Clone, Default)]
struct SharedSet {
    set: globs::GlobSet,
    owners: Vec<PatternHit>,
}

impl SharedSet {
    fn add(
        &mut self,
        glob: &str,
        literal_separator: bool,
        hit: PatternHit,
    ) -> Result<(), globset::Error> {
        self.set.add(glob, literal_separator)?;
        self.owners.push(hit);
        Ok(())
    }

    fn hits_into(&self, subject: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        if self.owners.is_empty() {
            return;
        }
        self.set.matches_into(subject, scratch);
        out.extend(scratch.iter().filter_map(|i| self.owners.get(*i).copied()));
    }
}

/// The path patterns of one kind of rule, one set per form of a path.
#[derive(Debug, Clone, Default)]
struct PathSets {
    relative: SharedSet,
    absolute: SharedSet,
    home: SharedSet,
}

impl PathSets {
    fn of(&mut self, target: compiler::PathTarget) -> &mut SharedSet {
        match target {
            compiler::PathTarget::Relative => &mut self.relative,
            compiler::PathTarget::Absolute => &mut self.absolute,
            compiler::PathTarget::Home => &mut self.home,
        }
    }
}

/// The patterns of all rules, one set per kind of subject, and the rules of each risk class.
#[derive(Debug, Clone, Default)]
struct PatternSets {
    /// Path patterns as written; and lower-cased copies of those of rules whose decision is not
    /// `allow` that hold a capital or a non-ASCII letter, which a lower-case form can match
    /// only ignoring case.
    paths: PathSets,
    commands: SharedSet,
    servers: SharedSet,
    domains: SharedSet,
    classes: BTreeMap<RiskClass, Vec<usize>>,
}

/// The forms of one path a path rule may be matched against.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathForms<'a> {
    /// Relative to the repository root (`None` when the path is outside it).
    pub relative: Option<&'a str>,
    /// Absolute, normalised.
    pub absolute: Option<&'a str>,
    /// `~/…` when the path is under the home folder.
    pub home: Option<&'a str>,
}

/// A pack ready for the engine.
#[derive(Debug, Clone)]
pub struct CompiledPack {
    /// `metadata.id`.
    pub id: String,
    /// `metadata.title`.
    pub title: String,
    /// `metadata.version`.
    pub version: String,
    /// `sha256:…` of the merged document.
    pub digest: String,
    /// Where the pack came from.
    pub origin: String,
    /// The packs merged, parents first.
    pub chain: Vec<String>,
    /// The pack's mode (a request may override it).
    pub mode: Mode,
    /// Every rule, section rules first (in a fixed order), then custom rules in pack order.
    pub rules: Vec<CompiledRule>,
    /// `defaults:` per action type.
    pub defaults: BTreeMap<ActionType, DefaultDecision>,
    /// `git.block_force_push`.
    pub block_force_push: bool,
    /// `git.require_pull_request`.
    pub require_pull_request: bool,
    /// `git.require_ai_attestation`.
    pub require_ai_attestation: bool,
    /// `mcp.block_unknown_servers`.
    pub block_unknown_servers: bool,
    /// Whether `network.allowed_domains` is non-empty (other domains then get the default).
    pub network_allowlist: bool,
    /// The merged document, for `policy compile` / `diff` and digests.
    pub document: PackDocument,
    sets: PatternSets,
    /// The pack's redaction rule set, when its `redaction:` section says anything (else the
    /// built-in set applies).
    redactor: Option<Arc<Redactor>>,
    /// The built-in knowledge base plus the pack's `knowledge:` entries, when it has any.
    knowledge: Option<Arc<cavra_shell::Knowledge>>,
}

impl CompiledPack {
    /// What programs do with their arguments under this pack: the built-in knowledge base,
    /// plus the pack's `knowledge:` entries.
    pub fn knowledge(&self) -> &cavra_shell::Knowledge {
        self.knowledge
            .as_deref()
            .unwrap_or_else(|| cavra_shell::Knowledge::builtin())
    }

    /// The rule set that masks secrets in everything recorded under this pack: the built-in
    /// rules (less any the pack disables) and the pack's own. A pack without a `redaction:`
    /// section gets the process-wide [`Redactor::builtin`]; either way expressions compile
    /// lazily, once per process.
    pub fn redactor(&self) -> &Redactor {
        self.redactor
            .as_deref()
            .unwrap_or_else(|| Redactor::builtin())
    }
}

/// Well-known ids of section rules.
pub mod ids {
    /// `filesystem.block_read`.
    pub const READ_BLOCK: &str = "filesystem.read.block";
    /// `filesystem.require_approval_read`.
    pub const READ_APPROVAL: &str = "filesystem.read.require_approval";
    /// `filesystem.warn_read`.
    pub const READ_WARN: &str = "filesystem.read.warn";
    /// `filesystem.allow_read`.
    pub const READ_ALLOW: &str = "filesystem.read.allow";
    /// `filesystem.block_write`.
    pub const WRITE_BLOCK: &str = "filesystem.write.block";
    /// `filesystem.require_approval_write`.
    pub const WRITE_APPROVAL: &str = "filesystem.write.require_approval";
    /// `filesystem.warn_write`.
    pub const WRITE_WARN: &str = "filesystem.write.warn";
    /// `filesystem.allow_write`.
    pub const WRITE_ALLOW: &str = "filesystem.write.allow";
    /// `commands.allow`.
    pub const COMMANDS_ALLOW: &str = "commands.allow";
    /// `commands.block`.
    pub const COMMANDS_BLOCK: &str = "commands.block";
    /// `commands.require_approval`.
    pub const COMMANDS_APPROVAL: &str = "commands.require_approval";
    /// `commands.warn`.
    pub const COMMANDS_WARN: &str = "commands.warn";
    /// `git.block_push_branches`.
    pub const GIT_PROTECTED_PUSH: &str = "git.protected_branch.block_direct_push";
    /// `git.block_force_push`.
    pub const GIT_FORCE_PUSH: &str = "git.force_push.block";
    /// `git.require_ai_attestation` on pull requests.
    pub const GIT_PR_ATTESTATION: &str = "git.pull_request.require_ai_attestation";
    /// `mcp.blocked_servers`.
    pub const MCP_BLOCKED: &str = "mcp.server.blocked";
    /// `mcp.allowed_servers`.
    pub const MCP_ALLOWED: &str = "mcp.server.allowed";
    /// `mcp.block_unknown_servers` for a server not allowed.
    pub const MCP_UNKNOWN: &str = "mcp.server.trust.block_unknown";
    /// `network.blocked_domains`.
    pub const NETWORK_BLOCKED: &str = "network.domain.block";
    /// `network.allowed_domains`.
    pub const NETWORK_ALLOWED: &str = "network.domain.allow";
}

/// Whether a path or pattern has a letter whose case could differ from another spelling of
/// the same name: an ASCII capital, or any non-ASCII character. This runs for every form of
/// every path decided, so it reads eight bytes at a time (the last word overlapping the one
/// before, a short text padded with zeros, which have no case): in each byte of a word, the
/// high bit is set when the byte is not ASCII or, for an ASCII byte `b`, when
/// `b + (0x80 - b'A')` reaches 0x80 and `b + (0x80 - b'Z' - 1)` does not (no sum carries into
/// the next byte: the high bits are cleared first, so each sum stays below 0x100).
pub fn has_cased_letters(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let cased = |word: u64| {
        let ascii = word & !HIGH;
        let from_a = ascii + ONES * u64::from(0x80 - b'A');
        let past_z = ascii + ONES * u64::from(0x80 - b'Z' - 1);
        (word | (from_a & !past_z)) & HIGH
    };
    let word = |bytes: &[u8]| <[u8; 8]>::try_from(bytes).map_or(0, u64::from_le_bytes);
    let bytes = text.as_bytes();
    if bytes.len() < 8 {
        let mut padded = [0u8; 8];
        padded[..bytes.len()].copy_from_slice(bytes);
        return cased(u64::from_le_bytes(padded)) != 0;
    }
    let last = word(&bytes[bytes.len() - 8..]);
    bytes
        .chunks_exact(8)
        .fold(cased(last), |found, chunk| found | cased(word(chunk)))
        != 0
}

/// A path or glob with its letters lower-cased (the copies of patterns with capitals, the
/// forms of paths with capitals looked up again); borrowed when it has no letter to fold. (`str::to_lowercase` leaves glob syntax
/// alone: `*`, `?`, `[`, `{`, `\` have no case.)
pub fn fold_case(text: &str) -> Cow<'_, str> {
    if !has_cased_letters(text) {
        Cow::Borrowed(text)
    } else if text.is_ascii() {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// A glob's copy for matching ignoring letter case: [`fold_case`] outside bracket expressions,
/// each class kept as written. Lower-casing a class's range takes in characters no spelling
/// of it matches (`[0-Z]` holds `0`–`9`, `A`–`Z` and seven signs; `[0-z]` also `[`, `_`, `` ` ``
/// and the small letters): the copy of a restricting rule must not restrict more than some
/// spelling of the pattern as written would.
pub fn fold_glob_case(glob: &str) -> Cow<'_, str> {
    if !glob.contains('[') {
        return fold_case(glob);
    }
    if !has_cased_letters(glob) {
        return Cow::Borrowed(glob);
    }
    let mut out = String::with_capacity(glob.len());
    // Inside a class: how many characters it has had, and whether it began with `!`. A `]`
    // first in a class (after a leading `!`, too) is one of its characters, as globset reads it.
    let mut class: Option<(usize, bool)> = None;
    let mut escaped = false;
    for c in glob.chars() {
        if let Some((seen, negated)) = class.as_mut() {
            out.push(c);
            if c == ']' && *seen > usize::from(*negated) {
                class = None;
            } else {
                if *seen == 0 && c == '!' {
                    *negated = true;
                }
                *seen += 1;
            }
            continue;
        }
        if escaped {
            escaped = false;
            out.extend(c.to_lowercase());
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '[' => {
                class = Some((0, false));
                out.push(c);
            }
            _ => out.extend(c.to_lowercase()),
        }
    }
    if out == glob {
        Cow::Borrowed(glob)
    } else {
        Cow::Owned(out)
    }
}

/// Where the first letter that has case is (see [`has_cased_letters`]): every byte before it
/// is as [`fold_case`] leaves it.
fn first_cased(text: &str) -> Option<usize> {
    if !has_cased_letters(text) {
        return None;
    }
    text.bytes()
        .position(|b| b.is_ascii_uppercase() || !b.is_ascii())
}

impl CompiledPack {
    /// Pattern hits of path rules for these forms of one path, those of the patterns as
    /// written first, then those (with [`PatternHit::ignoring_case`]) of rules whose decision
    /// is not `allow` matched ignoring letter case. On the file systems most agents run on
    /// besides Linux (macOS's APFS, Windows' NTFS) `.Git/Config` is `.git/config`, so a rule
    /// that restricts a path restricts every spelling of it; a rule that allows one does not
    /// allow the others.
    ///
    /// The usual path costs nothing more: the lower-cased copies of patterns that hold capitals
    /// (`CODEOWNERS`) are in the sets of patterns as written, so a lower-case form finds them in
    /// the same lookups; only a form with capitals or non-ASCII letters is lower-cased and
    /// looked up again in the same sets, keeping the hits of rules that restrict.
    pub fn path_hits(
        &self,
        forms: &PathForms<'_>,
        scratch: &mut Vec<usize>,
        out: &mut Vec<PatternHit>,
    ) {
        let start = out.len();
        let sets = &self.sets.paths;
        for (form, set) in [
            (forms.relative, &sets.relative),
            (forms.absolute, &sets.absolute),
            (forms.home, &sets.home),
        ] {
            if let Some(path) = form {
                for prefix in ancestors(path) {
                    set.hits_into(prefix, scratch, out);
                }
            }
        }
        // A name pattern (`.env`, `*.pem`) names a kind of file wherever it is, as does a
        // pattern starting `**/`: a secret outside the repository is still a secret. Anchored
        // patterns stay in the repository. Outside it, the path is its absolute form, or the
        // home form's (`~/.pgpass` as `/.pgpass`) when the home folder is not known.
        let outside = forms
            .absolute
            .or_else(|| forms.home.map(|h| h.strip_prefix('~').unwrap_or(h)))
            .filter(|_| forms.relative.is_none());
        if let Some(abs) = outside {
            let before = out.len();
            for prefix in ancestors(abs.trim_start_matches('/')) {
                sets.relative.hits_into(prefix, scratch, out);
            }
            self.keep_name_patterns(out, before);
        }
        // Ignoring case, form by form: only a form with capitals or non-ASCII letters, and of
        // it only the folders long enough to hold one (shorter ones are lower-case ASCII as
        // written, and were matched above). Lower-cased, the form is matched against the same
        // sets: a pattern without capitals matches it exactly when it matches the form ignoring
        // case, and a pattern with capitals has its lower-cased copy beside it. Of these hits
        // only those of rules that restrict are kept. (No second set to compile: a process
        // that decides `src/Main.java` pays one more lookup, not a build.)
        for (form, set) in [
            (forms.relative, &sets.relative),
            (forms.absolute, &sets.absolute),
            (forms.home, &sets.home),
        ] {
            if let Some(path) = form
                && !set.owners.is_empty()
                && let Some(at) = first_cased(path)
            {
                let before = out.len();
                let lower = fold_case(path);
                for prefix in ancestors(&lower).take_while(|p| p.len() > at) {
                    set.hits_into(prefix, scratch, out);
                }
                self.keep_restricting(out, before);
            }
        }
        if let Some(abs) = outside
            && !sets.relative.owners.is_empty()
            && let Some(at) = first_cased(abs)
        {
            let before = out.len();
            let lower = fold_case(abs);
            let trimmed = lower.trim_start_matches('/');
            let lead = lower.len() - trimmed.len();
            for prefix in ancestors(trimmed).take_while(|p| lead + p.len() > at) {
                sets.relative.hits_into(prefix, scratch, out);
            }
            self.keep_name_patterns(out, before);
            self.keep_restricting(out, before);
        }
        // A rule matched as written is reported so, whichever of its patterns came first.
        if out.len() - start > 1 {
            out[start..].sort_by_key(|h| h.ignoring_case);
        }
    }

    /// Pattern hits, ignoring letter case, of the forms a path has only when the repository
    /// root or the home folder is compared with it ignoring case (`/users/dev/repo/.env` in the
    /// repository `/Users/dev/repo`): every form given is lower-cased and looked up, and only
    /// the hits of rules that restrict are kept, marked [`PatternHit::ignoring_case`].
    pub fn path_hits_ignoring_case(
        &self,
        forms: &PathForms<'_>,
        scratch: &mut Vec<usize>,
        out: &mut Vec<PatternHit>,
    ) {
        let before = out.len();
        let sets = &self.sets.paths;
        for (form, set) in [
            (forms.relative, &sets.relative),
            (forms.absolute, &sets.absolute),
            (forms.home, &sets.home),
        ] {
            if let Some(path) = form
                && !set.owners.is_empty()
            {
                for prefix in ancestors(&fold_case(path)) {
                    set.hits_into(prefix, scratch, out);
                }
            }
        }
        self.keep_restricting(out, before);
    }

    /// Keeps of `out[before..]` (hits of a path lower-cased) those of rules whose decision is
    /// not `allow`, marked as matched ignoring case.
    fn keep_restricting(&self, out: &mut Vec<PatternHit>, before: usize) {
        let mut kept = before;
        for i in before..out.len() {
            let hit = out[i];
            if self
                .rules
                .get(hit.rule)
                .is_some_and(|r| r.decision != Decision::Allow)
            {
                out[kept] = PatternHit {
                    ignoring_case: true,
                    ..hit
                };
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Drops from `out[before..]` the hits of patterns that are not name patterns.
    fn keep_name_patterns(&self, out: &mut Vec<PatternHit>, before: usize) {
        let mut kept = before;
        for i in before..out.len() {
            let hit = out[i];
            if self.is_name_pattern(hit) {
                out[kept] = hit;
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Whether a path pattern hit comes from a pattern that matches at any depth: one with no
    /// `/` (a name), or one that says so with a leading `**/` (`**/.aws/credentials*` is the
    /// file in any `.aws` folder, a home folder's outside the repository too).
    fn is_name_pattern(&self, hit: PatternHit) -> bool {
        self.rules
            .get(hit.rule)
            .and_then(|r| r.patterns.get(hit.pattern))
            .is_some_and(|p| {
                let p = p.trim();
                let p = p.strip_prefix("./").unwrap_or(p).trim_end_matches('/');
                p.starts_with("**/") || (!p.contains('/') && !p.starts_with('~'))
            })
    }

    /// Pattern hits of command rules for any of a command's match keys
    /// ([`cavra_shell::SimpleCommand::match_keys`] or [`cavra_shell::match_key`]).
    pub fn command_hits(
        &self,
        variants: &[String],
        scratch: &mut Vec<usize>,
        out: &mut Vec<PatternHit>,
    ) {
        for variant in variants {
            self.sets.commands.hits_into(variant, scratch, out);
        }
    }

    /// Pattern hits of MCP server rules.
    pub fn server_hits(&self, server: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        self.sets.servers.hits_into(server, scratch, out);
    }

    /// Pattern hits of domain rules (the host is lower-cased by the caller).
    pub fn domain_hits(&self, host: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        self.sets.domains.hits_into(host, scratch, out);
    }

    /// Rules that name a risk class.
    pub fn class_rules(&self, class: RiskClass) -> &[usize] {
        self.sets
            .classes
            .get(&class)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The rule at `index`.
    pub fn rule(&self, index: usize) -> Option<&CompiledRule> {
        self.rules.get(index)
    }

    /// The number of patterns compiled, for diagnostics and benchmarks.
    pub fn pattern_count(&self) -> usize {
        self.rules.iter().map(|r| r.patterns.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::compiler::{PathTarget, domain_globs, path_globs};
    use super::*;

    fn globs_match(pattern: &str, path: &str) -> bool {
        let mut set = globs::GlobSet::default();
        for (target, glob) in path_globs(pattern) {
            if target == PathTarget::Relative {
                set.add(&glob, true).expect("valid");
            }
        }
        ancestors(path).any(|a| set.is_match(a))
    }

    #[test]
    fn name_patterns_match_at_any_depth() {
        assert!(globs_match(".env", ".env"));
        assert!(globs_match(".env", "config/.env"));
        assert!(!globs_match(".env", "config/.envrc"));
        assert!(globs_match("*.pem", "a/b/key.pem"));
        assert!(globs_match(".terraform", "infra/.terraform/plugins/x"));
    }

    #[test]
    fn double_star_crosses_folders_and_matches_root() {
        assert!(globs_match("**/secrets.*", "secrets.yaml"));
        assert!(globs_match("**/secrets.*", "config/deep/secrets.json"));
    }

    #[test]
    fn slash_patterns_are_anchored_and_star_stays_in_one_folder() {
        assert!(globs_match(
            ".github/workflows/**",
            ".github/workflows/ci.yml"
        ));
        assert!(!globs_match(
            ".github/workflows/**",
            "x/.github/workflows/ci.yml"
        ));
        assert!(globs_match("iam/*", "iam/role.tf"));
        assert!(
            globs_match("iam/*", "iam/sub/role.tf"),
            "a folder match covers its content"
        );
        assert!(!globs_match("src/*.rs", "src/a/b.rs"));
        assert!(globs_match("./iam/", "iam/x"));
    }

    #[test]
    fn ancestors_walk_up() {
        assert_eq!(
            ancestors("a/b/c").collect::<Vec<_>>(),
            vec!["a/b/c", "a/b", "a"]
        );
        assert_eq!(ancestors("/x/y").collect::<Vec<_>>(), vec!["/x/y", "/x"]);
        assert_eq!(
            ancestors("~/.ssh/id").collect::<Vec<_>>(),
            vec!["~/.ssh/id", "~/.ssh"]
        );
        assert_eq!(ancestors("").count(), 0);
    }

    fn compiled(yaml: &str) -> CompiledPack {
        let resolved =
            crate::load_pack_str(yaml, "<test>", std::path::Path::new(".")).expect("pack loads");
        compile(&resolved).expect("pack compiles")
    }

    /// The rule ids hit by a relative path, each with whether it matched only ignoring case
    /// (the first hit of each rule, as the engine takes them).
    fn hits(pack: &CompiledPack, relative: &str) -> Vec<(String, bool)> {
        let forms = PathForms {
            relative: Some(relative),
            absolute: None,
            home: None,
        };
        let mut out = Vec::new();
        pack.path_hits(&forms, &mut Vec::new(), &mut out);
        let mut seen = Vec::new();
        out.iter()
            .filter(|h| {
                let first = !seen.contains(&h.rule);
                seen.push(h.rule);
                first
            })
            .map(|h| (pack.rules[h.rule].id.clone(), h.ignoring_case))
            .collect()
    }

    const CASES: &str = r#"
metadata: {id: case, version: "1"}
filesystem:
  block_write: [".git/config", "CODEOWNERS", "Ünïcode/**"]
  warn_read: ["*.PEM"]
  allow_write: ["docs/**"]
"#;

    #[test]
    fn restricting_rules_match_in_any_letter_case() {
        let pack = compiled(CASES);
        let block = ids::WRITE_BLOCK.to_string();
        assert_eq!(hits(&pack, ".git/config"), vec![(block.clone(), false)]);
        assert_eq!(hits(&pack, ".Git/Config"), vec![(block.clone(), true)]);
        assert_eq!(hits(&pack, ".GIT/CONFIG"), vec![(block.clone(), true)]);
        // A capital in the pattern: the lower-case spelling is the same file.
        assert_eq!(hits(&pack, "src/codeowners"), vec![(block.clone(), true)]);
        assert_eq!(hits(&pack, "ünïcode/x"), vec![(block.clone(), true)]);
        assert_eq!(hits(&pack, "ÜNÏCODE/x"), vec![(block.clone(), true)]);
        assert_eq!(
            hits(&pack, "keys/a.pem"),
            vec![(ids::READ_WARN.to_string(), true)]
        );
        // Matched as written and ignoring case: reported as written.
        assert_eq!(hits(&pack, "CODEOWNERS"), vec![(block.clone(), false)]);
        assert_eq!(hits(&pack, "Ünïcode/x"), vec![(block.clone(), false)]);
        assert!(hits(&pack, ".git/configs").is_empty());
        assert!(hits(&pack, "src/main.rs").is_empty());
    }

    #[test]
    fn folders_and_absolute_paths_in_any_case() {
        let pack = compiled(
            r#"
metadata: {id: folders, version: "1"}
filesystem:
  block_read: ["Module", ".env", "/etc/shadow", "src/lib/**"]
"#,
        );
        let hit = |relative: Option<&str>, absolute: &str| {
            let forms = PathForms {
                relative,
                absolute: Some(absolute),
                home: None,
            };
            let mut out = Vec::new();
            pack.path_hits(&forms, &mut Vec::new(), &mut out);
            out.first().map(|h| h.ignoring_case)
        };
        // The capital is deep in the path; the folder that matches is above or below it.
        assert_eq!(
            hit(Some("src/MODULE/x.rs"), "/r/src/MODULE/x.rs"),
            Some(true)
        );
        assert_eq!(
            hit(Some("src/module/x.rs"), "/r/src/module/x.rs"),
            Some(true)
        );
        assert_eq!(
            hit(Some("src/lib/Deep/x.rs"), "/r/src/lib/Deep/x.rs"),
            Some(false)
        );
        assert_eq!(hit(Some("Src/lib/x.rs"), "/r/Src/lib/x.rs"), Some(true));
        assert_eq!(hit(Some("src/li/x.rs"), "/r/src/li/x.rs"), None);
        // Outside the repository: absolute patterns, and name patterns wherever they are.
        assert_eq!(hit(None, "/ETC/shadow"), Some(true));
        assert_eq!(hit(None, "/Opt/App/.ENV"), Some(true));
        assert_eq!(hit(None, "/opt/app/.env"), Some(false));
        // An anchored pattern stays in the repository, in any case.
        assert_eq!(hit(None, "/Opt/SRC/lib/x.rs"), None);
    }

    #[test]
    fn a_pattern_whose_lower_case_is_no_glob_still_matches_as_written() {
        // `[Z-a]` is a range; lower-cased, `[z-a]` is not one.
        let pack = compiled(
            r#"
metadata: {id: range, version: "1"}
filesystem:
  block_write: ["[Z-a]x", "KEYS/**"]
"#,
        );
        let block = ids::WRITE_BLOCK.to_string();
        assert_eq!(hits(&pack, "_x"), vec![(block.clone(), false)]);
        assert_eq!(hits(&pack, "keys/a"), vec![(block.clone(), true)]);
        assert_eq!(hits(&pack, "Keys/a"), vec![(block.clone(), true)]);
        // `ax` is in the range, so `Ax` is too, ignoring case.
        assert_eq!(hits(&pack, "Ax"), vec![(block.clone(), true)]);
        assert!(hits(&pack, "0x").is_empty());
    }

    #[test]
    fn allow_rules_match_only_as_written() {
        let pack = compiled(CASES);
        assert_eq!(
            hits(&pack, "docs/x.md"),
            vec![(ids::WRITE_ALLOW.to_string(), false)]
        );
        assert!(hits(&pack, "Docs/x.md").is_empty());
        assert!(hits(&pack, "DOCS/x.md").is_empty());
    }

    #[test]
    fn exceptions_match_only_as_written() {
        let pack = compiled(
            r#"
metadata: {id: except, version: "1"}
rules:
  - id: env
    action: read_file
    paths: [".env.*"]
    except: [".env.example"]
    decision: block
"#,
        );
        let rule = pack.rules.iter().find(|r| r.id == "env").expect("rule");
        assert_eq!(hits(&pack, ".ENV.example"), vec![("env".to_string(), true)]);
        assert!(rule.is_excepted(".env.example"));
        assert!(!rule.is_excepted(".ENV.example"));
        assert!(!rule.is_excepted(".env.EXAMPLE"));
    }

    #[test]
    fn case_folding_helpers() {
        // Every byte value, at every place of texts shorter than, as long as and longer than
        // a word.
        for len in [1, 5, 8, 12, 16, 21] {
            for b in 0u8..=255 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let text = String::from_utf8_lossy(&bytes);
                    let expected = text
                        .bytes()
                        .any(|c| c.is_ascii_uppercase() || !c.is_ascii());
                    assert_eq!(
                        has_cased_letters(&text),
                        expected,
                        "{b:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(!has_cased_letters(""));
        assert!(!has_cased_letters(".git/config"));
        assert!(has_cased_letters(".Git/config"));
        assert!(has_cased_letters("café"));
        assert_eq!(fold_case(".Git/CONFIG"), ".git/config");
        // A class keeps its letters: its range is not widened by the copy.
        assert_eq!(fold_glob_case("[0-Z]x"), "[0-Z]x");
        assert!(matches!(
            fold_glob_case("[0-Z]x"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(fold_glob_case("SRC/[A-Z]*.RS"), "src/[A-Z]*.rs");
        assert_eq!(fold_glob_case("[]A]B"), "[]A]b");
        assert_eq!(fold_glob_case("[!]A]B"), "[!]A]b");
        assert_eq!(fold_glob_case("\\[A]B"), "\\[a]b");
        assert_eq!(fold_glob_case(".ENV.*"), ".env.*");
        assert_eq!(fold_glob_case("ÉTÉ/[É]"), "été/[É]");
        assert_eq!(fold_case("ÉTÉ/Ä.txt"), "été/ä.txt");
        assert!(matches!(fold_case("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn domains_cover_subdomains() {
        let mut set = globs::GlobSet::default();
        for glob in domain_globs("example.com") {
            set.add(&glob, false).expect("valid");
        }
        let m = |h: &str| set.is_match(h);
        assert!(m("example.com"));
        assert!(m("api.example.com"));
        assert!(!m("badexample.com"));
    }
}
