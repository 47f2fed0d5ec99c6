//! Sources and locations, and the located YAML tree: every value and key of a pack carries
//! the place it was written, for errors that name file, line and column.

use super::*;

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
    pub(crate) fn error_at_start(
        &self,
        kind: PolicyErrorKind,
        message: impl Into<String>,
    ) -> PolicyError {
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

pub(crate) struct NodeVisitor;

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
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "nothing (null)",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    pub(crate) fn is_scalar(&self) -> bool {
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
pub(crate) fn saphyr_message(e: &serde_saphyr::Error) -> String {
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
