//! Policy test files. (Contract; implementation in progress.)

use crate::document::{PackDocument, TestCase};
use crate::error::PolicyError;
use crate::load::ResolvedPack;
use std::path::Path;

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
}

/// Parses a test file; a pack document with embedded `tests:` is accepted too.
pub fn parse_test_file(text: &str, origin: &str) -> Result<TestFile, PolicyError> {
    todo!("{text}{origin}")
}

impl TestFile {
    /// Loads the policy under test (paths relative to `base_dir`, the test file's folder).
    pub fn resolve_policy(&self, base_dir: &Path) -> Result<ResolvedPack, PolicyError> {
        todo!("{base_dir:?}")
    }
}
