//! Semantic validation of a parsed pack: globs, risk classes, rule ids, which pattern fields
//! fit which actions, each offending value located through the tree.

use super::*;

// ---------------------------------------------------------------------------------------------
// Semantic validation
// ---------------------------------------------------------------------------------------------

/// How a pattern is matched, which decides how it must compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatternKind {
    /// A path glob: `*` stays within one folder.
    Path,
    /// Any other glob (commands, servers, tools, branches, domains, conditions).
    Word,
}

/// Git operations a rule may name (the engine compares them to the request's operation, lower
/// case, exactly).
pub const GIT_OPERATIONS: &[&str] = &[
    "push",
    "pull",
    "fetch",
    "clone",
    "commit",
    "merge",
    "rebase",
    "reset",
    "revert",
    "cherry-pick",
    "tag",
    "branch",
    "checkout",
    "switch",
    "restore",
    "stash",
    "clean",
    "rm",
    "mv",
    "add",
    "init",
    "remote",
    "config",
    "submodule",
    "worktree",
    "gc",
    "filter-branch",
    "filter-repo",
    "am",
    "apply",
    "bisect",
    "notes",
    "reflog",
    "update-ref",
];

/// Rule id prefixes the built-in section rules use; a custom rule may not take one, so that a
/// decision's `rule_id` always says which part of the pack decided.
pub(crate) const RESERVED_RULE_PREFIXES: &[&str] = &[
    "filesystem.",
    "commands.",
    "git.",
    "mcp.",
    "network.",
    "defaults.",
    "pull_request.",
    "request.",
];

pub(crate) fn compile_glob(pattern: &str, kind: PatternKind) -> Result<(), globset::Error> {
    // The same builder settings as the compiler uses, so what validates here compiles there.
    globset::GlobBuilder::new(pattern)
        .literal_separator(kind == PatternKind::Path)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map(|_| ())
}

pub(crate) struct Validator<'a> {
    src: &'a Source,
    tree: &'a SNode,
}

impl Validator<'_> {
    fn at(&self, path: &[Seg<'_>]) -> &Location {
        &locate(self.tree, path).referenced
    }

    fn globs(
        &self,
        list: &[String],
        kind: PatternKind,
        path: &[Seg<'_>],
        shown: &str,
    ) -> Result<(), PolicyError> {
        for (i, pattern) in list.iter().enumerate() {
            let mut p = path.to_vec();
            p.push(Seg::Idx(i));
            if pattern.trim().is_empty() {
                return Err(self.src.error_at(
                    PolicyErrorKind::BadPattern,
                    format!("`{shown}[{i}]`: an empty pattern matches nothing"),
                    self.at(&p),
                ));
            }
            if let Err(e) = compile_glob(pattern, kind) {
                let why = match e.kind() {
                    globset::ErrorKind::UnclosedClass => "a `[` class is not closed".to_string(),
                    globset::ErrorKind::UnopenedAlternates => {
                        "a `}` has no matching `{`".to_string()
                    }
                    globset::ErrorKind::UnclosedAlternates => "a `{` is not closed".to_string(),
                    globset::ErrorKind::NestedAlternates => {
                        "`{…}` alternatives cannot be nested".to_string()
                    }
                    globset::ErrorKind::DanglingEscape => {
                        "the pattern ends with a lone `\\`".to_string()
                    }
                    _ => e.to_string(),
                };
                return Err(self.src.error_at(
                    PolicyErrorKind::BadPattern,
                    format!("`{shown}[{i}]`: bad pattern `{pattern}`: {why}"),
                    self.at(&p),
                ));
            }
        }
        Ok(())
    }

    fn classes(&self, list: &[String], path: &[Seg<'_>], shown: &str) -> Result<(), PolicyError> {
        for (i, class) in list.iter().enumerate() {
            if cavra_shell::RiskClass::from_str(class).is_err() {
                let mut p = path.to_vec();
                p.push(Seg::Idx(i));
                let names: Vec<&str> = cavra_shell::RiskClass::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect();
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("`{shown}[{i}]`: unknown risk class `{class}`"),
                        self.at(&p),
                    )
                    .with_help(suggestion(class, &names)));
            }
        }
        Ok(())
    }

    fn validate(&self, doc: &PackDocument) -> Result<(), PolicyError> {
        for (i, parent) in doc.metadata.inherits.iter().enumerate() {
            if parent.trim().is_empty() {
                return Err(self.src.error_at(
                    PolicyErrorKind::InvalidValue,
                    format!("`metadata.inherits[{i}]` is empty"),
                    self.at(&[Seg::Key("metadata"), Seg::Key("inherits"), Seg::Idx(i)]),
                ));
            }
        }

        let fs = &doc.filesystem;
        for (key, list) in [
            ("block_read", &fs.block_read),
            ("require_approval_read", &fs.require_approval_read),
            ("warn_read", &fs.warn_read),
            ("allow_read", &fs.allow_read),
            ("block_write", &fs.block_write),
            ("require_approval_write", &fs.require_approval_write),
            ("warn_write", &fs.warn_write),
            ("allow_write", &fs.allow_write),
        ] {
            self.globs(
                list,
                PatternKind::Path,
                &[Seg::Key("filesystem"), Seg::Key(key)],
                &format!("filesystem.{key}"),
            )?;
        }

        let c = &doc.commands;
        for (key, list) in [
            ("allow", &c.allow),
            ("block", &c.block),
            ("require_approval", &c.require_approval),
            ("warn", &c.warn),
        ] {
            self.globs(
                list,
                PatternKind::Word,
                &[Seg::Key("commands"), Seg::Key(key)],
                &format!("commands.{key}"),
            )?;
        }
        for (key, list) in [
            ("block_classes", &c.block_classes),
            ("require_approval_classes", &c.require_approval_classes),
            ("warn_classes", &c.warn_classes),
        ] {
            self.classes(
                list,
                &[Seg::Key("commands"), Seg::Key(key)],
                &format!("commands.{key}"),
            )?;
        }

        self.globs(
            &doc.git.block_push_branches,
            PatternKind::Word,
            &[Seg::Key("git"), Seg::Key("block_push_branches")],
            "git.block_push_branches",
        )?;
        for (key, list) in [
            ("allowed_servers", &doc.mcp.allowed_servers),
            ("blocked_servers", &doc.mcp.blocked_servers),
        ] {
            self.globs(
                list,
                PatternKind::Word,
                &[Seg::Key("mcp"), Seg::Key(key)],
                &format!("mcp.{key}"),
            )?;
        }
        for (key, list) in [
            ("allowed_domains", &doc.network.allowed_domains),
            ("blocked_domains", &doc.network.blocked_domains),
        ] {
            self.globs(
                list,
                PatternKind::Word,
                &[Seg::Key("network"), Seg::Key(key)],
                &format!("network.{key}"),
            )?;
        }

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, rule) in doc.rules.iter().enumerate() {
            self.rule(i, rule)?;
            if let Some(first) = seen.insert(rule.id.as_str(), i) {
                let first_at = locate(
                    self.tree,
                    &[Seg::Key("rules"), Seg::Idx(first), Seg::Key("id")],
                )
                .referenced
                .line();
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!("rule id `{}` is used twice", rule.id),
                        self.at(&[Seg::Key("rules"), Seg::Idx(i), Seg::Key("id")]),
                    )
                    .with_help(format!(
                        "rule ids must be unique; the first `{}` is on line {first_at}",
                        rule.id
                    )));
            }
        }

        self.redaction(&doc.redaction)?;
        crate::knowledge::validate_section(
            self.src,
            self.tree,
            &[Seg::Key("knowledge")],
            "knowledge.",
            &doc.knowledge,
        )?;

        for (i, case) in doc.tests.iter().enumerate() {
            validate_case(
                self.src,
                self.tree,
                &[Seg::Key("tests"), Seg::Idx(i)],
                &format!("tests[{i}]"),
                case,
                false,
            )?;
        }
        Ok(())
    }

    /// `redaction:`: every rule well-formed with a compiling expression and an id of its own;
    /// every disabled id a built-in rule.
    fn redaction(&self, section: &RedactionSection) -> Result<(), PolicyError> {
        use cavra_redact::RedactError;
        let builtin = cavra_redact::builtin_ids();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, rule) in section.rules.iter().enumerate() {
            let at = |key: &'static str| {
                self.at(&[
                    Seg::Key("redaction"),
                    Seg::Key("rules"),
                    Seg::Idx(i),
                    Seg::Key(key),
                ])
            };
            let shown = format!("redaction.rules[{i}]");
            if let Err(e) = cavra_redact::check_rule(rule) {
                let (key, kind) = match &e {
                    RedactError::BadRegex { .. } => ("regex", PolicyErrorKind::BadPattern),
                    RedactError::EmptyKeyword(_) => ("keywords", PolicyErrorKind::InvalidValue),
                    RedactError::BadEntropy(_) => ("min_entropy", PolicyErrorKind::InvalidValue),
                    _ => ("id", PolicyErrorKind::Invalid),
                };
                let message = match &e {
                    // The regex crate's message spans lines (it draws the pattern); keep it.
                    RedactError::BadRegex { source, .. } => format!(
                        "`{shown}.regex`: the expression does not compile: {}",
                        source.to_string().replace('\n', " ")
                    ),
                    other => format!("`{shown}`: {other}"),
                };
                return Err(self.src.error_at(kind, message, at(key)));
            }
            if rule.id == cavra_redact::SENSITIVE_KEY_RULE || builtin.contains(&rule.id) {
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!("`{shown}.id`: `{}` is a built-in redaction rule", rule.id),
                        at("id"),
                    )
                    .with_help("choose another id; to replace a built-in rule, add it to `redaction.disable` and give yours a new id"));
            }
            if let Some(first) = seen.insert(rule.id.as_str(), i) {
                let first_at = locate(
                    self.tree,
                    &[
                        Seg::Key("redaction"),
                        Seg::Key("rules"),
                        Seg::Idx(first),
                        Seg::Key("id"),
                    ],
                )
                .referenced
                .line();
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!("redaction rule id `{}` is used twice", rule.id),
                        at("id"),
                    )
                    .with_help(format!(
                        "redaction rule ids must be unique; the first `{}` is on line {first_at}",
                        rule.id
                    )));
            }
        }
        for (i, id) in section.disable.iter().enumerate() {
            if !builtin.contains(id) {
                let names: Vec<&str> = builtin.iter().map(String::as_str).collect();
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("`redaction.disable[{i}]`: no built-in redaction rule `{id}`"),
                        self.at(&[Seg::Key("redaction"), Seg::Key("disable"), Seg::Idx(i)]),
                    )
                    .with_help(suggestion(id, &names)));
            }
        }
        Ok(())
    }

    fn rule(&self, i: usize, rule: &RuleDocument) -> Result<(), PolicyError> {
        let base = [Seg::Key("rules"), Seg::Idx(i)];
        let shown = format!("rules[{i}]");
        let id = rule.id.trim();
        if id.is_empty() {
            return Err(self.src.error_at(
                PolicyErrorKind::Invalid,
                format!("`{shown}.id` is empty"),
                self.at(&[base[0], base[1], Seg::Key("id")]),
            ));
        }
        if id != rule.id || rule.id.chars().any(char::is_control) {
            return Err(self.src.error_at(
                PolicyErrorKind::Invalid,
                format!(
                    "`{shown}.id` may not start or end with blanks nor hold control characters"
                ),
                self.at(&[base[0], base[1], Seg::Key("id")]),
            ));
        }
        if let Some(prefix) = RESERVED_RULE_PREFIXES
            .iter()
            .find(|p| rule.id.starts_with(**p))
        {
            return Err(self
                .src
                .error_at(
                    PolicyErrorKind::Invalid,
                    format!("rule id `{}` uses the reserved prefix `{prefix}`", rule.id),
                    self.at(&[base[0], base[1], Seg::Key("id")]),
                )
                .with_help(
                    "built-in section rules use these prefixes; choose another id, e.g. `custom.…`",
                ));
        }

        let actions = rule.action.as_slice();
        let file = actions.iter().any(|a| {
            matches!(
                a,
                ActionType::ReadFile | ActionType::WriteFile | ActionType::DeleteFile
            )
        });
        let command = actions.contains(&ActionType::ExecuteCommand);
        let mcp = actions.contains(&ActionType::McpToolCall);
        let git = actions.contains(&ActionType::GitOperation);
        let network = actions.contains(&ActionType::NetworkRequest);
        let fields: [(&str, &Vec<String>, bool, &str); 8] = [
            (
                "paths",
                &rule.paths,
                file,
                "read_file, write_file or delete_file",
            ),
            ("commands", &rule.commands, command, "execute_command"),
            ("classes", &rule.classes, command, "execute_command"),
            ("servers", &rule.servers, mcp, "mcp_tool_call"),
            ("tools", &rule.tools, mcp, "mcp_tool_call"),
            ("operations", &rule.operations, git, "git_operation"),
            ("branches", &rule.branches, git, "git_operation"),
            ("domains", &rule.domains, network, "network_request"),
        ];
        for (key, list, fits, needs) in fields {
            if !list.is_empty() && !fits {
                let acts: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!(
                            "rule `{}`: `{key}` does not apply to its action ({})",
                            rule.id,
                            acts.join(", ")
                        ),
                        self.at(&[base[0], base[1], Seg::Key(key)]),
                    )
                    .with_help(format!("`{key}` is for {needs}")));
            }
        }

        let w = &rule.when;
        let has_condition = [
            &w.environment,
            &w.branch,
            &w.repository,
            &w.agent,
            &w.actor,
            &w.tenant,
        ]
        .iter()
        .any(|l| !l.is_empty());
        let has_pattern = fields.iter().any(|(_, list, _, _)| !list.is_empty());
        // Pull requests have no pattern of their own: a pull_request rule matches every pull
        // request (its conditions aside). Any other rule must say what it matches.
        let pr_only = actions.iter().all(|a| *a == ActionType::PullRequest);
        if !has_pattern && !has_condition && !pr_only {
            return Err(self
                .src
                .error_at(
                    PolicyErrorKind::Invalid,
                    format!("rule `{}` has nothing to match: it would apply to every request of its action", rule.id),
                    self.at(&base),
                )
                .with_help("add `paths`, `commands`, `classes`, `servers`, `tools`, `operations`, `branches`, `domains` or a `when` condition"));
        }

        let p = |key: &'static str| [base[0], base[1], Seg::Key(key)];
        self.globs(
            &rule.paths,
            PatternKind::Path,
            &p("paths"),
            &format!("{shown}.paths"),
        )?;
        self.globs(
            &rule.commands,
            PatternKind::Word,
            &p("commands"),
            &format!("{shown}.commands"),
        )?;
        self.classes(&rule.classes, &p("classes"), &format!("{shown}.classes"))?;
        self.globs(
            &rule.servers,
            PatternKind::Word,
            &p("servers"),
            &format!("{shown}.servers"),
        )?;
        self.globs(
            &rule.tools,
            PatternKind::Word,
            &p("tools"),
            &format!("{shown}.tools"),
        )?;
        self.globs(
            &rule.branches,
            PatternKind::Word,
            &p("branches"),
            &format!("{shown}.branches"),
        )?;
        self.globs(
            &rule.domains,
            PatternKind::Word,
            &p("domains"),
            &format!("{shown}.domains"),
        )?;
        for (j, op) in rule.operations.iter().enumerate() {
            if !GIT_OPERATIONS.contains(&op.as_str()) {
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("`{shown}.operations[{j}]`: unknown git operation `{op}`"),
                        self.at(&[base[0], base[1], Seg::Key("operations"), Seg::Idx(j)]),
                    )
                    .with_help(suggestion(op, GIT_OPERATIONS)));
            }
        }
        for (key, list) in [
            ("environment", &w.environment),
            ("branch", &w.branch),
            ("repository", &w.repository),
            ("agent", &w.agent),
            ("actor", &w.actor),
            ("tenant", &w.tenant),
        ] {
            self.globs(
                list,
                PatternKind::Word,
                &[base[0], base[1], Seg::Key("when"), Seg::Key(key)],
                &format!("{shown}.when.{key}"),
            )?;
        }

        if !rule.except.is_empty() {
            // The exceptions are of the kind of the rule's first pattern field (what the
            // compiler matches them against); classes and tools/operations have none.
            let kind = if !rule.paths.is_empty() {
                Some(PatternKind::Path)
            } else if [&rule.commands, &rule.servers, &rule.domains, &rule.branches]
                .iter()
                .any(|l| !l.is_empty())
            {
                Some(PatternKind::Word)
            } else {
                None
            };
            let Some(kind) = kind else {
                return Err(self
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!("rule `{}`: `except` needs patterns to make exceptions to", rule.id),
                        self.at(&p("except")),
                    )
                    .with_help("`except` applies to `paths`, `commands`, `servers`, `domains` or `branches`"));
            };
            self.globs(&rule.except, kind, &p("except"), &format!("{shown}.except"))?;
        }
        Ok(())
    }
}

/// Checks one test case beyond its shape (which [`check_shape`] already did).
///
/// `default_action` says whether the file's `defaults` give every request an action.
pub(crate) fn validate_case(
    src: &Source,
    tree: &SNode,
    path: &[Seg<'_>],
    shown: &str,
    case: &crate::document::TestCase,
    default_action: bool,
) -> Result<(), PolicyError> {
    let at = |key: &'static str| {
        let mut p = path.to_vec();
        p.push(Seg::Key(key));
        locate(tree, &p).referenced
    };
    if case.name.trim().is_empty() {
        return Err(src.error_at(
            PolicyErrorKind::InvalidValue,
            format!("`{shown}.name` is empty"),
            &at("name"),
        ));
    }
    if !default_action && !case.request.contains_key("action") {
        return Err(src
            .error_at(
                PolicyErrorKind::InvalidValue,
                format!("`{shown}.request` has no `action`"),
                &at("request"),
            )
            .with_help(format!("expected one of: {}", ACTION_WORDS.join(", "))));
    }
    Ok(())
}

pub(crate) fn validate_document(
    src: &Source,
    tree: &SNode,
    doc: &PackDocument,
) -> Result<(), PolicyError> {
    Validator { src, tree }.validate(doc)
}
