//! The knowledge base of program semantics: which options, operands and inputs of a program
//! run a command or code, read or write files, or reach the network.
//!
//! The built-in entries are data (`crates/cavra-shell/knowledge/*.yaml`, one file per tool
//! family, each entry citing its source). The build script checks them and compiles them into
//! static tables, so a process never parses them: a lookup is a hash of the program name.
//! A pack adds entries of its own (its `knowledge:` section, same format) through
//! [`Knowledge::with_entries`]; both apply, so a pack can only add what programs do.
//!
//! What an entry derives goes through the same rules as its literal form: a command a program
//! will run is analysed as that command, a file it will read is a read of that file.

mod apply;
mod entry;
mod subcommands;

pub(crate) use apply::{apply, assignments, drop_version_selector, expand_abbreviations};
pub use entry::{
    Abbreviations, CLASS_NAMES, Effect, EnvironmentEntry, List, MAX_NAME, OptionEntry,
    ProgramEntry, Setting, Text,
};
pub(crate) use subcommands::{canonical_words, program_words_start};

use std::borrow::Cow;
use std::collections::HashMap;

mod builtin {
    use super::{Abbreviations, Effect, EnvironmentEntry, OptionEntry, ProgramEntry, Setting};
    use std::borrow::Cow;
    include!(concat!(env!("OUT_DIR"), "/knowledge.rs"));
}

/// The most entries a pack may add.
pub const MAX_PACK_ENTRIES: usize = 1024;

/// The built-in knowledge base plus a pack's own entries.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    /// The pack's entries.
    extra: Vec<ProgramEntry>,
    /// Program name (and alias) to indices into `extra`.
    index: HashMap<String, Vec<usize>>,
    /// The pack's environment entries.
    environment: Vec<EnvironmentEntry>,
}

impl Knowledge {
    /// The built-in knowledge base alone.
    pub fn builtin() -> &'static Knowledge {
        static EMPTY: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Knowledge::default)
    }

    /// The built-in knowledge base plus `entries` and `environment` (a pack's `knowledge:`
    /// section, checked by the policy loader).
    pub fn with_entries(
        entries: Vec<ProgramEntry>,
        environment: Vec<EnvironmentEntry>,
    ) -> Knowledge {
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for name in std::iter::once(&e.program).chain(e.aliases.iter()) {
                index.entry(name.to_string()).or_default().push(i);
            }
        }
        Knowledge {
            extra: entries,
            index,
            environment,
        }
    }

    /// The built-in environment entries, in file order.
    pub fn builtin_environment() -> &'static [EnvironmentEntry] {
        builtin::ENVIRONMENT
    }

    /// Every entry naming environment variable `name`: built-in first, then the pack's.
    pub fn environment_for<'k>(
        &'k self,
        name: &'k str,
    ) -> impl Iterator<Item = &'k EnvironmentEntry> {
        builtin::ENVIRONMENT
            .iter()
            .chain(self.environment.iter())
            .filter(move |e| e.names_variable(name))
    }

    /// The built-in entries, in file order.
    pub fn builtin_entries() -> &'static [ProgramEntry] {
        builtin::ENTRIES
    }

    /// The pack's own entries.
    pub fn pack_entries(&self) -> &[ProgramEntry] {
        &self.extra
    }

    /// Every entry for `program` (by base name): built-in first, then the pack's.
    pub fn entries_for<'k>(&'k self, program: &str) -> impl Iterator<Item = &'k ProgramEntry> {
        let builtin = builtin::indices(program)
            .iter()
            .filter_map(|&i| builtin::ENTRIES.get(i));
        // Most packs add nothing: no hashing then.
        let extra = (!self.index.is_empty())
            .then(|| self.index.get(program))
            .flatten()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.extra.get(i));
        builtin.chain(extra)
    }

    /// Whether the knowledge base says anything about `program`: an unknown program is one
    /// whose arguments cavra cannot tell from a command it runs.
    pub fn knows(&self, program: &str) -> bool {
        builtin::known(program)
            || (!self.index.is_empty()
                && self.index.get(program).is_some_and(|ix| {
                    ix.iter()
                        .any(|&i| self.extra.get(i).is_some_and(|e| !e.spelling_only()))
                }))
    }
}

impl EnvironmentEntry {
    /// How explain output names the entry: `GIT_SSH_COMMAND (knowledge/environment.yaml)`.
    pub fn describe(&self) -> String {
        let mut s = self
            .names
            .first()
            .map(|n| n.to_string())
            .unwrap_or_default();
        if !self.origin.is_empty() {
            s.push_str(" (");
            s.push_str(&self.origin);
            s.push(')');
        }
        s
    }

    /// Sets where the entry is written (the loader calls it).
    pub fn with_origin(mut self, origin: impl Into<Cow<'static, str>>) -> EnvironmentEntry {
        self.origin = origin.into();
        self
    }
}

impl ProgramEntry {
    /// How explain output names the entry: `git push (knowledge/git.yaml)`.
    pub fn describe(&self) -> String {
        let mut s = self.program.to_string();
        if let Some(first) = self.subcommands.first() {
            s.push(' ');
            s.push_str(first);
        }
        if !self.origin.is_empty() {
            s.push_str(" (");
            s.push_str(&self.origin);
            s.push(')');
        }
        s
    }

    /// Sets where the entry is written (the loader calls it).
    pub fn with_origin(mut self, origin: impl Into<Cow<'static, str>>) -> ProgramEntry {
        self.origin = origin.into();
        self
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_derived;
