//! Parsing, validation and inheritance.
//!
//! A pack is read in two passes over the same text:
//!
//! 1. the YAML is parsed into a [`Node`] tree in which every value and every key carries its
//!    source location (serde-saphyr's [`Spanned`]); the tree is checked against the schema
//!    ([`check_pack_tree`]) so that unknown keys, wrong types and unknown words are reported at
//!    the exact line and column, with a suggestion;
//! 2. the same text is deserialized into [`PackDocument`] (which cannot fail any more, short of
//!    a schema/table mismatch, in which case serde-saphyr's own located error is reported), and
//!    the document is validated semantically (globs, risk classes, rule ids, which pattern
//!    fields fit which actions), locating each offending value through the tree.
//!
//! Inheritance ([`load_pack`], [`load_pack_str`]) then loads the parents, detects cycles and
//! merges the documents so that a child can only tighten what its parents say.

use crate::builtin;
use crate::document::{PackDocument, RedactionSection, RuleDocument};
use crate::error::{PolicyError, PolicyErrorKind, SourceLocation};
use crate::model::ActionType;
#[cfg(test)]
use crate::model::{Decision, Mode, Severity};
use serde::de::{self, Deserialize, Deserializer};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The largest policy (or policy test) file accepted, in bytes. Policies are small; anything
/// larger is refused before parsing so a hostile file cannot make the parser work for long.
pub const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;

/// The deepest inheritance chain accepted (a pack, its parent, its grandparent, …).
pub const MAX_INHERITANCE_DEPTH: usize = 16;

/// The most packs one inheritance graph may hold.
pub const MAX_PACKS_IN_CHAIN: usize = 64;

/// A pack with its inheritance merged in, ready to compile.
#[derive(Debug, Clone)]
pub struct ResolvedPack {
    /// The merged document (parents first, this pack last).
    pub document: PackDocument,
    /// Where the top pack came from: a file path, or `builtin:<id>`, or `<inline>`.
    pub origin: String,
    /// Every pack merged, parents first, the top pack last (origins).
    pub chain: Vec<String>,
    /// `sha256:<hex>` over the canonical JSON of the merged document.
    pub digest: String,
    /// The top pack's source text.
    pub source_text: Arc<str>,
}

/// Parses and validates one document (no inheritance).
pub fn parse_document(text: &str, origin: &str) -> Result<PackDocument, PolicyError> {
    let src = Source::new(text, origin);
    parse_pack_source(&src).map(|(doc, _)| doc)
}

/// Loads a pack by reference: a built-in id (`cavra-baseline`, or `builtin:cavra-baseline`) or
/// a path (relative paths against `base_dir`), and resolves its inheritance.
pub fn load_pack(reference: &str, base_dir: &Path) -> Result<ResolvedPack, PolicyError> {
    let target = resolve_reference(reference, Some(base_dir))?;
    let loaded = load_target(&target)?;
    resolve_loaded(loaded)
}

/// Parses, validates and resolves a pack from text.
pub fn load_pack_str(
    text: &str,
    origin: &str,
    base_dir: &Path,
) -> Result<ResolvedPack, PolicyError> {
    let src = Source::new(text, origin);
    let (doc, tree) = parse_pack_source(&src)?;
    let key = match origin.strip_prefix("builtin:") {
        Some(id) => format!("builtin:{id}"),
        // Text that does not come from a file of its own still gets a key that cannot clash with
        // a real file, so a parent naming some file is never mistaken for it.
        None => file_key(Path::new(origin)).unwrap_or_else(|| format!("text:{origin}")),
    };
    let base = if origin.starts_with("builtin:") {
        None
    } else {
        Some(base_dir.to_path_buf())
    };
    resolve_loaded(LoadedDoc {
        key,
        origin: origin.to_string(),
        src,
        tree,
        doc,
        base_dir: base,
    })
}

// ---------------------------------------------------------------------------------------------
// Sources and locations
// ---------------------------------------------------------------------------------------------

/// A text being parsed and the name it is reported under.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) origin: String,
    pub(crate) text: Arc<str>,
}

impl Source {
    pub(crate) fn new(text: &str, origin: &str) -> Self {
        Source {
            origin: origin.to_string(),
            text: Arc::from(text),
        }
    }

    /// A [`SourceLocation`] for a serde-saphyr location (none when the parser did not know it).
    pub(crate) fn location(&self, loc: &Location) -> Option<SourceLocation> {
        if loc.line() == 0 {
            return None;
        }
        Some(SourceLocation {
            file: self.origin.clone(),
            line: usize::try_from(loc.line()).unwrap_or(usize::MAX),
            column: usize::try_from(loc.column()).unwrap_or(usize::MAX),
            offset: loc
                .span()
                .byte_offset()
                .and_then(|o| usize::try_from(o).ok()),
        })
    }

    /// An error pointing at `loc` in this source.
    pub(crate) fn error_at(
        &self,
        kind: PolicyErrorKind,
        message: impl Into<String>,
        loc: &Location,
    ) -> PolicyError {
        let mut e = PolicyError::new(kind, message).with_source(self.text.clone());
        if let Some(l) = self.location(loc) {
            e = e.at(l);
        }
        e
    }

    /// An error at the start of this source (for problems with the file as a whole).
    fn error_at_start(&self, kind: PolicyErrorKind, message: impl Into<String>) -> PolicyError {
        PolicyError::new(kind, message)
            .at(SourceLocation {
                file: self.origin.clone(),
                line: 1,
                column: 1,
                offset: Some(0),
            })
            .with_source(self.text.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// The located YAML tree
// ---------------------------------------------------------------------------------------------

/// A YAML value whose children carry their source locations.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<SNode>),
    Map(Vec<(SNode, SNode)>),
}

/// A located YAML value.
pub(crate) type SNode = Spanned<Node>;

struct NodeVisitor;

impl<'de> de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        // Only reached for integers outside i64/u64; keep the spelling rather than fail.
        Ok(Node::Str(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<SNode>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<SNode>()? {
            let value = map.next_value::<SNode>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

impl Node {
    /// What kind of value this is, for messages.
    fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "nothing (null)",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(
            self,
            Node::Bool(_) | Node::Int(_) | Node::UInt(_) | Node::Float(_) | Node::Str(_)
        )
    }

    /// The value of a mapping entry.
    pub(crate) fn get(&self, key: &str) -> Option<&SNode> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Node::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn index(&self, i: usize) -> Option<&SNode> {
        match self {
            Node::Seq(items) => items.get(i),
            _ => None,
        }
    }
}

/// One step of a path into the tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Idx(usize),
}

/// The node at `path`, or the deepest node on the way there (so an error always has a place).
pub(crate) fn locate<'t>(root: &'t SNode, path: &[Seg<'_>]) -> &'t SNode {
    let mut cur = root;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => cur.value.get(k),
            Seg::Idx(i) => cur.value.index(*i),
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    cur
}

/// serde-saphyr options: YAML 1.2 booleans, no merge keys, no unknown tags, duplicate keys
/// rejected, and budgets far below the defaults (a policy is a few hundred nodes) so that
/// alias bombs and deeply nested input are stopped early.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 400_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 200_000;
    budget.max_depth = 48;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_POLICY_BYTES;
    budget.max_recorded_anchor_events = 100_000;
    budget.max_recorded_anchor_bytes = MAX_POLICY_BYTES;
    budget.max_merge_keys = 0;
    budget.max_inclusion_depth = 0;

    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 100_000;
    alias_limits.max_replay_stack_depth = 16;
    alias_limits.max_alias_expansions_per_anchor = 1_000;

    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits = alias_limits;
    options.strict_booleans = true;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::Error;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.reject_unsupported_tags = true;
    options.with_snippet = false;
    options
}

/// serde-saphyr's message without the ` at line L, column C` it appends (we carry the place
/// in [`SourceLocation`] instead).
fn saphyr_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    match text.rsplit_once(" at line ") {
        Some((head, tail))
            if tail.split_once(", column ").is_some_and(|(l, c)| {
                l.parse::<u64>().is_ok() && c.trim_end().parse::<u64>().is_ok()
            }) =>
        {
            head.to_string()
        }
        _ => text,
    }
}

/// Turns a serde-saphyr error into a located [`PolicyError`].
pub(crate) fn saphyr_error(
    src: &Source,
    e: &serde_saphyr::Error,
    kind: PolicyErrorKind,
) -> PolicyError {
    let mut err = PolicyError::new(kind, saphyr_message(e)).with_source(src.text.clone());
    if let Some(l) = e.location().and_then(|l| src.location(&l)) {
        err = err.at(l);
    }
    err
}

/// Parses text into the located tree. Errors here are YAML syntax errors or budget breaches.
pub(crate) fn parse_tree(src: &Source) -> Result<SNode, PolicyError> {
    if src.text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::new(
            PolicyErrorKind::Invalid,
            format!(
                "{}: the file is {} bytes; policies may be at most {MAX_POLICY_BYTES} bytes",
                src.origin,
                src.text.len()
            ),
        ));
    }
    let tree: SNode = serde_saphyr::from_str_with_options(&src.text, yaml_options())
        .map_err(|e| saphyr_error(src, &e, PolicyErrorKind::Syntax))?;
    if matches!(tree.value, Node::Null) {
        return Err(src.error_at_start(
            PolicyErrorKind::Invalid,
            "the file is empty: expected a mapping with `metadata:` and rules",
        ));
    }
    Ok(tree)
}

/// Parses and fully validates one pack document; returns the tree for later lookups.
pub(crate) fn parse_pack_source(src: &Source) -> Result<(PackDocument, SNode), PolicyError> {
    let tree = parse_tree(src)?;
    check_shape(src, &tree, &PACK_SHAPE, "")?;
    let doc: PackDocument = serde_saphyr::from_str_with_options(&src.text, yaml_options())
        .map_err(|e| saphyr_error(src, &e, PolicyErrorKind::InvalidValue))?;
    validate_document(src, &tree, &doc)?;
    Ok((doc, tree))
}

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
const ACTION_WORDS: &[&str] = &[
    "read_file",
    "write_file",
    "delete_file",
    "execute_command",
    "git_operation",
    "mcp_tool_call",
    "pull_request",
    "network_request",
];
const DECISION_WORDS: &[&str] = &[
    "allow",
    "block",
    "require_approval",
    "warn",
    "audit_only",
    "allow_with_attestation",
];
const MODE_WORDS: &[&str] = &["enforce", "audit_only", "strict", "break_glass"];
const SEVERITY_WORDS: &[&str] = &["info", "low", "medium", "high", "critical"];

const METADATA_FIELDS: &[Field] = &[
    opt("id", Shape::Str),
    opt("title", Shape::Str),
    opt("description", Shape::Str),
    opt("version", Shape::Str),
    opt("inherits", Shape::StrList),
    opt("mode", Shape::OptWord("mode", MODE_WORDS)),
    opt("require_signature", Shape::Bool),
];

const FILESYSTEM_FIELDS: &[Field] = &[
    opt("block_read", Shape::StrList),
    opt("require_approval_read", Shape::StrList),
    opt("warn_read", Shape::StrList),
    opt("allow_read", Shape::StrList),
    opt("block_write", Shape::StrList),
    opt("require_approval_write", Shape::StrList),
    opt("warn_write", Shape::StrList),
    opt("allow_write", Shape::StrList),
];

const COMMANDS_FIELDS: &[Field] = &[
    opt("allow", Shape::StrList),
    opt("block", Shape::StrList),
    opt("require_approval", Shape::StrList),
    opt("warn", Shape::StrList),
    opt("block_classes", Shape::StrList),
    opt("require_approval_classes", Shape::StrList),
    opt("warn_classes", Shape::StrList),
];

const GIT_FIELDS: &[Field] = &[
    opt("block_push_branches", Shape::StrList),
    opt("block_force_push", Shape::Bool),
    opt("require_pull_request", Shape::Bool),
    opt("require_ai_attestation", Shape::Bool),
];

const MCP_FIELDS: &[Field] = &[
    opt("block_unknown_servers", Shape::Bool),
    opt("allowed_servers", Shape::StrList),
    opt("blocked_servers", Shape::StrList),
    opt(
        "on_tool_change",
        Shape::OptWord("on_tool_change", &["block", "warn"]),
    ),
];

const NETWORK_FIELDS: &[Field] = &[
    opt("allowed_domains", Shape::StrList),
    opt("blocked_domains", Shape::StrList),
];

const AGENTS_FIELDS: &[Field] = &[opt(
    "unknown_tool",
    Shape::OptWord("unknown_tool", &["block", "require_approval"]),
)];

const IDENTITY_FIELDS: &[Field] = &[opt("accept_claimed_actor", Shape::Bool)];

const DEFAULT_FIELDS: &[Field] = &[
    req("decision", Shape::Word("decision", DECISION_WORDS)),
    opt("approver_group", Shape::OptStr),
];

const DEFAULT_SHAPE: Shape = Shape::Struct("defaults", DEFAULT_FIELDS);

const CONDITION_FIELDS: &[Field] = &[
    opt("environment", Shape::StrList),
    opt("branch", Shape::StrList),
    opt("repository", Shape::StrList),
    opt("agent", Shape::StrList),
    opt("actor", Shape::StrList),
    opt("tenant", Shape::StrList),
];

const RULE_FIELDS: &[Field] = &[
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

const RULE_SHAPE: Shape = Shape::Struct("rule", RULE_FIELDS);

const REDACTION_RULE_FIELDS: &[Field] = &[
    req("id", Shape::Str),
    opt("description", Shape::Str),
    req("regex", Shape::Str),
    opt("keywords", Shape::StrList),
    opt("min_entropy", Shape::OptNumber),
];

const REDACTION_RULE_SHAPE: Shape = Shape::Struct("redaction rule", REDACTION_RULE_FIELDS);

const REDACTION_FIELDS: &[Field] = &[
    opt("rules", Shape::List(&REDACTION_RULE_SHAPE)),
    opt("disable", Shape::StrList),
];

/// The keys of one test case.
pub(crate) const TEST_CASE_FIELDS: &[Field] = &[
    req("name", Shape::Str),
    req("request", Shape::Request),
    req("expect", Shape::WordOrList("decision", DECISION_WORDS)),
    opt("rule", Shape::OptStr),
];

/// One test case.
pub(crate) const TEST_CASE_SHAPE: Shape = Shape::Struct("test case", TEST_CASE_FIELDS);

const PACK_FIELDS: &[Field] = &[
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
fn suggestion(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A scalar's text, as it would be read into a string.
fn scalar_text(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Bool(b) => Some(b.to_string()),
        Node::Int(i) => Some(i.to_string()),
        Node::UInt(u) => Some(u.to_string()),
        Node::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn wrong_type(src: &Source, node: &SNode, path: &str, expected: &str) -> PolicyError {
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

fn check_word(
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

// ---------------------------------------------------------------------------------------------
// Semantic validation
// ---------------------------------------------------------------------------------------------

/// How a pattern is matched, which decides how it must compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternKind {
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
const RESERVED_RULE_PREFIXES: &[&str] = &[
    "filesystem.",
    "commands.",
    "git.",
    "mcp.",
    "network.",
    "defaults.",
    "pull_request.",
    "request.",
];

fn compile_glob(pattern: &str, kind: PatternKind) -> Result<(), globset::Error> {
    // The same builder settings as the compiler uses, so what validates here compiles there.
    globset::GlobBuilder::new(pattern)
        .literal_separator(kind == PatternKind::Path)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map(|_| ())
}

struct Validator<'a> {
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

// ---------------------------------------------------------------------------------------------
// References and loading
// ---------------------------------------------------------------------------------------------

/// What a pack reference names.
#[derive(Debug, Clone)]
enum Target {
    Builtin(&'static builtin::BuiltinPack),
    File(PathBuf),
}

fn builtin_ids() -> String {
    builtin::builtin_packs()
        .iter()
        .map(|p| p.id)
        .collect::<Vec<_>>()
        .join(", ")
}

fn looks_like_path(reference: &str) -> bool {
    reference.contains('/')
        || reference.contains('\\')
        || reference.ends_with(".yaml")
        || reference.ends_with(".yml")
        || reference.starts_with('.')
}

/// Resolves a reference: `builtin:<id>`, a path (it has a `/` or a `.yaml`/`.yml` ending) relative
/// to `base_dir`, or a built-in id. `base_dir` is `None` for built-in packs, which may only
/// name other built-ins.
fn resolve_reference(reference: &str, base_dir: Option<&Path>) -> Result<Target, PolicyError> {
    let reference = reference.trim();
    if let Some(id) = reference.strip_prefix("builtin:") {
        return builtin::find(id).map(Target::Builtin).ok_or_else(|| {
            PolicyError::new(
                PolicyErrorKind::NotFound,
                format!("no built-in pack `{id}`"),
            )
            .with_help(format!("built-in packs: {}", builtin_ids()))
        });
    }
    if !looks_like_path(reference)
        && let Some(pack) = builtin::find(reference)
    {
        return Ok(Target::Builtin(pack));
    }
    let Some(base) = base_dir else {
        return Err(PolicyError::new(
            PolicyErrorKind::NotFound,
            format!("`{reference}` is not a built-in pack, and built-in packs can only inherit built-in packs"),
        )
        .with_help(format!("built-in packs: {}", builtin_ids())));
    };
    let path = base.join(reference);
    if path.is_file() {
        return Ok(Target::File(path));
    }
    let mut e = PolicyError::new(
        PolicyErrorKind::NotFound,
        format!(
            "no policy pack `{reference}` (looked for {})",
            path.display()
        ),
    );
    e = if looks_like_path(reference) {
        e.with_help("paths are relative to the folder of the file that names them")
    } else {
        let ids: Vec<&str> = builtin::builtin_packs().iter().map(|p| p.id).collect();
        match closest(reference, ids.iter().copied()) {
            Some(c) => e.with_help(format!("did you mean the built-in pack `{c}`?")),
            None => e.with_help(format!("built-in packs: {}", builtin_ids())),
        }
    };
    Err(e)
}

/// Reads a policy file, bounded by [`MAX_POLICY_BYTES`].
pub(crate) fn read_policy_file(path: &Path) -> Result<String, PolicyError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            PolicyErrorKind::NotFound
        } else {
            PolicyErrorKind::Io
        };
        PolicyError::new(kind, format!("{shown}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_POLICY_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::new(
            PolicyErrorKind::Invalid,
            format!("{shown}: the file is larger than {MAX_POLICY_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        PolicyError::new(
            PolicyErrorKind::Invalid,
            format!(
                "{shown}: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The identity of a file for cycle detection: its canonical path.
fn file_key(path: &Path) -> Option<String> {
    std::fs::canonicalize(path)
        .ok()
        .map(|p| format!("file:{}", p.display()))
}

/// One parsed document of an inheritance graph.
struct LoadedDoc {
    /// Identity (`builtin:<id>` or `file:<canonical path>`).
    key: String,
    /// The name in `chain` (the file, `builtin:<id>`, or `<test file>#policy`).
    origin: String,
    /// The text errors point into (for an inline policy, the whole test file).
    src: Source,
    /// The document's root in `src` (for an inline policy, the `policy:` value).
    tree: SNode,
    doc: PackDocument,
    /// Where relative parents are looked up; `None` for built-ins.
    base_dir: Option<PathBuf>,
}

fn load_target(target: &Target) -> Result<LoadedDoc, PolicyError> {
    match target {
        Target::Builtin(pack) => {
            let src = Source::new(pack.yaml, &format!("builtin:{}", pack.id));
            let (doc, tree) = parse_pack_source(&src)?;
            Ok(LoadedDoc {
                key: format!("builtin:{}", pack.id),
                origin: src.origin.clone(),
                src,
                tree,
                doc,
                base_dir: None,
            })
        }
        Target::File(path) => {
            let text = read_policy_file(path)?;
            let src = Source::new(&text, &path.display().to_string());
            let (doc, tree) = parse_pack_source(&src)?;
            let key = file_key(path).unwrap_or_else(|| format!("file:{}", path.display()));
            let base_dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
            Ok(LoadedDoc {
                key,
                origin: src.origin.clone(),
                src,
                tree,
                doc,
                base_dir,
            })
        }
    }
}

/// Resolves an already parsed inline document (a test file's `policy:` mapping): `src` is the
/// test file (errors point into it), `tree` the document's root in it, `origin` its name.
pub(crate) fn resolve_inline(
    src: Source,
    tree: SNode,
    doc: PackDocument,
    origin: &str,
    base_dir: &Path,
) -> Result<ResolvedPack, PolicyError> {
    let key = format!("inline:{origin}");
    let loaded = LoadedDoc {
        key,
        origin: origin.to_string(),
        src,
        tree,
        doc,
        base_dir: Some(base_dir.to_path_buf()),
    };
    resolve_loaded(loaded)
}

/// Orders the graph parents first (each pack once), detecting cycles.
fn linearize(
    doc: LoadedDoc,
    stack: &mut Vec<(String, String)>,
    visited: &mut HashSet<String>,
    out: &mut Vec<LoadedDoc>,
) -> Result<(), PolicyError> {
    stack.push((doc.key.clone(), doc.origin.clone()));
    for (i, reference) in doc.doc.metadata.inherits.iter().enumerate() {
        let entry = &locate(
            &doc.tree,
            &[Seg::Key("metadata"), Seg::Key("inherits"), Seg::Idx(i)],
        )
        .referenced;
        let place = |e: PolicyError| {
            let mut located = doc.src.error_at(e.kind, e.message.clone(), entry);
            located.help = e.help.clone();
            located
        };
        let target = resolve_reference(reference, doc.base_dir.as_deref()).map_err(place)?;
        let key = match &target {
            Target::Builtin(p) => format!("builtin:{}", p.id),
            Target::File(path) => {
                file_key(path).unwrap_or_else(|| format!("file:{}", path.display()))
            }
        };
        if let Some(pos) = stack.iter().position(|(k, _)| *k == key) {
            let mut names: Vec<&str> = stack[pos..].iter().map(|(_, o)| o.as_str()).collect();
            names.push(stack[pos].1.as_str());
            return Err(doc
                .src
                .error_at(
                    PolicyErrorKind::InheritanceCycle,
                    format!("inheritance cycle: {}", names.join(" -> ")),
                    entry,
                )
                .with_help("a pack cannot inherit, directly or through its parents, from itself"));
        }
        if visited.contains(&key) {
            continue;
        }
        if stack.len() >= MAX_INHERITANCE_DEPTH {
            return Err(doc.src.error_at(
                PolicyErrorKind::Invalid,
                format!("inheritance is deeper than {MAX_INHERITANCE_DEPTH} packs"),
                entry,
            ));
        }
        if visited.len() + stack.len() >= MAX_PACKS_IN_CHAIN {
            return Err(doc.src.error_at(
                PolicyErrorKind::Invalid,
                format!("inheritance names more than {MAX_PACKS_IN_CHAIN} packs"),
                entry,
            ));
        }
        let parent = load_target(&target)?;
        linearize(parent, stack, visited, out)?;
    }
    stack.pop();
    visited.insert(doc.key.clone());
    out.push(doc);
    Ok(())
}

fn resolve_loaded(top: LoadedDoc) -> Result<ResolvedPack, PolicyError> {
    let origin = top.origin.clone();
    let source_text = top.src.text.clone();
    let mut ordered = Vec::new();
    linearize(top, &mut Vec::new(), &mut HashSet::new(), &mut ordered)?;

    let mut merged: Option<PackDocument> = None;
    // Where each rule id was first defined, to reject a redefinition further down the chain.
    let mut rule_origin: HashMap<String, String> = HashMap::new();
    for loaded in &ordered {
        for (i, rule) in loaded.doc.rules.iter().enumerate() {
            if let Some(first) = rule_origin.get(&rule.id) {
                return Err(loaded
                    .src
                    .error_at(
                        PolicyErrorKind::Invalid,
                        format!("rule `{}` is already defined by {first}", rule.id),
                        &locate(&loaded.tree, &[Seg::Key("rules"), Seg::Idx(i), Seg::Key("id")]).referenced,
                    )
                    .with_help("an inheriting pack cannot replace a parent's rule (a parent's block must stand); give the rule a new id"));
            }
            rule_origin.insert(rule.id.clone(), loaded.origin.clone());
        }
        merged = Some(match merged {
            None => loaded.doc.clone(),
            Some(parent) => merge(parent, &loaded.doc),
        });
    }
    let document =
        merged.ok_or_else(|| PolicyError::new(PolicyErrorKind::Invalid, "nothing to resolve"))?;
    let digest = digest(&document)?;
    Ok(ResolvedPack {
        document,
        origin,
        chain: ordered.iter().map(|d| d.origin.clone()).collect(),
        digest,
        source_text,
    })
}

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

/// Appends what `child` adds to `list`, keeping order and dropping repeats.
fn concat(list: &mut Vec<String>, child: &[String]) {
    let mut seen: HashSet<String> = list.iter().cloned().collect();
    for item in child {
        if seen.insert(item.clone()) {
            list.push(item.clone());
        }
    }
}

/// Merges a child over its (already merged) parents: lists concatenate, blocking booleans OR,
/// defaults only tighten, metadata comes from the child, rules concatenate, tests are the child's,
/// redaction rules concatenate (a child's rule replaces its parent's of the same id) and
/// disabled built-in redaction rules add up.
pub fn merge(parent: PackDocument, child: &PackDocument) -> PackDocument {
    let mut m = parent;

    let meta = &child.metadata;
    m.metadata.id = meta.id.clone();
    m.metadata.title = meta.title.clone();
    m.metadata.description = meta.description.clone();
    m.metadata.version = meta.version.clone();
    m.metadata.inherits = meta.inherits.clone();
    m.metadata.mode = meta.mode.or(m.metadata.mode);
    m.metadata.require_signature |= meta.require_signature;

    let (f, c) = (&mut m.filesystem, &child.filesystem);
    concat(&mut f.block_read, &c.block_read);
    concat(&mut f.require_approval_read, &c.require_approval_read);
    concat(&mut f.warn_read, &c.warn_read);
    concat(&mut f.allow_read, &c.allow_read);
    concat(&mut f.block_write, &c.block_write);
    concat(&mut f.require_approval_write, &c.require_approval_write);
    concat(&mut f.warn_write, &c.warn_write);
    concat(&mut f.allow_write, &c.allow_write);

    let (k, c) = (&mut m.commands, &child.commands);
    concat(&mut k.allow, &c.allow);
    concat(&mut k.block, &c.block);
    concat(&mut k.require_approval, &c.require_approval);
    concat(&mut k.warn, &c.warn);
    concat(&mut k.block_classes, &c.block_classes);
    concat(&mut k.require_approval_classes, &c.require_approval_classes);
    concat(&mut k.warn_classes, &c.warn_classes);

    let (g, c) = (&mut m.git, &child.git);
    concat(&mut g.block_push_branches, &c.block_push_branches);
    g.block_force_push |= c.block_force_push;
    g.require_pull_request |= c.require_pull_request;
    g.require_ai_attestation |= c.require_ai_attestation;

    let (p, c) = (&mut m.mcp, &child.mcp);
    p.block_unknown_servers |= c.block_unknown_servers;
    concat(&mut p.allowed_servers, &c.allowed_servers);
    concat(&mut p.blocked_servers, &c.blocked_servers);
    // The stricter wins: a child cannot turn a parent's `block` into `warn`.
    p.on_tool_change = match (p.on_tool_change.take(), c.on_tool_change.clone()) {
        (Some(a), Some(b)) if a == "block" || b == "block" => Some("block".into()),
        (a, b) => b.or(a),
    };

    concat(
        &mut m.network.allowed_domains,
        &child.network.allowed_domains,
    );
    concat(
        &mut m.network.blocked_domains,
        &child.network.blocked_domains,
    );

    // Knowledge only adds what programs do: a child's entries apply beside its parents'.
    m.knowledge
        .programs
        .extend(child.knowledge.programs.iter().cloned());
    m.knowledge
        .environment
        .extend(child.knowledge.environment.iter().cloned());

    // The stricter wins: a child cannot turn a parent's `block` into `require_approval`.
    m.agents.unknown_tool = match (m.agents.unknown_tool.take(), child.agents.unknown_tool) {
        (Some(a), Some(b)) => Some(if a.strictness() >= b.strictness() {
            a
        } else {
            b
        }),
        (a, b) => b.or(a),
    };

    // An inheriting pack that says whether it accepts claimed actors decides for itself;
    // one that says nothing keeps its parent's choice.
    if child.identity.accept_claimed_actor.is_some() {
        m.identity.accept_claimed_actor = child.identity.accept_claimed_actor;
    }

    for (action, d) in &child.defaults {
        match m.defaults.get_mut(action) {
            None => {
                m.defaults.insert(*action, d.clone());
            }
            Some(existing) => {
                let (new, old) = (d.decision.strictness(), existing.decision.strictness());
                if new > old {
                    *existing = d.clone();
                } else if new == old {
                    // Same decision: the child may name its own approvers.
                    if d.approver_group.is_some() {
                        existing.approver_group = d.approver_group.clone();
                    }
                }
                // A looser child default is ignored: the parent's stands.
            }
        }
    }

    m.rules.extend(child.rules.iter().cloned());
    m.tests = child.tests.clone();

    // Redaction rules: a child's rule replaces the parent's of the same id (in place), others
    // are appended; disabled built-ins add up.
    for rule in &child.redaction.rules {
        match m.redaction.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(existing) => *existing = rule.clone(),
            None => m.redaction.rules.push(rule.clone()),
        }
    }
    concat(&mut m.redaction.disable, &child.redaction.disable);
    m
}

// ---------------------------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------------------------

/// Writes `value` as canonical JSON: object keys sorted, no whitespace.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The canonical JSON of a merged document: the exact text whose SHA-256 is its [`digest`].
/// Evidence bundles carry packs in this form, so anyone can recompute the digest.
pub fn canonical_document(document: &PackDocument) -> Result<String, PolicyError> {
    let value = serde_json::to_value(document).map_err(|e| {
        PolicyError::new(
            PolicyErrorKind::Invalid,
            format!("cannot serialize the pack: {e}"),
        )
    })?;
    let mut text = String::new();
    canonical_json(&value, &mut text);
    Ok(text)
}

/// `sha256:<hex>` over the canonical JSON of a document.
pub fn digest(document: &PackDocument) -> Result<String, PolicyError> {
    let text = canonical_document(document)?;
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(text.as_bytes()))
    ))
}

#[cfg(test)]
mod word_tables {
    use super::*;

    #[test]
    fn word_tables_match_the_model() {
        let names = |all: &[&'static str]| all.to_vec();
        assert_eq!(
            names(ACTION_WORDS),
            ActionType::ALL
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            names(DECISION_WORDS),
            Decision::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(
            names(MODE_WORDS),
            Mode::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(
            names(SEVERITY_WORDS),
            Severity::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>()
        );
    }
}
