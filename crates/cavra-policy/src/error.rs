//! Policy errors that say where: file, line and column, and what was probably meant.

use std::fmt;
use std::sync::Arc;

/// A place in a policy source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file path (or `builtin:<id>`, or `<inline>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Byte offset into the source text, when known (for rich diagnostics).
    pub offset: Option<usize>,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What kind of problem a [`PolicyError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// The file could not be read.
    Io,
    /// The YAML is malformed.
    Syntax,
    /// A key is not part of the schema.
    UnknownKey,
    /// A value has the wrong type or is not an accepted word.
    InvalidValue,
    /// A glob does not compile.
    BadPattern,
    /// `metadata.inherits` forms a cycle.
    InheritanceCycle,
    /// A referenced pack (path or built-in id) does not exist.
    NotFound,
    /// Anything else that makes the pack unusable (duplicate rule ids, …).
    Invalid,
}

/// A policy that cannot be used, with the place and a suggestion where one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// What kind of problem.
    pub kind: PolicyErrorKind,
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub location: Option<SourceLocation>,
    /// A suggestion (`did you mean `block_read`?`).
    pub help: Option<String>,
    /// The source text the location points into, for rich diagnostics.
    pub source_text: Option<Arc<str>>,
}

impl PolicyError {
    /// An error with no location.
    pub fn new(kind: PolicyErrorKind, message: impl Into<String>) -> Self {
        PolicyError {
            kind,
            message: message.into(),
            location: None,
            help: None,
            source_text: None,
        }
    }

    /// Adds a location.
    pub fn at(mut self, location: SourceLocation) -> Self {
        self.location = Some(location);
        self
    }

    /// Adds the source text the location points into.
    pub fn with_source(mut self, text: Arc<str>) -> Self {
        self.source_text = Some(text);
        self
    }

    /// Adds a suggestion.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
