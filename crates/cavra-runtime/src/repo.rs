//! What the entry points read from the repository and the file system around a request: the
//! branch checked out, the home folder, symlinks resolved by asking the file system, and files
//! written whole or not at all.

use cavra_engine::{PATCH_READ_LIMIT, PatchText, PathResolver};
use std::path::{Path, PathBuf};

/// The branch checked out in the repository at `root` (`.git/HEAD` naming `refs/heads/…`),
/// when there is one: a plain `git push` or a push of `HEAD` pushes it.
pub fn current_branch(root: &Path) -> Option<String> {
    let dot_git = root.join(".git");
    // In a worktree or submodule `.git` is a file pointing at the real folder.
    let git_dir = if dot_git.is_file() {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let dir = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if dir.is_absolute() {
            dir
        } else {
            root.join(dir)
        }
    } else {
        dot_git
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let branch = head
        .trim()
        .strip_prefix("ref:")?
        .trim()
        .strip_prefix("refs/heads/")?;
    (!branch.is_empty()).then(|| branch.to_string())
}

/// The home folder of this process, when known (an absolute `HOME`).
pub fn home_dir() -> Option<String> {
    std::env::var("HOME").ok().filter(|h| h.starts_with('/'))
}

/// Who acts when a person runs a command that records their name (approving, registering an
/// MCP server): `explicit`, else `CAVRA_ACTOR`, else the login name (`USER`, `LOGNAME`), as
/// `var` reads them; trimmed, and none when all are empty.
pub fn actor(explicit: Option<&str>, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    explicit
        .map(str::to_string)
        .or_else(|| var("CAVRA_ACTOR"))
        .or_else(|| var("USER"))
        .or_else(|| var("LOGNAME"))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
}

/// The environment variable `name` of this process, for [`actor`].
pub fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The longest JSON request accepted from a file or stdin.
pub const MAX_REQUEST_BYTES: u64 = 4 * 1024 * 1024;

/// Why a request file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestFileError {
    /// The file (or stdin) could not be read.
    #[error("cannot read the request from {source_name}: {error}")]
    Read {
        /// The file, or `-`.
        source_name: String,
        /// Why.
        error: std::io::Error,
    },
    /// Longer than [`MAX_REQUEST_BYTES`].
    #[error("the request in {0} is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge(String),
    /// Not a request.
    #[error("invalid request JSON in {source_name}: {error}")]
    Invalid {
        /// The file, or `-`.
        source_name: String,
        /// What the parser said.
        error: serde_json::Error,
    },
}

/// Reads a request as JSON from `path`, or from stdin when it is `-`, refusing more than
/// [`MAX_REQUEST_BYTES`].
pub fn read_request(path: &Path) -> Result<cavra_engine::Request, RequestFileError> {
    use std::io::Read;
    let mut text = String::new();
    let source_name = path.display().to_string();
    let read = if source_name == "-" {
        std::io::stdin()
            .take(MAX_REQUEST_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_REQUEST_BYTES + 1).read_to_string(&mut text))
    };
    if let Err(error) = read {
        return Err(RequestFileError::Read { source_name, error });
    }
    if text.len() as u64 > MAX_REQUEST_BYTES {
        return Err(RequestFileError::TooLarge(source_name));
    }
    serde_json::from_str(&text).map_err(|error| RequestFileError::Invalid { source_name, error })
}

/// Fills what a request built on this machine leaves open: its folder (`cwd_arg`, made
/// absolute against `cwd`, else `cwd`), its repository root (`repo_root_arg`, else
/// `find_root` from its folder), the branch checked out there and the home folder. What the
/// request already names is kept, except where an argument overrides it.
pub fn complete_request(
    request: &mut cavra_engine::Request,
    cwd: &Path,
    cwd_arg: Option<&Path>,
    repo_root_arg: Option<&Path>,
    find_root: impl FnOnce(&Path) -> PathBuf,
) {
    let absolute = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    if let Some(cwd_arg) = cwd_arg {
        request.cwd = Some(absolute(cwd_arg).to_string_lossy().into_owned());
    } else if request.cwd.is_none() {
        request.cwd = Some(cwd.to_string_lossy().into_owned());
    }
    if let Some(root) = repo_root_arg {
        request.repo_root = Some(absolute(root).to_string_lossy().into_owned());
    } else if request.repo_root.is_none() {
        let start = request
            .cwd
            .as_deref()
            .map(PathBuf::from)
            .unwrap_or_else(|| cwd.to_path_buf());
        request.repo_root = Some(find_root(&start).to_string_lossy().into_owned());
    }
    if request.branch.is_none()
        && let Some(root) = request.repo_root.as_deref()
    {
        request.branch = current_branch(Path::new(root));
    }
    if request.home.is_none() {
        request.home = home_dir();
    }
}

/// Resolves symlinks by asking the file system. Paths that do not exist resolve to nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsResolver;

impl PathResolver for FsResolver {
    fn resolve(&self, absolute: &str) -> Option<String> {
        // Only paths with a symlink along them differ from their canonical form; the existing
        // prefix is resolved so a link to a folder is seen even when the file itself is new.
        let path = Path::new(absolute);
        let mut existing = path;
        let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
        while !existing.exists() {
            rest.push(existing.file_name()?);
            existing = existing.parent()?;
        }
        let mut canonical = std::fs::canonicalize(existing).ok()?;
        for part in rest.iter().rev() {
            canonical.push(part);
        }
        let canonical = canonical.to_string_lossy().into_owned();
        (canonical != absolute).then_some(canonical)
    }

    fn patch_text(&self, absolute: &str) -> PatchText {
        use std::io::Read;
        // Looked at before it is opened: opening a FIFO would wait for a writer.
        match std::fs::metadata(absolute) {
            Ok(m) if !m.is_file() => return PatchText::Unreadable("it is not a file".into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return PatchText::Unreadable("there is no such file".into());
            }
            Err(e) => return PatchText::Unreadable(e.to_string()),
        }
        let file = match std::fs::File::open(absolute) {
            Ok(f) => f,
            Err(e) => return PatchText::Unreadable(e.to_string()),
        };
        // Bounded whatever the metadata said: a FIFO or a growing file reads no further.
        let mut bytes = Vec::new();
        if let Err(e) = file.take(PATCH_READ_LIMIT + 1).read_to_end(&mut bytes) {
            return PatchText::Unreadable(e.to_string());
        }
        if bytes.len() as u64 > PATCH_READ_LIMIT {
            return PatchText::Unreadable(format!(
                "it is larger than {} MiB",
                PATCH_READ_LIMIT / (1024 * 1024)
            ));
        }
        PatchText::Text(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it, synced, then
/// renamed over it (the folder is created when missing). A reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let named = |what: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", what.display()))
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| named(&tmp, e))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).map_err(|e| named(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_request_file_is_read_whole_and_refused_when_too_large_or_not_a_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("r.json");
        std::fs::write(&good, r#"{"action":"read_file","target":".env"}"#).expect("write");
        let request = read_request(&good).expect("reads");
        assert_eq!(request.target, ".env");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").expect("write");
        assert!(matches!(
            read_request(&bad),
            Err(RequestFileError::Invalid { .. })
        ));
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_REQUEST_BYTES as usize + 1]).expect("write");
        assert!(matches!(
            read_request(&big),
            Err(RequestFileError::TooLarge(_))
        ));
        let absent = dir.path().join("absent.json");
        let e = read_request(&absent).expect_err("absent");
        assert!(
            e.to_string().starts_with("cannot read the request from "),
            "{e}"
        );
    }

    #[test]
    fn the_actor_is_the_flag_then_cavra_actor_then_the_login_name_trimmed() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = env(&[
            ("CAVRA_ACTOR", "ci-bot"),
            ("USER", "ann"),
            ("LOGNAME", "bo"),
        ]);
        assert_eq!(actor(Some(" eve "), all).as_deref(), Some("eve"));
        assert_eq!(actor(None, all).as_deref(), Some("ci-bot"));
        assert_eq!(
            actor(None, env(&[("USER", "ann"), ("LOGNAME", "bo")])).as_deref(),
            Some("ann")
        );
        assert_eq!(
            actor(None, env(&[("LOGNAME", "bo")])).as_deref(),
            Some("bo")
        );
        assert_eq!(actor(None, env(&[("USER", "  ")])), None);
        assert_eq!(actor(None, env(&[])), None);
    }

    use super::*;

    #[test]
    fn the_branch_comes_from_head_and_a_worktree_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        assert_eq!(current_branch(root), None);
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/feature/x\n").expect("write");
        assert_eq!(current_branch(root).as_deref(), Some("feature/x"));
        // A detached HEAD names no branch.
        std::fs::write(root.join(".git/HEAD"), "0123456789abcdef\n").expect("write");
        assert_eq!(current_branch(root), None);
        // A worktree: `.git` is a file naming the real folder, relative to the root.
        let wt = root.join("wt");
        std::fs::create_dir_all(root.join("gitdir")).expect("mkdir");
        std::fs::write(root.join("gitdir/HEAD"), "ref: refs/heads/side\n").expect("write");
        std::fs::create_dir_all(&wt).expect("mkdir");
        std::fs::write(wt.join(".git"), "gitdir: ../gitdir\n").expect("write");
        assert_eq!(current_branch(&wt).as_deref(), Some("side"));
    }

    #[test]
    fn a_request_is_completed_from_its_folder_and_arguments_override() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
        let mut request = cavra_engine::Request::new(cavra_engine::ActionType::ReadFile, "x");
        complete_request(&mut request, root, Some(Path::new("sub")), None, |start| {
            assert_eq!(start, root.join("sub"));
            root.to_path_buf()
        });
        assert_eq!(
            request.cwd,
            Some(root.join("sub").to_string_lossy().into_owned())
        );
        assert_eq!(request.repo_root, Some(root.to_string_lossy().into_owned()));
        assert_eq!(request.branch.as_deref(), Some("main"));
        // A root given as an argument wins, and the root finder is not asked.
        let mut request = cavra_engine::Request::new(cavra_engine::ActionType::ReadFile, "x");
        request.branch = Some("kept".into());
        complete_request(
            &mut request,
            root,
            None,
            Some(Path::new("/elsewhere")),
            |_| unreachable!("a given root is not searched for"),
        );
        assert_eq!(request.cwd, Some(root.to_string_lossy().into_owned()));
        assert_eq!(request.repo_root.as_deref(), Some("/elsewhere"));
        assert_eq!(request.branch.as_deref(), Some("kept"));
    }

    #[test]
    fn a_symlinked_folder_resolves_even_for_a_new_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = std::fs::canonicalize(dir.path()).expect("canonical");
        std::fs::create_dir_all(real.join("target")).expect("mkdir");
        std::os::unix::fs::symlink(real.join("target"), real.join("link")).expect("symlink");
        let through = real.join("link/new.txt");
        assert_eq!(
            FsResolver.resolve(&through.to_string_lossy()),
            Some(real.join("target/new.txt").to_string_lossy().into_owned())
        );
        // A path with no link along it resolves to nothing (it is its own canonical form).
        assert_eq!(
            FsResolver.resolve(&real.join("target/x").to_string_lossy()),
            None
        );
    }

    #[test]
    fn an_atomic_write_replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/file.json");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file.json")]);
    }
}
