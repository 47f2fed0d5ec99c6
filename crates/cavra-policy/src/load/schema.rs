//! The schema: the keys and value shapes of every mapping of a pack document, checked on the
//! located tree so that unknown keys, wrong types and unknown words are reported where written.

use super::*;

// ---------------------------------------------------------------------------------------------
// Schema: the keys and value shapes of every mapping of a pack document
// ---------------------------------------------------------------------------------------------

/// The expected shape of a value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// Any scalar (kept as its text).
    Str,
    /// A scalar or null.
    OptStr,
    /// `true` or `false`.
    Bool,
    /// A list of scalars.
    StrList,
    /// A number or null.
    OptNumber,
    /// One word of a fixed set (the name of the set, its words).
    Word(&'static str, &'static [&'static str]),
    /// One word or null.
    OptWord(&'static str, &'static [&'static str]),
    /// One word or a non-empty list of words.
    WordOrList(&'static str, &'static [&'static str]),
    /// A mapping with known keys.
    Struct(&'static str, &'static [Field]),
    /// A mapping whose keys are words and whose values all have one shape.
    WordMap(&'static str, &'static [&'static str], &'static Shape),
    /// A list whose items all have one shape.
    List(&'static Shape),
    /// A request mapping: any string keys; `action` and `mode`, when given, must be valid words
    /// (whether a case has an action at all is checked later: a test file's `defaults` may give it).
    Request,
    /// A mapping of names to texts (a test case's `files`).
    TextMap,
    /// A test file's `policy`: a reference (a string) or an inline pack (a mapping).
    PolicyRef,
}

/// One key of a [`Shape::Struct`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
}

pub(crate) const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

pub(crate) const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

// The words accepted in policies; a unit test keeps them equal to the model's `ALL` lists.
pub(crate) const ACTION_WORDS: &[&str] = &[
    "read_file",
    "write_file",
    "delete_file",
    "execute_command",
    "git_operation",
    "mcp_tool_call",
    "pull_request",
    "network_request",
];
pub(crate) const DECISION_WORDS: &[&str] = &[
    "allow",
    "block",
    "require_approval",
    "warn",
    "audit_only",
    "allow_with_attestation",
];
pub(crate) const MODE_WORDS: &[&str] = &["enforce", "audit_only", "strict", "break_glass"];
pub(crate) const SEVERITY_WORDS: &[&str] = &["info", "low", "medium", "high", "critical"];

pub(crate) const METADATA_FIELDS: &[Field] = &[
    opt("id", Shape::Str),
    opt("title", Shape::Str),
    opt("description", Shape::Str),
    opt("version", Shape::Str),
    opt("inherits", Shape::StrList),
    opt("mode", Shape::OptWord("mode", MODE_WORDS)),
    opt("require_signature", Shape::Bool),
];

pub(crate) const FILESYSTEM_FIELDS: &[Field] = &[
    opt("block_read", Shape::StrList),
    opt("require_approval_read", Shape::StrList),
    opt("warn_read", Shape::StrList),
    opt("allow_read", Shape::StrList),
    opt("block_write", Shape::StrList),
    opt("require_approval_write", Shape::StrList),
    opt("warn_write", Shape::StrList),
    opt("allow_write", Shape::StrList),
];

pub(crate) const COMMANDS_FIELDS: &[Field] = &[
    opt("allow", Shape::StrList),
    opt("block", Shape::StrList),
    opt("require_approval", Shape::StrList),
    opt("warn", Shape::StrList),
    opt("block_classes", Shape::StrList),
    opt("require_approval_classes", Shape::StrList),
    opt("warn_classes", Shape::StrList),
];

pub(crate) const GIT_FIELDS: &[Field] = &[
    opt("block_push_branches", Shape::StrList),
    opt("block_force_push", Shape::Bool),
    opt("require_pull_request", Shape::Bool),
    opt("require_ai_attestation", Shape::Bool),
];

pub(crate) const MCP_FIELDS: &[Field] = &[
    opt("block_unknown_servers", Shape::Bool),
    opt("allowed_servers", Shape::StrList),
    opt("blocked_servers", Shape::StrList),
    opt(
        "on_tool_change",
        Shape::OptWord("on_tool_change", &["block", "warn"]),
    ),
];

pub(crate) const NETWORK_FIELDS: &[Field] = &[
    opt("allowed_domains", Shape::StrList),
    opt("blocked_domains", Shape::StrList),
];

pub(crate) const AGENTS_FIELDS: &[Field] = &[opt(
    "unknown_tool",
    Shape::OptWord("unknown_tool", &["block", "require_approval"]),
)];

pub(crate) const IDENTITY_FIELDS: &[Field] = &[opt("accept_claimed_actor", Shape::Bool)];

pub(crate) const DEFAULT_FIELDS: &[Field] = &[
    req("decision", Shape::Word("decision", DECISION_WORDS)),
    opt("approver_group", Shape::OptStr),
];

pub(crate) const DEFAULT_SHAPE: Shape = Shape::Struct("defaults", DEFAULT_FIELDS);

pub(crate) const CONDITION_FIELDS: &[Field] = &[
    opt("environment", Shape::StrList),
    opt("branch", Shape::StrList),
    opt("repository", Shape::StrList),
    opt("agent", Shape::StrList),
    opt("actor", Shape::StrList),
    opt("tenant", Shape::StrList),
];

pub(crate) const RULE_FIELDS: &[Field] = &[
    req("id", Shape::Str),
    req("action", Shape::WordOrList("action", ACTION_WORDS)),
    opt("paths", Shape::StrList),
    opt("commands", Shape::StrList),
    opt("classes", Shape::StrList),
    opt("servers", Shape::StrList),
    opt("tools", Shape::StrList),
    opt("operations", Shape::StrList),
    opt("branches", Shape::StrList),
    opt("domains", Shape::StrList),
    opt("when", Shape::Struct("when", CONDITION_FIELDS)),
    opt("except", Shape::StrList),
    req("decision", Shape::Word("decision", DECISION_WORDS)),
    opt("severity", Shape::OptWord("severity", SEVERITY_WORDS)),
    opt("reason", Shape::OptStr),
    opt("approver_group", Shape::OptStr),
];

pub(crate) const RULE_SHAPE: Shape = Shape::Struct("rule", RULE_FIELDS);

pub(crate) const REDACTION_RULE_FIELDS: &[Field] = &[
    req("id", Shape::Str),
    opt("description", Shape::Str),
    req("regex", Shape::Str),
    opt("keywords", Shape::StrList),
    opt("min_entropy", Shape::OptNumber),
];

pub(crate) const REDACTION_RULE_SHAPE: Shape =
    Shape::Struct("redaction rule", REDACTION_RULE_FIELDS);

pub(crate) const REDACTION_FIELDS: &[Field] = &[
    opt("rules", Shape::List(&REDACTION_RULE_SHAPE)),
    opt("disable", Shape::StrList),
];

/// The keys of one test case.
pub(crate) const TEST_CASE_FIELDS: &[Field] = &[
    req("name", Shape::Str),
    req("request", Shape::Request),
    req("expect", Shape::WordOrList("decision", DECISION_WORDS)),
    opt("rule", Shape::OptStr),
    opt("files", Shape::TextMap),
];

/// One test case.
pub(crate) const TEST_CASE_SHAPE: Shape = Shape::Struct("test case", TEST_CASE_FIELDS);

pub(crate) const PACK_FIELDS: &[Field] = &[
    opt("metadata", Shape::Struct("metadata", METADATA_FIELDS)),
    opt("filesystem", Shape::Struct("filesystem", FILESYSTEM_FIELDS)),
    opt("commands", Shape::Struct("commands", COMMANDS_FIELDS)),
    opt("git", Shape::Struct("git", GIT_FIELDS)),
    opt("mcp", Shape::Struct("mcp", MCP_FIELDS)),
    opt("network", Shape::Struct("network", NETWORK_FIELDS)),
    opt(
        "defaults",
        Shape::WordMap("action", ACTION_WORDS, &DEFAULT_SHAPE),
    ),
    opt("rules", Shape::List(&RULE_SHAPE)),
    opt("tests", Shape::List(&TEST_CASE_SHAPE)),
    opt("redaction", Shape::Struct("redaction", REDACTION_FIELDS)),
    opt("agents", Shape::Struct("agents", AGENTS_FIELDS)),
    opt("identity", Shape::Struct("identity", IDENTITY_FIELDS)),
    opt("knowledge", crate::knowledge::SECTION_SHAPE),
];

/// A whole pack document.
pub(crate) const PACK_SHAPE: Shape = Shape::Struct("pack", PACK_FIELDS);

/// The closest candidate to `word`, when one is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(&'a str, f64)> = None;
    for c in candidates {
        let distance = strsim::damerau_levenshtein(&lower, c);
        let similarity = strsim::jaro_winkler(&lower, c);
        let close = distance <= (c.chars().count() / 3).max(2) || similarity >= 0.88;
        // Prefer the smallest edit distance; break ties with the higher similarity.
        let score = distance as f64 - similarity;
        if close && best.is_none_or(|(_, s)| score < s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// `did you mean `x`?`, or the list of what is accepted.
pub(crate) fn suggestion(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

pub(crate) fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A scalar's text, as it would be read into a string.
pub(crate) fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Bool(b) => Some(b.to_string()),
        Node::Int(i) => Some(i.to_string()),
        Node::UInt(u) => Some(u.to_string()),
        Node::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

pub(crate) fn wrong_type(src: &Source, node: &SNode, path: &str, expected: &str) -> PolicyError {
    let shown = if path.is_empty() {
        "the document".to_string()
    } else {
        format!("`{path}`")
    };
    src.error_at(
        PolicyErrorKind::InvalidValue,
        format!(
            "{shown} must be {expected}, found {}",
            node.value.kind_name()
        ),
        &node.referenced,
    )
}

pub(crate) fn check_word(
    src: &Source,
    node: &SNode,
    path: &str,
    kind: &str,
    words: &[&str],
) -> Result<(), PolicyError> {
    match &node.value {
        Node::Str(s) if words.contains(&s.as_str()) => Ok(()),
        Node::Str(s) => Err(src
            .error_at(
                PolicyErrorKind::InvalidValue,
                format!("`{path}`: unknown {kind} `{s}`"),
                &node.referenced,
            )
            .with_help(suggestion(s, words))),
        other => Err(src
            .error_at(
                PolicyErrorKind::InvalidValue,
                match scalar_text(other) {
                    Some(t) => format!(
                        "`{path}` must be a {kind} word, found {} `{t}`",
                        other.kind_name()
                    ),
                    None => format!(
                        "`{path}` must be a {kind} word, found {}",
                        other.kind_name()
                    ),
                },
                &node.referenced,
            )
            .with_help(format!("expected one of: {}", words.join(", ")))),
    }
}

/// Checks a tree against a shape, reporting the first problem at its place.
pub(crate) fn check_shape(
    src: &Source,
    node: &SNode,
    shape: &Shape,
    path: &str,
) -> Result<(), PolicyError> {
    match shape {
        Shape::Str => {
            if node.value.is_scalar() {
                Ok(())
            } else {
                Err(wrong_type(src, node, path, "a string"))
            }
        }
        Shape::OptStr => {
            if node.value.is_scalar() || matches!(node.value, Node::Null) {
                Ok(())
            } else {
                Err(wrong_type(src, node, path, "a string"))
            }
        }
        Shape::OptNumber => match node.value {
            Node::Int(_) | Node::UInt(_) | Node::Float(_) | Node::Null => Ok(()),
            _ => Err(wrong_type(src, node, path, "a number")),
        },
        Shape::Bool => match node.value {
            Node::Bool(_) => Ok(()),
            _ => Err(wrong_type(src, node, path, "`true` or `false`")),
        },
        Shape::StrList => match &node.value {
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.value.is_scalar() {
                        return Err(wrong_type(src, item, &format!("{path}[{i}]"), "a string"));
                    }
                }
                Ok(())
            }
            _ => Err(wrong_type(
                src,
                node,
                path,
                "a list of strings (`[]` for none)",
            )),
        },
        Shape::Word(kind, words) => check_word(src, node, path, kind, words),
        Shape::OptWord(kind, words) => match node.value {
            Node::Null => Ok(()),
            _ => check_word(src, node, path, kind, words),
        },
        Shape::WordOrList(kind, words) => match &node.value {
            Node::Seq(items) => {
                if items.is_empty() {
                    return Err(src.error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("`{path}` must name at least one {kind}"),
                        &node.referenced,
                    ));
                }
                for (i, item) in items.iter().enumerate() {
                    check_word(src, item, &format!("{path}[{i}]"), kind, words)?;
                }
                Ok(())
            }
            _ => check_word(src, node, path, kind, words),
        },
        Shape::Struct(name, fields) => {
            let Node::Map(entries) = &node.value else {
                let what = if path.is_empty() {
                    "a mapping".to_string()
                } else {
                    format!("a mapping ({name})")
                };
                return Err(wrong_type(src, node, path, &what));
            };
            for (key, value) in entries {
                let Node::Str(k) = &key.value else {
                    return Err(src.error_at(
                        PolicyErrorKind::UnknownKey,
                        format!("keys must be strings, found {}", key.value.kind_name()),
                        &key.referenced,
                    ));
                };
                let Some(field) = fields.iter().find(|f| f.name == k) else {
                    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    let place = if path.is_empty() {
                        String::from("at the top level")
                    } else {
                        format!("in `{path}`")
                    };
                    return Err(src
                        .error_at(
                            PolicyErrorKind::UnknownKey,
                            format!("unknown key `{k}` {place}"),
                            &key.referenced,
                        )
                        .with_help(suggestion(k, &names)));
                };
                check_shape(src, value, &field.shape, &join_path(path, k))?;
            }
            for field in fields.iter().filter(|f| f.required) {
                if node.value.get(field.name).is_none() {
                    let shown = if path.is_empty() {
                        "the document".to_string()
                    } else {
                        format!("`{path}`")
                    };
                    return Err(src.error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("{shown} is missing the required key `{}`", field.name),
                        &node.referenced,
                    ));
                }
            }
            Ok(())
        }
        Shape::WordMap(kind, words, value_shape) => {
            let Node::Map(entries) = &node.value else {
                return Err(wrong_type(
                    src,
                    node,
                    path,
                    &format!("a mapping from {kind} to settings"),
                ));
            };
            for (key, value) in entries {
                let Node::Str(k) = &key.value else {
                    return Err(src.error_at(
                        PolicyErrorKind::UnknownKey,
                        format!(
                            "`{path}` keys must be {kind} words, found {}",
                            key.value.kind_name()
                        ),
                        &key.referenced,
                    ));
                };
                if !words.contains(&k.as_str()) {
                    return Err(src
                        .error_at(
                            PolicyErrorKind::UnknownKey,
                            format!("`{path}`: unknown {kind} `{k}`"),
                            &key.referenced,
                        )
                        .with_help(suggestion(k, words)));
                }
                check_shape(src, value, value_shape, &join_path(path, k))?;
            }
            Ok(())
        }
        Shape::List(item_shape) => match &node.value {
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_shape(src, item, item_shape, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            _ => Err(wrong_type(src, node, path, "a list (`[]` for none)")),
        },
        Shape::TextMap => {
            let Node::Map(entries) = &node.value else {
                return Err(wrong_type(
                    src,
                    node,
                    path,
                    "a mapping of file names to their text",
                ));
            };
            for (key, value) in entries {
                let (Node::Str(_), Node::Str(_)) = (&key.value, &value.value) else {
                    return Err(src.error_at(
                        PolicyErrorKind::InvalidValue,
                        format!("`{path}` maps file names to their text, as strings"),
                        &key.referenced,
                    ));
                };
            }
            Ok(())
        }
        Shape::Request => {
            let Node::Map(entries) = &node.value else {
                return Err(wrong_type(src, node, path, "a mapping of request fields"));
            };
            for (key, _) in entries {
                if !matches!(key.value, Node::Str(_)) {
                    return Err(src.error_at(
                        PolicyErrorKind::InvalidValue,
                        format!(
                            "`{path}` keys must be strings, found {}",
                            key.value.kind_name()
                        ),
                        &key.referenced,
                    ));
                }
            }
            if let Some(action) = node.value.get("action") {
                check_word(
                    src,
                    action,
                    &join_path(path, "action"),
                    "action",
                    ACTION_WORDS,
                )?;
            }
            if let Some(mode) = node.value.get("mode") {
                check_word(src, mode, &join_path(path, "mode"), "mode", MODE_WORDS)?;
            }
            Ok(())
        }
        Shape::PolicyRef => match &node.value {
            Node::Str(s) if !s.trim().is_empty() => Ok(()),
            Node::Map(_) => check_shape(src, node, &PACK_SHAPE, path),
            _ => Err(wrong_type(
                src,
                node,
                path,
                "a pack reference (a path or a built-in id) or an inline pack (a mapping)",
            )),
        },
    }
}
