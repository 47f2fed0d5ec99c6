//! Built-in guards: rules no pack can switch off, applied by [`crate::evaluate`] like any other
//! rule, so that every entry point (hook, `cavra evaluate`, MCP, the API service, the CI gate)
//! applies them and `explain` shows them.
//!
//! - [`SELF_APPROVAL`]: an agent may not approve or deny cavra approvals (`cavra approval
//!   approve|deny`), wherever in a command line that appears.
//! - [`PROTECTED`]: an agent may not write, move or delete what decides about it: cavra's own
//!   folder, the agents' hook settings, git's hooks and configuration ([`PROTECTED_PATHS`]).
//!   Deleting or moving a folder above one of them, or writing through a glob that can reach
//!   one (`**`, `.c*/**`), counts as touching it.
//!
//! A guard decides `block` whatever the pack's mode (audit_only, break_glass): they protect the
//! means of deciding, which a mode must not be able to turn off.

use crate::paths::NormalizedPath;
use cavra_policy::ActionType;
use cavra_policy::compile::fold_case;

/// Rule id of the self-approval guard.
pub const SELF_APPROVAL: &str = "cavra.self_approval";
/// Rule id of the protected-paths guard.
pub const PROTECTED: &str = "cavra.protected";

/// One protected path (or folder, when it ends in `/**`), relative to the repository root, or to
/// the home folder when it starts with `~/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectedPath {
    /// The path; `/**` at the end protects the folder and everything in it.
    pub pattern: &'static str,
    /// What it is, for the decision's reason.
    pub what: &'static str,
}

/// Everything an agent could change to stop being governed. Repository entries are protected at
/// any depth when named directly (a nested project's `.claude/` too); folders above them count at
/// the repository root and in the home folder.
pub const PROTECTED_PATHS: &[ProtectedPath] = &[
    ProtectedPath {
        pattern: ".cavra/**",
        what: "cavra's own policy, keys and decision store",
    },
    ProtectedPath {
        pattern: ".claude/**",
        what: "Claude Code's settings and hooks",
    },
    ProtectedPath {
        pattern: ".codex/hooks.json",
        what: "Codex's hook settings",
    },
    ProtectedPath {
        pattern: ".codex/config.toml",
        what: "Codex's configuration",
    },
    ProtectedPath {
        pattern: ".gemini/settings.json",
        what: "Gemini CLI's settings and hooks",
    },
    ProtectedPath {
        pattern: ".cursor/hooks.json",
        what: "Cursor's hook settings",
    },
    ProtectedPath {
        pattern: ".github/hooks/**",
        what: "GitHub Copilot's hook settings",
    },
    ProtectedPath {
        pattern: ".git/hooks/**",
        what: "git's hooks (git runs them as the person, outside any agent hook)",
    },
    ProtectedPath {
        pattern: ".git/config",
        what: "git's configuration (hooksPath, aliases and filters run programs)",
    },
    ProtectedPath {
        pattern: ".git/modules/**/hooks/**",
        what: "a submodule's git hooks",
    },
    ProtectedPath {
        pattern: ".git/modules/**/config",
        what: "a submodule's git configuration",
    },
    ProtectedPath {
        pattern: "~/.claude/settings.json",
        what: "Claude Code's user settings and hooks",
    },
    ProtectedPath {
        pattern: "~/.codex/hooks.json",
        what: "Codex's user hook settings",
    },
    ProtectedPath {
        pattern: "~/.codex/config.toml",
        what: "Codex's user configuration",
    },
    ProtectedPath {
        pattern: "~/.gemini/settings.json",
        what: "Gemini CLI's user settings and hooks",
    },
    ProtectedPath {
        pattern: "~/.cursor/hooks.json",
        what: "Cursor's user hook settings",
    },
    ProtectedPath {
        pattern: "~/.cache/cavra/**",
        what: "cavra's cache of resolved policy packs",
    },
];

/// Whether [`protected_file`] can find anything for this access: only writes and deletions of
/// a path known before the command runs are guarded (reads never are).
pub(crate) fn guards_access(access: ActionType, dynamic: bool) -> bool {
    matches!(access, ActionType::WriteFile | ActionType::DeleteFile) && !dynamic
}

/// Why a file access hits [`PROTECTED`], or `None`.
pub(crate) fn protected_file(
    access: ActionType,
    path: &NormalizedPath,
    written: &str,
    dynamic: bool,
    repo_root: Option<&str>,
) -> Option<String> {
    if !guards_access(access, dynamic) {
        return None;
    }
    let glob = written.contains(['*', '?', '[']);
    if access == ActionType::WriteFile
        && !glob
        && let Some(why) = git_directory_marker(path)
    {
        return Some(why);
    }
    // A deletion by a name pattern that only build and editor leftovers have
    // (`find . -name '*.pyc' -delete`, `rm -f **/*.orig`) cannot take anything a protected
    // folder's owner reads: it is not held against the folders protected as a whole, nor read
    // as a folder holding protected files.
    let leftovers_only = glob
        && access == ActionType::DeleteFile
        && written.rsplit('/').next().is_some_and(names_only_leftovers);
    // A deleted (or moved-away) folder takes what is under it along; so does a glob write.
    let subtree = (access == ActionType::DeleteFile || glob) && !leftovers_only;
    // Every protected path has a component beginning with `.` (`.cavra`, `.claude`, `.git`,
    // …; `every_protected_path_has_a_dot_component`): a literal file path none of whose forms
    // has such a component is none of them, and the usual write ends here, before anything is
    // split or allocated.
    if !glob && !subtree {
        let dotted = |form: &Option<String>| {
            form.as_deref()
                .is_some_and(|f| f.starts_with('.') || f.contains("/."))
        };
        if !dotted(&path.relative) && !dotted(&path.absolute) && !dotted(&path.home) {
            return None;
        }
    }
    let verb = if access == ActionType::DeleteFile {
        "delete or move"
    } else {
        "change"
    };
    let hit = |p: &ProtectedPath| {
        Some(format!(
            "the agent may not {verb} {} ({}); a person changes it outside the agent",
            p.pattern, p.what
        ))
    };
    let relative = path.relative.as_deref().map(components);
    let home = path.home.as_deref().map(components);
    // The home form below `~`.
    let home_rest: Option<Vec<&str>> = home.as_ref().map(|h| h.iter().skip(1).copied().collect());
    let absolute = path.absolute.as_deref().map(components);
    for p in PROTECTED_PATHS {
        let (in_home, rest) = match p.pattern.strip_prefix("~/") {
            Some(rest) => (true, rest),
            None => (false, p.pattern),
        };
        if leftovers_only && rest.ends_with("/**") {
            continue;
        }
        // Every write is checked against every protected path, so the usual case (a literal
        // file path, nothing below it) is ruled out before any allocation: a literal path can
        // only be named by a pattern whose every literal component it holds.
        if !glob && !subtree {
            let holds_literals = |form: &Vec<&str>| {
                rest.split('/')
                    .filter(|c| !c.is_empty() && *c != "." && *c != "**")
                    .all(|c| form.iter().any(|f| f.eq_ignore_ascii_case(c)))
            };
            let candidate = if in_home {
                home_rest.as_ref().is_some_and(holds_literals)
            } else {
                [relative.as_ref(), absolute.as_ref(), home.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(holds_literals)
            };
            if !candidate {
                continue;
            }
        }
        let anchored = components(rest);
        // Named directly, at any depth (not for globs: `src/**` is not every `.claude/`).
        if !glob {
            let mut anywhere = vec!["**"];
            anywhere.extend_from_slice(&anchored);
            let forms: &[Option<&Vec<&str>>] = if in_home {
                &[home_rest.as_ref()]
            } else {
                &[relative.as_ref(), absolute.as_ref(), home.as_ref()]
            };
            let pattern = if in_home { &anchored } else { &anywhere };
            if forms.iter().flatten().any(|f| overlaps(f, pattern, false)) {
                return hit(p);
            }
        }
        // Anchored: a folder above it (deleted), or a glob that can reach it.
        let form = if in_home {
            home_rest.as_ref()
        } else {
            relative.as_ref()
        };
        if (subtree || glob)
            && let Some(form) = form
            && overlaps(form, &anchored, subtree)
        {
            return hit(p);
        }
    }
    // Deleting a folder that holds the repository (`rm -rf ..`, `rm -rf /`) deletes all of it;
    // so does a glob that names one (`rm -rf /*` takes `/home` with every repository in it).
    if access == ActionType::DeleteFile
        && let (Some(abs), Some(root)) = (absolute.as_ref(), repo_root.map(components))
        && if glob {
            (1..=root.len()).any(|depth| {
                root.get(..depth)
                    .is_some_and(|above| overlaps(abs, above, false))
            })
        } else {
            root.len() >= abs.len()
                && root
                    .iter()
                    .zip(abs.iter())
                    .all(|(r, a)| r.eq_ignore_ascii_case(a) || fold_case(r) == fold_case(a))
        }
    {
        return Some(
            "the agent may not delete or move a folder that holds the repository and with it .cavra/ (cavra's own policy and decision store)"
                .to_string(),
        );
    }
    None
}

/// Why writing this file would make git read another repository's configuration, or `None`.
/// git takes a folder holding `HEAD` (with `objects/` and `refs/`) for a repository of its own
/// when it runs there (`git -C x fetch`, `cd x && git status`), a `.git` *file* (`gitdir: ../x`)
/// sends it to another folder, and `.git/commondir` to another common folder; each brings a
/// `config` whose keys run programs (`core.fsmonitor`, `core.sshCommand`) and which no
/// protected path covers, since it is not at `.git/config`. No ordinary edit writes these names
/// (git writes them itself, which is a git operation, not a file write), so the name alone
/// decides, at any depth and in any letter case. `cp -r .git x` is caught too: it writes
/// `x/.git` in the reading where `x` is a folder.
fn git_directory_marker(path: &NormalizedPath) -> Option<String> {
    let form = path
        .relative
        .as_deref()
        .or(path.absolute.as_deref())
        .or(path.home.as_deref())?;
    let form = form.strip_suffix('/').unwrap_or(form);
    let last = form.rsplit_once('/').map_or(form, |(_, name)| name);
    // Every write passes here: names of another length are none of the three.
    if !matches!(last.len(), 4 | 9) {
        return None;
    }
    let what = if last.eq_ignore_ascii_case("HEAD") {
        "a `HEAD` file makes its folder a git repository"
    } else if last.eq_ignore_ascii_case(".git") {
        "a `.git` file sends git to another git folder"
    } else if last.eq_ignore_ascii_case("commondir") {
        "`commondir` sends git to another common git folder"
    } else {
        return None;
    };
    Some(format!(
        "the agent may not write {form}: {what}, whose configuration runs programs (core.fsmonitor, core.sshCommand) outside every protected path; git writes it itself"
    ))
}

/// The literal end of a path that is only known at run time: the components after the last one
/// that holds an expansion (`$PWD/.claude` → `.claude`, `"$(git rev-parse --show-toplevel)"/.cavra/policy.yaml`
/// → `.cavra/policy.yaml`). Whatever the expansion turns out to be, the path ends in these
/// names, so a protected path named in them is named (the guard holds in every mode, where
/// a dynamic path's approval alone would not). `None` when nothing literal follows.
pub(crate) fn literal_tail(written: &str) -> Option<String> {
    let expansion = |c: &str| c.contains(['$', '`', '(', ')', '{', '}']);
    // Just past the `/` that ends the last component holding an expansion.
    let mut start = None;
    let mut offset = 0;
    for component in written.split('/') {
        let end = offset + component.len();
        if expansion(component) {
            start = Some(end + 1);
        }
        offset = end + 1;
    }
    // Quotes around or inside the literal end are the shell's, not the path's.
    let tail: String = written
        .get(start?..)?
        .chars()
        .filter(|c| !matches!(c, '"' | '\''))
        .collect();
    let tail = tail.trim_start_matches('/');
    (!tail.is_empty()).then(|| tail.to_string())
}

/// File names that only build, test and editor leftovers have: compiled objects and caches,
/// logs, temporary, swap and backup files, patch leftovers, desktop metadata. Neither cavra
/// nor any agent keeps settings, hooks, keys or decisions under such a name, so deleting them
/// cannot switch a guard off. (Writing them stays guarded: a planted `__pycache__/*.pyc` is
/// code Python runs.)
const LEFTOVER_EXTENSIONS: &[&str] = &[
    "pyc", "pyo", "o", "obj", "class", "log", "tmp", "temp", "swp", "swo", "bak", "orig", "rej",
];
const LEFTOVER_NAMES: &[&str] = &[".ds_store", "thumbs.db", "__pycache__"];

/// Whether every name the shell pattern `component` can match is a leftover's: its literal end
/// (after the last wildcard) is a whole leftover extension (`*.pyc`, `core.*.o`), or the
/// component is a leftover's name as written (`.DS_Store`) or ends in `~` (`*~`).
fn names_only_leftovers(component: &str) -> bool {
    let lower = component.to_ascii_lowercase();
    if !lower.contains(['*', '?', '[']) {
        return LEFTOVER_NAMES.contains(&lower.as_str())
            || (lower.ends_with('~') && lower.len() > 1)
            || lower
                .rsplit_once('.')
                .is_some_and(|(_, ext)| LEFTOVER_EXTENSIONS.contains(&ext));
    }
    let tail = lower
        .rfind(['*', '?', ']'])
        .map_or(lower.as_str(), |i| &lower[i + 1..]);
    if tail == "~" {
        return true;
    }
    tail.strip_prefix('.')
        .or_else(|| tail.rsplit_once('.').map(|(_, ext)| ext))
        .is_some_and(|ext| LEFTOVER_EXTENSIONS.contains(&ext))
}

/// The non-empty components of a path (`~` kept as the first one of a home form).
pub(crate) fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Whether some concrete path is matched by both `given` (components of a path the agent wrote,
/// possibly with shell wildcards) and `pattern` (literal components and `**`). With `subtree`,
/// `given` also stands for everything below it. `**` in either matches any number of
/// components. Dynamic programming, so the cost is the product of the lengths.
pub(crate) fn overlaps(given: &[&str], pattern: &[&str], subtree: bool) -> bool {
    let (n, m) = (given.len(), pattern.len());
    // table[i][j]: whether given[i..] and pattern[j..] overlap.
    let mut table = vec![vec![false; m + 1]; n + 1];
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            table[i][j] = if i == n && j == m {
                true
            } else if i < n && given[i] == "**" {
                table[i + 1][j] || (j < m && table[i][j + 1])
            } else if j < m && pattern[j] == "**" {
                table[i][j + 1] || (i < n && table[i + 1][j])
            } else if i == n {
                subtree
            } else if j == m {
                false
            } else {
                component_matches(given[i], pattern[j]) && table[i + 1][j + 1]
            };
        }
    }
    table[0][0]
}

/// Whether a shell word component (maybe with `*`, `?`, `[…]`) can name `literal`. The shell's
/// wildcards do not match a leading dot. Letter case is ignored: on the file systems most
/// agents run on besides Linux (macOS's APFS and Windows' NTFS by default) `.CLAUDE/settings.json`
/// is `.claude/settings.json`.
fn component_matches(word: &str, literal: &str) -> bool {
    if !word.contains(['*', '?', '[']) {
        return word.eq_ignore_ascii_case(literal);
    }
    if literal.starts_with('.') && !word.starts_with('.') {
        return false;
    }
    globset::GlobBuilder::new(word)
        .literal_separator(true)
        .case_insensitive(true)
        .build()
        .map(|g| g.compile_matcher().is_match(literal))
        // A word globset cannot read is taken as able to name anything.
        .unwrap_or(true)
}

/// Whether a simple command is `cavra approval approve|deny` (global options allowed between).
pub(crate) fn is_self_approval(argv: &[String]) -> bool {
    let Some(program) = argv.first() else {
        return false;
    };
    if !names_cavra(program) {
        return false;
    }
    let mut words = argv[1..].iter().filter(|w| !w.starts_with('-'));
    words.next().map(String::as_str) == Some("approval")
        && matches!(words.next().map(String::as_str), Some("approve" | "deny"))
}

/// Whether a program name runs cavra: its base name in any letter case (macOS and Windows
/// find `CAVRA` as `cavra`), with or without Windows' `.exe`.
fn names_cavra(program: &str) -> bool {
    let base = program.rsplit(['/', '\\']).next().unwrap_or(program);
    let base = match base.len().checked_sub(4).and_then(|i| base.get(i..)) {
        Some(ext) if ext.eq_ignore_ascii_case(".exe") => &base[..base.len() - 4],
        _ => base,
    };
    base.eq_ignore_ascii_case("cavra")
}

/// Whether a command line's text names `cavra approval approve|deny` anywhere, quoted or not
/// (inside `python -c '…'`, an `eval`, a string piped to a shell): a backstop to the parsed
/// commands, since text can become a command in ways no parse sees.
pub(crate) fn mentions_self_approval(line: &str) -> bool {
    if !line.contains("approval") {
        return false;
    }
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || ";&|()`$'\"\\{}<>=".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(3)
        .any(|w| names_cavra(w[0]) && w[1] == "approval" && matches!(w[2], "approve" | "deny"))
}

/// The reason given for [`SELF_APPROVAL`].
pub(crate) const SELF_APPROVAL_REASON: &str = "an agent cannot approve or deny cavra approvals; a person must run `cavra approval` outside the agent";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::PathContext;

    #[test]
    fn the_literal_end_of_a_path_known_at_run_time() {
        assert_eq!(literal_tail("$PWD/.claude").as_deref(), Some(".claude"));
        assert_eq!(literal_tail("\"$PWD/.claude\"").as_deref(), Some(".claude"));
        assert_eq!(
            literal_tail("\"$PWD\"/'.cla'ude").as_deref(),
            Some(".claude")
        );
        assert_eq!(
            literal_tail("$(git rev-parse --show-toplevel)/.cavra/policy.yaml").as_deref(),
            Some(".cavra/policy.yaml")
        );
        assert_eq!(
            literal_tail("$(cat a/b)/.git/hooks/x").as_deref(),
            Some(".git/hooks/x")
        );
        assert_eq!(
            literal_tail("${ROOT}//.claude/").as_deref(),
            Some(".claude/")
        );
        assert_eq!(literal_tail("`pwd`/x/$Y/out").as_deref(), Some("out"));
        assert_eq!(literal_tail("$X").as_deref(), None);
        assert_eq!(literal_tail("$X/").as_deref(), None);
        assert_eq!(literal_tail("$(echo .claude)").as_deref(), None);
        assert_eq!(literal_tail("plain/path").as_deref(), None);
    }

    #[test]
    fn names_only_leftovers_have() {
        for c in [
            "*.pyc",
            "*.PYC",
            "core*.o",
            "*.log",
            "*.tmp",
            "*~",
            ".DS_Store",
            "__pycache__",
            "x.orig",
            "*x.rej",
            ".pyc",
        ] {
            assert!(names_only_leftovers(c), "{c}");
        }
        for c in [
            "*",
            "*.json",
            "*.py",
            "*.py[co]",
            "*pyc",
            "*.pyc.json",
            "settings.json",
            "pyc",
            "*.db",
            "*.key",
            "pre-commit",
            "config",
            "*.log*",
            "~",
        ] {
            assert!(!names_only_leftovers(c), "{c}");
        }
    }

    fn check(access: ActionType, written: &str) -> bool {
        let ctx = PathContext {
            repo_root: Some("/r"),
            cwd: Some("/r/sub"),
            home: Some("/home/u"),
        };
        let path = ctx.normalize(written);
        protected_file(access, &path, written, false, Some("/r")).is_some()
    }

    /// The full check of a literal write against every protected path, with no early
    /// rule-out: what `protected_file` must agree with.
    fn named_by_a_protected_path(path: &NormalizedPath) -> bool {
        let relative = path.relative.as_deref().map(components);
        let absolute = path.absolute.as_deref().map(components);
        let home = path.home.as_deref().map(components);
        let home_rest: Option<Vec<&str>> =
            home.as_ref().map(|h| h.iter().skip(1).copied().collect());
        git_directory_marker(path).is_some()
            || PROTECTED_PATHS
                .iter()
                .any(|p| match p.pattern.strip_prefix("~/") {
                    Some(rest) => home_rest
                        .as_ref()
                        .is_some_and(|f| overlaps(f, &components(rest), false)),
                    None => {
                        let mut anywhere = vec!["**"];
                        anywhere.extend(components(p.pattern));
                        [&relative, &absolute, &home]
                            .into_iter()
                            .flatten()
                            .any(|f| overlaps(f, &anywhere, false))
                    }
                })
    }

    proptest::proptest! {
        /// Ruling out protected paths early (before the pattern tables) changes no answer for
        /// literal writes, inside and outside the repository and the home folder.
        #[test]
        fn the_early_rule_out_changes_no_answer(
            start in proptest::sample::select(vec!["", "/r/", "/home/u/", "~/", "../", "/"]),
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    ".cavra", ".claude", ".codex", ".gemini", ".cursor", ".github", ".git",
                    ".cache", "cavra", "hooks", "modules", "lib", "config", "config.toml",
                    "hooks.json", "settings.json", "settings.local.json", "src", "..", ".",
                    "HEAD", "commondir",
                ]),
                1..7,
            ),
        ) {
            let written = format!("{start}{}", parts.join("/"));
            let ctx = PathContext { repo_root: Some("/r"), cwd: Some("/r/sub"), home: Some("/home/u") };
            let path = ctx.normalize(&written);
            let guarded = protected_file(ActionType::WriteFile, &path, &written, false, Some("/r")).is_some();
            proptest::prop_assert_eq!(guarded, named_by_a_protected_path(&path), "{}", written);
        }
    }

    /// What `protected_file`'s first rule-out stands on: a path can only be named by a
    /// protected path when one of its components begins with `.`.
    #[test]
    fn every_protected_path_has_a_dot_component() {
        for p in PROTECTED_PATHS {
            let rest = p.pattern.strip_prefix("~/").unwrap_or(p.pattern);
            assert!(
                rest.split('/')
                    .any(|c| c.starts_with('.') && c != "." && c != ".."),
                "{}",
                p.pattern
            );
        }
    }

    #[test]
    fn self_approval_by_any_spelling_of_the_program() {
        let argv = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        for line in [
            "CAVRA approval approve apr_1",
            "/usr/local/bin/Cavra approval deny apr_1",
            "cavra.exe approval approve apr_1",
        ] {
            assert!(is_self_approval(&argv(line)), "{line}");
            assert!(mentions_self_approval(line), "{line}");
        }
        assert!(!is_self_approval(&argv("cavras approval approve apr_1")));
        assert!(!is_self_approval(&argv("cavra approval list")));
    }

    #[test]
    fn protected_paths_in_any_letter_case() {
        // macOS and Windows file systems ignore case by default.
        assert!(check(ActionType::WriteFile, ".CLAUDE/settings.json"));
        assert!(check(ActionType::WriteFile, ".Cavra/policy.yaml"));
        assert!(check(ActionType::WriteFile, ".GIT/Hooks/pre-commit"));
        assert!(check(ActionType::DeleteFile, ".Claude"));
        assert!(!check(ActionType::WriteFile, "claude/settings.json"));
    }

    #[test]
    fn protected_paths_and_what_contains_them() {
        use ActionType::{DeleteFile, ReadFile, WriteFile};
        for (access, written, expected) in [
            (WriteFile, "../.cavra/cavra.db", true),
            (WriteFile, "/r/.cavra/policy.yaml", true),
            (WriteFile, "/r/.cavrax/file", false),
            (ReadFile, "/r/.cavra/policy.yaml", false),
            (WriteFile, "/r/.claude/settings.local.json", true),
            (WriteFile, "/r/.claude", true),
            (DeleteFile, "/r/.claude", true),
            (WriteFile, "/r/.gemini/settings.json", true),
            (WriteFile, "/r/.gemini/other.json", false),
            (WriteFile, "/r/.git/hooks/pre-commit", true),
            (WriteFile, "/r/.git/config", true),
            (WriteFile, "/r/.git/modules/lib/hooks/post-checkout", true),
            (WriteFile, "/r/.git/HEAD", true),
            (WriteFile, "/r/.git/ORIG_HEAD", false),
            (WriteFile, "/r/.github/hooks/cavra.json", true),
            (WriteFile, "/r/.github/workflows/ci.yml", false),
            (WriteFile, "/r/vendor/x/.claude/settings.json", true),
            (WriteFile, "~/.claude/settings.json", true),
            (WriteFile, "/home/u/.codex/config.toml", true),
            (WriteFile, "~/.codex/sessions/x", false),
            // Folders above a protected path.
            (DeleteFile, "/r/.git", true),
            (DeleteFile, "/r/.github", true),
            (DeleteFile, "/r", true),
            (DeleteFile, "/r/..", true),
            (DeleteFile, "/", true),
            (DeleteFile, "/r/src", false),
            (DeleteFile, "/home/u/.gemini", true),
            (DeleteFile, "/home/u/.cache", true),
            (DeleteFile, "/home/u/projects", false),
            // Writing into a folder names the file (`cp x .` also writes `./x`).
            (WriteFile, "/r", false),
            // (A `.git` itself is a git folder's marker: `git_directory_markers`.)
            (WriteFile, "/r/.git", true),
            // Globs.
            (WriteFile, "/r/**", true),
            (WriteFile, "/r/.c*/policy.yaml", true),
            (DeleteFile, "/r/.*", true),
            (DeleteFile, "/r/*", false),
            // A glob naming a folder above the repository (`/r` is under `/`).
            (DeleteFile, "/*", true),
            (DeleteFile, "/?", true),
            (DeleteFile, "/**", true),
            (DeleteFile, "/[a-z]*", true),
            (DeleteFile, "/tmp/*", false),
            (DeleteFile, "/r/src/*.rs", false),
            (WriteFile, "/r/src/**", false),
            (DeleteFile, "/r/src/*", false),
            (DeleteFile, "/r/.git/h*", true),
        ] {
            assert_eq!(check(access, written), expected, "{access} {written}");
        }
    }

    #[test]
    fn git_directory_markers() {
        use ActionType::{DeleteFile, ReadFile, WriteFile};
        for (access, written, expected) in [
            // A folder made a repository of its own, or git sent elsewhere.
            (WriteFile, "/r/x/HEAD", true),
            (WriteFile, "x/head", true),
            (WriteFile, "/r/sub/.git", true),
            (WriteFile, "/r/sub/.GIT", true),
            (WriteFile, "/r/.git/commondir", true),
            (WriteFile, "/r/.git/worktrees/w/commondir", true),
            (WriteFile, "/tmp/elsewhere/HEAD", true),
            // Only writes of the name itself: reading, deleting, other names, globs.
            (ReadFile, "/r/x/HEAD", false),
            (DeleteFile, "/r/x/HEAD", false),
            (WriteFile, "/r/docs/HEADER.md", false),
            (WriteFile, "/r/src/head.rs", false),
            (WriteFile, "/r/.gitignore", false),
            (WriteFile, "/r/src/*", false),
        ] {
            assert_eq!(check(access, written), expected, "{access} {written}");
        }
    }

    #[test]
    fn self_approval_in_argv_and_text() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(is_self_approval(&argv("cavra approval approve apr_1")));
        assert!(is_self_approval(&argv(
            "/usr/bin/cavra --json approval deny apr_1"
        )));
        assert!(!is_self_approval(&argv("cavra approval list")));
        assert!(!is_self_approval(&argv("xcavra approval approve a")));
        assert!(mentions_self_approval(
            "python3 -c \"import os; os.system('cavra approval approve apr_1')\""
        ));
        assert!(mentions_self_approval("x=$(cavra approval deny a)"));
        assert!(!mentions_self_approval(
            "cavra approval list --state pending"
        ));
    }

    #[test]
    fn overlap_is_symmetric_in_stars() {
        assert!(overlaps(&["**"], &[".cavra", "**"], false));
        assert!(overlaps(&["a", "**"], &["**", "b"], false));
        assert!(!overlaps(&["src", "*"], &[".cavra", "**"], true));
        let long: Vec<&str> = std::iter::repeat_n("**", 2000).collect();
        assert!(overlaps(&long, &["**", ".cavra", "**"], true));
    }
}
