//! The analysis. (Contract; implementation in progress.)
use crate::{CommandAnalysis, Limits};

/// Analyses a command line with the default limits.
pub fn analyze(text: &str) -> CommandAnalysis {
    analyze_with(text, &Limits::default())
}

/// Analyses a command line with explicit limits.
pub fn analyze_with(text: &str, limits: &Limits) -> CommandAnalysis {
    todo!("{text}{limits:?}")
}

/// Brings a policy command pattern into the canonical form commands are matched in (trimmed,
/// runs of spaces collapsed, the first word's directory dropped), keeping glob characters.
pub fn canonicalize_pattern(pattern: &str) -> String {
    todo!("{pattern}")
}
