//! Commands that touch whole folders: a moved or renamed folder takes everything under it
//! along, a folder copied or moved into place brings everything under it, git's working-tree
//! resets rewrite every file, and a recursive search reads every file under its folders.
//!
//! These are reported as accesses of `FOLDER/**` (`**` for the whole working tree), beside
//! the accesses of the operands themselves; the engine judges such a path against every rule
//! whose pattern lies under the folder (`mv .github gh` is a write of `.github/workflows/…`),
//! and the built-in guard against the paths it protects.

use crate::AccessKind;
use crate::opts::{self, Spec};
use crate::tools::{Info, texts};
use crate::words::Word;

/// `FOLDER/**` for a word (`**` for `.`, `./` and `:/`).
pub(crate) fn subtree(w: &Word) -> Word {
    let dir = w.path.trim_end_matches('/');
    let text = if dir.is_empty() && w.path.starts_with('/') {
        "/**".to_string()
    } else if matches!(dir, "" | "." | ":") {
        "**".to_string()
    } else {
        format!("{dir}/**")
    };
    Word::derived(w, &text)
}

/// The whole working tree, for commands that rewrite or remove every file in it.
fn everything(args: &[Word], info: &mut Info, kind: AccessKind, reason: &str) {
    if let Some(first) = args.first() {
        let mut w = Word::derived(first, "**");
        w.path = "**".to_string();
        w.path_literal = true;
        info.access(kind, &w, reason);
    }
}

/// Applies to one simple command with base name `base`.
pub(crate) fn inspect(base: &str, args: &[Word], info: &mut Info) {
    match base {
        "mv" | "cp" => moves(base, args, info),
        "rename" | "prename" | "file-rename" => {
            for w in args.iter().filter(|w| !w.text.starts_with('-')) {
                info.access(
                    AccessKind::Delete,
                    &subtree(w),
                    format!("renamed by {base}"),
                );
            }
        }
        "grep" | "egrep" | "fgrep" | "zgrep" => {
            let recursive = args.iter().any(|w| {
                let t = w.text.as_str();
                t == "--recursive"
                    || t == "--dereference-recursive"
                    || t == "--directories=recurse"
                    || (t.starts_with('-') && !t.starts_with("--") && t.contains(['r', 'R']))
            });
            if recursive {
                searched_folders(base, args, "efmABCdD", info);
            }
        }
        "rg" | "ag" | "ack" => searched_folders(base, args, "efmABCgtTjMrEd", info),
        "fd" | "fdfind" => fd(args, info),
        "find" => find(args, info),
        // tree(1) 2.1: `-R` runs tree again in every folder it lists, writing `00Tree.html`.
        "tree" if args.iter().any(|w| w.text == "-R") => {
            let roots: Vec<&Word> = args.iter().filter(|w| !w.text.starts_with('-')).collect();
            let here = args.first().map(|w| Word::derived(w, "."));
            for root in if roots.is_empty() {
                here.iter().collect()
            } else {
                roots
            } {
                info.access(
                    AccessKind::Write,
                    &subtree(root),
                    "tree -R (a listing in every folder)",
                );
            }
        }
        "git" => git(args, info),
        _ => {}
    }
}

/// `mv SRC… DEST` (and `cp -r`): a source folder leaves with everything under it, and the
/// destination receives everything the sources held.
fn moves(base: &str, args: &[Word], info: &mut Info) {
    let p = opts::parse(
        args,
        &Spec {
            short_val: "St",
            long_val: &["target-directory", "suffix"],
            stop_at_operand: false,
        },
    );
    if base == "cp" && !opts::has(&p, &["r", "R", "a", "recursive", "archive"]) {
        return;
    }
    let ops: Vec<&Word> = opts::operands(&p)
        .into_iter()
        .filter_map(|i| args.get(i))
        .collect();
    let targets = opts::values(&p, &["t", "target-directory"]);
    let (sources, dests): (&[&Word], Vec<&Word>) = if targets.is_empty() {
        match ops.split_last() {
            Some((last, sources)) if !sources.is_empty() => (sources, vec![*last]),
            _ => return,
        }
    } else {
        (&ops, targets)
    };
    if base == "mv" {
        for s in sources {
            info.access(
                AccessKind::Delete,
                &subtree(s),
                "folder moved away by mv (everything under it)",
            );
        }
    }
    for d in dests {
        info.access(
            AccessKind::Write,
            &subtree(d),
            format!("destination of {base} (everything a moved folder holds)"),
        );
    }
}

/// A recursive search reads every file under the folders it is given.
fn searched_folders(base: &str, args: &[Word], short_val: &'static str, info: &mut Info) {
    let p = opts::parse(
        args,
        &Spec {
            short_val,
            long_val: &[
                "regexp",
                "file",
                "glob",
                "type",
                "max-count",
                "context",
                "include",
                "exclude",
                "exclude-dir",
                "pre",
                "pre-glob",
                "type-not",
                "iglob",
                "max-depth",
            ],
            stop_at_operand: false,
        },
    );
    let skip = usize::from(!opts::has(&p, &["e", "f", "regexp", "file"]));
    let folders: Vec<&Word> = opts::operands(&p)
        .into_iter()
        .skip(skip)
        .filter_map(|i| args.get(i))
        .collect();
    for w in &folders {
        info.access(
            AccessKind::Read,
            &subtree(w),
            format!("searched by {base} (every file under it)"),
        );
    }
    // A search that prints every line of what it reads is a whole-file printer: its dot files
    // (which the shell's `**` does not name) reach the output, `.env` included.
    if searches_dot_files(base, args) && prints_every_line(base, args, &p) {
        let here = args.first().map(|w| Word::derived(w, "."));
        let roots: Vec<&Word> = if folders.is_empty() {
            here.iter().collect()
        } else {
            folders.clone()
        };
        // An operand named like a file (`src/main.rs`, `config.json`) holds no dot files;
        // `conf.d` and `.github` are folders.
        let named_like_a_file = |w: &Word| {
            let name = w
                .path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            name.char_indices().skip(1).any(|(i, c)| {
                c == '.'
                    && name.get(i + 1..).is_some_and(|ext| {
                        ext.len() >= 2 && ext.chars().all(|e| e.is_ascii_alphanumeric())
                    })
            })
        };
        for root in roots.into_iter().filter(|w| !named_like_a_file(w)) {
            info.access(
                AccessKind::Read,
                &filtered(root, &Word::derived(root, ".*")),
                format!("dot files {base} prints whole (its pattern matches every line)"),
            );
        }
    }
    // A file filter (`grep -r --include=.env`, `rg -g '.env*'`) says which files are read:
    // a name pattern of the pack that may sit anywhere is not assumed to be in a folder, but
    // a filter naming it reads it.
    let filters: Vec<&Word> = opts::values(&p, &["include", "g", "glob", "iglob"])
        .into_iter()
        .filter(|g| !g.text.starts_with('!'))
        .collect();
    if filters.is_empty() {
        return;
    }
    let here = args.first().map(|w| Word::derived(w, "."));
    let roots: Vec<&Word> = if folders.is_empty() {
        here.iter().collect()
    } else {
        folders
    };
    for root in roots {
        for g in &filters {
            for variant in dotted(g) {
                info.access(
                    AccessKind::Read,
                    &filtered(root, &variant),
                    format!("files {base} searches, by its filter"),
                );
            }
        }
    }
}

/// Whether a recursive search reads dot files: grep, ack and ag (`-u`, `--hidden`) do; ripgrep
/// only with `--hidden`, `-.` or `-uu` (one `-u` only stops honouring ignore files).
fn searches_dot_files(base: &str, args: &[Word]) -> bool {
    let short_letters = |letter: char| -> usize {
        args.iter()
            .map(|w| w.text.as_str())
            .take_while(|t| *t != "--")
            .filter(|t| t.starts_with('-') && !t.starts_with("--"))
            .map(|t| t.chars().filter(|c| *c == letter).count())
            .sum()
    };
    let long = |name: &str| {
        args.iter()
            .map(|w| w.text.as_str())
            .take_while(|t| *t != "--")
            .filter(|t| *t == name)
            .count()
    };
    match base {
        "rg" => {
            long("--hidden") > 0
                || short_letters('.') > 0
                || short_letters('u') + long("--unrestricted") >= 2
        }
        "ag" => long("--hidden") > 0 || short_letters('u') > 0 || long("--unrestricted") > 0,
        _ => true,
    }
}

/// The lines of credentials files, by the files' shapes (dotenv assignments, YAML keys): a
/// pattern that matches every line of one shape prints such a file whole (`grep -r . .`,
/// `grep -r = .`, `rg -uu ''`).
const SECRET_FILE_SHAPES: &[&[&str]] = &[
    &[
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI",
        "export TOKEN=abc123",
        "db_url = postgres://u:p@h/d",
    ],
    &["password: hunter2", "api_key: abc123"],
];

/// Whether a search prints every line of the files it reads: it prints matching lines (not
/// only names or counts), and either inverts the match (`-v`: every line but the matches) or
/// its patterns match every line of a credentials file. Patterns read from a file (`-f`) are
/// not known and count as not matching everything.
fn prints_every_line(base: &str, args: &[Word], parsed: &[opts::Parsed]) -> bool {
    let only_names_or_counts = opts::has(
        parsed,
        &[
            "l",
            "L",
            "c",
            "q",
            "files-with-matches",
            "files-without-match",
            "count",
            "count-matches",
            "quiet",
            "silent",
            "files",
        ],
    );
    if only_names_or_counts {
        return false;
    }
    if opts::has(parsed, &["v", "invert-match"]) {
        return true;
    }
    let given = opts::values(parsed, &["e", "regexp"]);
    let patterns: Vec<&str> = if !given.is_empty() {
        given.iter().map(|w| w.text.as_str()).collect()
    } else if opts::has(parsed, &["f", "file"]) {
        return false;
    } else {
        match opts::operands(parsed).first().and_then(|&i| args.get(i)) {
            Some(w) => vec![w.text.as_str()],
            None => return false,
        }
    };
    let fixed = base == "fgrep" || opts::has(parsed, &["F", "fixed-strings", "Q", "literal"]);
    let basic = matches!(base, "grep" | "zgrep")
        && !fixed
        && !opts::has(parsed, &["E", "P", "extended-regexp", "perl-regexp"]);
    let ignore_case = opts::has(parsed, &["i", "ignore-case"]);
    let whole_line = opts::has(parsed, &["x", "line-regexp"]);
    patterns.iter().any(|p| {
        // grep takes each line of a pattern as a pattern of its own.
        p.split('\n').any(|line| {
            let body = if fixed {
                regex::escape(line)
            } else if basic {
                basic_to_extended(line)
            } else {
                line.to_string()
            };
            let body = if whole_line {
                format!("^(?:{body})$")
            } else {
                body
            };
            regex::RegexBuilder::new(&body)
                .case_insensitive(ignore_case)
                .size_limit(1 << 16)
                .build()
                .is_ok_and(|re| {
                    SECRET_FILE_SHAPES
                        .iter()
                        .any(|lines| lines.iter().all(|l| re.is_match(l)))
                })
        })
    })
}

/// A POSIX basic regular expression in the syntax of the `regex` crate: in a BRE `+ ? ( ) { } |`
/// are literal and their escaped forms are operators (GNU).
fn basic_to_extended(bre: &str) -> String {
    let mut out = String::with_capacity(bre.len() + 4);
    let mut chars = bre.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n @ ('+' | '?' | '(' | ')' | '{' | '}' | '|')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push_str("\\\\"),
            },
            '+' | '?' | '(' | ')' | '{' | '}' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A search filter and the spellings of what it also selects: grep's and ripgrep's globs
/// (like find's `-name`) let a leading `*` or `?` match a leading dot, which the shell's do
/// not, so `*.env*` selects `.env` — judged as `.*.env*` and `.env*` too.
pub(crate) fn dotted(glob: &Word) -> Vec<Word> {
    let t = glob.text.as_str();
    // A filter of wildcards alone (`*`, `?*`) selects every file, as the search without a
    // filter does: the folder's read says it all.
    if t.chars().all(|c| c == '*' || c == '?') {
        return Vec::new();
    }
    let mut out = vec![glob.clone()];
    out.extend(dotted_names(t).iter().map(|n| Word::derived(glob, n)));
    out
}

/// The names beginning with a dot that a find or search name pattern selects, spelt as shell
/// globs (whose wildcards never take a leading dot): fnmatch(3) without `FNM_PERIOD`, as find's
/// `-name` and the searchers' globs use it, lets `*`, `?` and `[…]` take it. `*env` → `.*env`;
/// `*.env` → `.*.env` and `.env` (the star may be empty); `?env` and `[._]env` → `.env`.
pub(crate) fn dotted_names(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rest) = t.strip_prefix('*') {
        out.push(format!(".{t}"));
        if rest.starts_with('.') {
            out.push(rest.to_string());
        }
    } else if let Some(rest) = t.strip_prefix('?') {
        out.push(format!(".{rest}"));
    } else if t.starts_with('[')
        && let Some(close) = t
            .get(1..)
            .and_then(|r| r.get(1..))
            .and_then(|r| r.find(']'))
    {
        // A class that may hold the dot (`[._]env`): the name with a dot in its place. (The
        // first character after `[` or `[!` may be `]` itself.)
        out.push(format!(".{}", &t[close + 3..]));
    }
    out
}

/// The files a search filter `glob` selects under folder `root`: `ROOT/**/GLOB` for a name
/// pattern, `ROOT/GLOB` for one with a `/`.
fn filtered(root: &Word, glob: &Word) -> Word {
    let dir = root.path.trim_end_matches('/');
    let pattern = glob.text.trim_start_matches('/');
    let text = match (matches!(dir, "" | "."), pattern.contains('/')) {
        (true, true) => pattern.to_string(),
        (true, false) => format!("**/{pattern}"),
        (false, true) => format!("{dir}/{pattern}"),
        (false, false) => format!("{dir}/**/{pattern}"),
    };
    let mut w = Word::derived(root, &text);
    w.literal = root.literal && glob.literal;
    w.path_literal = w.path_literal && glob.path_literal;
    w
}

/// `fd PATTERN [PATH…] -x|-X CMD` runs a command on every file it finds: the files under the
/// paths (`.` by default) that the pattern selects are read. The pattern is a regular
/// expression searched in the file name (a glob with `-g`); hidden files take part only with
/// `-H`/`--hidden` (or `-u`).
fn fd(args: &[Word], info: &mut Info) {
    let runs = args.iter().any(|w| {
        matches!(w.text.as_str(), "-x" | "-X" | "--exec" | "--exec-batch")
            || w.text.starts_with("--exec=")
            || w.text.starts_with("--exec-batch=")
    });
    if !runs {
        return;
    }
    // Words before the command: the command and its arguments follow -x/-X.
    let before: Vec<&Word> = args
        .iter()
        .take_while(|w| !matches!(w.text.as_str(), "-x" | "-X" | "--exec" | "--exec-batch"))
        .collect();
    let value_options = [
        "-e",
        "--extension",
        "-t",
        "--type",
        "-d",
        "--max-depth",
        "--min-depth",
        "--exact-depth",
        "-E",
        "--exclude",
        "-S",
        "--size",
        "--changed-within",
        "--changed-before",
        "-o",
        "--owner",
        "--base-directory",
        "--search-path",
        "-j",
        "--threads",
        "--max-results",
        "--ignore-file",
        "-c",
        "--color",
        "--path-separator",
        "--batch-size",
        "--format",
    ];
    let mut operands: Vec<&Word> = Vec::new();
    let mut search_paths: Vec<&Word> = Vec::new();
    let mut i = 0;
    while let Some(w) = before.get(i) {
        let t = w.text.as_str();
        if t == "--search-path" || t == "--base-directory" {
            if let Some(v) = before.get(i + 1) {
                search_paths.push(v);
            }
            i += 2;
        } else if value_options.contains(&t) {
            i += 2;
        } else if t.starts_with('-') && t.len() > 1 {
            i += 1;
        } else {
            operands.push(w);
            i += 1;
        }
    }
    let glob = args
        .iter()
        .any(|w| matches!(w.text.as_str(), "-g" | "--glob"));
    let hidden = args.iter().any(|w| {
        matches!(w.text.as_str(), "--hidden" | "--unrestricted")
            || (w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains(['H', 'u']))
    });
    // The program -x/-X runs: one that prints whole files (`cat`) prints every dot file fd
    // hands it with `-H`, which the shell's `**` does not name (as with `find -exec cat`).
    let command = args
        .iter()
        .position(|w| matches!(w.text.as_str(), "-x" | "-X" | "--exec" | "--exec-batch"))
        .and_then(|i| args.get(i + 1))
        .map(|w| w.text.as_str())
        .or_else(|| {
            args.iter().find_map(|w| {
                w.text
                    .strip_prefix("--exec=")
                    .or_else(|| w.text.strip_prefix("--exec-batch="))
            })
        });
    let prints = command
        .is_some_and(|c| crate::tools::WHOLE_FILE_PRINTERS.contains(&crate::canon::basename(c)));
    let pattern = operands.first().copied();
    let extensions: Vec<&Word> = before
        .windows(2)
        .filter(|pair| matches!(pair[0].text.as_str(), "-e" | "--extension"))
        .map(|pair| pair[1])
        .collect();
    let selects_every_name = pattern.is_none_or(|p| {
        let name = if glob {
            Some(p.text.clone())
        } else {
            regex_as_glob(&p.text)
        };
        // A regular expression too complex to read as a glob may select any name.
        name.is_none_or(|n| n.chars().all(|c| c == '*' || c == '?'))
    });
    let mut roots: Vec<&Word> = operands.iter().skip(1).copied().collect();
    roots.extend(search_paths);
    let here = args.first().map(|w| Word::derived(w, "."));
    if roots.is_empty() {
        roots.extend(here.iter());
    }
    for root in &roots {
        info.access(
            AccessKind::Read,
            &subtree(root),
            "files found by fd and handed to -x",
        );
        // Every dot file, when the pattern selects every name (a pattern that names some, as
        // `env`, is judged by its spellings below); `-e EXT` keeps those ending in `.EXT`.
        if hidden && prints && selects_every_name {
            let dot_names: Vec<String> = if extensions.is_empty() {
                vec![".*".to_string()]
            } else {
                extensions
                    .iter()
                    .map(|e| format!(".*.{}", e.text.trim_start_matches('.')))
                    .collect()
            };
            for name in dot_names {
                info.access(
                    AccessKind::Read,
                    &filtered(root, &Word::derived(root, &name)),
                    "dot files found by fd -H and printed by -x",
                );
            }
        }
        let Some(p) = pattern else { continue };
        let name = if glob {
            Some(p.text.clone())
        } else {
            regex_as_glob(&p.text)
        };
        let Some(name) = name else { continue };
        let dot_first = name.strip_prefix("*?").map(|rest| format!(".{rest}"));
        let name = Word::derived(p, &name);
        let mut variants = dotted(&name);
        if !hidden {
            variants.truncate(1);
        }
        // `.env` as a regular expression: its `.` may be the name's leading dot.
        if let Some(d) =
            dot_first.filter(|d| hidden && !d[1..].chars().all(|c| c == '*' || c == '?'))
        {
            variants.push(Word::derived(&name, &d));
        }
        for v in variants {
            info.access(
                AccessKind::Read,
                &filtered(root, &v),
                "files fd selects for -x",
            );
        }
    }
}

/// A regular expression searched in a file name, as a glob of the names it matches, when it
/// is plain enough: literal text, `.` (any one character), `.*`, `^` and `$` anchors, `\.`.
fn regex_as_glob(re: &str) -> Option<String> {
    let (body, anchored_start) = match re.strip_prefix('^') {
        Some(b) => (b, true),
        None => (re, false),
    };
    let (body, anchored_end) = match body.strip_suffix('$') {
        Some(b) if !b.ends_with('\\') => (b, true),
        _ => (body, false),
    };
    let mut out = String::new();
    if !anchored_start {
        out.push('*');
    }
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if !e.is_ascii_alphanumeric() => out.push(e),
                _ => return None,
            },
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push('*');
            }
            '.' => out.push('?'),
            c if "[](){}|+*?^$".contains(c) => return None,
            c => out.push(c),
        }
    }
    if !anchored_end {
        out.push('*');
    }
    Some(out)
}

/// `find DIR … -exec CMD {} ;` runs a command on every file under DIR: each is read.
fn find(args: &[Word], info: &mut Info) {
    let runs = args
        .iter()
        .any(|w| matches!(w.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"));
    if !runs {
        return;
    }
    let roots: Vec<&Word> = args
        .iter()
        .take_while(|w| !(w.text.starts_with('-') || w.text == "(" || w.text == "!"))
        .collect();
    for w in &roots {
        info.access(
            AccessKind::Read,
            &subtree(w),
            "files found by find and handed to -exec",
        );
    }
    // What the tests select is handed to the command: `find . -name '.env*' -exec grep …`
    // reads `.env`, whichever folder it sits in.
    let here = args.first().map(|w| Word::derived(w, "."));
    let roots: Vec<&Word> = if roots.is_empty() {
        here.iter().collect()
    } else {
        roots
    };
    for pair in args.windows(2) {
        let [test, value] = pair else { continue };
        let by_name = matches!(test.text.as_str(), "-name" | "-iname");
        let by_path = matches!(test.text.as_str(), "-path" | "-ipath" | "-wholename");
        if by_path {
            info.access(
                AccessKind::Read,
                value,
                "files find selects by path for -exec",
            );
        } else if by_name {
            for root in &roots {
                for variant in dotted(value) {
                    info.access(
                        AccessKind::Read,
                        &filtered(root, &variant),
                        "files find selects by name for -exec",
                    );
                }
            }
        }
    }
}

/// Whether `text` could be a ref or revision (`main`, `HEAD~2`, `origin/x`): no component
/// begins with `.` (git-check-ref-format(1): no component may) and it is not a pathspec magic
/// (`:/`, `:(top)…`).
fn could_name_a_ref(text: &str) -> bool {
    !text.starts_with(':')
        && !text.contains(['*', '?', '['])
        && !text.split('/').any(|c| c.starts_with('.'))
}

/// The pathspecs of `git stash [push] …`: every word after `--`, and before it the operands
/// after `push` that are no option's value (`-m MESSAGE`, `--pathspec-from-file FILE`).
fn stash_pathspecs(rest: &[Word]) -> Vec<&Word> {
    let mut out = Vec::new();
    let mut skip = false;
    let mut after_dashes = false;
    for w in rest
        .iter()
        .skip(usize::from(rest.first().is_some_and(|w| w.text == "push")))
    {
        let t = w.text.as_str();
        if after_dashes {
            out.push(w);
        } else if std::mem::take(&mut skip) {
        } else if t == "--" {
            after_dashes = true;
        } else if matches!(t, "-m" | "--message" | "--pathspec-from-file") {
            skip = true;
        } else if !t.starts_with('-') {
            out.push(w);
        }
    }
    out
}

/// The operands of a git subcommand, without the values of its options that take one as the
/// next word (`git restore -s HEAD~1 x`: `x`), up to `--`.
fn git_operands<'a>(rest: &'a [Word], sub: &str) -> Vec<&'a Word> {
    let with_value: &[&str] = match sub {
        "checkout" => &["-b", "-B", "--orphan", "--conflict", "--pathspec-from-file"],
        "restore" => &["-s", "--source", "--conflict", "--pathspec-from-file"],
        "checkout-index" => &["--prefix", "--stage"],
        _ => &[],
    };
    let mut out = Vec::new();
    let mut skip = false;
    for w in rest.iter().take_while(|w| w.text != "--") {
        if std::mem::take(&mut skip) {
            continue;
        }
        if with_value.contains(&w.text.as_str()) {
            skip = true;
        } else if !w.text.starts_with('-') {
            out.push(w);
        }
    }
    out
}

/// git commands that rewrite or remove files across the working tree.
fn git(args: &[Word], info: &mut Info) {
    let words = texts(args);
    let Some(sub) = crate::canon::git_subcommand_index(&words) else {
        return;
    };
    let rest = args.get(sub + 1..).unwrap_or(&[]);
    let has = |names: &[&str]| {
        rest.iter().take_while(|w| w.text != "--").any(|w| {
            let t = w.text.as_str();
            names.contains(&t)
                || names.iter().any(|n| {
                    n.len() == 2
                        && !t.starts_with("--")
                        && t.starts_with('-')
                        && t.contains(&n[1..])
                })
        })
    };
    let operands: Vec<&Word> = rest.iter().filter(|w| !w.text.starts_with('-')).collect();
    match words.get(sub).copied() {
        Some("mv") => {
            if let Some((dest, sources)) = operands.split_last() {
                for s in sources {
                    info.access(AccessKind::Delete, &subtree(s), "folder moved by git mv");
                }
                info.access(AccessKind::Write, &subtree(dest), "destination of git mv");
            }
        }
        Some("stash") => {
            let listing = operands.first().is_some_and(|s| {
                matches!(
                    s.text.as_str(),
                    "list" | "show" | "drop" | "clear" | "branch" | "create"
                )
            });
            if !listing && has(&["-u", "--include-untracked", "-a", "--all"]) {
                everything(
                    args,
                    info,
                    AccessKind::Delete,
                    "git stash -u (untracked files leave the working tree)",
                );
            }
            // `git stash push [--] PATHSPEC…` (`git stash -- PATHSPEC…`) puts the committed
            // version back in those paths (and takes staged new files away): a write of each,
            // folders as what they hold (`git stash push -- .claude`).
            let push = rest
                .first()
                .is_some_and(|w| w.text == "push" || w.text.starts_with('-'));
            if push {
                for path in stash_pathspecs(rest) {
                    info.access(AccessKind::Write, path, "pathspec of git stash push");
                    info.access(
                        AccessKind::Write,
                        &subtree(path),
                        "pathspec of git stash push",
                    );
                }
            }
        }
        Some("clean") if has(&["-f", "--force"]) && !has(&["-n", "--dry-run"]) => {
            everything(
                args,
                info,
                AccessKind::Delete,
                "git clean (removes untracked files)",
            );
        }
        Some("reset") if has(&["--hard", "--merge", "--keep"]) => {
            everything(
                args,
                info,
                AccessKind::Write,
                "git reset --hard (rewrites every tracked file)",
            );
        }
        Some("switch") if has(&["--orphan", "-f", "--force", "--discard-changes"]) => {
            everything(
                args,
                info,
                AccessKind::Write,
                "git switch (rewrites the working tree)",
            );
        }
        Some(name @ ("checkout" | "restore")) => {
            if name == "checkout" && has(&["-f", "--force", "--orphan"]) {
                everything(
                    args,
                    info,
                    AccessKind::Write,
                    "git checkout -f (rewrites the working tree)",
                );
            }
            // Pathspecs: after `--`; else (restore) every operand; else (checkout) the operands
            // past a first one that may name a commit, and any operand no ref can be named
            // (`.`, `:/`, a component beginning with `.`: git-check-ref-format(1)), which git
            // can only read as a pathspec — every protected path has such a component.
            let after: Vec<&Word> = rest.iter().skip_while(|w| w.text != "--").skip(1).collect();
            // Paths after `--` are also written as themselves by `tools::git_accesses`.
            let named_after_dashes = !after.is_empty();
            let operands = git_operands(rest, name);
            let specs: Vec<&Word> = if !after.is_empty() {
                after
            } else if name == "restore" {
                operands
            } else if has(&["-b", "-B", "--orphan", "--detach"]) {
                // A branch and its start point, no pathspec.
                Vec::new()
            } else {
                operands
                    .iter()
                    .enumerate()
                    .filter(|(i, w)| *i > 0 || !could_name_a_ref(&w.text))
                    .map(|(_, w)| *w)
                    .collect()
            };
            for w in specs {
                if !named_after_dashes {
                    info.access(AccessKind::Write, w, format!("git {name} of a pathspec"));
                }
                info.access(
                    AccessKind::Write,
                    &subtree(w),
                    format!("git {name} of a pathspec (every file under it)"),
                );
            }
        }
        // `git checkout-index -a` and `git read-tree -u` write index content over the working
        // tree; checkout-index's operands are the files it writes.
        Some("checkout-index") => {
            // `--prefix=DIR/` writes the files under DIR instead.
            let prefix = rest.iter().take_while(|w| w.text != "--").find_map(|w| {
                w.text
                    .strip_prefix("--prefix=")
                    .map(|p| Word::derived(w, p))
            });
            if let Some(p) = &prefix {
                info.access(
                    AccessKind::Write,
                    &subtree(p),
                    "git checkout-index --prefix (the folder it writes in)",
                );
            } else if has(&["-a", "--all"]) {
                everything(
                    args,
                    info,
                    AccessKind::Write,
                    "git checkout-index --all (rewrites every tracked file)",
                );
            }
            if prefix.is_none() {
                for w in git_operands(rest, "checkout-index") {
                    info.access(AccessKind::Write, w, "git checkout-index of a file");
                }
            }
        }
        Some("read-tree") if has(&["-u"]) => {
            everything(
                args,
                info,
                AccessKind::Write,
                "git read-tree -u (rewrites the working tree)",
            );
        }
        _ => {}
    }
}
