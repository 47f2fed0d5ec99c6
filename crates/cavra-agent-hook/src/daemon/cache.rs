//! The compiled policies the hook server keeps between calls.

use crate::answer::LoadedPack;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Compiled policies the server keeps, each with the content hash of every source it was
/// made from; an entry is used only while every source still hashes the same.
#[derive(Default)]
pub struct PolicyCache {
    entries: HashMap<PolicyKey, CachedPolicy>,
}

/// A policy reference and the folder it is resolved from.
type PolicyKey = (String, PathBuf);
/// Each source's origin and SHA-256, and the pack compiled from them.
type CachedPolicy = (Vec<(String, [u8; 32])>, Arc<LoadedPack>);

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

/// The text of one source in a chain: a built-in pack or a file (as the pack cache reads it).
fn source_text(origin: &str) -> Option<Vec<u8>> {
    match origin.strip_prefix("builtin:") {
        Some(id) => cavra_policy::builtin::find(id).map(|p| p.yaml.as_bytes().to_vec()),
        None => std::fs::read(origin).ok(),
    }
}

impl PolicyCache {
    /// The compiled pack for a reference, if every source is unchanged since it was made.
    pub fn get(&mut self, reference: &str, base: &Path) -> Option<Arc<LoadedPack>> {
        let key = (reference.to_string(), base.to_path_buf());
        let (stamps, loaded) = self.entries.get(&key)?;
        let fresh = stamps
            .iter()
            .all(|(origin, hash)| source_text(origin).is_some_and(|t| &sha256(&t) == hash));
        if fresh {
            Some(loaded.clone())
        } else {
            self.entries.remove(&key);
            None
        }
    }

    /// Keeps a compiled pack, unless a source changed while it was loaded (the top pack's
    /// stamp must be of the very text that was compiled).
    pub fn put(&mut self, reference: &str, base: &Path, loaded: Arc<LoadedPack>) {
        let resolved = &loaded.resolved;
        let Some(stamps) = resolved
            .chain
            .iter()
            .map(|o| source_text(o).map(|t| (o.clone(), sha256(&t))))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let top = sha256(resolved.source_text.as_bytes());
        if !stamps
            .iter()
            .any(|(o, h)| o == &resolved.origin && h == &top)
        {
            return;
        }
        // A handful of references at most in practice; a bound keeps a mistake small.
        if self.entries.len() >= 16 {
            self.entries.clear();
        }
        self.entries.insert(
            (reference.to_string(), base.to_path_buf()),
            (stamps, loaded),
        );
    }
}
