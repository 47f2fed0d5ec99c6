//! Normalisation: a request into the subjects rules are matched against (the file it names in
//! every form, or each command, file access and push of a command line).

use super::*;

pub(crate) fn path_context(request: &Request) -> PathContext<'_> {
    PathContext {
        repo_root: request.repo_root.as_deref(),
        cwd: request.cwd.as_deref(),
        home: request.home.as_deref(),
    }
}

pub(crate) fn file_subjects(
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
pub(crate) fn git_target_branches(target: &str) -> Vec<String> {
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
pub(crate) fn resolve_head(branches: &mut Vec<String>, current: Option<&str>) {
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
pub(crate) fn url_host(target: &str) -> Option<String> {
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
pub(crate) enum Folder {
    /// No folder change before it.
    Start,
    /// Changed to this absolute folder.
    Known(String),
    /// Changed to a folder only known at run time.
    Unknown,
}

/// The folder before each command. Subshell scoping is ignored on purpose: a path is then also
/// judged from a folder it may not run in, which can only add matches, never hide one.
pub(crate) fn folders_before_each_command(
    analysis: &CommandAnalysis,
    ctx: &PathContext<'_>,
) -> Vec<Folder> {
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

/// The pieces, joined into one string of the right size.
pub(crate) fn concat(pieces: &[&str]) -> String {
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        s.push_str(p);
    }
    s
}

/// The writes of the patch files the line applies (`git apply fix.patch`): each file is read
/// by the resolver (the engine reads nothing itself) and what it names is written. A patch that
/// cannot be read here (the API service, a missing or oversized file, a run-time path or
/// folder) writes paths known only at run time, which no rule can be shown to allow.
fn patch_file_accesses(
    analysis: &CommandAnalysis,
    ctx: &PathContext<'_>,
    folders: &[Folder],
    resolver: &dyn PathResolver,
) -> Vec<cavra_shell::FileAccess> {
    let mut out = Vec::new();
    for file in &analysis.patch_files {
        let relative = !file.path.starts_with('/') && !file.path.starts_with('~');
        let absolute = match folders.get(file.command_index) {
            _ if !file.literal => None,
            Some(Folder::Known(dir)) if relative => {
                PathContext {
                    cwd: Some(dir.as_str()),
                    ..*ctx
                }
                .normalize(&file.path)
                .absolute
            }
            Some(Folder::Unknown) if relative => None,
            _ => ctx.normalize(&file.path).absolute,
        };
        let text = match absolute.as_deref() {
            Some(abs) => resolver.patch_text(abs),
            None => PatchText::Unreadable("its path is known only at run time".into()),
        };
        match text {
            PatchText::Text(text) => {
                out.extend(cavra_shell::patch_file_accesses(file, &text));
            }
            PatchText::NotRead | PatchText::Unreadable(_) => {
                let why = match text {
                    PatchText::Unreadable(why) => why,
                    _ => "patch files are not read where this decision is made".to_string(),
                };
                out.push(cavra_shell::FileAccess {
                    path: concat(&["<the files ", &file.path, " names>"]),
                    literal: false,
                    kind: AccessKind::Write,
                    command_index: file.command_index,
                    reason: concat(&[
                        &file.how.program,
                        " (",
                        &file.path,
                        " not read: ",
                        &why,
                        ")",
                    ]),
                });
            }
        }
    }
    out
}

pub(crate) fn command_subjects(
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
        let program = command
            .argv
            .first()
            .map(|n| n.rsplit('/').next().unwrap_or(n))
            .unwrap_or("");
        let egress = command.classes.contains(&RiskClass::NetworkEgress);
        if !egress && !cavra_shell::names_remotes(program) {
            continue;
        }
        let literal = |w: &&String| !w.contains('$') && !w.contains('`');
        let args: Vec<&str> = command
            .argv
            .iter()
            .skip(1)
            .filter(literal)
            .map(String::as_str)
            .collect();
        // A host an operand names for a connection (`git fetch URL`, `nc HOST PORT`, `ssh
        // HOST`): judged as a request to it, whether or not the program carries a network
        // class of its own (git reaches the network only when told where).
        let mut hosts = cavra_shell::remote_destinations(program, &args);
        if egress {
            // Fetchers take hosts without a scheme, proxies and address overrides too.
            for host in cavra_shell::fetcher_destinations(program, &args) {
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
            for word in args.iter().filter(|w| w.contains("://")) {
                if let Some(host) = url_host(word)
                    && !hosts.contains(&host)
                {
                    hosts.push(host);
                }
            }
        }
        for host in hosts {
            subjects.push(Subject::Network { host });
        }
    }
    let folders = folders_before_each_command(analysis, ctx);
    let from_patches = patch_file_accesses(analysis, ctx, &folders, resolver);
    for access in analysis.file_accesses.iter().chain(&from_patches) {
        // bash opens a connection for a redirection to `/dev/tcp/HOST/PORT` (or udp).
        if let Some(rest) = access
            .path
            .strip_prefix("/dev/tcp/")
            .or_else(|| access.path.strip_prefix("/dev/udp/"))
        {
            if let Some(host) = rest.split('/').next().and_then(url_host) {
                subjects.push(Subject::Network { host });
            }
            subjects.push(Subject::Class {
                class: RiskClass::NetworkEgress,
            });
            continue;
        }
        let action = match access.kind {
            AccessKind::Read => ActionType::ReadFile,
            AccessKind::Write => ActionType::WriteFile,
            AccessKind::Delete => ActionType::DeleteFile,
        };
        // Built by hand: every derived file access has one, and `format!` costs several
        // times the copying.
        let from = match analysis.commands.get(access.command_index) {
            Some(c) => concat(&[&access.reason, " in `", &c.canonical, "`"]),
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
                    concat(&[&from, ", after cd ", dir]),
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
    // A pull request opened from the line is decided as the `pull_request` action is.
    if !analysis.pull_requests.is_empty() {
        subjects.push(Subject::PullRequest);
    }
    for class in &analysis.classes {
        subjects.push(Subject::Class { class: *class });
    }
}

/// The most argument positions of an unknown program tried as the start of a command.
pub(crate) const MAX_ARGUMENT_COMMANDS: usize = 32;

/// A program the knowledge base does not describe may run its arguments (`mytool run
/// terraform apply`, `mytool --cmd 'rm -rf /'`): when its arguments, from some word on (or one
/// argument split into words), form a command a rule blocks, the command needs approval, with
/// that reason. Programs the knowledge base describes are judged by what they do instead.
pub(crate) fn unknown_program_runs_blocked<'p>(
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
