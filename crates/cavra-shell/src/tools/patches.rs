//! Programs that apply a patch (`git apply`, `git am`, `patch`): every file the patch names is
//! written (deleted, when the patch removes it), so a patch is judged like the writes it makes.
//!
//! The patch's text is known when it is on the command line: a here-document, a here-string or
//! `echo … |` on the program's standard input. A patch read from a file is not opened (the
//! analysis touches no disk); what the command line itself says is judged whatever the patch
//! holds: `patch -d DIR` and `git apply --directory=DIR` write under `DIR`, `patch FILE` and
//! `patch -o FILE` write `FILE`.

use super::*;

/// One file a patch names, as written in it (before any `-p` strip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub name: String,
    /// The patch removes the file (`+++ /dev/null`, `deleted file mode`, `rename from`).
    pub removed: bool,
    /// A git extended header (`rename to x`, `copy from x`): written without the `a/`, `b/`
    /// prefix, so one component less is stripped.
    pub bare: bool,
}

/// A name from a header line: up to a tab (the time stamp of `--- x\t2024-…`), unquoted when
/// git quoted it (`"a/sp ace"`), `None` for `/dev/null`.
fn header_name(raw: &str) -> Option<String> {
    let raw = raw.split('\t').next().unwrap_or("").trim_end();
    let name = match raw
        .strip_prefix('"')
        .and_then(|r| r.rfind('"').map(|end| &r[..end]))
    {
        Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => raw.to_string(),
    };
    (!name.is_empty() && name != "/dev/null").then_some(name)
}

/// The line counts of a unified hunk header `@@ -a,b +c,d @@` (a count is 1 when omitted).
fn hunk_counts(line: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let new = rest.split_once(" @@").map(|(n, _)| n)?;
    let count = |range: &str| -> Option<usize> {
        match range.split_once(',') {
            Some((_, n)) => n.parse().ok(),
            None => range.parse::<usize>().ok().map(|_| 1),
        }
    };
    Some((count(old)?, count(new)?))
}

/// Every file a patch names: `diff --git a/X b/Y`, unified (`--- X` / `+++ Y`) and context
/// (`*** X` / `--- X`) headers, git's `rename|copy from|to X` and `Index: X`. The lines of a
/// unified hunk are skipped by its counts, so a removed line reading `--- x` is not a header.
pub(crate) fn names(text: &str) -> Vec<Named> {
    let mut out: Vec<Named> = Vec::new();
    let mut push = |name: Option<String>, removed: bool, bare: bool| {
        if let Some(name) = name
            && !out
                .iter()
                .any(|n| n.name == name && n.removed == removed && n.bare == bare)
        {
            out.push(Named {
                name,
                removed,
                bare,
            });
        }
    };
    let mut old_left = 0usize;
    let mut new_left = 0usize;
    let mut old_name: Option<String> = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if old_left > 0 || new_left > 0 {
            match line.as_bytes().first() {
                Some(b'-') => old_left = old_left.saturating_sub(1),
                Some(b'+') => new_left = new_left.saturating_sub(1),
                Some(b'\\') => {}
                // A context line (or an empty one, as some tools write it).
                _ => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                }
            }
            continue;
        }
        if let Some((old, new)) = hunk_counts(line) {
            old_left = old;
            new_left = new;
            continue;
        }
        if let Some(rest) = line.strip_prefix("diff --git ") {
            // `a/X b/Y`: split where ` b/` starts (names with spaces are quoted by git).
            let (a, b) = match rest.split_once(" b/") {
                Some((a, b)) => (a.to_string(), format!("b/{b}")),
                None => match rest.split_once(' ') {
                    Some((a, b)) => (a.to_string(), b.to_string()),
                    None => (rest.to_string(), String::new()),
                },
            };
            push(header_name(&a), false, false);
            push(header_name(&b), false, false);
        } else if let Some(rest) = line.strip_prefix("--- ") {
            // A context diff's hunk range (`--- 1,4 ----`) is not a name.
            if !(rest.ends_with("----") && rest.starts_with(|c: char| c.is_ascii_digit())) {
                old_name = header_name(rest);
                push(old_name.clone(), false, false);
            }
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            let new = header_name(rest);
            if new.is_none() {
                push(old_name.clone(), true, false);
            }
            push(new, false, false);
        } else if let Some(rest) = line.strip_prefix("*** ") {
            if !(rest.ends_with("****") && rest.starts_with(|c: char| c.is_ascii_digit())) {
                push(header_name(rest), false, false);
            }
        } else if let Some(rest) = line
            .strip_prefix("rename from ")
            .or_else(|| line.strip_prefix("copy from "))
        {
            push(header_name(rest), line.starts_with("rename"), true);
        } else if let Some(rest) = line
            .strip_prefix("rename to ")
            .or_else(|| line.strip_prefix("copy to "))
        {
            push(header_name(rest), false, true);
        } else if let Some(rest) = line.strip_prefix("Index: ") {
            push(header_name(rest), false, true);
        }
    }
    out
}

/// `name` less the smallest prefix holding `n` slashes, as `-pN` strips it (`None` when it has
/// fewer).
fn strip(name: &str, n: usize) -> Option<&str> {
    let mut rest = name;
    for _ in 0..n {
        rest = rest.split_once('/')?.1;
    }
    (!rest.is_empty()).then_some(rest)
}

/// How the program strips and places the names: `-pN` (`None`: the program's default), the
/// folder the patch is applied in, whether it writes at all.
struct Applying<'a> {
    strip: Option<usize>,
    /// git's default strip is 1; patch without `-p` is judged at 0, 1 and the base name.
    git: bool,
    directory: Option<&'a Word>,
    /// The patch's text, when it is on the command line.
    text: Option<(&'a str, bool)>,
    /// Where the accesses are anchored (the program's first argument).
    at: &'a Word,
    label: String,
}

/// What the patch's names make the program write.
fn judge(a: &Applying<'_>, info: &mut Info) {
    if let Some(dir) = a.directory {
        info.access(
            AccessKind::Write,
            &crate::folders::subtree(dir),
            format!("{} (the folder it patches in)", a.label),
        );
    }
    let Some((text, literal)) = a.text else {
        return;
    };
    // `echo -e 'diff …\n+++ …'`: the escapes become lines.
    let unescaped = text.contains("\\n").then(|| text.replace("\\n", "\n"));
    let mut seen: Vec<(String, bool)> = Vec::new();
    for named in names(text)
        .into_iter()
        .chain(unescaped.as_deref().map(names).unwrap_or_default())
    {
        let levels: Vec<Option<&str>> = match (a.strip, a.git, named.bare) {
            (Some(n), _, true) => vec![strip(&named.name, n.saturating_sub(1))],
            (Some(n), _, false) => vec![strip(&named.name, n)],
            (None, true, true) => vec![strip(&named.name, 0)],
            (None, true, false) => vec![strip(&named.name, 1)],
            (None, false, _) => vec![
                strip(&named.name, 0),
                strip(&named.name, 1),
                named.name.rsplit('/').next().filter(|b| !b.is_empty()),
            ],
        };
        for path in levels.into_iter().flatten() {
            let full = match a.directory {
                Some(d) => format!("{}/{path}", d.text.trim_end_matches('/')),
                None => path.to_string(),
            };
            if seen.iter().any(|(p, r)| *p == full && *r == named.removed) {
                continue;
            }
            seen.push((full.clone(), named.removed));
            let mut w = Word::derived(a.at, &full);
            w.path_literal = literal && a.at.literal && !full.contains(['$', '`']);
            let kind = if named.removed {
                AccessKind::Delete
            } else {
                AccessKind::Write
            };
            info.access(kind, &w, format!("{} (a file the patch names)", a.label));
        }
    }
}

/// The patch on the standard input, when its text is known.
fn stdin_text(stdin: &Stdin) -> Option<(&str, bool)> {
    match stdin {
        Stdin::Code { text, literal, .. } => Some((text, *literal)),
        _ => None,
    }
}

/// `git apply` / `git am` (`rest` after the subcommand).
pub(crate) fn git(sub: &str, at: &Word, rest: &[Word], stdin: &Stdin, info: &mut Info) {
    if !matches!(sub, "apply" | "am") {
        return;
    }
    let spec = Spec {
        short_val: "pC",
        long_val: &[
            "directory",
            "exclude",
            "include",
            "whitespace",
            "build-fake-ancestor",
            "patch-format",
            "resolvemsg",
            "quoted-cr",
            "empty",
        ],
        stop_at_operand: false,
    };
    let p = opts::parse(rest, &spec);
    let only_reports = sub == "apply"
        && opts::has(&p, &["check", "stat", "numstat", "summary"])
        && !opts::has(&p, &["apply"]);
    let state = sub == "am"
        && opts::has(
            &p,
            &["continue", "skip", "abort", "quit", "show-current-patch"],
        );
    if only_reports || state {
        return;
    }
    let ops = opts::operands(&p);
    let from_stdin = ops.is_empty()
        || ops
            .iter()
            .any(|&i| rest.get(i).is_some_and(|w| w.text == "-"));
    let strip = opts::values(&p, &["p"])
        .first()
        .and_then(|v| v.text.parse().ok());
    let directory = opts::values(&p, &["directory"]).first().copied();
    judge(
        &Applying {
            strip,
            git: true,
            directory,
            text: from_stdin.then(|| stdin_text(stdin)).flatten(),
            at,
            label: format!("git {sub}"),
        },
        info,
    );
}

/// GNU `patch [options] [originalfile [patchfile]]`: the patch from `-i`, the second operand or
/// the standard input. Its operand and `-o` outputs are judged by `accesses`; here the files the
/// patch names, in `-d DIR`, and the reject file (`-r`).
pub(crate) fn patch(args: &[Word], stdin: &Stdin, info: &mut Info) {
    // `patch <<EOF` has no argument to anchor the derived accesses on.
    let bare = Word {
        text: "patch".into(),
        literal: true,
        path: "patch".into(),
        path_literal: true,
        span: (0, 0),
        has_subst: false,
        is_procsub: false,
        glob: false,
    };
    let at = args.first().unwrap_or(&bare);
    let spec = Spec {
        short_val: "BDFdgiopYzrV",
        long_val: &[
            "input",
            "output",
            "directory",
            "strip",
            "reject-file",
            "prefix",
            "basename-prefix",
            "suffix",
            "ifdef",
            "fuzz",
            "get",
            "version-control",
            "quoting-style",
            "reject-format",
            "read-only",
        ],
        stop_at_operand: false,
    };
    let p = opts::parse(args, &spec);
    if opts::has(&p, &["dry-run"]) {
        return;
    }
    for w in opts::values(&p, &["r", "reject-file"]) {
        info.access(AccessKind::Write, w, "patch's reject file");
    }
    let ops = opts::operands(&p);
    let from_stdin = opts::values(&p, &["i", "input"]).is_empty() && ops.len() < 2;
    // With a file to patch named, only that file (or `-o`'s) is written.
    let names_target = !ops.is_empty();
    let strip = opts::values(&p, &["p", "strip"])
        .first()
        .and_then(|v| v.text.parse().ok());
    let directory = opts::values(&p, &["d", "directory"]).first().copied();
    judge(
        &Applying {
            strip,
            git: false,
            directory: directory.filter(|_| !names_target),
            text: (from_stdin && !names_target)
                .then(|| stdin_text(stdin))
                .flatten(),
            at,
            label: "patch".to_string(),
        },
        info,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(text: &str) -> Vec<(String, bool)> {
        names(text)
            .into_iter()
            .map(|n| (n.name, n.removed))
            .collect()
    }

    #[test]
    fn headers_are_names_and_hunk_lines_are_not() {
        let text = "diff --git a/src/x.sql b/src/x.sql\n--- a/src/x.sql\n+++ b/src/x.sql\n@@ -1,3 +1,2 @@\n select 1;\n--- .claude/settings.json\n+++ .cavra/policy.yaml\n";
        let got = names_of(text);
        assert!(got.contains(&("a/src/x.sql".into(), false)), "{got:?}");
        assert!(got.contains(&("b/src/x.sql".into(), false)), "{got:?}");
        // The hunk has 3 old and 2 new lines: the `--- ` and `+++ ` lines are inside it.
        assert!(!got.iter().any(|(n, _)| n.contains("claude")), "{got:?}");
        assert!(!got.iter().any(|(n, _)| n.contains("cavra")), "{got:?}");
    }

    #[test]
    fn removed_renamed_and_context_names() {
        let got = names_of(
            "--- a/old.txt\t2024-01-01\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\ndiff --git a/p b/q\nrename from .claude/settings.json\nrename to q\n*** c/one.txt\n--- c/one.txt\n***************\n*** 1,2 ****\n--- 1,2 ----\n",
        );
        assert!(got.contains(&("a/old.txt".into(), true)), "{got:?}");
        assert!(
            got.contains(&(".claude/settings.json".into(), true)),
            "{got:?}"
        );
        assert!(got.contains(&("c/one.txt".into(), false)), "{got:?}");
        assert!(!got.iter().any(|(n, _)| n.starts_with("1,2")), "{got:?}");
    }

    #[test]
    fn strip_levels() {
        assert_eq!(
            strip("a/.claude/settings.json", 1),
            Some(".claude/settings.json")
        );
        assert_eq!(strip("x", 1), None);
        assert_eq!(strip("/abs/x", 0), Some("/abs/x"));
        assert_eq!(strip("/abs/x", 1), Some("abs/x"));
    }
}
