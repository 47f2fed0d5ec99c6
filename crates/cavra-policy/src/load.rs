//! Parsing, validation and inheritance. (Contract; implementation in progress.)

use crate::document::PackDocument;
use crate::error::PolicyError;
use std::path::Path;
use std::sync::Arc;

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
    todo!("{text}{origin}")
}

/// Loads a pack by reference: a built-in id (`cavra-baseline`, or `builtin:cavra-baseline`) or
/// a path (relative paths against `base_dir`), and resolves its inheritance.
pub fn load_pack(reference: &str, base_dir: &Path) -> Result<ResolvedPack, PolicyError> {
    todo!("{reference}{base_dir:?}")
}

/// Parses, validates and resolves a pack from text.
pub fn load_pack_str(text: &str, origin: &str, base_dir: &Path) -> Result<ResolvedPack, PolicyError> {
    todo!("{text}{origin}{base_dir:?}")
}
