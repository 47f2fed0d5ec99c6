//! Programs that apply a patch (`git apply`, `git am`, `patch`): every file the patch names is
//! written (deleted, when the patch removes it), so a patch is judged like the writes it makes.
//!
//! The patch's text is known when it is on the command line: a here-document, a here-string or
//! `echo … |` on the program's standard input. A patch in a file (`git apply fix.patch`,
//! `patch -i x.diff`, `patch < x.diff`, `cat x.diff | git apply`) is not opened here (the
//! analysis touches no disk): it is handed over as a [`crate::PatchFile`], which the engine's
//! caller reads with a bound and turns into writes with [`patch_file_accesses`]. A patch known
//! only at run time (`curl … | git apply`) writes run-time paths. What the command line itself
//! says is judged whatever the patch holds: `patch -d DIR` and `git apply --directory=DIR` write
//! under `DIR`, `patch FILE` and `patch -o FILE` write `FILE`.

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

/// What a program applying a patch is given besides the patch.
struct Applying<'a> {
    how: crate::PatchApplying,
    directory: Option<&'a Word>,
    /// Where the accesses are anchored (the program's first argument).
    at: &'a Word,
}

/// The files a patch's `text` makes the program write (or delete: `true`), as `-p` strips them
/// and `-d` places them.
fn written(text: &str, how: &crate::PatchApplying) -> Vec<(String, bool)> {
    // `echo -e 'diff …\n+++ …'`: the escapes become lines.
    let unescaped = text.contains("\\n").then(|| text.replace("\\n", "\n"));
    let mut seen: Vec<(String, bool)> = Vec::new();
    for named in names(text)
        .into_iter()
        .chain(unescaped.as_deref().map(names).unwrap_or_default())
    {
        let levels: Vec<Option<&str>> = match (how.strip, how.git, named.bare) {
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
            let full = match &how.directory {
                Some(d) => format!("{}/{path}", d.trim_end_matches('/')),
                None => path.to_string(),
            };
            if !seen.iter().any(|(p, r)| *p == full && *r == named.removed) {
                seen.push((full, named.removed));
            }
        }
    }
    seen
}

/// The file accesses of a patch file's `text`, read by the caller (the analysis reads no
/// files): each file it names is written, or deleted when the patch removes it.
pub fn patch_file_accesses(file: &crate::PatchFile, text: &str) -> Vec<crate::FileAccess> {
    let reason = format!("{} (a file {} names)", file.how.program, file.path);
    written(text, &file.how)
        .into_iter()
        .map(|(path, removed)| crate::FileAccess {
            literal: file.how.literal && !path.contains(['$', '`']),
            path,
            kind: if removed {
                AccessKind::Delete
            } else {
                AccessKind::Write
            },
            command_index: file.command_index,
            reason: reason.clone(),
        })
        .collect()
}

/// Where the patch comes from.
enum Source<'a> {
    /// Nothing to judge: the program reads the terminal, or names the file it patches.
    Nothing,
    /// Its text, from the command line (and whether it is literal).
    Text(&'a str, bool),
    /// Files to read first.
    Files(Vec<&'a Word>),
    /// Content known only at run time (`curl … | git apply`, `printf … | patch`).
    Unknown(String),
}

/// What the patch makes the program write.
fn judge(a: &Applying<'_>, source: Source<'_>, info: &mut Info) {
    if let Some(dir) = a.directory {
        info.access(
            AccessKind::Write,
            &crate::folders::subtree(dir),
            format!("{} (the folder it patches in)", a.how.program),
        );
    }
    match source {
        Source::Nothing => {}
        Source::Text(text, literal) => {
            for (full, removed) in written(text, &a.how) {
                let mut w = Word::derived(a.at, &full);
                w.path_literal = literal && a.at.literal && !full.contains(['$', '`']);
                let kind = if removed {
                    AccessKind::Delete
                } else {
                    AccessKind::Write
                };
                info.access(
                    kind,
                    &w,
                    format!("{} (a file the patch names)", a.how.program),
                );
            }
        }
        Source::Files(files) => {
            for file in files {
                info.patch_files.push(super::PendingPatch {
                    file: file.clone(),
                    how: a.how.clone(),
                });
            }
        }
        Source::Unknown(from) => {
            // The files it writes are known only at run time: a write of a run-time path.
            let mut w = Word::derived(a.at, &format!("<the files the patch from {from} names>"));
            w.path_literal = false;
            info.access(
                AccessKind::Write,
                &w,
                format!("{} (a patch known only at run time)", a.how.program),
            );
        }
    }
}

/// The patch on the standard input.
fn stdin_source(stdin: &Stdin) -> Source<'_> {
    match stdin {
        Stdin::Code { text, literal, .. } => Source::Text(text, *literal),
        Stdin::Local(files) if !files.is_empty() => Source::Files(files.iter().collect()),
        Stdin::Local(_) => Source::Unknown("a command's output".to_string()),
        Stdin::Names { from, .. } => Source::Unknown(format!("`{from}`")),
        Stdin::Untrusted(from) => Source::Unknown(if from.is_empty() {
            "a command's output".to_string()
        } else {
            format!("`{from}`")
        }),
        Stdin::Terminal => Source::Nothing,
    }
}

/// How `directory` and `strip` read for the program.
fn how(
    program: String,
    git: bool,
    strip: Option<usize>,
    directory: Option<&Word>,
) -> crate::PatchApplying {
    crate::PatchApplying {
        strip,
        git,
        directory: directory.map(|d| d.path.clone()),
        literal: directory.is_none_or(|d| d.path_literal),
        program,
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
    let mut source = if from_stdin {
        stdin_source(stdin)
    } else {
        Source::Nothing
    };
    // Each operand is a patch file (`git apply a.patch b.patch`; `git am` takes mailboxes,
    // whose patches are read the same way).
    let files: Vec<&Word> = ops
        .iter()
        .filter_map(|&i| rest.get(i))
        .filter(|w| w.text != "-")
        .collect();
    if !files.is_empty() {
        source = match source {
            Source::Files(mut more) => {
                more.extend(files);
                Source::Files(more)
            }
            Source::Nothing => Source::Files(files),
            // Both: the run-time patch decides (a write of a run-time path).
            other => other,
        };
    }
    judge(
        &Applying {
            how: how(format!("git {sub}"), true, strip, directory),
            directory,
            at,
        },
        source,
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
    let inputs = opts::values(&p, &["i", "input"]);
    // With a file to patch named, only that file (or `-o`'s) is written.
    let names_target = !ops.is_empty();
    let strip = opts::values(&p, &["p", "strip"])
        .first()
        .and_then(|v| v.text.parse().ok());
    let directory = opts::values(&p, &["d", "directory"]).first().copied();
    let source = if names_target {
        Source::Nothing
    } else if !inputs.is_empty() {
        Source::Files(inputs.into_iter().filter(|w| w.text != "-").collect())
    } else {
        stdin_source(stdin)
    };
    judge(
        &Applying {
            how: how(
                "patch".to_string(),
                false,
                strip,
                directory.filter(|_| !names_target),
            ),
            directory: directory.filter(|_| !names_target),
            at,
        },
        source,
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
