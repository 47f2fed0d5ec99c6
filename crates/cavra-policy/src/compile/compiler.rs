//! The compiler: each section entry and custom rule of a resolved pack checked and turned
//! into rules and pattern sets.

use super::*;

/// Compiles a resolved pack.
pub fn compile(pack: &ResolvedPack) -> Result<CompiledPack, PolicyError> {
    Compiler::default().run(pack)
}

#[derive(Default)]
pub(crate) struct Compiler {
    rules: Vec<CompiledRule>,
    sets: PatternSets,
}

/// What kind of subject a pattern list describes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternKind {
    Path,
    Command,
    Class,
    Server,
    Domain,
    Branch,
}

pub(crate) struct RuleSpec<'a> {
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

pub(crate) fn default_severity(decision: Decision) -> Severity {
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
            sets: self.sets,
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
                ignoring_case: false,
            };
            let bad = |e| bad_pattern(&spec.id, pattern, e);
            match spec.kind {
                PatternKind::Path => {
                    for (target, glob) in path_globs(pattern) {
                        self.sets
                            .paths
                            .of(target)
                            .add(&glob, true, hit)
                            .map_err(bad)?;
                        // A rule that restricts a path restricts it in every letter case; an
                        // `allow` stays as written, so case cannot widen what it allows.
                        // A copy of a pattern with capitals goes beside it, lower-cased (see
                        // `CompiledPack::path_hits`).
                        if spec.decision != Decision::Allow {
                            let hit = PatternHit {
                                ignoring_case: true,
                                ..hit
                            };
                            // Classes stay as written in the copy (`fold_glob_case`); a copy
                            // `globset` cannot build is left out: the pattern still matches as
                            // written.
                            if let Cow::Owned(lower) = fold_glob_case(&glob) {
                                let _unbuildable =
                                    self.sets.paths.of(target).add(&lower, true, hit);
                            }
                        }
                    }
                }
                PatternKind::Command => {
                    for glob in cavra_shell::command_pattern_globs(pattern) {
                        self.sets.commands.add(&glob, true, hit).map_err(bad)?;
                    }
                }
                PatternKind::Class => {
                    let class = RiskClass::from_str(pattern).map_err(|e| {
                        PolicyError::new(
                            PolicyErrorKind::InvalidValue,
                            format!("rule `{}`: {e}", spec.id),
                        )
                    })?;
                    self.sets.classes.entry(class).or_default().push(rule_index);
                }
                PatternKind::Server => self.sets.servers.add(pattern, false, hit).map_err(bad)?,
                PatternKind::Domain => {
                    for glob in domain_globs(pattern) {
                        self.sets.domains.add(&glob, false, hit).map_err(bad)?;
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
        let mut set = globs::GlobSet::default();
        let mut texts = Vec::new();
        for pattern in patterns {
            let globs: Vec<(String, bool)> = match kind {
                PatternKind::Path => path_globs(pattern)
                    .into_iter()
                    .map(|(_, g)| (g, true))
                    .collect(),
                PatternKind::Command => cavra_shell::command_pattern_globs(pattern)
                    .into_iter()
                    .map(|g| (g, true))
                    .collect(),
                PatternKind::Domain => domain_globs(pattern)
                    .into_iter()
                    .map(|g| (g, false))
                    .collect(),
                _ => vec![(pattern.clone(), false)],
            };
            for (glob, literal_separator) in globs {
                set.add(&glob, literal_separator)
                    .map_err(|e| bad_pattern(rule, pattern, e))?;
                texts.push(pattern.clone());
            }
        }
        Ok(Matcher { set, texts })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PathTarget {
    Relative,
    Absolute,
    Home,
}

pub(crate) fn bad_pattern(rule: &str, pattern: &str, e: impl std::fmt::Display) -> PolicyError {
    PolicyError::new(
        PolicyErrorKind::BadPattern,
        format!("rule `{rule}`: bad pattern `{pattern}`: {e}"),
    )
}

/// Domain globs: `example.com` covers the domain and its subdomains; `*.example.com` only
/// subdomains. Matched against the lower-cased host.
pub(crate) fn domain_globs(pattern: &str) -> Vec<String> {
    let p = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    if p.starts_with('*') {
        return vec![p];
    }
    let sub = format!("*.{p}");
    vec![p, sub]
}

/// Path pattern semantics (gitignore-like):
/// - a pattern starting with `/` is absolute, with `~` is under the home folder;
/// - a pattern with no `/` matches a name at any depth, and everything below such a folder;
/// - any other pattern is anchored at the repository root (a leading `./` is dropped);
/// - a pattern naming a folder also covers what is inside it.
pub(crate) fn path_globs(pattern: &str) -> Vec<(PathTarget, String)> {
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
    vec![(target, body)]
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
