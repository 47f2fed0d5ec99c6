//! Matching: every subject against the pack's rules, the built-in floors and the defaults,
//! each match kept as a candidate with its reason unrendered.

use super::*;

/// Why a candidate decides, kept unrendered: only the deciding candidate's reason becomes
/// text, so the others cost no formatting.
pub(crate) enum Reason<'p> {
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
    pub(crate) fn render(&self, described: &str) -> Cow<'_, str> {
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
pub(crate) struct Candidate<'p> {
    pub(crate) rule_id: Cow<'p, str>,
    pub(crate) decision: Decision,
    pub(crate) severity: Severity,
    pub(crate) reason: Option<Reason<'p>>,
    pub(crate) approver_group: Option<Cow<'p, str>>,
    pub(crate) pattern: Option<&'p str>,
    pub(crate) subject: usize,
    pub(crate) explicit: bool,
    /// A built-in guard ([`crate::guards`]): it decides whatever else matched, in any mode.
    pub(crate) guard: bool,
    /// The rule's pattern matched the path only once letter case was ignored.
    pub(crate) ignoring_case: bool,
}

pub(crate) fn condition_context(request: &Request) -> ConditionContext<'_> {
    ConditionContext {
        environment: request.environment.as_deref(),
        branch: request.branch.as_deref(),
        repository: request.repository.as_deref(),
        agent: request.agent_id.as_deref(),
        actor: request.actor.as_deref(),
        tenant: request.tenant.as_deref(),
    }
}

pub(crate) fn from_rule<'p>(
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
        ignoring_case: false,
    }
}

pub(crate) fn builtin(
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
        ignoring_case: false,
    }
}

/// A candidate of a built-in guard.
pub(crate) fn guard(rule_id: &'static str, reason: String, subject: usize) -> Candidate<'static> {
    let mut c = builtin(rule_id, Decision::Block, reason, subject);
    c.guard = true;
    c
}

/// The pack's default for `action`. `what` names the subject in the reason when its
/// description would not do.
pub(crate) fn default_for<'p>(
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
pub(crate) fn collect<'p>(
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
                    let (relative, home) = path.placed_ignoring_case(
                        request.repo_root.as_deref(),
                        request.home.as_deref(),
                    );
                    if relative.is_some() || home.is_some() {
                        let placed = PathForms {
                            relative: relative.as_deref(),
                            absolute: None,
                            home: home.as_deref(),
                        };
                        pack.path_hits_ignoring_case(&placed, &mut scratch, &mut hits);
                    }
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
                // A match ignoring letter case only adds a stricter candidate: the default or
                // floor the path gets as written still applies, and the strictest decides (a
                // `warn` matched as `.ENV` does not lower a `require_approval` default).
                if out[before..].iter().all(|c| c.ignoring_case) {
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
                    // Where an unknown option makes a subcommand word uncertain, a reading no
                    // rule names gets the default, as that command would alone.
                    let unnamed_reading = out.len() > before
                        && !command.readings.is_empty()
                        && std::iter::once(command.match_keys.first())
                            .flatten()
                            .chain(command.readings.iter())
                            .any(|key| {
                                hits.clear();
                                pack.command_hits(
                                    std::slice::from_ref(key),
                                    &mut scratch,
                                    &mut hits,
                                );
                                hits.is_empty()
                            });
                    if (out.len() == before || unnamed_reading)
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
                // A path placed in the repository or the home folder only when their names
                // are compared ignoring letter case (`/users/dev/repo/.git` under the root
                // `/Users/dev/repo`, the same folder on macOS and Windows) is guarded there
                // too: the guards hold in any letter case, as the pack's restricting rules do.
                let placed_ignoring_case = || {
                    let (relative, home) = path.placed_ignoring_case(
                        request.repo_root.as_deref(),
                        request.home.as_deref(),
                    );
                    (relative.is_some() || home.is_some()).then(|| crate::paths::NormalizedPath {
                        relative: relative.or_else(|| path.relative.clone()),
                        absolute: path.absolute.clone(),
                        home: home.or_else(|| path.home.clone()),
                    })
                };
                if let Some(why) =
                    guards::protected_file(*access, path, written, *dynamic, root.as_deref())
                        .or_else(|| {
                            // Reads are never guarded: no second placing on their path.
                            if !guards::guards_access(*access, *dynamic) {
                                return None;
                            }
                            placed_ignoring_case().and_then(|placed| {
                                guards::protected_file(
                                    *access,
                                    &placed,
                                    written,
                                    *dynamic,
                                    root.as_deref(),
                                )
                            })
                        })
                {
                    out.push(guard(guards::PROTECTED, why, si));
                } else if *dynamic
                    && guards::guards_access(*access, false)
                    && let Some(tail) = guards::literal_tail(written)
                {
                    // A path known only at run time that ends in a protected name
                    // (`rm -rf "$PWD/.claude"`) names it wherever the expansion points.
                    let named = crate::paths::NormalizedPath {
                        relative: Some(tail.clone()),
                        absolute: None,
                        home: None,
                    };
                    if let Some(why) =
                        guards::protected_file(*access, &named, &tail, false, root.as_deref())
                    {
                        out.push(guard(guards::PROTECTED, why, si));
                    }
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
pub(crate) fn is_neutral_builtin(argv: &[String]) -> bool {
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
pub(crate) fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether the pack restricts any read (so a read of an unknown path may matter).
pub(crate) fn guards_reads(pack: &CompiledPack) -> bool {
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
pub(crate) fn glob_hits<'p>(
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

pub(crate) fn push_hits<'p>(
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
        let mut c = from_rule(
            rule,
            rule.patterns.get(hit.pattern).map(String::as_str),
            subject,
        );
        c.ignoring_case = hit.ignoring_case;
        out.push(c);
    }
}

/// Rules with a pattern anchored under the folder `path` (written `DIR/**`) for `access`.
pub(crate) fn folder_hits<'p>(
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
