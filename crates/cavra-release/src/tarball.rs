//! Deterministic tar archives: entries sorted by name, one fixed modification time, owner and
//! group 0 with no names, modes 0644 or 0755 only, no extended attributes — so the same files
//! make the same bytes on any machine. Reading accepts regular files under safe relative names
//! only (no `..`, no absolute paths, no links, no duplicates), so an archive can never write
//! outside the folder it is unpacked into.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use crate::{ReleaseError, verify_failed};

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Whether it is executable (mode 0755, else 0644).
    pub executable: bool,
}

/// Files by relative name; the map's order is the archive's order.
pub type Files = BTreeMap<String, Entry>;

/// Whether `name` is a relative path of plain components.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
}

/// The tar bytes of `files`, every entry dated `mtime` (seconds since the epoch).
pub fn write_tar(files: &Files, mtime: u64) -> Result<Vec<u8>, ReleaseError> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, entry) in files {
        if !safe_name(name) {
            return Err(ReleaseError::Input(format!(
                "{name:?} is not a safe archive name"
            )));
        }
        let mut header = tar::Header::new_ustar();
        header.set_size(entry.bytes.len() as u64);
        header.set_mode(if entry.executable { 0o755 } else { 0o644 });
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, entry.bytes.as_slice())
            .map_err(|e| ReleaseError::Input(format!("archiving {name}: {e}")))?;
    }
    builder
        .into_inner()
        .map_err(|e| ReleaseError::Input(format!("finishing the archive: {e}")))
}

/// `bytes` compressed with gzip, with no file name and a zero time in the header.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ReleaseError> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map_err(|e| ReleaseError::Input(format!("compressing: {e}")))
}

/// Whether `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The files of a tar (or gzip-compressed tar) archive. Fails, naming the entry, on anything
/// but regular files under safe names, and on a name that appears twice.
pub fn read_tar(bytes: &[u8]) -> Result<Files, ReleaseError> {
    let plain;
    let tar_bytes: &[u8] = if is_gzip(bytes) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| verify_failed(format!("the archive does not decompress: {e}")))?;
        plain = out;
        &plain
    } else {
        bytes
    };
    let mut archive = tar::Archive::new(tar_bytes);
    let mut files = Files::new();
    let entries = archive
        .entries()
        .map_err(|e| verify_failed(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| verify_failed(format!("a damaged archive entry: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| verify_failed(format!("an unreadable entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(verify_failed(format!(
                "the archive entry {name:?} is not a regular file"
            )));
        }
        if !safe_name(&name) {
            return Err(verify_failed(format!(
                "the archive entry {name:?} is not a safe relative name"
            )));
        }
        let executable = entry
            .header()
            .mode()
            .map(|m| m & 0o111 != 0)
            .unwrap_or(false);
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| verify_failed(format!("reading archive entry {name}: {e}")))?;
        if files
            .insert(name.clone(), Entry { bytes, executable })
            .is_some()
        {
            return Err(verify_failed(format!("the archive holds {name:?} twice")));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        let mut f = Files::new();
        f.insert(
            "b/tool".into(),
            Entry {
                bytes: b"#!bin".to_vec(),
                executable: true,
            },
        );
        f.insert(
            "a.txt".into(),
            Entry {
                bytes: b"hello".to_vec(),
                executable: false,
            },
        );
        f
    }

    #[test]
    fn the_same_files_make_the_same_bytes_and_read_back() {
        let one = gzip(&write_tar(&files(), 1_700_000_000).unwrap()).unwrap();
        let two = gzip(&write_tar(&files(), 1_700_000_000).unwrap()).unwrap();
        assert_eq!(one, two);
        assert_eq!(read_tar(&one).unwrap(), files());
        let later = gzip(&write_tar(&files(), 1_700_000_001).unwrap()).unwrap();
        assert_ne!(one, later, "the time is part of the bytes");
    }

    #[test]
    fn unsafe_names_are_refused_both_ways() {
        for bad in ["../x", "/etc/passwd", "a/../b", "", "a//b"] {
            assert!(!safe_name(bad), "{bad}");
        }
        let mut f = files();
        f.insert(
            "../escape".into(),
            Entry {
                bytes: vec![],
                executable: false,
            },
        );
        assert!(write_tar(&f, 0).is_err());
        // A hand-made archive with a link is refused on reading.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "/etc/passwd").unwrap();
        let err = read_tar(&b.into_inner().unwrap()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
