//! A trust root file on disk: read, written whole or not at all, and changed one key at a time
//! (`cavra trust add | revoke | retire`), so every entry point reads and edits it the same way.

use crate::keyfiles::{self, KeyFileError};
use cavra_evidence::trust::{KeyRecord, TrustError, TrustRoot};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Why a trust root file could not be read, changed or written.
#[derive(Debug, thiserror::Error)]
pub enum TrustFileError {
    /// The file could not be read.
    #[error("reading the trust root {}: {error}", path.display())]
    Read {
        /// The trust root file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is not a trust root.
    #[error("{}: {error}", path.display())]
    Invalid {
        /// The trust root file.
        path: PathBuf,
        /// What is wrong with it.
        error: TrustError,
    },
    /// The file could not be written (the message names it).
    #[error("{0}")]
    Write(std::io::Error),
    /// A key file could not be read.
    #[error("{0}")]
    Key(#[from] KeyFileError),
    /// The change is not allowed (a duplicate id, no such key, a revoked key).
    #[error("{0}")]
    Change(TrustError),
    /// The key's validity would end before it starts.
    #[error("the key's validity would end before it starts")]
    EmptyWindow,
}

/// Reads the trust root at `path`.
pub fn read(path: &Path) -> Result<TrustRoot, TrustFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| TrustFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    TrustRoot::from_json(&text).map_err(|error| TrustFileError::Invalid {
        path: path.to_path_buf(),
        error,
    })
}

/// Writes `root` to `path` atomically (temporary file, fsync, rename).
pub fn write(path: &Path, root: &TrustRoot) -> Result<(), TrustFileError> {
    crate::repo::write_atomic(path, root.to_json().as_bytes()).map_err(TrustFileError::Write)
}

/// When a file was last written, in whole seconds (signature times are whole seconds).
fn written_at(path: &Path) -> Option<OffsetDateTime> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()
}

/// A key to add to a trust root.
#[derive(Debug)]
pub struct NewKey<'a> {
    /// Its id.
    pub key_id: &'a str,
    /// The public key file.
    pub public_key: &'a Path,
    /// Who holds the private half.
    pub owner: &'a str,
    /// Valid from (default: when the public key file was written, at the latest `now`, so
    /// what the key signed since it was made verifies).
    pub valid_from: Option<OffsetDateTime>,
    /// Valid until (default: open).
    pub valid_until: Option<OffsetDateTime>,
}

/// Adds `key` to the trust root at `path` (created when missing) and returns its record.
pub fn add_key(
    path: &Path,
    key: &NewKey<'_>,
    now: OffsetDateTime,
) -> Result<KeyRecord, TrustFileError> {
    let mut trust = if path.exists() {
        read(path)?
    } else {
        TrustRoot::default()
    };
    let public = keyfiles::read_public(key.public_key)?;
    let from = match key.valid_from {
        Some(t) => t,
        None => written_at(key.public_key).map_or(now, |t| t.min(now)),
    };
    if key.valid_until.is_some_and(|u| u <= from) {
        return Err(TrustFileError::EmptyWindow);
    }
    let record = KeyRecord::new(key.key_id, key.owner, &public, from, key.valid_until)
        .map_err(TrustFileError::Change)?;
    trust.add(record.clone()).map_err(TrustFileError::Change)?;
    write(path, &trust)?;
    Ok(record)
}

/// Revokes `key_id` in the trust root at `path`: nothing it signed verifies any more.
pub fn revoke_key(
    path: &Path,
    key_id: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<KeyRecord, TrustFileError> {
    let mut trust = read(path)?;
    let record = trust
        .revoke(key_id, reason, now)
        .map_err(TrustFileError::Change)?
        .clone();
    write(path, &trust)?;
    Ok(record)
}

/// Retires `key_id` in the trust root at `path` at `at`: what it signed before still verifies.
pub fn retire_key(
    path: &Path,
    key_id: &str,
    reason: &str,
    at: OffsetDateTime,
) -> Result<KeyRecord, TrustFileError> {
    let mut trust = read(path)?;
    let record = trust
        .retire(key_id, reason, at)
        .map_err(TrustFileError::Change)?
        .clone();
    write(path, &trust)?;
    Ok(record)
}

/// What `cavra trust list` prints of the trust root at `path`: a line a key with its status,
/// fingerprint, owner and validity.
pub fn list_text(trust: &TrustRoot, path: &Path) -> String {
    use std::fmt::Write as _;
    if trust.keys.is_empty() {
        return format!("no keys in {}\n", path.display());
    }
    // Writing to a String cannot fail.
    let mut out = String::new();
    for k in &trust.keys {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {}  owner {}  valid {} → {}{}",
            k.key_id,
            k.status.as_str(),
            k.fingerprint,
            k.owner,
            k.valid_from,
            k.valid_until.as_deref().unwrap_or("open"),
            k.status_reason
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_added_revoked_and_the_file_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let generated = keyfiles::generate(dir.path(), "ci").expect("key");
        let path = dir.path().join("trust.json");
        let now = OffsetDateTime::now_utc();
        let key = NewKey {
            key_id: "ci",
            public_key: &generated.public_key,
            owner: "ci team",
            valid_from: None,
            valid_until: Some(OffsetDateTime::UNIX_EPOCH),
        };
        assert!(matches!(
            add_key(&path, &key, now),
            Err(TrustFileError::EmptyWindow)
        ));
        assert!(!path.exists(), "a refused change writes nothing");
        let key = NewKey {
            valid_until: None,
            ..key
        };
        add_key(&path, &key, now).expect("added");
        assert!(matches!(
            add_key(&path, &key, now),
            Err(TrustFileError::Change(TrustError::Duplicate(_)))
        ));
        revoke_key(&path, "ci", "lost", now).expect("revoked");
        let trust = read(&path).expect("read back");
        assert_eq!(trust.keys.len(), 1);
        let listed = list_text(&trust, &path);
        assert!(
            listed.starts_with(&format!("{:<20} {:<8} sha256:", "ci", "revoked")),
            "{listed}"
        );
        assert!(listed.ends_with("→ open  (lost)\n"), "{listed}");
        assert_eq!(
            list_text(&TrustRoot::default(), &path),
            format!("no keys in {}\n", path.display())
        );
        assert!(matches!(
            retire_key(&path, "ci", "rotated", now),
            Err(TrustFileError::Change(TrustError::Revoked(_)))
        ));
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(read(&path), Err(TrustFileError::Invalid { .. })));
    }
}
