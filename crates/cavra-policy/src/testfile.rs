//! Policy test files: a policy, optional request defaults, and cases with their expected
//! decisions (the format of `tests/data/conformance/*.yaml`). A pack document with embedded
//! `tests:` is a test file too: its own tests against itself.

use crate::document::{PackDocument, TestCase};
use crate::error::{PolicyError, PolicyErrorKind};
use crate::load::{
    self, Field, Node, ResolvedPack, SNode, Seg, Shape, Source, TEST_CASE_SHAPE, check_shape, opt,
    parse_tree, req, saphyr_error, validate_case, validate_document, yaml_options,
};
use serde::de::{self, Deserialize, Deserializer};
use std::path::Path;
use std::sync::Arc;

/// Which policy a test file runs against.
#[derive(Debug, Clone)]
pub enum PolicyRef {
    /// A path relative to the test file, or a built-in id.
    Reference(String),
    /// A pack written inline.
    Inline(Box<PackDocument>),
}

/// A parsed policy test file (or a pack's embedded `tests:`).
#[derive(Debug, Clone)]
pub struct TestFile {
    /// Where it came from.
    pub origin: String,
    /// The policy under test.
    pub policy: PolicyRef,
    /// Fields merged into every case's request (a case's own fields win).
    pub defaults: serde_json::Map<String, serde_json::Value>,
    /// The cases.
    pub cases: Vec<TestCase>,
    /// The file's text: errors found while resolving an inline policy point into it.
    pub source_text: Arc<str>,
}

const TEST_FILE_FIELDS: &[Field] = &[
    req("policy", Shape::PolicyRef),
    opt("defaults", Shape::Request),
    req("cases", Shape::List(&TEST_CASE_SHAPE)),
];

const TEST_FILE_SHAPE: Shape = Shape::Struct("test file", TEST_FILE_FIELDS);

/// The top-level keys that make a file a test file rather than a pack document.
fn is_test_file(tree: &SNode) -> bool {
    tree.value.get("policy").is_some() || tree.value.get("cases").is_some()
}

/// `policy:` as written: a reference or an inline pack. Deserialized by hand (not as an untagged
/// enum) so the inline pack is read by the YAML deserializer itself, with its typing rules.
struct RawPolicy(PolicyRef);

impl<'de> Deserialize<'de> for RawPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RawPolicy;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a pack reference or an inline pack")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPolicy, E> {
                Ok(RawPolicy(PolicyRef::Reference(v.trim().to_string())))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawPolicy, A::Error> {
                let doc = PackDocument::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawPolicy(PolicyRef::Inline(Box::new(doc))))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    policy: RawPolicy,
    #[serde(default)]
    defaults: serde_json::Map<String, serde_json::Value>,
    cases: Vec<TestCase>,
}

/// Parses a test file; a pack document with embedded `tests:` is accepted too.
pub fn parse_test_file(text: &str, origin: &str) -> Result<TestFile, PolicyError> {
    let src = Source::new(text, origin);
    let tree = parse_tree(&src)?;
    if !is_test_file(&tree) {
        // A pack document: its own tests against itself.
        let (doc, _) = load::parse_pack_source(&src)?;
        let cases = doc.tests.clone();
        return Ok(TestFile {
            origin: origin.to_string(),
            policy: PolicyRef::Inline(Box::new(doc)),
            defaults: serde_json::Map::new(),
            cases,
            source_text: src.text.clone(),
        });
    }

    check_shape(&src, &tree, &TEST_FILE_SHAPE, "")?;
    let raw: RawTestFile = serde_saphyr::from_str_with_options(&src.text, yaml_options())
        .map_err(|e| saphyr_error(&src, &e, PolicyErrorKind::InvalidValue))?;
    if let (PolicyRef::Inline(doc), Some(policy_tree)) = (&raw.policy.0, tree.value.get("policy")) {
        validate_document(&src, policy_tree, doc)?;
    }
    let default_action = raw.defaults.contains_key("action");
    for (i, case) in raw.cases.iter().enumerate() {
        validate_case(
            &src,
            &tree,
            &[Seg::Key("cases"), Seg::Idx(i)],
            &format!("cases[{i}]"),
            case,
            default_action,
        )?;
    }
    Ok(TestFile {
        origin: origin.to_string(),
        policy: raw.policy.0,
        defaults: raw.defaults,
        cases: raw.cases,
        source_text: src.text.clone(),
    })
}

impl TestFile {
    /// Loads the policy under test (paths relative to `base_dir`, the test file's folder).
    ///
    /// A reference is a built-in id (`cavra-baseline`, `builtin:cavra-baseline`) or, when it
    /// holds a `/` or ends in `.yaml`/`.yml`, a path. An inline policy is resolved with its
    /// inheritance; its origin is `<test file>#policy` (or the file itself for a pack document).
    pub fn resolve_policy(&self, base_dir: &Path) -> Result<ResolvedPack, PolicyError> {
        let src = Source {
            origin: self.origin.clone(),
            text: self.source_text.clone(),
        };
        // The file was validated when parsed; parsing it again only recovers the locations. A
        // TestFile built by hand (no text) gets no locations, and is validated below all the same.
        let tree = parse_tree(&src).ok();
        match &self.policy {
            PolicyRef::Reference(reference) => {
                load::load_pack(reference, base_dir).map_err(|mut e| {
                    if e.location.is_none()
                        && let Some(node) = tree.as_ref().and_then(|t| t.value.get("policy"))
                    {
                        let located = src.error_at(e.kind, e.message.clone(), &node.referenced);
                        e.location = located.location;
                        e.source_text = located.source_text;
                    }
                    e
                })
            }
            PolicyRef::Inline(doc) => {
                let unknown = || {
                    SNode::new(
                        Node::Null,
                        serde_saphyr::Location::UNKNOWN,
                        serde_saphyr::Location::UNKNOWN,
                    )
                };
                let (root, origin) = match tree {
                    Some(t) if is_test_file(&t) => {
                        let root = t.value.get("policy").cloned().unwrap_or_else(unknown);
                        (root, format!("{}#policy", self.origin))
                    }
                    Some(t) => (t, self.origin.clone()),
                    None => (unknown(), format!("{}#policy", self.origin)),
                };
                validate_document(&src, &root, doc)?;
                load::resolve_inline(src, root, (**doc).clone(), &origin, base_dir)
            }
        }
    }

    /// A case's request with the file's defaults merged in (the case's own fields win).
    pub fn request_for(&self, case: &TestCase) -> serde_json::Map<String, serde_json::Value> {
        let mut request = self.defaults.clone();
        for (k, v) in &case.request {
            request.insert(k.clone(), v.clone());
        }
        request
    }
}

/// Where a test case sits in its file (`None` when the file has no such case).
pub fn case_location(file: &TestFile, index: usize) -> Option<crate::error::SourceLocation> {
    let src = Source {
        origin: file.origin.clone(),
        text: file.source_text.clone(),
    };
    let tree = parse_tree(&src).ok()?;
    let list = if is_test_file(&tree) {
        "cases"
    } else {
        "tests"
    };
    let node = tree.value.get(list)?.value.index(index)?;
    src.location(&node.referenced)
}
