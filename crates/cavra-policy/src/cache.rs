//! A cache of resolved packs for short-lived processes.
//!
//! Parsing and validating YAML is most of the cost of a cold `cavra evaluate` or hook call, and
//! the pack rarely changes between calls. The cache keeps the resolved (merged, validated)
//! document as JSON together with the SHA-256 of every source it was made from — each file and
//! built-in pack in the inheritance chain. An entry is used only when every source still hashes
//! the same, so any change to a pack or a parent invalidates it; a missing, unreadable or
//! corrupt entry is a miss, never an error.

use crate::builtin;
use crate::document::PackDocument;
use crate::error::PolicyError;
use crate::load::{ResolvedPack, load_pack};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bumped whenever the entry layout or the loader's meaning changes.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SourceStamp {
    origin: String,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    namespace: String,
    sources: Vec<SourceStamp>,
    document: PackDocument,
    origin: String,
    chain: Vec<String>,
    digest: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The text of one source in a chain: a built-in pack or a file.
fn source_text(origin: &str) -> Option<Arc<str>> {
    match origin.strip_prefix("builtin:") {
        Some(id) => builtin::find(id).map(|p| Arc::from(p.yaml)),
        None => std::fs::read_to_string(origin).ok().map(Arc::from),
    }
}

fn entry_path(cache_dir: &Path, namespace: &str, reference: &str, base_dir: &Path) -> PathBuf {
    let key = sha256_hex(
        format!("{FORMAT}\0{namespace}\0{}\0{reference}", base_dir.display()).as_bytes(),
    );
    cache_dir.join(format!("{}.json", &key[..32]))
}

fn read_entry(path: &Path, namespace: &str) -> Option<ResolvedPack> {
    let bytes = std::fs::read(path).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    if entry.format != FORMAT || entry.namespace != namespace || entry.sources.is_empty() {
        return None;
    }
    let mut top_text = None;
    for stamp in &entry.sources {
        let text = source_text(&stamp.origin)?;
        if sha256_hex(text.as_bytes()) != stamp.sha256 {
            return None;
        }
        if stamp.origin == entry.origin {
            top_text = Some(text);
        }
    }
    Some(ResolvedPack {
        document: entry.document,
        origin: entry.origin,
        chain: entry.chain,
        digest: entry.digest,
        source_text: top_text?,
    })
}

fn stamps(chain: &[String]) -> Option<Vec<SourceStamp>> {
    chain
        .iter()
        .map(|origin| {
            source_text(origin).map(|t| SourceStamp {
                origin: origin.clone(),
                sha256: sha256_hex(t.as_bytes()),
            })
        })
        .collect()
}

fn write_entry(path: &Path, entry: &Entry) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(
        &tmp,
        serde_json::to_vec(entry).map_err(std::io::Error::other)?,
    )?;
    // Rename is atomic: a concurrent reader sees the old entry or the new one, never half.
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// [`load_pack`], through a cache in `cache_dir`. `namespace` names the program build that
/// writes the entries (entries of another build are ignored), since the loader's meaning can
/// change between builds while the pack text stays the same.
pub fn load_pack_cached(
    reference: &str,
    base_dir: &Path,
    cache_dir: &Path,
    namespace: &str,
) -> Result<ResolvedPack, PolicyError> {
    let path = entry_path(cache_dir, namespace, reference, base_dir);
    if let Some(hit) = read_entry(&path, namespace) {
        return Ok(hit);
    }
    let resolved = load_pack(reference, base_dir)?;
    // The top pack's stamp must be of the very text the loader read: a pack edited while it
    // was being loaded is not cached, since the entry would pair one text's hash with another
    // text's document. (A parent edited in that instant can still slip through; its next edit
    // invalidates the entry again.)
    if let Some(sources) = stamps(&resolved.chain) {
        let top_is_what_was_read = sources
            .iter()
            .find(|s| s.origin == resolved.origin)
            .is_some_and(|s| s.sha256 == sha256_hex(resolved.source_text.as_bytes()));
        if top_is_what_was_read {
            let entry = Entry {
                format: FORMAT,
                namespace: namespace.to_string(),
                sources,
                document: resolved.document.clone(),
                origin: resolved.origin.clone(),
                chain: resolved.chain.clone(),
                digest: resolved.digest.clone(),
            };
            // A cache that cannot be written only costs speed.
            let _ = write_entry(&path, &entry);
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_after_a_miss_and_misses_after_any_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        let parent = dir.path().join("parent.yaml");
        let child = dir.path().join("child.yaml");
        std::fs::write(
            &parent,
            "metadata: {id: parent, version: '1'}\nfilesystem: {block_read: ['.env']}\n",
        )
        .expect("write");
        std::fs::write(
            &child,
            "metadata: {id: child, version: '1', inherits: [parent.yaml]}\n",
        )
        .expect("write");
        let child_ref = child.to_string_lossy().into_owned();

        let first = load_pack_cached(&child_ref, dir.path(), &cache, "t").expect("loads");
        assert_eq!(
            std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0),
            1,
            "an entry was written"
        );
        let second = load_pack_cached(&child_ref, dir.path(), &cache, "t").expect("loads");
        assert_eq!(first.digest, second.digest);
        assert_eq!(first.document, second.document);
        assert_eq!(first.chain, second.chain);

        // A parent's change invalidates the child's entry.
        std::fs::write(
            &parent,
            "metadata: {id: parent, version: '1'}\nfilesystem: {block_read: ['.env', '*.pem']}\n",
        )
        .expect("write");
        let third = load_pack_cached(&child_ref, dir.path(), &cache, "t").expect("loads");
        assert_ne!(third.digest, first.digest);
        assert_eq!(
            third.document.filesystem.block_read,
            vec![".env".to_string(), "*.pem".to_string()]
        );

        // A broken pack is an error even when an older entry exists.
        std::fs::write(&child, "metadata: {id: child, versoin: '1'}\n").expect("write");
        assert!(load_pack_cached(&child_ref, dir.path(), &cache, "t").is_err());
    }

    #[test]
    fn corrupt_entries_and_other_namespaces_are_misses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        let a = load_pack_cached("cavra-baseline", dir.path(), &cache, "one").expect("loads");
        for entry in std::fs::read_dir(&cache).expect("dir").flatten() {
            std::fs::write(entry.path(), b"{not json").expect("corrupt");
        }
        let b = load_pack_cached("cavra-baseline", dir.path(), &cache, "one").expect("loads");
        assert_eq!(a.digest, b.digest);
        let c = load_pack_cached("cavra-baseline", dir.path(), &cache, "two").expect("loads");
        assert_eq!(a.digest, c.digest);
    }
}
