//! Path normalisation, without touching the file system.
//!
//! A path is matched in up to three forms: relative to the repository root, absolute, and
//! under `~`. `.` and `..` are resolved lexically; symlinks are resolved by the caller's
//! [`PathResolver`], since looking at the disk is I/O and the engine does none.

/// Resolves symlinks for the engine, and reads the patch files a command applies. The engine
/// never touches the disk itself; entry points that can (the CLI, hooks, the MCP proxy) pass a
/// resolver backed by the file system.
pub trait PathResolver {
    /// The fully resolved form of an absolute path, when it differs from the path itself
    /// (an existing symlink somewhere along it).
    fn resolve(&self, absolute: &str) -> Option<String>;

    /// The text of the patch file at `absolute`, which a command applies (`git apply x.patch`):
    /// what the patch names is what the command writes. A resolver without the disk (the API
    /// service decides for a machine it cannot see) leaves it [`PatchText::NotRead`], and the
    /// files are then judged as paths known only at run time.
    fn patch_text(&self, absolute: &str) -> PatchText {
        let _ = absolute;
        PatchText::NotRead
    }
}

/// The most of a patch file a resolver reads: a larger one is judged unread.
pub const PATCH_READ_LIMIT: u64 = 4 * 1024 * 1024;

/// What a resolver could learn of a patch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchText {
    /// This resolver does not read files.
    NotRead,
    /// It could not be read, for this reason (missing, too large, not a file).
    Unreadable(String),
    /// Its text (invalid UTF-8 replaced).
    Text(String),
}

/// A resolver that knows of no symlinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSymlinks;

impl PathResolver for NoSymlinks {
    fn resolve(&self, _absolute: &str) -> Option<String> {
        None
    }
}

/// One path in the forms rules are matched against.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NormalizedPath {
    /// Relative to the repository root; `None` when outside it (or when no root is known and
    /// the path is absolute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative: Option<String>,
    /// Absolute and normalised, when it can be known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absolute: Option<String>,
    /// `~/…`, when under the home folder (or written that way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
}

impl NormalizedPath {
    /// Whether the path lies outside the repository root.
    pub fn outside_repo(&self) -> bool {
        self.relative.is_none()
    }

    /// The most useful single form, for messages.
    pub fn display(&self) -> &str {
        self.relative
            .as_deref()
            .or(self.home.as_deref())
            .or(self.absolute.as_deref())
            .unwrap_or("")
    }
}

impl NormalizedPath {
    /// The repository-relative and `~/` forms this path has when the repository root and the
    /// home folder are compared with it ignoring letter case, each only where comparing them as
    /// written placed it outside: on macOS and Windows `/users/dev/repo/.env` is in the
    /// repository `/Users/dev/repo`. Lower-cased, since only rules that restrict are matched
    /// against them (a path placed so is not allowed by the repository's `allow` rules).
    pub fn placed_ignoring_case(
        &self,
        repo_root: Option<&str>,
        home: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        use cavra_policy::compile::{fold_case, has_cased_letters};
        // The usual path is placed already (in the repository, or under a home folder).
        let unplaced =
            |form: &Option<String>, folder: Option<&str>| form.is_none() && folder.is_some();
        if !unplaced(&self.relative, repo_root) && !unplaced(&self.home, home) {
            return (None, None);
        }
        let Some(abs) = self.absolute.as_deref() else {
            return (None, None);
        };
        let place = |placed: bool, folder: Option<&str>| {
            let folder = folder.filter(|f| !placed && f.starts_with('/'))?;
            // Without a capital on either side, the exact comparison was the only one.
            if !has_cased_letters(abs) && !has_cased_letters(folder) {
                return None;
            }
            let folder = lexical(folder);
            let (abs, folder) = (fold_case(abs), fold_case(&folder));
            strip_root(&abs, &folder).map(str::to_string)
        };
        let relative = place(self.relative.is_some(), repo_root);
        let home = place(self.home.is_some(), home).map(|rest| {
            if rest.is_empty() {
                "~".to_string()
            } else {
                format!("~/{rest}")
            }
        });
        (relative, home)
    }
}

/// Lexically normalises a path: collapses `//`, drops `.`, resolves `..` (never above `/` for an
/// absolute path). For a relative path, leading `..` that cannot be resolved are kept.
pub fn lexical(path: &str) -> String {
    // Most paths are normal already: copy them instead of splitting and joining.
    if is_normal(path) {
        return path.to_string();
    }
    resolve(path)
}

/// [`lexical`] without a copy when the path is normal already.
fn lexical_cow(path: &str) -> std::borrow::Cow<'_, str> {
    if is_normal(path) {
        std::borrow::Cow::Borrowed(path)
    } else {
        std::borrow::Cow::Owned(resolve(path))
    }
}

/// [`lexical`] of a path built for the purpose, reusing it when it is normal already.
fn lexical_owned(path: String) -> String {
    if is_normal(&path) {
        path
    } else {
        resolve(&path)
    }
}

/// No empty, `.` or `..` component (and not empty, and not just `/`).
fn is_normal(path: &str) -> bool {
    let body = path.strip_prefix('/').unwrap_or(path);
    // One pass over the bytes (every path of every decision comes here): no empty, `.` or
    // `..` component.
    !body.is_empty()
        && body
            .as_bytes()
            .split(|&b| b == b'/')
            .all(|p| !matches!(p, b"" | b"." | b".."))
}

/// The component-wise resolution behind [`lexical`].
fn resolve(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// The part of `absolute` below `root`, if any (`""` for the root itself).
fn strip_root<'a>(absolute: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return absolute.strip_prefix('/');
    }
    let rest = absolute.strip_prefix(root)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// The context paths are normalised in.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathContext<'a> {
    /// Absolute repository root.
    pub repo_root: Option<&'a str>,
    /// Absolute working folder.
    pub cwd: Option<&'a str>,
    /// Absolute home folder.
    pub home: Option<&'a str>,
}

impl PathContext<'_> {
    /// Normalises `path` into its forms.
    pub fn normalize(&self, path: &str) -> NormalizedPath {
        let path = path.trim();
        let root = self
            .repo_root
            .filter(|r| r.starts_with('/'))
            .map(lexical_cow);
        let home = self.home.filter(|h| h.starts_with('/')).map(lexical_cow);
        let mut out = NormalizedPath::default();

        let absolute = if path == "~" || path.starts_with("~/") {
            let rest = path.strip_prefix('~').unwrap_or("").trim_start_matches('/');
            out.home = Some(format!("~/{rest}"));
            home.as_ref().map(|h| lexical_owned(format!("{h}/{rest}")))
        } else if path.starts_with('/') {
            Some(lexical(path))
        } else {
            let base = self
                .cwd
                .filter(|c| c.starts_with('/'))
                .map(lexical_cow)
                .or_else(|| root.clone());
            match base {
                Some(base) => {
                    let mut joined = String::with_capacity(base.len() + 1 + path.len());
                    joined.push_str(&base);
                    joined.push('/');
                    joined.push_str(path);
                    Some(lexical_owned(joined))
                }
                None => {
                    // No root and no cwd: the path is taken as repository-relative, unless it
                    // climbs out.
                    let rel = lexical(path);
                    if rel != ".." && !rel.starts_with("../") {
                        out.relative = Some(rel);
                    }
                    None
                }
            }
        };

        if let Some(abs) = absolute {
            if let Some(root) = &root
                && let Some(rel) = strip_root(&abs, root)
            {
                out.relative = Some(rel.to_string());
            }
            if out.home.is_none()
                && let Some(home) = &home
                && let Some(rest) = strip_root(&abs, home)
            {
                out.home = Some(if rest.is_empty() {
                    "~".to_string()
                } else {
                    format!("~/{rest}")
                });
            }
            out.absolute = Some(abs);
        }
        // A home form derived from the absolute path is normal already; one written with `~`
        // may not be (`~/a/../b`).
        if path.starts_with('~')
            && let Some(h) = out.home.take()
        {
            let rest = h.strip_prefix("~/").unwrap_or("");
            let rest = lexical(rest);
            out.home = Some(if rest.is_empty() || rest.starts_with("..") {
                "~".into()
            } else {
                format!("~/{rest}")
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CTX: PathContext<'static> = PathContext {
        repo_root: Some("/home/dev/repo"),
        cwd: None,
        home: Some("/home/dev"),
    };

    #[test]
    fn absolute_inside_root_becomes_relative() {
        let n = CTX.normalize("/home/dev/repo/.env");
        assert_eq!(n.relative.as_deref(), Some(".env"));
        assert_eq!(n.home.as_deref(), Some("~/repo/.env"));
    }

    #[test]
    fn dot_dot_is_resolved() {
        assert_eq!(
            CTX.normalize("src/../.env").relative.as_deref(),
            Some(".env")
        );
        assert_eq!(
            CTX.normalize("./a/./b//c").relative.as_deref(),
            Some("a/b/c")
        );
        let out = CTX.normalize("../../etc/passwd");
        assert!(out.outside_repo());
        assert_eq!(out.absolute.as_deref(), Some("/home/etc/passwd"));
    }

    #[test]
    fn root_prefix_is_not_enough() {
        assert!(CTX.normalize("/home/dev/repository/x").outside_repo());
    }

    #[test]
    fn cwd_is_the_base_for_relative_paths() {
        let ctx = PathContext {
            cwd: Some("/home/dev/repo/sub"),
            ..CTX
        };
        assert_eq!(
            ctx.normalize("x.txt").relative.as_deref(),
            Some("sub/x.txt")
        );
        assert_eq!(ctx.normalize("../.env").relative.as_deref(), Some(".env"));
    }

    #[test]
    fn tilde_paths() {
        let n = CTX.normalize("~/.ssh/id_rsa");
        assert_eq!(n.home.as_deref(), Some("~/.ssh/id_rsa"));
        assert_eq!(n.absolute.as_deref(), Some("/home/dev/.ssh/id_rsa"));
        assert!(n.outside_repo());
    }

    #[test]
    fn no_root_keeps_relative_paths() {
        let ctx = PathContext::default();
        assert_eq!(ctx.normalize("a/../b").relative.as_deref(), Some("b"));
        assert!(ctx.normalize("../b").outside_repo());
        assert!(ctx.normalize("/etc/passwd").outside_repo());
    }

    proptest! {
        #[test]
        fn lexical_is_idempotent(p in "[a-z./]{0,40}") {
            let once = lexical(&p);
            prop_assert_eq!(lexical(&once), once.clone());
            prop_assert!(!once.split('/').any(|s| s == "."));
        }

        #[test]
        fn inserting_dot_segments_changes_nothing(parts in proptest::collection::vec("[a-z]{1,6}", 1..6)) {
            let plain = parts.join("/");
            let noisy = parts.iter().map(|p| format!("./{p}/x/..")).collect::<Vec<_>>().join("//");
            prop_assert_eq!(CTX.normalize(&plain), CTX.normalize(&noisy));
        }

        #[test]
        fn absolute_and_relative_spellings_agree(parts in proptest::collection::vec("[a-z.]{1,6}", 1..6)) {
            prop_assume!(parts.iter().all(|p| p != "." && p != ".."));
            let rel = parts.join("/");
            let abs = format!("/home/dev/repo/{rel}");
            prop_assert_eq!(CTX.normalize(&rel).relative, CTX.normalize(&abs).relative);
        }
    }
}
