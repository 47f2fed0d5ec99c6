//! What changed between two refs, and file contents at a ref, from the `git` command.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::CiError;

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New file.
    Added,
    /// Content or mode changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved (maybe also changed); `old_path` says from where.
    Renamed,
    /// Type changed (file ↔ symlink ↔ submodule).
    TypeChanged,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// How it changed.
    pub kind: ChangeKind,
    /// The path at head (for deletions: the removed path).
    pub path: String,
    /// For renames: the path at base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// Mode at base (`000000` when added).
    pub old_mode: String,
    /// Mode at head (`000000` when deleted).
    pub new_mode: String,
    /// Blob id at head (all zeros when deleted).
    pub new_blob: String,
}

impl Change {
    /// A submodule bump (gitlink, mode 160000).
    pub fn is_submodule(&self) -> bool {
        self.new_mode == "160000" || self.old_mode == "160000"
    }
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, CiError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| CiError::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(CiError::Git(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// The full commit id of a ref.
pub fn resolve(repo: &Path, reference: &str) -> Result<String, CiError> {
    let out = git(
        repo,
        &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
    )?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// The commits reachable from `to` but not from `from` (every commit reachable from `to` when
/// there is no `from`), newest first: the commits a release made at `to` adds.
pub fn commits(repo: &Path, from: Option<&str>, to: &str) -> Result<Vec<String>, CiError> {
    let to = resolve(repo, to)?;
    let range = match from {
        Some(f) => format!("{}..{to}", resolve(repo, f)?),
        None => to,
    };
    let out = git(repo, &["rev-list", &range])?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Every change from `base` to `head` (renames detected), parsed from `git diff --raw -z`.
pub fn changes(repo: &Path, base: &str, head: &str) -> Result<Vec<Change>, CiError> {
    let out = git(
        repo,
        &[
            "diff",
            "--raw",
            "-z",
            "-M",
            "--no-abbrev",
            "--no-ext-diff",
            base,
            head,
        ],
    )?;
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut changes = Vec::new();
    while let Some(meta) = fields.next() {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 {
            return Err(CiError::Git(format!("unexpected git diff line {meta:?}")));
        }
        let status = parts[4];
        let path_of = |f: Option<&[u8]>| -> Result<String, CiError> {
            f.map(|p| String::from_utf8_lossy(p).into_owned())
                .ok_or_else(|| CiError::Git("git diff ended early".into()))
        };
        let first = path_of(fields.next())?;
        let (kind, path, old_path) = match status.chars().next() {
            Some('A') => (ChangeKind::Added, first, None),
            Some('M') => (ChangeKind::Modified, first, None),
            Some('D') => (ChangeKind::Deleted, first, None),
            Some('T') => (ChangeKind::TypeChanged, first, None),
            Some('R') | Some('C') => {
                let second = path_of(fields.next())?;
                let kind = if status.starts_with('R') {
                    ChangeKind::Renamed
                } else {
                    ChangeKind::Added
                };
                (kind, second, Some(first))
            }
            _ => (ChangeKind::Modified, first, None),
        };
        changes.push(Change {
            kind,
            path,
            old_path,
            old_mode: parts[0].to_string(),
            new_mode: parts[1].to_string(),
            new_blob: parts[3].to_string(),
        });
    }
    Ok(changes)
}

/// A file's text at a ref, or None when the ref has no such file.
pub fn file_at(repo: &Path, reference: &str, path: &str) -> Result<Option<String>, CiError> {
    let spec = format!("{reference}:{path}");
    let exists = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "-e", &spec])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| CiError::Git(format!("cannot run git: {e}")))?;
    if !exists.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&git(repo, &["show", &spec])?).into_owned(),
    ))
}

/// `sha256:<hex>` of each blob's content, read through one `git cat-file --batch` process.
pub fn blob_digests(repo: &Path, blobs: &[String]) -> Result<Vec<String>, CiError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CiError::Git(format!("cannot run git cat-file: {e}")))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CiError::Git("git cat-file has no stdin".into()))?;
    let ids: Vec<String> = blobs.to_vec();
    // Written from another thread so that a large batch cannot deadlock on full pipes.
    let writer = std::thread::spawn(move || {
        for id in ids {
            if writeln!(stdin, "{id}").is_err() {
                break;
            }
        }
    });
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CiError::Git("git cat-file has no stdout".into()))?;
    let mut reader = BufReader::new(stdout);
    let mut out = Vec::with_capacity(blobs.len());
    for id in blobs {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| CiError::Git(format!("git cat-file: {e}")))?;
        let parts: Vec<&str> = header.split_whitespace().collect();
        if parts.len() != 3 {
            return Err(CiError::Git(format!("git cat-file: no object {id}")));
        }
        let size: u64 = parts[2]
            .parse()
            .map_err(|_| CiError::Git(format!("git cat-file: bad header {header:?}")))?;
        let mut h = Sha256::new();
        let copied = std::io::copy(&mut (&mut reader).take(size), &mut h)
            .map_err(|e| CiError::Git(format!("git cat-file: {e}")))?;
        if copied != size {
            return Err(CiError::Git(format!("git cat-file: {id} cut short")));
        }
        let mut newline = [0u8; 1];
        reader
            .read_exact(&mut newline)
            .map_err(|e| CiError::Git(format!("git cat-file: {e}")))?;
        out.push(format!("sha256:{}", hex::encode(h.finalize())));
    }
    let _ = writer.join();
    let _ = child.wait();
    Ok(out)
}

/// The author e-mail addresses of the commits in `base..head` that touched each path.
pub fn authors_by_path(
    repo: &Path,
    base: &str,
    head: &str,
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>, CiError> {
    let out = git(
        repo,
        &[
            "-c",
            "core.quotepath=off",
            "log",
            "--no-renames",
            "--format=%x00%ae",
            "--name-only",
            &format!("{base}..{head}"),
        ],
    )?;
    let text = String::from_utf8_lossy(&out);
    let mut map: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut author = String::new();
    for line in text.lines() {
        if let Some(a) = line.strip_prefix('\0') {
            author = a.trim().to_ascii_lowercase();
        } else if !line.trim().is_empty() {
            map.entry(line.to_string())
                .or_default()
                .insert(author.clone());
        }
    }
    Ok(map)
}

/// The `Cavra-Session` trailers of each commit in `base..head`: (commit, sessions).
pub fn session_trailers(
    repo: &Path,
    base: &str,
    head: &str,
) -> Result<Vec<(String, Vec<String>)>, CiError> {
    let out = git(
        repo,
        &[
            "log",
            "--format=%H%x00%(trailers:key=Cavra-Session,valueonly,separator=%x01)%x00",
            &format!("{base}..{head}"),
        ],
    )?;
    let text = String::from_utf8_lossy(&out);
    let mut commits = Vec::new();
    let mut fields = text.split('\0');
    while let (Some(commit), Some(sessions)) = (fields.next(), fields.next()) {
        let commit = commit.trim().to_string();
        if commit.is_empty() {
            continue;
        }
        let sessions: Vec<String> = sessions
            .split('\x01')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        commits.push((commit, sessions));
    }
    Ok(commits)
}
