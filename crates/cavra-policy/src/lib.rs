//! cavra policy packs.
//!
//! - [`model`]: the shared words (action types, decisions, modes, severities);
//! - [`document`]: the YAML schema, strict (unknown keys are errors);
//! - [`load`]: parsing with file/line/column errors, semantic validation, inheritance;
//! - [`builtin`]: the packs shipped inside the binary;
//! - [`testfile`]: policy test files (the conformance format);
//! - [`compile`]: the merged pack turned into matchers the engine queries;
//! - [`retained`]: packs as evidence keeps them (canonical JSON) made usable again, and rules
//!   shown as written.

// `PolicyError` carries its place and source text so that every caller can print a full
// diagnostic; it is only built on the cold path of a bad pack, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod builtin;
pub mod cache;
pub mod compile;
pub mod diff;
pub mod document;
pub mod error;
pub mod knowledge;
pub mod load;
pub mod model;
pub mod retained;
pub mod testfile;

pub use cache::load_pack_cached;
pub use compile::{CompiledPack, CompiledRule, compile};
pub use document::{AgentsSection, IdentitySection, PackDocument};
pub use error::{PolicyError, SourceLocation};
pub use knowledge::parse_knowledge;
pub use load::{ResolvedPack, canonical_document, load_pack, load_pack_str, parse_document};
pub use model::{ActionType, Decision, Mode, Severity};
