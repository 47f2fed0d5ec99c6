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
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

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
    set: GlobSet,
    texts: Vec<String>,
}

impl Matcher {
    fn first_match(&self, subject: &str) -> Option<&str> {
        self.set
            .matches(subject)
            .first()
            .and_then(|i| self.texts.get(*i))
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
}

/// Globs of many rules in one set.
#[derive(Debug)]
struct SharedSet {
    globs: Vec<globset::Glob>,
    owners: Vec<PatternHit>,
    /// Built on first use: a short-lived process (a hook call) only pays for the sets its one
    /// request needs. Building a glob set is most of the cost of compiling a pack.
    set: std::sync::OnceLock<Matching>,
}

/// How a shared set matches once built.
#[derive(Debug)]
enum Matching {
    /// One pass over all globs.
    Set(GlobSet),
    /// Glob by glob: only when the set as a whole cannot be built (a regex size limit); each
    /// glob compiled on its own when the pack was compiled, so nothing is lost, only speed.
    Each(Vec<globset::GlobMatcher>),
}

impl Clone for SharedSet {
    fn clone(&self) -> Self {
        SharedSet {
            globs: self.globs.clone(),
            owners: self.owners.clone(),
            set: std::sync::OnceLock::new(),
        }
    }
}

#[derive(Default)]
struct SharedSetBuilder {
    globs: Vec<globset::Glob>,
    owners: Vec<PatternHit>,
}

impl SharedSetBuilder {
    fn add(&mut self, glob: globset::Glob, hit: PatternHit) {
        self.globs.push(glob);
        self.owners.push(hit);
    }

    fn build(self) -> Result<SharedSet, PolicyError> {
        Ok(SharedSet {
            globs: self.globs,
            owners: self.owners,
            set: std::sync::OnceLock::new(),
        })
    }
}

impl SharedSet {
    fn matching(&self) -> &Matching {
        self.set.get_or_init(|| {
            let mut builder = GlobSetBuilder::new();
            for glob in &self.globs {
                builder.add(glob.clone());
            }
            match builder.build() {
                Ok(set) => Matching::Set(set),
                Err(_) => Matching::Each(
                    self.globs
                        .iter()
                        .map(globset::Glob::compile_matcher)
                        .collect(),
                ),
            }
        })
    }

    fn hits_into(&self, subject: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        if self.owners.is_empty() {
            return;
        }
        let candidate = Candidate::new(subject);
        match self.matching() {
            Matching::Set(set) => set.matches_candidate_into(&candidate, scratch),
            Matching::Each(matchers) => {
                scratch.clear();
                scratch.extend(
                    matchers
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.is_match_candidate(&candidate))
                        .map(|(i, _)| i),
                );
            }
        }
        out.extend(scratch.iter().filter_map(|i| self.owners.get(*i).copied()));
    }
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
    paths_relative: SharedSet,
    paths_absolute: SharedSet,
    paths_home: SharedSet,
    commands: SharedSet,
    servers: SharedSet,
    domains: SharedSet,
    classes: BTreeMap<RiskClass, Vec<usize>>,
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

/// Compiles a resolved pack.
pub fn compile(pack: &ResolvedPack) -> Result<CompiledPack, PolicyError> {
    Compiler::default().run(pack)
}

#[derive(Default)]
struct Compiler {
    rules: Vec<CompiledRule>,
    paths_relative: SharedSetBuilder,
    paths_absolute: SharedSetBuilder,
    paths_home: SharedSetBuilder,
    commands: SharedSetBuilder,
    servers: SharedSetBuilder,
    domains: SharedSetBuilder,
    classes: BTreeMap<RiskClass, Vec<usize>>,
}

/// What kind of subject a pattern list describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PatternKind {
    Path,
    Command,
    Class,
    Server,
    Domain,
    Branch,
}

struct RuleSpec<'a> {
    id: String,
    actions: &'a [ActionType],
    decision: Decision,
    severity: Option<Severity>,
    reason: Option<String>,
    approver_group: Option<String>,
    origin: RuleOrigin,
    kind: PatternKind,
    patterns: &'a [String],
}

fn default_severity(decision: Decision) -> Severity {
    match decision {
        Decision::Block => Severity::High,
        Decision::RequireApproval => Severity::Medium,
        Decision::Warn | Decision::AllowWithAttestation => Severity::Low,
        Decision::Allow | Decision::AuditOnly => Severity::Info,
    }
}

impl Compiler {
    fn run(mut self, pack: &ResolvedPack) -> Result<CompiledPack, PolicyError> {
        let doc = &pack.document;
        let fs = &doc.filesystem;
        use ActionType::*;
        let read: &[ActionType] = &[ReadFile];
        let write: &[ActionType] = &[WriteFile, DeleteFile];
        let section = |id: &str, actions, decision, kind, patterns, origin| RuleSpec {
            id: id.to_string(),
            actions,
            decision,
            severity: None,
            reason: None,
            approver_group: None,
            origin: RuleOrigin::Section(origin),
            kind,
            patterns,
        };
        let path = PatternKind::Path;
        let specs = [
            section(
                ids::READ_BLOCK,
                read,
                Decision::Block,
                path,
                &fs.block_read,
                "filesystem.block_read",
            ),
            section(
                ids::READ_APPROVAL,
                read,
                Decision::RequireApproval,
                path,
                &fs.require_approval_read,
                "filesystem.require_approval_read",
            ),
            section(
                ids::READ_WARN,
                read,
                Decision::Warn,
                path,
                &fs.warn_read,
                "filesystem.warn_read",
            ),
            section(
                ids::READ_ALLOW,
                read,
                Decision::Allow,
                path,
                &fs.allow_read,
                "filesystem.allow_read",
            ),
            section(
                ids::WRITE_BLOCK,
                write,
                Decision::Block,
                path,
                &fs.block_write,
                "filesystem.block_write",
            ),
            section(
                ids::WRITE_APPROVAL,
                write,
                Decision::RequireApproval,
                path,
                &fs.require_approval_write,
                "filesystem.require_approval_write",
            ),
            section(
                ids::WRITE_WARN,
                write,
                Decision::Warn,
                path,
                &fs.warn_write,
                "filesystem.warn_write",
            ),
            section(
                ids::WRITE_ALLOW,
                write,
                Decision::Allow,
                path,
                &fs.allow_write,
                "filesystem.allow_write",
            ),
        ];
        for spec in specs {
            self.add(spec, None, &Conditions::default(), &[], &[], &[])?;
        }

        let cmd = &doc.commands;
        let exec: &[ActionType] = &[ExecuteCommand];
        let command = PatternKind::Command;
        let specs = [
            section(
                ids::COMMANDS_BLOCK,
                exec,
                Decision::Block,
                command,
                &cmd.block,
                "commands.block",
            ),
            section(
                ids::COMMANDS_APPROVAL,
                exec,
                Decision::RequireApproval,
                command,
                &cmd.require_approval,
                "commands.require_approval",
            ),
            section(
                ids::COMMANDS_WARN,
                exec,
                Decision::Warn,
                command,
                &cmd.warn,
                "commands.warn",
            ),
            section(
                ids::COMMANDS_ALLOW,
                exec,
                Decision::Allow,
                command,
                &cmd.allow,
                "commands.allow",
            ),
        ];
        for spec in specs {
            self.add(spec, None, &Conditions::default(), &[], &[], &[])?;
        }
        for (list, decision, origin) in [
            (
                &cmd.block_classes,
                Decision::Block,
                "commands.block_classes",
            ),
            (
                &cmd.require_approval_classes,
                Decision::RequireApproval,
                "commands.require_approval_classes",
            ),
            (&cmd.warn_classes, Decision::Warn, "commands.warn_classes"),
        ] {
            for class in list {
                let one = std::slice::from_ref(class);
                let id = format!("commands.class.{class}");
                self.add(
                    section(&id, exec, decision, PatternKind::Class, one, origin),
                    None,
                    &Conditions::default(),
                    &[],
                    &[],
                    &[],
                )?;
            }
        }

        let push: &[ActionType] = &[GitOperation];
        self.add(
            RuleSpec {
                reason: Some(
                    "direct pushes to this branch are blocked; open a pull request".into(),
                ),
                ..section(
                    ids::GIT_PROTECTED_PUSH,
                    push,
                    Decision::Block,
                    PatternKind::Branch,
                    &doc.git.block_push_branches,
                    "git.block_push_branches",
                )
            },
            None,
            &Conditions::default(),
            &[],
            &["push".to_string()],
            &[],
        )?;

        let mcp: &[ActionType] = &[McpToolCall];
        let server = PatternKind::Server;
        self.add(
            section(
                ids::MCP_BLOCKED,
                mcp,
                Decision::Block,
                server,
                &doc.mcp.blocked_servers,
                "mcp.blocked_servers",
            ),
            None,
            &Conditions::default(),
            &[],
            &[],
            &[],
        )?;
        self.add(
            section(
                ids::MCP_ALLOWED,
                mcp,
                Decision::Allow,
                server,
                &doc.mcp.allowed_servers,
                "mcp.allowed_servers",
            ),
            None,
            &Conditions::default(),
            &[],
            &[],
            &[],
        )?;

        let net: &[ActionType] = &[NetworkRequest];
        let domain = PatternKind::Domain;
        let net_specs = [
            section(
                ids::NETWORK_BLOCKED,
                net,
                Decision::Block,
                domain,
                &doc.network.blocked_domains,
                "network.blocked_domains",
            ),
            section(
                ids::NETWORK_ALLOWED,
                net,
                Decision::Allow,
                domain,
                &doc.network.allowed_domains,
                "network.allowed_domains",
            ),
        ];
        for spec in net_specs {
            self.add(spec, None, &Conditions::default(), &[], &[], &[])?;
        }

        for (index, rule) in doc.rules.iter().enumerate() {
            self.add_custom(index, rule)?;
        }

        let redactor = if doc.redaction.is_empty() {
            None
        } else {
            let r =
                Redactor::for_pack(&doc.redaction.disable, &doc.redaction.rules).map_err(|e| {
                    PolicyError::new(PolicyErrorKind::Invalid, format!("redaction: {e}"))
                })?;
            Some(Arc::new(r))
        };
        Ok(CompiledPack {
            id: doc.metadata.id.clone(),
            title: doc.metadata.title.clone(),
            version: doc.metadata.version.clone(),
            digest: pack.digest.clone(),
            origin: pack.origin.clone(),
            chain: pack.chain.clone(),
            mode: doc.metadata.mode.unwrap_or_default(),
            rules: self.rules,
            defaults: doc.defaults.clone(),
            block_force_push: doc.git.block_force_push,
            require_pull_request: doc.git.require_pull_request,
            require_ai_attestation: doc.git.require_ai_attestation,
            block_unknown_servers: doc.mcp.block_unknown_servers,
            network_allowlist: !doc.network.allowed_domains.is_empty(),
            document: doc.clone(),
            paths_relative: self.paths_relative.build()?,
            paths_absolute: self.paths_absolute.build()?,
            paths_home: self.paths_home.build()?,
            commands: self.commands.build()?,
            servers: self.servers.build()?,
            domains: self.domains.build()?,
            classes: self.classes,
            redactor,
            knowledge: if doc.knowledge.is_empty() {
                None
            } else {
                Some(Arc::new(
                    doc.knowledge.compile(&format!("pack {}", pack.origin)),
                ))
            },
        })
    }

    fn add_custom(&mut self, index: usize, rule: &RuleDocument) -> Result<(), PolicyError> {
        let actions = rule.action.as_slice();
        let mut specs: Vec<(PatternKind, &[String])> = Vec::new();
        for (kind, list) in [
            (PatternKind::Path, &rule.paths),
            (PatternKind::Command, &rule.commands),
            (PatternKind::Class, &rule.classes),
            (PatternKind::Server, &rule.servers),
            (PatternKind::Domain, &rule.domains),
            (PatternKind::Branch, &rule.branches),
        ] {
            if !list.is_empty() {
                specs.push((kind, list.as_slice()));
            }
        }
        // A rule with only `tools:` or only `operations:` (or nothing but conditions) matches
        // every subject of its action types: it is registered as a pattern-less rule.
        let except_kind = specs.first().map(|(k, _)| *k);
        let id = rule.id.clone();
        let base = |kind, patterns| RuleSpec {
            id: id.clone(),
            actions,
            decision: rule.decision,
            severity: rule.severity,
            reason: rule.reason.clone(),
            approver_group: rule.approver_group.clone(),
            origin: RuleOrigin::Custom(index),
            kind,
            patterns,
        };
        let except = match except_kind {
            Some(kind) if !rule.except.is_empty() => {
                Some(self.matcher(kind, &rule.except, &rule.id)?)
            }
            _ => None,
        };
        if specs.is_empty() {
            let (kind, everything) = match actions.first() {
                Some(ActionType::McpToolCall) => (PatternKind::Server, "*"),
                Some(ActionType::GitOperation) => (PatternKind::Branch, ""),
                Some(ActionType::NetworkRequest) => (PatternKind::Domain, "*"),
                Some(ActionType::ExecuteCommand) => (PatternKind::Command, "*"),
                _ => (PatternKind::Path, "**"),
            };
            let everything = [everything.to_string()];
            return self.add(
                base(kind, &everything),
                except,
                &rule.when,
                &rule.tools,
                &rule.operations,
                &rule.branches,
            );
        }
        // A rule with several pattern kinds (e.g. paths and commands for a rule over two action
        // types) is one logical rule; each kind is registered under the same id.
        for (kind, patterns) in specs {
            self.add(
                base(kind, patterns),
                except.clone(),
                &rule.when,
                &rule.tools,
                &rule.operations,
                &rule.branches,
            )?;
        }
        Ok(())
    }

    fn add(
        &mut self,
        spec: RuleSpec<'_>,
        except: Option<Matcher>,
        when: &Conditions,
        tools: &[String],
        operations: &[String],
        branches: &[String],
    ) -> Result<(), PolicyError> {
        if spec.patterns.is_empty() {
            return Ok(());
        }
        let rule_index = self.rules.len();
        for (pattern_index, pattern) in spec.patterns.iter().enumerate() {
            let hit = PatternHit {
                rule: rule_index,
                pattern: pattern_index,
            };
            match spec.kind {
                PatternKind::Path => {
                    for (target, glob) in path_globs(pattern, &spec.id)? {
                        match target {
                            PathTarget::Relative => self.paths_relative.add(glob, hit),
                            PathTarget::Absolute => self.paths_absolute.add(glob, hit),
                            PathTarget::Home => self.paths_home.add(glob, hit),
                        }
                    }
                }
                PatternKind::Command => {
                    for glob in command_globs(pattern, &spec.id)? {
                        self.commands.add(glob, hit);
                    }
                }
                PatternKind::Class => {
                    let class = RiskClass::from_str(pattern).map_err(|e| {
                        PolicyError::new(
                            PolicyErrorKind::InvalidValue,
                            format!("rule `{}`: {e}", spec.id),
                        )
                    })?;
                    self.classes.entry(class).or_default().push(rule_index);
                }
                PatternKind::Server => self.servers.add(word_glob(pattern, &spec.id)?, hit),
                PatternKind::Domain => {
                    for glob in domain_globs(pattern, &spec.id)? {
                        self.domains.add(glob, hit);
                    }
                }
                // Git rules are few and are checked one by one (operation and branches together).
                PatternKind::Branch => {}
            }
        }
        let conditions = CompiledConditions {
            environment: self.optional_matcher(&when.environment, &spec.id)?,
            branch: self.optional_matcher(&when.branch, &spec.id)?,
            repository: self.optional_matcher(&when.repository, &spec.id)?,
            agent: self.optional_matcher(&when.agent, &spec.id)?,
            actor: self.optional_matcher(&when.actor, &spec.id)?,
            tenant: self.optional_matcher(&when.tenant, &spec.id)?,
        };
        let tools = self.optional_matcher(tools, &spec.id)?;
        let branch_patterns: Vec<String> = if spec.kind == PatternKind::Branch {
            spec.patterns
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect()
        } else {
            branches.to_vec()
        };
        let branches = self.optional_matcher(&branch_patterns, &spec.id)?;
        self.rules.push(CompiledRule {
            id: spec.id,
            actions: ActionSet::of(spec.actions),
            decision: spec.decision,
            severity: spec
                .severity
                .unwrap_or_else(|| default_severity(spec.decision)),
            reason: spec.reason,
            approver_group: spec.approver_group,
            origin: spec.origin,
            patterns: spec.patterns.to_vec(),
            conditions,
            except,
            tools,
            operations: operations.to_vec(),
            branches,
        });
        Ok(())
    }

    fn optional_matcher(
        &self,
        patterns: &[String],
        rule: &str,
    ) -> Result<Option<Matcher>, PolicyError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        self.matcher(PatternKind::Server, patterns, rule).map(Some)
    }

    fn matcher(
        &self,
        kind: PatternKind,
        patterns: &[String],
        rule: &str,
    ) -> Result<Matcher, PolicyError> {
        let mut builder = GlobSetBuilder::new();
        let mut texts = Vec::new();
        for pattern in patterns {
            let globs: Vec<globset::Glob> = match kind {
                PatternKind::Path => path_globs(pattern, rule)?
                    .into_iter()
                    .map(|(_, g)| g)
                    .collect(),
                PatternKind::Command => command_globs(pattern, rule)?,
                PatternKind::Domain => domain_globs(pattern, rule)?,
                _ => vec![word_glob(pattern, rule)?],
            };
            for glob in globs {
                builder.add(glob);
                texts.push(pattern.clone());
            }
        }
        let set = builder.build().map_err(|e| {
            PolicyError::new(PolicyErrorKind::BadPattern, format!("rule `{rule}`: {e}"))
        })?;
        Ok(Matcher { set, texts })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PathTarget {
    Relative,
    Absolute,
    Home,
}

fn bad_pattern(rule: &str, pattern: &str, e: impl std::fmt::Display) -> PolicyError {
    PolicyError::new(
        PolicyErrorKind::BadPattern,
        format!("rule `{rule}`: bad pattern `{pattern}`: {e}"),
    )
}

/// A glob over a path: `*` stays inside one folder, `**` crosses folders.
fn path_glob(glob: &str, rule: &str, written: &str) -> Result<globset::Glob, PolicyError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| bad_pattern(rule, written, e))
}

/// A glob over a word (command, server, branch, …): `*` matches anything, `/` included.
fn word_glob(glob: &str, rule: &str) -> Result<globset::Glob, PolicyError> {
    GlobBuilder::new(glob)
        .literal_separator(false)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| bad_pattern(rule, glob, e))
}

/// Command pattern globs over match keys (see [`cavra_shell::command_pattern_globs`]): words
/// are path components there, so `*` never crosses a word boundary.
fn command_globs(pattern: &str, rule: &str) -> Result<Vec<globset::Glob>, PolicyError> {
    cavra_shell::command_pattern_globs(pattern)
        .iter()
        .map(|g| {
            GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .map_err(|e| bad_pattern(rule, pattern, e))
        })
        .collect()
}

/// Domain globs: `example.com` covers the domain and its subdomains; `*.example.com` only
/// subdomains. Matched against the lower-cased host.
fn domain_globs(pattern: &str, rule: &str) -> Result<Vec<globset::Glob>, PolicyError> {
    let p = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut out = vec![word_glob(&p, rule)?];
    if !p.starts_with('*') {
        out.push(word_glob(&format!("*.{p}"), rule)?);
    }
    Ok(out)
}

/// Path pattern semantics (gitignore-like):
/// - a pattern starting with `/` is absolute, with `~` is under the home folder;
/// - a pattern with no `/` matches a name at any depth, and everything below such a folder;
/// - any other pattern is anchored at the repository root (a leading `./` is dropped);
/// - a pattern naming a folder also covers what is inside it.
fn path_globs(pattern: &str, rule: &str) -> Result<Vec<(PathTarget, globset::Glob)>, PolicyError> {
    let written = pattern;
    let trimmed = pattern.trim();
    let (target, body) = if trimmed.starts_with('/') {
        (PathTarget::Absolute, trimmed.to_string())
    } else if trimmed == "~" || trimmed.starts_with("~/") {
        (PathTarget::Home, trimmed.to_string())
    } else {
        let body = trimmed.strip_prefix("./").unwrap_or(trimmed);
        let dir_only = body.ends_with('/');
        let body = body.trim_end_matches('/');
        if body.contains('/') || dir_only && body.contains('/') {
            (PathTarget::Relative, body.to_string())
        } else {
            (PathTarget::Relative, format!("**/{body}"))
        }
    };
    let body = if body.len() > 1 {
        body.trim_end_matches('/').to_string()
    } else {
        body
    };
    // "A pattern naming a folder covers what is inside it" is not compiled as a second `p/**`
    // glob: such globs fall to globset's regex strategy and made compiling a pack cost
    // milliseconds. Instead the path's ancestors are matched too (see `ancestors`).
    Ok(vec![(target, path_glob(&body, rule, written)?)])
}

/// The path itself, then each folder above it (`a/b/c`, `a/b`, `a`): a path pattern that
/// matches a folder covers everything inside it.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let path = path.trim_end_matches('/');
    let mut next = (!path.is_empty()).then_some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = current
            .rfind('/')
            .map(|i| &current[..i])
            .filter(|p| !p.is_empty() && *p != "~");
        Some(current)
    })
}

impl CompiledPack {
    /// Pattern hits of path rules for these forms of one path, in rule order.
    pub fn path_hits(
        &self,
        forms: &PathForms<'_>,
        scratch: &mut Vec<usize>,
        out: &mut Vec<PatternHit>,
    ) {
        for (form, set) in [
            (forms.relative, &self.paths_relative),
            (forms.absolute, &self.paths_absolute),
            (forms.home, &self.paths_home),
        ] {
            if let Some(path) = form {
                for prefix in ancestors(path) {
                    set.hits_into(prefix, scratch, out);
                }
            }
        }
        // A name pattern (`.env`, `*.pem`) names a kind of file wherever it is: a secret
        // outside the repository is still a secret. Anchored patterns stay in the repository.
        if let (None, Some(abs)) = (forms.relative, forms.absolute) {
            let before = out.len();
            let outside = abs.trim_start_matches('/');
            for prefix in ancestors(outside) {
                self.paths_relative.hits_into(prefix, scratch, out);
            }
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
    }

    /// Whether a path pattern hit comes from a pattern with no `/` (matches at any depth).
    fn is_name_pattern(&self, hit: PatternHit) -> bool {
        self.rules
            .get(hit.rule)
            .and_then(|r| r.patterns.get(hit.pattern))
            .is_some_and(|p| {
                let p = p.trim();
                let p = p.strip_prefix("./").unwrap_or(p).trim_end_matches('/');
                let p = p.strip_prefix("**/").unwrap_or(p);
                !p.contains('/') && !p.starts_with('~')
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
            self.commands.hits_into(variant, scratch, out);
        }
    }

    /// Pattern hits of MCP server rules.
    pub fn server_hits(&self, server: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        self.servers.hits_into(server, scratch, out);
    }

    /// Pattern hits of domain rules (the host is lower-cased by the caller).
    pub fn domain_hits(&self, host: &str, scratch: &mut Vec<usize>, out: &mut Vec<PatternHit>) {
        self.domains.hits_into(host, scratch, out);
    }

    /// Rules that name a risk class.
    pub fn class_rules(&self, class: RiskClass) -> &[usize] {
        self.classes.get(&class).map(Vec::as_slice).unwrap_or(&[])
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
    use super::*;

    fn globs_match(pattern: &str, path: &str) -> bool {
        path_globs(pattern, "t")
            .unwrap_or_default()
            .into_iter()
            .filter(|(t, _)| *t == PathTarget::Relative)
            .any(|(_, g)| ancestors(path).any(|a| g.compile_matcher().is_match(a)))
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

    #[test]
    fn domains_cover_subdomains() {
        let globs = domain_globs("example.com", "t").unwrap_or_default();
        let m = |h: &str| globs.iter().any(|g| g.compile_matcher().is_match(h));
        assert!(m("example.com"));
        assert!(m("api.example.com"));
        assert!(!m("badexample.com"));
    }
}
