//! `find`: what its expression selects, deletes, prints and hands to `-exec`; and how a
//! command is judged with the items another program hands it (`find -exec`, `xargs`).

use super::*;

/// What stands for an argument xargs reads from a list only known at run time: a parameter
/// expansion, so the command judges it as a path (or word) known only at run time.
pub(crate) const RUN_TIME_ARGUMENT: &str = "\"$XARGS_INPUT\"";

/// Judges `command` once more with `items` (shell text: quoted globs or a run-time expansion)
/// as its further arguments, or each in place of `replace` where the command holds it.
pub(crate) fn with_items(
    command: &[&Word],
    replace: Option<&str>,
    items: Vec<String>,
    label: &str,
    info: &mut Info,
) {
    let span = match (command.first(), command.last()) {
        (Some(a), Some(b)) => (a.span.0, b.span.1),
        _ => (0, 0),
    };
    let mut commands = Vec::new();
    match replace {
        Some(r) if !r.is_empty() => {
            for item in &items {
                // Each word quoted as written, the item spliced in unquoted (it is quoted or an
                // expansion already): `'cat '"$XARGS_INPUT"''`.
                let words: Vec<String> = command
                    .iter()
                    .map(|w| {
                        w.text
                            .split(r)
                            .map(sh_quote)
                            .collect::<Vec<_>>()
                            .join(item.as_str())
                    })
                    .collect();
                commands.push(words.join(" "));
            }
        }
        _ => {
            let mut words: Vec<String> = command.iter().map(|w| sh_quote(&w.text)).collect();
            words.extend(items);
            commands.push(words.join(" "));
        }
    }
    for command in commands.into_iter().take(64) {
        info.inner.push(Inner {
            kind: InnerKind::Code(command),
            label: label.to_string(),
            stdin: Stdin::Terminal,
            span,
            folder: None,
        });
    }
}

/// find(1)'s tests that take the next word as their value (findutils 4.10, GNU find's manual):
/// the value is skipped, so it is never read as an operator or a test of its own.
const FIND_TESTS_WITH_VALUE: &[&str] = &[
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-lname",
    "-ilname",
    "-type",
    "-xtype",
    "-user",
    "-group",
    "-uid",
    "-gid",
    "-perm",
    "-size",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-newer",
    "-anewer",
    "-cnewer",
    "-samefile",
    "-inum",
    "-links",
    "-maxdepth",
    "-mindepth",
    "-fstype",
    "-context",
    "-used",
    "-printf",
    "-regextype",
    "-files0-from",
];

/// Whether find's name pattern may match `name`, erring towards yes: letter case is ignored
/// (for `-iname`, and where the file system folds it) and a bracket expression counts as any
/// one character.
fn name_may_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|k| go(rest, &n[k..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => match rest.iter().skip(1).position(|&c| c == ']') {
                Some(close) => !n.is_empty() && go(&rest[close + 2..], &n[1..]),
                None => n.first() == Some(&'[') && go(rest, &n[1..]),
            },
            Some(('\\', rest)) if !rest.is_empty() => {
                n.first()
                    .is_some_and(|c| c.to_lowercase().eq(rest[0].to_lowercase()))
                    && go(&rest[1..], &n[1..])
            }
            Some((c, rest)) => {
                n.first()
                    .is_some_and(|m| m.to_lowercase().eq(c.to_lowercase()))
                    && go(rest, &n[1..])
            }
        }
    }
    if pattern.len() > 256 {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Bounded: a pattern of many stars against a long name is exponential in the worst case.
    p.iter().filter(|&&c| c == '*').count() > 8 || go(&p, &n)
}

/// The paths a `find` whose expression selects by `name` deletes or prints below `start`, as
/// shell globs: the entries with that name at any depth, and whether `start` itself may be one
/// (find tests its starting points too). find's `-name` is fnmatch(3) without `FNM_PERIOD`:
/// its `*`, `?` and `[…]` match a leading dot, which a shell glob's do not, so a pattern that
/// begins with one also gives the dotted names spelt out (`*env` → `.*env`, which `.env`
/// matches). With `-iname` the lower-cased pattern is added, for rules written in lower case.
fn find_named(start: &str, name: &str, ignore_case: bool) -> (Vec<String>, bool) {
    let base = start.trim_end_matches('/');
    let (prefix, last) = if base.is_empty() {
        ("/**/".to_string(), "/")
    } else {
        (
            format!("{base}/**/"),
            base.rsplit('/').next().unwrap_or(base),
        )
    };
    let mut names = vec![name.to_string()];
    if ignore_case && name.to_lowercase() != name {
        names.push(name.to_lowercase());
    }
    for n in names.clone() {
        names.extend(crate::folders::dotted_names(&n));
    }
    let itself = names.iter().any(|n| name_may_match(n, last));
    (
        names.iter().map(|n| format!("{prefix}{n}")).collect(),
        itself,
    )
}

/// What a `find` prints, when it prints only names and selects them by name: globs the printed
/// paths match (`find . -name '*.rs'` → `./**/*.rs`), so that what a consumer does with them
/// (`| xargs cat`) is judged as done to those paths. `None` when the output could be anything
/// else: no name test, alternatives or negations, an action other than `-print`/`-print0`
/// (`-printf` prints any text), or a word not known before the command runs.
pub(crate) fn find_output_globs(args: &[Word]) -> Option<Vec<String>> {
    find_selection(args, false)
}

/// The globs the entries a `find` selects by name match (see [`find_output_globs`]); with
/// `actions`, whatever its actions (`-exec CMD {} ;` is handed exactly those entries).
fn find_selection(args: &[Word], actions: bool) -> Option<Vec<String>> {
    let mut starts: Vec<&str> = Vec::new();
    let mut name: Option<&str> = None;
    let mut ignore_case = false;
    let mut i = 0;
    let mut in_starts = true;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if in_starts && !t.is_empty() && (t.starts_with('-') || t == "(" || t == "!") {
            in_starts = false;
        }
        if in_starts {
            if !w.literal {
                return None;
            }
            starts.push(t);
            i += 1;
            continue;
        }
        match t {
            "-name" | "-iname" => {
                let value = args.get(i + 1)?;
                if !value.literal {
                    return None;
                }
                name = Some(value.text.as_str());
                ignore_case = t == "-iname";
                i += 2;
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" if actions => {
                while args.get(i).is_some_and(|w| w.text != ";" && w.text != "+") {
                    i += 1;
                }
                i += 1;
            }
            // `-printf FORMAT` prints any text.
            "-printf" if !actions => return None,
            "-fprint" | "-fprint0" | "-fls" | "-fprintf" if actions => i += 2,
            _ if FIND_TESTS_WITH_VALUE.contains(&t) || t.starts_with("-newer") => i += 2,
            "-print" | "-print0" | "-a" | "-and" => i += 1,
            "-delete" | "-ls" | "-prune" | "-quit" if actions => i += 1,
            // Tests and options without a value; not an action that prints, runs or deletes,
            // nor an operator.
            _ if t.starts_with('-')
                && !t.starts_with("-exec")
                && !t.starts_with("-ok")
                && !t.starts_with("-fprint")
                && !matches!(
                    t,
                    "-o" | "-or" | "-not" | "-delete" | "-ls" | "-fls" | "-prune" | "-quit"
                ) =>
            {
                i += 1
            }
            _ => return None,
        }
    }
    let name = name.filter(|n| !n.is_empty() && !n.contains('/'))?;
    if starts.is_empty() {
        starts.push(".");
    }
    let mut globs = Vec::new();
    for start in starts {
        let (below, itself) = find_named(start, name, ignore_case);
        globs.extend(below);
        if itself {
            globs.push(start.to_string());
        }
    }
    Some(globs)
}

/// Programs that print the whole of every file they are given (so every entry a `find -exec`
/// hands them, dot files included, reaches the output).
pub(crate) const WHOLE_FILE_PRINTERS: &[&str] = &[
    "cat", "tac", "nl", "head", "tail", "more", "less", "most", "bat", "batcat", "strings", "xxd",
    "od", "hexdump", "hd", "base64", "base32", "basenc", "rev", "paste", "pr", "fold", "fmt",
    "column", "tee", "cp", "rsync", "scp", "curl", "zip", "tar",
];

pub(crate) fn find(args: &[Word], info: &mut Info) {
    let selection = find_selection(args, true);
    let mut i = 0;
    let mut starts: Vec<usize> = Vec::new();
    let mut in_starts = true;
    let mut deletes = false;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if in_starts && (t.starts_with('-') || t == "(" || t == "!") && !t.is_empty() {
            in_starts = false;
        }
        if in_starts {
            starts.push(i);
            i += 1;
            continue;
        }
        if t == "-files0-from"
            && let Some(f) = args.get(i + 1)
        {
            // The starting points are read from the file, and each one that is not a path is
            // printed back in an error message: `find -files0-from .env` prints `.env`'s
            // lines, as `wc --files0-from` does.
            info.access(AccessKind::Read, f, "find -files0-from");
        }
        match t {
            _ if matches!(t, "-name" | "-iname")
                || FIND_TESTS_WITH_VALUE.contains(&t)
                || t.starts_with("-newer") =>
            {
                i += 2;
                continue;
            }
            _ => {}
        }
        match t {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let start = i + 1;
                let mut j = start;
                while args.get(j).is_some_and(|w| w.text != ";" && w.text != "+") {
                    j += 1;
                }
                info.words(args, start, j, &format!("find {t}"), Stdin::Terminal);
                // The command is handed the entries found, in place of `{}`: judged once more
                // with them there (`-exec rm {} ;` after `-name settings.json` deletes
                // `./**/settings.json`).
                let command: Vec<&Word> = args.get(start..j).unwrap_or_default().iter().collect();
                if command.iter().skip(1).any(|w| w.text.contains("{}")) {
                    // Without a name test, every entry below the starting points, as the
                    // folder reads of `-exec` (crate::folders) have them.
                    let everything = || -> Vec<String> {
                        let roots: Vec<&Word> = args
                            .iter()
                            .take_while(|w| {
                                !(w.text.starts_with('-') || w.text == "(" || w.text == "!")
                            })
                            .collect();
                        if roots.iter().any(|w| !w.path_literal) {
                            return vec![RUN_TIME_ARGUMENT.to_string()];
                        }
                        let roots: Vec<&str> = roots.iter().map(|w| w.path.as_str()).collect();
                        let roots = if roots.is_empty() { vec!["."] } else { roots };
                        // find's entries include dot files, which the shell's `**` does not
                        // name: a program that prints whole files (`-exec cat {} +`) prints
                        // `.env` too, so its entries are also every dot file below. (A search
                        // or count, `-exec grep -l x {} +`, is judged on `DIR/**` as
                        // `grep -r` is.)
                        let prints = command.first().is_some_and(|w| {
                            WHOLE_FILE_PRINTERS.contains(&crate::canon::basename(&w.text))
                        });
                        roots
                            .iter()
                            .flat_map(|r| {
                                let dir = match r.trim_end_matches('/') {
                                    "" if r.starts_with('/') => "/".to_string(),
                                    "" | "." => String::new(),
                                    dir => format!("{dir}/"),
                                };
                                let mut globs = vec![format!("{dir}**")];
                                if prints {
                                    globs.push(format!("{dir}**/.*"));
                                }
                                globs
                            })
                            .map(|g| sh_quote(&g))
                            .collect()
                    };
                    let items = match &selection {
                        Some(globs) => globs.iter().map(|g| sh_quote(g)).collect(),
                        None => everything(),
                    };
                    with_items(
                        &command,
                        Some("{}"),
                        items,
                        &format!("find {t} (its entries)"),
                        info,
                    );
                }
                i = j + 1;
            }
            "-delete" => {
                deletes = true;
                i += 1;
            }
            "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                if let Some(f) = args.get(i + 1) {
                    info.access(AccessKind::Write, f, format!("find {t}"));
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    // Without a starting point find searches `.` (findutils find(1)).
    let dot = args.first().map(|w| Word::derived(w, "."));
    if deletes {
        info.class(RiskClass::RecursiveDelete);
        // With a name pattern in a plain conjunction, what is deleted is the entries below each
        // starting point with such a name ([`find_selection`]): `find . -name '*.pyc' -delete`
        // deletes `./**/*.pyc`, not `.` (which would take `.cavra/` along). `-delete` removes a
        // folder only once it is empty, so nothing below a matched folder goes unless it
        // matches too.
        if let (Some(globs), Some(parent)) = (&selection, args.first()) {
            for glob in globs {
                info.access(
                    AccessKind::Delete,
                    &Word::derived(parent, glob),
                    "find -delete -name",
                );
            }
            return;
        }
        if starts.is_empty()
            && let Some(d) = &dot
        {
            info.access(AccessKind::Delete, d, "find -delete (from .)");
        }
        for s in starts {
            if let Some(w) = args.get(s) {
                info.access(AccessKind::Delete, w, "find -delete");
            }
        }
    }
}
