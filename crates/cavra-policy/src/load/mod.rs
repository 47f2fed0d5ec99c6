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

mod merge;
mod schema;
mod tree;
mod validate;

pub use merge::merge;
pub(crate) use schema::*;
pub(crate) use tree::*;
pub use validate::GIT_OPERATIONS;
pub(crate) use validate::*;

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
