//! `evaluate`: a request and a compiled pack in, a decision record out.
//!
//! The request is first *normalised* into subjects: the file it names (in every form, and the
//! symlink target), or, for a command line, every simple command, every file it touches, every
//! `git push` in it and every risk class it has. Each subject is matched against the pack's
//! rules; a subject no rule names gets the pack's default. Among all matches the strictest
//! decides. The mode is applied last.

use crate::guards;
use crate::paths::{NormalizedPath, PathContext, PathResolver};
use crate::record::{BreakGlass, DecisionRecord, RuleMatch};
use crate::registry::{McpRegistry, ToolCapability};
use crate::request::Request;
use cavra_policy::compile::{ConditionContext, PathForms, PatternHit, RuleOrigin, ancestors, ids};
use cavra_policy::{ActionType, CompiledPack, CompiledRule, Decision, Mode, Severity};
use cavra_shell::{AccessKind, CommandAnalysis, CommandRole, RiskClass};
use serde::Serialize;
use std::borrow::Cow;

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
                    format!("{verb} of {shown}")
                } else {
                    format!("{verb} of {shown} ({from})")
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
    /// `matched`, `no pattern matched`, `condition failed: environment`, `excepted by …`.
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

fn path_context(request: &Request) -> PathContext<'_> {
    PathContext {
        repo_root: request.repo_root.as_deref(),
        cwd: request.cwd.as_deref(),
        home: request.home.as_deref(),
    }
}

fn file_subjects(
    out: &mut Vec<Subject>,
    ctx: &PathContext<'_>,
    resolver: &dyn PathResolver,
    access: ActionType,
    written: &str,
    dynamic: bool,
    from: String,
) {
    let path = ctx.normalize(written);
    let alias = path
        .absolute
        .as_deref()
        .and_then(|abs| resolver.resolve(abs));
    out.push(Subject::File {
        access,
        written: written.to_string(),
        path,
        dynamic,
        from: from.clone(),
    });
    if let Some(target) = alias {
        // The resolved root, so that a symlinked repository root still yields relative forms.
        let root = ctx
            .repo_root
            .map(|r| resolver.resolve(r).unwrap_or_else(|| r.to_string()));
        let resolved_ctx = PathContext {
            repo_root: root.as_deref(),
            ..*ctx
        };
        let resolved = resolved_ctx.normalize(&target);
        out.push(Subject::File {
            access,
            written: target,
            path: resolved,
            dynamic,
            from: format!("symlink target of {written}"),
        });
    }
}

/// Splits a git target such as `origin/main`, `refs/heads/main` or `HEAD:main` into the branch
/// names it may mean. Both the whole target and the part after a remote are returned, so a
/// protected-branch rule sees either.
fn git_target_branches(target: &str) -> Vec<String> {
    let target = target.trim();
    if target.is_empty() {
        return Vec::new();
    }
    let dst = target.rsplit_once(':').map(|(_, d)| d).unwrap_or(target);
    let dst = dst.trim_start_matches('+');
    let dst = dst.strip_prefix("refs/heads/").unwrap_or(dst);
    let mut out = vec![dst.to_string()];
    if let Some((_, rest)) = dst.split_once('/') {
        let rest = rest.strip_prefix("refs/heads/").unwrap_or(rest);
        if !rest.is_empty() && !out.iter().any(|b| b == rest) {
            out.push(rest.to_string());
        }
    }
    out
}

/// `HEAD` and `@` name the current branch: pushing them pushes it.
fn resolve_head(branches: &mut Vec<String>, current: Option<&str>) {
    let Some(current) = current else { return };
    let mut named = false;
    for b in branches.iter_mut() {
        let bare = b.rsplit('/').next().unwrap_or(b);
        if bare == "HEAD" || bare == "@" {
            *b = current.to_string();
            named = true;
        }
    }
    if named {
        branches.dedup();
    }
}

/// The host of a URL (or of a bare host name) in normal form: every spelling a resolver
/// accepts (number forms of IPv4, IPv4-mapped IPv6, trailing dots, userinfo, percent-encoding)
/// is one host, so network rules see one spelling ([`cavra_shell::destination_host`]).
fn url_host(target: &str) -> Option<String> {
    cavra_shell::destination_host(target)
}

/// Normalises a request into subjects.
pub fn normalize(
    pack: &CompiledPack,
    request: &Request,
    resolver: &dyn PathResolver,
) -> Normalization {
    let ctx = path_context(request);
    let mut subjects = Vec::new();
    let mut analysis = None;
    let target = request.target.trim();
    match request.action {
        ActionType::ReadFile | ActionType::WriteFile | ActionType::DeleteFile => {
            if target.is_empty() {
                subjects.push(Subject::Invalid {
                    problem: "a file action needs a target path".into(),
                });
            } else if target.contains('\0') {
                subjects.push(Subject::Invalid {
                    problem: "the path holds a NUL byte".into(),
                });
            } else {
                file_subjects(
                    &mut subjects,
                    &ctx,
                    resolver,
                    request.action,
                    target,
                    false,
                    "request".into(),
                );
            }
        }
        ActionType::ExecuteCommand => {
            if target.is_empty() {
                subjects.push(Subject::Invalid {
                    problem: "execute_command needs a command line".into(),
                });
            } else {
                let a = cavra_shell::analyze_with_knowledge(
                    &request.target,
                    &cavra_shell::Limits::default(),
                    pack.knowledge(),
                );
                command_subjects(&mut subjects, &a, &ctx, resolver, request);
                analysis = Some(a);
            }
        }
        ActionType::GitOperation => {
            let operation = request
                .operation
                .clone()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if operation.is_empty() {
                subjects.push(Subject::Invalid {
                    problem: "git_operation needs an operation (push, commit, …)".into(),
                });
            } else {
                let mut branches = git_target_branches(target);
                // With no target, the operation is on the branch the agent works on.
                if branches.is_empty()
                    && let Some(b) = request
                        .branch
                        .as_deref()
                        .map(str::trim)
                        .filter(|b| !b.is_empty())
                {
                    branches.push(b.to_string());
                }
                resolve_head(
                    &mut branches,
                    request.branch.as_deref().filter(|b| !b.is_empty()),
                );
                let force = request.force.unwrap_or(false)
                    || target.starts_with('+')
                    || target.contains(":+");
                subjects.push(Subject::Git {
                    operation,
                    branches,
                    force,
                    all_branches: false,
                    from: "request".into(),
                });
            }
        }
        ActionType::McpToolCall => match (
            request.server.as_deref().map(str::trim),
            request.tool.as_deref().map(str::trim),
        ) {
            (Some(server), tool) if !server.is_empty() => subjects.push(Subject::Mcp {
                server: server.to_string(),
                tool: tool.unwrap_or("").to_string(),
            }),
            _ => subjects.push(Subject::Invalid {
                problem: "mcp_tool_call needs a server".into(),
            }),
        },
        ActionType::NetworkRequest => match url_host(target) {
            Some(host) => subjects.push(Subject::Network { host }),
            None => subjects.push(Subject::Invalid {
                problem: format!("`{target}` is not a URL with a host"),
            }),
        },
        ActionType::PullRequest => subjects.push(Subject::PullRequest),
    }
    Normalization { subjects, analysis }
}

/// The working folder a command runs in, as far as `cd`/`pushd` earlier in the line tell.
#[derive(Debug, Clone, PartialEq)]
enum Folder {
    /// No folder change before it.
    Start,
    /// Changed to this absolute folder.
    Known(String),
    /// Changed to a folder only known at run time.
    Unknown,
}

/// The folder before each command. Subshell scoping is ignored on purpose: a path is then also
/// judged from a folder it may not run in, which can only add matches, never hide one.
fn folders_before_each_command(analysis: &CommandAnalysis, ctx: &PathContext<'_>) -> Vec<Folder> {
    let mut current = Folder::Start;
    let mut out = Vec::with_capacity(analysis.commands.len());
    for command in &analysis.commands {
        out.push(current.clone());
        let Some((name, args)) = command.argv.split_first() else {
            continue;
        };
        if name != "cd" && name != "pushd" {
            continue;
        }
        let target = args
            .iter()
            .find(|a| !matches!(a.as_str(), "-L" | "-P" | "-e" | "-@" | "--"));
        current = match target.map(String::as_str) {
            None | Some("~") => match ctx.home {
                Some(h) => Folder::Known(h.to_string()),
                None => Folder::Unknown,
            },
            Some(t) if t.contains(['$', '`']) || t == "-" || !command.name_is_literal => {
                Folder::Unknown
            }
            Some(t) => {
                let base = match &current {
                    Folder::Known(d) => Some(d.clone()),
                    Folder::Start => ctx.cwd.or(ctx.repo_root).map(str::to_string),
                    Folder::Unknown => None,
                };
                match (t.starts_with('/'), base) {
                    (true, _) => Folder::Known(crate::paths::lexical(t)),
                    (false, Some(b)) => Folder::Known(crate::paths::lexical(&format!("{b}/{t}"))),
                    (false, None) => Folder::Unknown,
                }
            }
        };
    }
    out
}

fn command_subjects(
    subjects: &mut Vec<Subject>,
    analysis: &CommandAnalysis,
    ctx: &PathContext<'_>,
    resolver: &dyn PathResolver,
    request: &Request,
) {
    for (index, command) in analysis.commands.iter().enumerate() {
        subjects.push(Subject::Command {
            index,
            canonical: command.canonical.clone(),
            match_key: command.match_keys.first().cloned().unwrap_or_default(),
            role: command.role,
        });
    }
    // A command that reaches the network is also judged as a request to every host its
    // literal URL operands name (`curl http://169.254.169.254/…` meets the blocked domains).
    for command in &analysis.commands {
        if !command.classes.contains(&RiskClass::NetworkEgress) {
            continue;
        }
        let literal = |w: &&String| !w.contains('$') && !w.contains('`');
        let program = command
            .argv
            .first()
            .map(|n| n.rsplit('/').next().unwrap_or(n))
            .unwrap_or("");
        let args: Vec<&str> = command
            .argv
            .iter()
            .skip(1)
            .filter(literal)
            .map(String::as_str)
            .collect();
        // Fetchers take hosts without a scheme, proxies and address overrides too.
        let mut hosts = cavra_shell::fetcher_destinations(program, &args);
        for word in args.iter().filter(|w| w.contains("://")) {
            if let Some(host) = url_host(word)
                && !hosts.contains(&host)
            {
                hosts.push(host);
            }
        }
        for host in hosts {
            subjects.push(Subject::Network { host });
        }
    }
    let folders = folders_before_each_command(analysis, ctx);
    for access in &analysis.file_accesses {
        let action = match access.kind {
            AccessKind::Read => ActionType::ReadFile,
            AccessKind::Write => ActionType::WriteFile,
            AccessKind::Delete => ActionType::DeleteFile,
        };
        let from = match analysis.commands.get(access.command_index) {
            Some(c) => format!("{} in `{}`", access.reason, c.canonical),
            None => access.reason.clone(),
        };
        file_subjects(
            subjects,
            ctx,
            resolver,
            action,
            &access.path,
            !access.literal,
            from.clone(),
        );
        // After a `cd`, a relative path means something else: judge it from there too.
        let relative = !access.path.starts_with('/') && !access.path.starts_with('~');
        match folders.get(access.command_index) {
            Some(Folder::Known(dir)) if relative && access.literal => {
                let moved = PathContext {
                    cwd: Some(dir.as_str()),
                    ..*ctx
                };
                file_subjects(
                    subjects,
                    &moved,
                    resolver,
                    action,
                    &access.path,
                    false,
                    format!("{from}, after cd {dir}"),
                );
            }
            Some(Folder::Unknown) if relative => {
                file_subjects(
                    subjects,
                    ctx,
                    resolver,
                    action,
                    &access.path,
                    true,
                    format!("{from}, after a cd to a run-time folder"),
                );
            }
            _ => {}
        }
    }
    for push in &analysis.git_pushes {
        let current = request.branch.as_deref().filter(|b| !b.is_empty());
        let mut branches = push.branches.clone();
        if branches.is_empty() && !push.all_branches {
            // `git push` with no refspec pushes the current branch.
            if let Some(b) = current {
                branches.push(b.to_string());
            }
        }
        resolve_head(&mut branches, current);
        let from = analysis
            .commands
            .get(push.command_index)
            .map(|c| format!("`{}`", c.canonical))
            .unwrap_or_default();
        subjects.push(Subject::Git {
            operation: "push".into(),
            branches,
            force: push.force,
            all_branches: push.all_branches,
            from,
        });
    }
    for class in &analysis.classes {
        subjects.push(Subject::Class { class: *class });
    }
}

/// The most argument positions of an unknown program tried as the start of a command.
const MAX_ARGUMENT_COMMANDS: usize = 32;

/// A program the knowledge base does not describe may run its arguments (`mytool run
/// terraform apply`, `mytool --cmd 'rm -rf /'`): when its arguments, from some word on (or one
/// argument split into words), form a command a rule blocks, the command needs approval, with
/// that reason. Programs the knowledge base describes are judged by what they do instead.
fn unknown_program_runs_blocked<'p>(
    pack: &'p CompiledPack,
    command: &cavra_shell::SimpleCommand,
    cond: &ConditionContext<'_>,
    si: usize,
    scratch: &mut Vec<usize>,
) -> Option<Candidate<'p>> {
    let program = command.argv.first()?;
    let args = command.argv.get(1..)?;
    let mut tries: Vec<Vec<&str>> = Vec::new();
    for (i, word) in args.iter().enumerate().take(MAX_ARGUMENT_COMMANDS) {
        if word.starts_with('-') || word.contains(['$', '`']) {
            continue;
        }
        if word.contains(char::is_whitespace) {
            tries.push(word.split_whitespace().collect());
        }
        tries.push(args[i..].iter().map(String::as_str).collect());
    }
    let mut hits = Vec::new();
    for words in tries {
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        let name = first.rsplit('/').next().unwrap_or(first);
        let key = cavra_shell::match_key(std::iter::once(name).chain(rest.iter().copied()));
        hits.clear();
        pack.command_hits(std::slice::from_ref(&key), scratch, &mut hits);
        let blocking = hits.iter().find_map(|h| {
            pack.rule(h.rule)
                .filter(|r| r.decision == Decision::Block && r.conditions.holds(cond))
                .map(|r| (r, r.patterns.get(h.pattern)))
        });
        if let Some((rule, pattern)) = blocking {
            let mut c = builtin(
                "commands.unknown_program_runs_blocked",
                Decision::RequireApproval,
                format!(
                    "`{program}` is not a program cavra knows, and its arguments hold `{}`, which rule `{}`{} blocks",
                    words.join(" "),
                    rule.id,
                    pattern.map(|p| format!(" (`{p}`)")).unwrap_or_default()
                ),
                si,
            );
            c.approver_group = Some(Cow::Borrowed(DEFAULT_APPROVER_GROUP));
            return Some(c);
        }
    }
    None
}

/// Why a candidate decides, kept unrendered: only the deciding candidate's reason becomes
/// text, so the others cost no formatting.
enum Reason<'p> {
    /// Text as it is (a rule's reason, a built-in floor's explanation).
    Text(Cow<'p, str>),
    /// `no rule matches {what}; the default for {action} is {decision}`, where `what` is the
    /// subject's description unless given.
    Default {
        action: ActionType,
        decision: Decision,
        what: Option<&'static str>,
    },
}

impl Reason<'_> {
    /// The text, given the description of the candidate's subject.
    fn render(&self, described: &str) -> Cow<'_, str> {
        match self {
            Reason::Text(t) => Cow::Borrowed(t.as_ref()),
            Reason::Default {
                action,
                decision,
                what,
            } => Cow::Owned(format!(
                "no rule matches {}; the default for {action} is {decision}",
                what.unwrap_or(described)
            )),
        }
    }
}

/// A candidate match before the strictest is picked. Everything is borrowed from the pack
/// where it can be; the decision record copies what it keeps.
struct Candidate<'p> {
    rule_id: Cow<'p, str>,
    decision: Decision,
    severity: Severity,
    reason: Option<Reason<'p>>,
    approver_group: Option<Cow<'p, str>>,
    pattern: Option<&'p str>,
    subject: usize,
    explicit: bool,
    /// A built-in guard ([`crate::guards`]): it decides whatever else matched, in any mode.
    guard: bool,
}

fn condition_context(request: &Request) -> ConditionContext<'_> {
    ConditionContext {
        environment: request.environment.as_deref(),
        branch: request.branch.as_deref(),
        repository: request.repository.as_deref(),
        agent: request.agent_id.as_deref(),
        actor: request.actor.as_deref(),
        tenant: request.tenant.as_deref(),
    }
}

fn from_rule<'p>(
    rule: &'p CompiledRule,
    pattern: Option<&'p str>,
    subject: usize,
) -> Candidate<'p> {
    Candidate {
        rule_id: Cow::Borrowed(rule.id.as_str()),
        decision: rule.decision,
        severity: rule.severity,
        reason: rule
            .reason
            .as_deref()
            .map(|r| Reason::Text(Cow::Borrowed(r))),
        approver_group: rule.approver_group.as_deref().map(Cow::Borrowed),
        pattern,
        subject,
        explicit: true,
        guard: false,
    }
}

fn builtin(
    rule_id: &'static str,
    decision: Decision,
    reason: impl Into<Cow<'static, str>>,
    subject: usize,
) -> Candidate<'static> {
    Candidate {
        rule_id: Cow::Borrowed(rule_id),
        decision,
        severity: match decision {
            Decision::Block => Severity::High,
            Decision::RequireApproval => Severity::Medium,
            _ => Severity::Info,
        },
        reason: Some(Reason::Text(reason.into())),
        approver_group: None,
        pattern: None,
        subject,
        explicit: false,
        guard: false,
    }
}

/// A candidate of a built-in guard.
fn guard(rule_id: &'static str, reason: String, subject: usize) -> Candidate<'static> {
    let mut c = builtin(rule_id, Decision::Block, reason, subject);
    c.guard = true;
    c
}

/// The pack's default for `action`. `what` names the subject in the reason when its
/// description would not do.
fn default_for<'p>(
    pack: &'p CompiledPack,
    action: ActionType,
    rule_id: &'static str,
    fallback: Decision,
    subject: usize,
    what: Option<&'static str>,
) -> Candidate<'p> {
    let (decision, group) = match pack.defaults.get(&action) {
        Some(d) => (d.decision, d.approver_group.as_deref().map(Cow::Borrowed)),
        None => (fallback, None),
    };
    let mut c = builtin(rule_id, decision, "", subject);
    c.reason = Some(Reason::Default {
        action,
        decision,
        what,
    });
    c.approver_group = group;
    c
}

/// Collects the matches of every subject.
fn collect<'p>(
    pack: &'p CompiledPack,
    request: &Request,
    norm: &Normalization,
    registry: Option<&McpRegistry>,
) -> Vec<Candidate<'p>> {
    let cond = condition_context(request);
    let mut out: Vec<Candidate<'p>> = Vec::new();
    let mut scratch = Vec::new();
    let mut hits: Vec<PatternHit> = Vec::new();
    let commands = norm
        .analysis
        .as_ref()
        .map(|a| a.commands.as_slice())
        .unwrap_or(&[]);

    for (si, subject) in norm.subjects.iter().enumerate() {
        let before = out.len();
        hits.clear();
        match subject {
            Subject::File {
                access,
                path,
                dynamic,
                written,
                ..
            } => {
                let forms = PathForms {
                    relative: path.relative.as_deref(),
                    absolute: path.absolute.as_deref(),
                    home: path.home.as_deref(),
                };
                if !dynamic {
                    pack.path_hits(&forms, &mut scratch, &mut hits);
                }
                let shown = path.display();
                push_hits(
                    pack,
                    &hits,
                    *access,
                    &cond,
                    |rule| {
                        [forms.relative, forms.absolute, forms.home]
                            .into_iter()
                            .flatten()
                            .flat_map(ancestors)
                            .any(|f| rule.is_excepted(f))
                    },
                    si,
                    &mut out,
                );
                if !dynamic && has_glob(written) {
                    glob_hits(pack, *access, path, &cond, si, &mut scratch, &mut out);
                }
                if out.len() == before {
                    let is_write = *access != ActionType::ReadFile;
                    if *dynamic && !is_write && guards_reads(pack) {
                        out.push(builtin(
                            "filesystem.read.dynamic_path",
                            Decision::RequireApproval,
                            format!(
                                "the command reads `{written}`, a path only known at run time, and the pack guards reads"
                            ),
                            si,
                        ));
                    } else if *dynamic && is_write {
                        out.push(builtin(
                            "filesystem.write.dynamic_path",
                            Decision::RequireApproval,
                            format!(
                                "the command writes to `{written}`, a path only known at run time"
                            ),
                            si,
                        ));
                    } else if is_write && path.outside_repo() && !*dynamic {
                        out.push(builtin(
                            "filesystem.write.outside_repo",
                            Decision::RequireApproval,
                            format!(
                                "{} is outside the repository root",
                                if shown.is_empty() { written } else { shown }
                            ),
                            si,
                        ));
                    } else if !*dynamic {
                        let id = if is_write {
                            "filesystem.write.default"
                        } else {
                            "filesystem.read.default"
                        };
                        out.push(default_for(pack, *access, id, Decision::Allow, si, None));
                    }
                }
            }
            Subject::Command { index, role, .. } => {
                if let Some(command) = commands.get(*index) {
                    pack.command_hits(&command.match_keys, &mut scratch, &mut hits);
                    hits.sort_by_key(|h| (h.rule, h.pattern));
                    hits.dedup_by_key(|h| h.rule);
                    push_hits(
                        pack,
                        &hits,
                        ActionType::ExecuteCommand,
                        &cond,
                        |rule| command.match_keys.iter().any(|v| rule.is_excepted(v)),
                        si,
                        &mut out,
                    );
                    if command.name_is_literal
                        && !command.known_program
                        && let Some(c) =
                            unknown_program_runs_blocked(pack, command, &cond, si, &mut scratch)
                    {
                        out.push(c);
                    }
                    if out.len() == before
                        && *role == CommandRole::Executed
                        && !is_neutral_builtin(&command.argv)
                    {
                        let mut c = default_for(
                            pack,
                            ActionType::ExecuteCommand,
                            "commands.default",
                            Decision::RequireApproval,
                            si,
                            None,
                        );
                        if c.approver_group.is_none() && c.decision == Decision::RequireApproval {
                            c.approver_group = Some(Cow::Borrowed(DEFAULT_APPROVER_GROUP));
                        }
                        out.push(c);
                    }
                }
            }
            Subject::Class { class } => {
                for &ri in pack.class_rules(*class) {
                    if let Some(rule) = pack.rule(ri)
                        && rule.conditions.holds(&cond)
                    {
                        out.push(from_rule(rule, Some(class.as_str()), si));
                    }
                }
                // Text whose effect cannot be known is never simply allowed.
                let floor = match class {
                    RiskClass::DynamicCommand => Some((
                        "commands.class.dynamic_command",
                        "the command to run is only known at run time",
                    )),
                    RiskClass::Unparseable => Some((
                        "commands.class.unparseable",
                        "the command line could not be parsed completely",
                    )),
                    _ => None,
                };
                if let Some((id, why)) = floor {
                    let mut c = builtin(id, Decision::RequireApproval, why, si);
                    c.approver_group = Some(Cow::Borrowed(DEFAULT_APPROVER_GROUP));
                    out.push(c);
                }
            }
            Subject::Git {
                operation,
                branches,
                force,
                all_branches,
                ..
            } => {
                if *force && operation == "push" && pack.block_force_push {
                    out.push(builtin(
                        ids::GIT_FORCE_PUSH,
                        Decision::Block,
                        "force pushes are blocked",
                        si,
                    ));
                }
                for rule in pack
                    .rules
                    .iter()
                    .filter(|r| r.actions.contains(ActionType::GitOperation))
                {
                    // Pushing every branch pushes the protected ones too.
                    let applies = if *all_branches {
                        rule.operations.is_empty() || rule.operations.iter().any(|o| o == operation)
                    } else {
                        rule.accepts_git(operation, branches)
                    };
                    if applies
                        && rule.conditions.holds(&cond)
                        && !branches.iter().any(|b| rule.is_excepted(b))
                    {
                        out.push(from_rule(rule, None, si));
                    }
                }
                if out.len() == before {
                    out.push(default_for(
                        pack,
                        ActionType::GitOperation,
                        "git.default",
                        Decision::Allow,
                        si,
                        None,
                    ));
                }
            }
            Subject::Mcp { server, tool } => {
                pack.server_hits(server, &mut scratch, &mut hits);
                let mut known = false;
                for hit in &hits {
                    let Some(rule) = pack.rule(hit.rule) else {
                        continue;
                    };
                    if !rule.actions.contains(ActionType::McpToolCall) {
                        continue;
                    }
                    let names_server = rule.patterns.get(hit.pattern).is_some_and(|p| p != "*");
                    if rule.id == ids::MCP_ALLOWED
                        || (names_server && matches!(rule.origin, RuleOrigin::Custom(_)))
                    {
                        known = true;
                    }
                    if rule.conditions.holds(&cond)
                        && rule.accepts_tool(tool)
                        && !rule.is_excepted(server)
                    {
                        out.push(from_rule(
                            rule,
                            rule.patterns.get(hit.pattern).map(String::as_str),
                            si,
                        ));
                    }
                }
                if let Some(registry) = registry {
                    known |= registry.server(server).is_some();
                    let claimed = request
                        .capability
                        .as_deref()
                        .and_then(|c| c.parse::<ToolCapability>().ok());
                    let verdict = registry.check(server, tool, claimed);
                    let mut c = builtin("mcp.registry", verdict.decision, verdict.reason, si);
                    c.rule_id = std::borrow::Cow::Owned(verdict.rule_id);
                    // The registry is configuration someone wrote down, not a fallback.
                    c.explicit = true;
                    out.push(c);
                }
                if pack.block_unknown_servers && !known {
                    out.push(builtin(
                        ids::MCP_UNKNOWN,
                        Decision::Block,
                        format!("MCP server `{server}` is not in the pack's allowed servers"),
                        si,
                    ));
                }
                if out.len() == before {
                    out.push(default_for(
                        pack,
                        ActionType::McpToolCall,
                        "mcp.default",
                        Decision::Allow,
                        si,
                        None,
                    ));
                }
            }
            Subject::Network { host } => {
                pack.domain_hits(host, &mut scratch, &mut hits);
                push_hits(
                    pack,
                    &hits,
                    ActionType::NetworkRequest,
                    &cond,
                    |rule| rule.is_excepted(host),
                    si,
                    &mut out,
                );
                if out.len() == before {
                    if pack.network_allowlist {
                        let mut c = default_for(
                            pack,
                            ActionType::NetworkRequest,
                            "network.domain.not_allowed",
                            Decision::RequireApproval,
                            si,
                            None,
                        );
                        c.reason = Some(Reason::Text(Cow::Owned(format!(
                            "{host} is not in the pack's allowed domains"
                        ))));
                        out.push(c);
                    } else {
                        out.push(default_for(
                            pack,
                            ActionType::NetworkRequest,
                            "network.default",
                            Decision::Allow,
                            si,
                            None,
                        ));
                    }
                }
            }
            Subject::PullRequest => {
                if pack.require_ai_attestation {
                    out.push(builtin(
                        ids::GIT_PR_ATTESTATION,
                        Decision::AllowWithAttestation,
                        "pull requests carry an AI attestation",
                        si,
                    ));
                    if let Some(last) = out.last_mut() {
                        last.explicit = true;
                        last.severity = Severity::Low;
                    }
                }
                for rule in pack
                    .rules
                    .iter()
                    .filter(|r| r.actions.contains(ActionType::PullRequest))
                {
                    if rule.conditions.holds(&cond) {
                        out.push(from_rule(rule, None, si));
                    }
                }
                if out.len() == before {
                    out.push(default_for(
                        pack,
                        ActionType::PullRequest,
                        "pull_request.default",
                        Decision::Allow,
                        si,
                        Some("the pull request"),
                    ));
                }
            }
            Subject::Invalid { problem } => {
                out.push(builtin(
                    "request.invalid",
                    Decision::Block,
                    problem.clone(),
                    si,
                ));
            }
        }
        // The built-in guards come last, so that the pack's own matches read first.
        match subject {
            Subject::File {
                access,
                path,
                dynamic,
                written,
                ..
            } => {
                let root = request.repo_root.as_deref().map(crate::paths::lexical);
                if let Some(why) =
                    guards::protected_file(*access, path, written, *dynamic, root.as_deref())
                {
                    out.push(guard(guards::PROTECTED, why, si));
                }
            }
            Subject::Command { index, .. }
                if commands
                    .get(*index)
                    .is_some_and(|c| guards::is_self_approval(&c.argv)) =>
            {
                out.push(guard(
                    guards::SELF_APPROVAL,
                    guards::SELF_APPROVAL_REASON.to_string(),
                    si,
                ));
            }
            _ => {}
        }
    }
    // Text can become a command in ways no parse sees (`python -c '…'`, a string piped to a
    // shell): a line that names a self-approval anywhere is one.
    if request.action == ActionType::ExecuteCommand
        && !out.iter().any(|c| c.rule_id == guards::SELF_APPROVAL)
        && guards::mentions_self_approval(&request.target)
        && !norm.subjects.is_empty()
    {
        let si = norm
            .subjects
            .iter()
            .position(|s| matches!(s, Subject::Command { .. }))
            .unwrap_or(0);
        out.push(guard(
            guards::SELF_APPROVAL,
            guards::SELF_APPROVAL_REASON.to_string(),
            si,
        ));
    }
    out
}

/// Shell builtins that only change the shell's own state (folder, options, variables) and run
/// nothing: when no rule names them they add no default of their own, so `cd src && npm test`
/// is judged by `npm test`. Setting variables that change what later commands run or load
/// (`PATH`, `LD_PRELOAD`, `BASH_ENV`, …) is not neutral.
fn is_neutral_builtin(argv: &[String]) -> bool {
    const RISKY_VARIABLES: &[&str] = &[
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "IFS",
        "PS4",
        "SHELLOPTS",
        "BASHOPTS",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "NODE_OPTIONS",
        "PERL5OPT",
        "RUBYOPT",
    ];
    let Some((name, args)) = argv.split_first() else {
        return false;
    };
    match name.as_str() {
        "cd" | "pushd" | "popd" | "dirs" | "pwd" | ":" | "true" | "shift" | "wait" | "umask"
        | "type" | "hash" => true,
        "set" => args.iter().all(|a| {
            a.starts_with('-')
                || a.starts_with('+')
                || a == "pipefail"
                || a == "errexit"
                || a == "nounset"
                || a == "xtrace"
        }),
        "export" | "declare" | "typeset" | "local" | "readonly" | "unset" => args.iter().all(|a| {
            let var = a.split('=').next().unwrap_or(a);
            a.starts_with('-') || !RISKY_VARIABLES.contains(&var)
        }),
        _ => false,
    }
}

/// Whether a path operand holds glob characters the shell would expand.
fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether the pack restricts any read (so a read of an unknown path may matter).
fn guards_reads(pack: &CompiledPack) -> bool {
    pack.rules.iter().any(|r| {
        r.actions.contains(ActionType::ReadFile)
            && r.decision.strictness() > Decision::Warn.strictness()
    })
}

/// A concrete name a glob can stand for: each wildcard replaced by one letter, a class by its
/// first member, an alternation by its first branch, an escaped character by itself. (Also
/// what the agent hook uses to name a protected file inside a searched folder.)
pub fn glob_witness(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push('x');
            }
            '?' => out.push('x'),
            '[' => {
                let mut first = None;
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    if first.is_none() && d != '!' && d != '^' {
                        first = Some(d);
                    }
                }
                out.push(first.unwrap_or('x'));
            }
            '{' => {
                let mut depth = 1;
                let mut taking = true;
                for d in chars.by_ref() {
                    match d {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => taking = false,
                        _ if taking => out.push(d),
                        _ => {}
                    }
                }
            }
            '\\' => {
                if let Some(d) = chars.next() {
                    out.push(d);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A file operand the shell expands as a glob (`cat .e*`) is judged by what it can expand to:
/// a concrete path it names is matched against the pack, and each path pattern of the pack is
/// turned into a concrete path and tested against the operand. Either way a hit is a match.
fn glob_hits<'p>(
    pack: &'p CompiledPack,
    access: ActionType,
    path: &NormalizedPath,
    cond: &ConditionContext<'_>,
    subject: usize,
    scratch: &mut Vec<usize>,
    out: &mut Vec<Candidate<'p>>,
) {
    let before = out.len();
    let rel = path.relative.as_deref().map(glob_witness);
    let abs = path.absolute.as_deref().map(glob_witness);
    let home = path.home.as_deref().map(glob_witness);
    let forms = PathForms {
        relative: rel.as_deref(),
        absolute: abs.as_deref(),
        home: home.as_deref(),
    };
    let mut hits = Vec::new();
    pack.path_hits(&forms, scratch, &mut hits);
    push_hits(pack, &hits, access, cond, |_| false, subject, out);

    let Some(operand) = path.relative.as_deref().or(path.absolute.as_deref()) else {
        return;
    };
    let Ok(glob) = globset::GlobBuilder::new(operand)
        .literal_separator(true)
        .build()
    else {
        return;
    };
    let matcher = glob.compile_matcher();
    let (dir, last) = operand.rsplit_once('/').unwrap_or(("", operand));
    // `DIR/**` is everything under a folder (a moved folder, a recursive search, a reset of
    // the working tree): every rule whose pattern is anchored under it applies (`mv .github gh`
    // writes `.github/workflows/…`). Name patterns (`.env`, `**/secrets.*`) could be anywhere
    // and are not assumed to be inside.
    if last == "**" {
        folder_hits(pack, access, path, cond, subject, out, before);
        return;
    }
    // A bare `*` names a whole folder's files, like reading the folder itself (`grep x src/*`
    // as `grep -r x src`): it is judged as the folder is, not by every pattern it could reach.
    if last == "*" {
        return;
    }
    for rule in pack
        .rules
        .iter()
        .filter(|r| r.actions.contains(access) && r.conditions.holds(cond))
    {
        if out[before..].iter().any(|c| c.rule_id == rule.id.as_str()) {
            continue;
        }
        for pattern in &rule.patterns {
            let p = pattern.trim();
            let p = p.strip_prefix("./").unwrap_or(p).trim_end_matches('/');
            let p = p.strip_prefix("**/").unwrap_or(p);
            if p.starts_with('/') != operand.starts_with('/') || p.starts_with('~') {
                continue;
            }
            let witness = glob_witness(p);
            let candidate = if p.contains('/') || dir.is_empty() {
                witness
            } else {
                format!("{dir}/{witness}")
            };
            // The shell's `*` and `?` do not match a leading dot.
            let name = candidate.rsplit('/').next().unwrap_or("");
            if name.starts_with('.') && !last.starts_with('.') {
                continue;
            }
            if matcher.is_match(&candidate) {
                out.push(from_rule(rule, Some(pattern), subject));
                break;
            }
        }
    }
}

fn push_hits<'p>(
    pack: &'p CompiledPack,
    hits: &[PatternHit],
    action: ActionType,
    cond: &ConditionContext<'_>,
    excepted: impl Fn(&CompiledRule) -> bool,
    subject: usize,
    out: &mut Vec<Candidate<'p>>,
) {
    let mut seen: Vec<usize> = Vec::new();
    for hit in hits {
        if seen.contains(&hit.rule) {
            continue;
        }
        let Some(rule) = pack.rule(hit.rule) else {
            continue;
        };
        if !rule.actions.contains(action) || !rule.conditions.holds(cond) || excepted(rule) {
            continue;
        }
        seen.push(hit.rule);
        out.push(from_rule(
            rule,
            rule.patterns.get(hit.pattern).map(String::as_str),
            subject,
        ));
    }
}

/// Rules with a pattern anchored under the folder `path` (written `DIR/**`) for `access`.
fn folder_hits<'p>(
    pack: &'p CompiledPack,
    access: ActionType,
    path: &NormalizedPath,
    cond: &ConditionContext<'_>,
    subject: usize,
    out: &mut Vec<Candidate<'p>>,
    before: usize,
) {
    for rule in pack
        .rules
        .iter()
        .filter(|r| r.actions.contains(access) && r.conditions.holds(cond))
    {
        if out[before..].iter().any(|c| c.rule_id == rule.id.as_str()) {
            continue;
        }
        let hit = rule.patterns.iter().find(|pattern| {
            let p = pattern.trim();
            let p = p.strip_prefix("./").unwrap_or(p).trim_end_matches('/');
            let form = if p.starts_with('/') {
                path.absolute.as_deref()
            } else if let Some(rest) = p.strip_prefix("~/") {
                return path.home.as_deref().is_some_and(|h| {
                    let h = h.strip_prefix("~/").unwrap_or(h);
                    guards::overlaps(&guards::components(h), &guards::components(rest), true)
                });
            } else if p.starts_with("**") || !p.contains('/') {
                None
            } else {
                path.relative.as_deref()
            };
            form.is_some_and(|f| {
                guards::overlaps(&guards::components(f), &guards::components(p), true)
            })
        });
        if let Some(pattern) = hit {
            out.push(from_rule(rule, Some(pattern.as_str()), subject));
        }
    }
}

fn decide(
    pack: &CompiledPack,
    request: &Request,
    env: &Env<'_>,
    norm: &Normalization,
    registry: Option<&McpRegistry>,
) -> DecisionRecord {
    let candidates = collect(pack, request, norm, registry);
    // A built-in guard decides whatever else matched. Otherwise the strictest decides; on a
    // tie an explicit rule beats a default, then the first found.
    let guarded = candidates.iter().position(|c| c.guard);
    let deciding = guarded.or_else(|| {
        candidates
            .iter()
            .enumerate()
            .fold(None::<usize>, |best, (i, c)| match best {
                None => Some(i),
                Some(b) => {
                    let cur = &candidates[b];
                    let better = c.decision.strictness() > cur.decision.strictness()
                        || (c.decision.strictness() == cur.decision.strictness()
                            && c.explicit
                            && !cur.explicit);
                    Some(if better { i } else { b })
                }
            })
    });

    // Each subject is described once, however many rules matched it.
    let mut descriptions: Vec<Option<String>> = vec![None; norm.subjects.len()];
    for c in &candidates {
        if let Some(slot) = descriptions.get_mut(c.subject).filter(|d| d.is_none()) {
            *slot = norm.subjects.get(c.subject).map(Subject::describe);
        }
    }
    let describe = |c: &Candidate<'_>| {
        descriptions
            .get(c.subject)
            .and_then(|d| d.clone())
            .unwrap_or_default()
    };
    let matched_rules: Vec<RuleMatch> = candidates
        .iter()
        .map(|c| RuleMatch {
            rule_id: c.rule_id.to_string(),
            decision: c.decision,
            severity: c.severity,
            pattern: c.pattern.map(str::to_string),
            subject: describe(c),
            explicit: c.explicit,
        })
        .collect();

    let (base, rule_id, severity, mut reason, approver_group, explicit) =
        match deciding.and_then(|i| candidates.get(i)) {
            Some(c) => {
                let reason = match (&c.reason, &c.pattern) {
                    (Some(r), _) => {
                        let described = describe(c);
                        format!("{described}: {}", r.render(&described))
                    }
                    (None, Some(p)) => format!(
                        "{} matches `{p}` ({} {})",
                        describe(c),
                        c.rule_id,
                        c.decision
                    ),
                    (None, None) => format!("{} ({} {})", describe(c), c.rule_id, c.decision),
                };
                let group = match c.decision {
                    Decision::RequireApproval => Some(
                        c.approver_group
                            .as_deref()
                            .unwrap_or(DEFAULT_APPROVER_GROUP)
                            .to_string(),
                    ),
                    _ => c.approver_group.as_deref().map(str::to_string),
                };
                (
                    c.decision,
                    c.rule_id.to_string(),
                    c.severity,
                    reason,
                    group,
                    c.explicit,
                )
            }
            // Only an execute_command line can yield no subject at all (a comment, a bare
            // assignment): nothing known runs, but nothing is proven harmless either.
            None if request.action == ActionType::ExecuteCommand => (
                Decision::RequireApproval,
                "commands.default".to_string(),
                Severity::Medium,
                "no command to run was found in the line".to_string(),
                Some(DEFAULT_APPROVER_GROUP.to_string()),
                false,
            ),
            None => (
                Decision::Block,
                "request.invalid".to_string(),
                Severity::High,
                "nothing to evaluate".to_string(),
                None,
                false,
            ),
        };

    let mode = request.mode.unwrap_or(pack.mode);
    let break_glass = match (&request.break_glass_actor, &request.break_glass_reason) {
        (Some(a), Some(r)) if !a.trim().is_empty() && !r.trim().is_empty() => Some(BreakGlass {
            actor: a.trim().to_string(),
            reason: r.trim().to_string(),
        }),
        _ => None,
    };
    let effective = match mode {
        // No mode turns a guard off: they protect the means of deciding.
        _ if guarded.is_some() => base,
        Mode::Enforce => base,
        Mode::AuditOnly if base != Decision::Allow => {
            reason =
                format!("{reason} [audit_only mode: recorded, not enforced; base decision {base}]");
            Decision::AuditOnly
        }
        Mode::AuditOnly => base,
        Mode::Strict if base == Decision::Allow => {
            reason = format!("{reason} [strict mode: every allow needs approval]");
            Decision::RequireApproval
        }
        Mode::Strict => base,
        Mode::BreakGlass => match (&break_glass, base) {
            (Some(bg), Decision::Block | Decision::RequireApproval) => {
                reason = format!(
                    "{reason} [break glass by {} ({}): allowed with attestation]",
                    bg.actor, bg.reason
                );
                Decision::AllowWithAttestation
            }
            (None, Decision::Block | Decision::RequireApproval) => {
                reason = format!(
                    "{reason} [break glass needs both an actor and a reason; nothing changed]"
                );
                base
            }
            _ => base,
        },
    };
    let approver_group = if effective == Decision::RequireApproval {
        approver_group.or_else(|| Some(DEFAULT_APPROVER_GROUP.to_string()))
    } else {
        approver_group
    };

    DecisionRecord {
        decision_id: env.decision_id.to_string(),
        correlation_id: request
            .correlation_id
            .clone()
            .unwrap_or_else(|| env.decision_id.to_string()),
        timestamp: env.timestamp.to_string(),
        session_id: request.session_id.clone(),
        agent_id: request.agent_id.clone(),
        actor: request.actor.clone(),
        tenant: request.tenant.clone(),
        repository: request.repository.clone(),
        environment: request.environment.clone(),
        branch: request.branch.clone(),
        action_type: request.action,
        target: request.target.clone(),
        requested_operation: request.operation.clone(),
        policy_pack: pack.id.clone(),
        policy_version: pack.version.clone(),
        policy_digest: pack.digest.clone(),
        rule_id,
        severity,
        reason,
        approver_group,
        mode,
        base_decision: base,
        decision: effective,
        explicit,
        break_glass: if mode == Mode::BreakGlass {
            break_glass
        } else {
            None
        },
        evidence_refs: Vec::new(),
        matched_rules,
    }
}

/// Every rule that applies to a subject's action type, and what came of it.
fn consider(
    pack: &CompiledPack,
    request: &Request,
    norm: &Normalization,
    registry: Option<&McpRegistry>,
) -> Vec<Consideration> {
    let cond = condition_context(request);
    let candidates = collect(pack, request, norm, registry);
    let mut out = Vec::new();
    for (si, subject) in norm.subjects.iter().enumerate() {
        let action = match subject {
            Subject::File { access, .. } => *access,
            Subject::Command { .. } | Subject::Class { .. } => ActionType::ExecuteCommand,
            Subject::Git { .. } => ActionType::GitOperation,
            Subject::Mcp { .. } => ActionType::McpToolCall,
            Subject::Network { .. } => ActionType::NetworkRequest,
            Subject::PullRequest => ActionType::PullRequest,
            Subject::Invalid { .. } => continue,
        };
        for rule in pack.rules.iter().filter(|r| r.actions.contains(action)) {
            // Class rules only concern class subjects, pattern rules only the others.
            let is_class_rule =
                matches!(rule.origin, RuleOrigin::Section(s) if s.ends_with("_classes"));
            if is_class_rule != matches!(subject, Subject::Class { .. }) {
                continue;
            }
            let matched = candidates
                .iter()
                .any(|c| c.subject == si && c.rule_id == rule.id.as_str());
            let outcome = if matched {
                "matched".to_string()
            } else if let Some(field) = rule.conditions.failing(&cond) {
                format!("condition failed: {field}")
            } else if let Some(p) = excepted(rule, subject) {
                format!("excepted by `{p}`")
            } else {
                "no pattern matched".to_string()
            };
            out.push(Consideration {
                rule_id: rule.id.clone(),
                subject: si,
                outcome,
            });
        }
        for c in candidates.iter().filter(|c| c.subject == si && !c.explicit) {
            out.push(Consideration {
                rule_id: c.rule_id.to_string(),
                subject: si,
                outcome: "applied (built-in)".into(),
            });
        }
    }
    out
}

fn excepted<'r>(rule: &'r CompiledRule, subject: &Subject) -> Option<&'r str> {
    match subject {
        Subject::File { path, .. } => [
            path.relative.as_deref(),
            path.absolute.as_deref(),
            path.home.as_deref(),
        ]
        .into_iter()
        .flatten()
        .flat_map(ancestors)
        .find_map(|f| rule.excepted_by(f)),
        Subject::Command { match_key, .. } => rule.excepted_by(match_key),
        Subject::Mcp { server, .. } => rule.excepted_by(server),
        Subject::Network { host } => rule.excepted_by(host),
        _ => None,
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
