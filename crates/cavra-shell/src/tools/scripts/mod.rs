//! Programs with a command language of their own, whose script can run commands, read and write
//! files: awk (`system()`, pipes, `getline <`, `print >`), sed (`e`, `s///e`, `r`, `w`),
//! ed and ex (`!`, `r`, `w`), and the database shells sqlite3 (`.shell`, `.output`,
//! `readfile()`, the database file itself), psql (`\!`, `\o`, `\copy … program`) and
//! mysql/mariadb (`system`, `tee`, `pager`).
//!
//! Allowing `awk *` or `sqlite3 *` is common and reasonable: what makes such a command
//! dangerous is a handful of escapes in its script, which are read here and judged as what they
//! are. A command named by a literal is judged as that command; one built at run time (a
//! variable, a computed string, a script that runs its input) is code cavra cannot read, so
//! needs approval ([`RiskClass::InterpreterInlineCode`]). Scripts with no escape add nothing,
//! so ordinary `awk '{print $1}'` and `sed -n 1,20p` stay as the pack decides.

use super::*;

mod databases;

use databases::*;

/// What a script does beyond transforming text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Runs this command line.
    Command(String),
    /// Reads this file.
    Read(String),
    /// Writes this file.
    Write(String),
    /// Does something decided only at run time (a command or file from a variable, the
    /// pattern space run as a command, an editor).
    Opaque,
    /// Opens a network connection (gawk's `/inet/…` special files).
    Network,
}

/// Reads the scripts of `base` in `args` (and in a here-document or here-string on stdin) and
/// puts what they do into `info`.
pub(crate) fn inspect(base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
    let stdin_text = match stdin {
        Stdin::Code { text, .. } => Some(text.as_ref()),
        _ => None,
    };
    match base {
        "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => {
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "fvFeiEl",
                    long_val: &[
                        "file",
                        "assign",
                        "field-separator",
                        "source",
                        "include",
                        "exec",
                        "load",
                    ],
                    stop_at_operand: true,
                },
            );
            let mut programs: Vec<&Word> = opts::values(&p, &["e", "source"]);
            let from_file = !opts::values(&p, &["f", "file", "E", "exec"]).is_empty();
            if programs.is_empty()
                && !from_file
                && let Some(first) = opts::first_operand(&p).and_then(|i| args.get(i))
            {
                programs.push(first);
            }
            for w in opts::values(&p, &["i", "include", "l", "load"]) {
                info.access(AccessKind::Read, w, format!("library of {base}"));
                info.class(RiskClass::InterpreterInlineCode);
            }
            // A program in a file (`-f prog.awk`, which the agent may just have written) is
            // code cavra cannot read.
            if from_file {
                info.class(RiskClass::InterpreterInlineCode);
            }
            for w in programs {
                let mut escapes = awk(&w.text);
                escapes.extend(awk_input_files(&w.text));
                script_word(w, &escapes, &format!("{base} program"), info);
            }
        }
        "sed" | "gsed" => {
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "efl",
                    long_val: &["expression", "file", "line-length"],
                    stop_at_operand: false,
                },
            );
            // `--sandbox` makes GNU sed refuse e, r and w.
            if args.iter().any(|w| w.text == "--sandbox") {
                return;
            }
            let mut scripts: Vec<&Word> = opts::values(&p, &["e", "expression"]);
            if opts::has(&p, &["f", "file"]) {
                // A script in a file is code cavra cannot read (its `e`, `r`, `w`).
                info.class(RiskClass::InterpreterInlineCode);
            } else if scripts.is_empty()
                && let Some(first) = opts::first_operand(&p).and_then(|i| args.get(i))
            {
                scripts.push(first);
            }
            for w in scripts {
                script_word(w, &sed(&w.text), &format!("{base} script"), info);
            }
        }
        "ed" | "red" => {
            if let (Some(text), Some(at)) = (stdin_text, args.first()) {
                apply(&ed(text), at, &format!("{base} commands"), info);
            }
        }
        // A makefile read from standard input (`make -f - <<EOF`, `-f /dev/stdin`): its
        // recipes are commands written on the line but run only as make decides.
        "make" | "gmake" => {
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "CfIoWjlO",
                    long_val: &["directory", "file", "makefile", "include-dir", "jobs"],
                    stop_at_operand: false,
                },
            );
            if opts::values(&p, &["f", "file", "makefile"])
                .iter()
                .any(|w| {
                    matches!(
                        w.text.as_str(),
                        "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0"
                    )
                })
            {
                info.class(RiskClass::InterpreterInlineCode);
            }
        }
        // Info-ZIP's `-TT CMD` (a two-letter option the knowledge base's `-x`/`--name` forms
        // cannot spell; `--unzip-command` is there) runs CMD to test the archive.
        "zip" => {
            for pair in args.windows(2) {
                if let [flag, cmd] = pair
                    && flag.text == "-TT"
                {
                    info.code(&[cmd], "zip -TT", Stdin::Terminal);
                }
            }
        }
        // Vim's Ex commands given on the command line (`-c CMD`, `--cmd CMD`, `+CMD`): a `:!`
        // command runs a shell command; `:w`/`:r` write and read files. (The knowledge base
        // marks `-c` as code; reading the words here also finds them after `-es`, whose `s`
        // is Ex mode's silent flag rather than `-s SCRIPTIN`.)
        "vim" | "vi" | "nvim" | "view" | "vimdiff" | "ex" | "evim" | "rvim" | "gvim" => {
            let mut commands: Vec<&Word> = Vec::new();
            for (i, w) in args.iter().enumerate() {
                if matches!(w.text.as_str(), "-c" | "--cmd")
                    && let Some(v) = args.get(i + 1)
                {
                    commands.push(v);
                } else if w.text.len() > 1
                    && w.text.starts_with('+')
                    && !w.text[1..].starts_with(|c: char| c.is_ascii_digit() || c == '/')
                {
                    commands.push(w);
                }
            }
            // `ex FILE <<EOF … EOF` reads Ex commands from standard input, as ed does.
            if base == "ex"
                && let (Some(text), Some(at)) = (stdin_text, args.first())
            {
                apply(&ed(text), at, "ex commands", info);
            }
            for w in commands {
                let text = w.text.trim_start_matches('+').trim_start_matches(':');
                let found = ed(text);
                if found.is_empty() {
                    info.class(RiskClass::InterpreterInlineCode);
                }
                apply(&found, w, &format!("{base} command"), info);
            }
        }
        // A module loaded from a `data:` URL is inline code (`node --import data:text/javascript,…`).
        "node" | "nodejs" | "bun" | "deno" => {
            let loaders = [
                "--import",
                "--require",
                "-r",
                "--loader",
                "--experimental-loader",
            ];
            for (i, w) in args.iter().enumerate() {
                let value = match w.text.split_once('=') {
                    Some((name, value)) if loaders.contains(&name) => Some(value),
                    _ if loaders.contains(&w.text.as_str()) => {
                        args.get(i + 1).map(|v| v.text.as_str())
                    }
                    _ => None,
                };
                if value.is_some_and(|v| v.starts_with("data:")) {
                    info.class(RiskClass::InterpreterInlineCode);
                }
            }
        }
        // just's `--shell PROGRAM` runs every recipe line through PROGRAM.
        "just" => {
            for (i, w) in args.iter().enumerate() {
                if w.text == "--shell"
                    && let Some(v) = args.get(i + 1)
                {
                    info.code(&[v], "just --shell", Stdin::Terminal);
                } else if let Some(v) = w.text.strip_prefix("--shell=") {
                    info.code(&[&Word::derived(w, v)], "just --shell", Stdin::Terminal);
                }
            }
        }
        "sqlite3" => sqlite3(args, stdin_text, info),
        "psql" => {
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "cdfhLopPTUvFR",
                    long_val: &[
                        "command",
                        "dbname",
                        "file",
                        "host",
                        "log-file",
                        "output",
                        "port",
                        "pset",
                        "table-attr",
                        "username",
                        "set",
                        "variable",
                        "field-separator",
                        "record-separator",
                    ],
                    stop_at_operand: false,
                },
            );
            for w in opts::values(&p, &["o", "output", "L", "log-file"]) {
                info.access(AccessKind::Write, w, "psql output file");
            }
            // `-f FILE` runs FILE's statements (which may hold backslash commands too).
            for w in opts::values(&p, &["f", "file"]) {
                info.access(AccessKind::Read, w, "psql -f");
            }
            for w in opts::values(&p, &["c", "command"]) {
                apply(&psql(&w.text), w, "psql command", info);
            }
            if let (Some(text), Some(at)) = (stdin_text, args.first()) {
                apply(&psql(text), at, "psql input", info);
            }
        }
        "mysql" | "mariadb" => {
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "eDhPSuBp",
                    long_val: &[
                        "execute",
                        "database",
                        "host",
                        "port",
                        "socket",
                        "user",
                        "tee",
                        "pager",
                        "init-command",
                    ],
                    stop_at_operand: false,
                },
            );
            for w in opts::values(&p, &["tee"]) {
                info.access(AccessKind::Write, w, "mysql --tee");
            }
            for w in opts::values(&p, &["pager"]) {
                info.code(&[w], "mysql --pager", Stdin::Terminal);
            }
            for w in opts::values(&p, &["e", "execute", "init-command"]) {
                apply(&mysql(&w.text), w, "mysql statement", info);
            }
            if let (Some(text), Some(at)) = (stdin_text, args.first()) {
                apply(&mysql(text), at, "mysql input", info);
            }
        }
        _ => {}
    }
}

/// Puts `escapes`, found in the script written in `word`, into `info`.
/// A script given as one word: its escapes when the word is literal; code known only at run
/// time when it is not (`sed "$S"`, `awk "$PROGRAM"`: its text here is the expansion's
/// source, not the script).
fn script_word(word: &Word, escapes: &[Escape], label: &str, info: &mut Info) {
    if word.literal {
        apply(escapes, word, label, info);
    } else {
        info.class(RiskClass::InterpreterInlineCode);
    }
}

/// Whether a jq filter uses jq's `env` builtin or `$ENV` (outside string literals and
/// comments), which give the process's environment. `.env` and `."env"` are fields.
pub(crate) fn jq_reads_environment(filter: &str) -> bool {
    jq_names(filter, |word, field, sigil| {
        (word == "env" && !sigil && !field) || (word == "ENV" && sigil)
    })
}

/// Whether a jq filter loads a module (`import "m" as m;`, `include "m";`): jq code or data
/// from its library path (`~/.jq`, `-L DIR`), which cavra cannot read and which may print the
/// environment.
pub(crate) fn jq_loads_modules(filter: &str) -> bool {
    jq_names(filter, |word, field, sigil| {
        matches!(word, "import" | "include") && !field && !sigil
    })
}

/// Whether `found` holds for a name of the filter outside string literals and comments, given
/// the name, whether it is a field (`.` before it, spaces skipped) and whether `$` is its sigil.
fn jq_names(filter: &str, found: impl Fn(&str, bool, bool) -> bool) -> bool {
    let b = filter.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &filter[start..i];
                let field = filter[..start].trim_end().as_bytes().last().copied() == Some(b'.');
                let sigil = start > 0 && b[start - 1] == b'$';
                if found(word, field, sigil) {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// The backup suffix of GNU sed's `-iSUFFIX` / `--in-place=SUFFIX` (none when `-i` stands
/// alone), with the word that gave it. `-i` ends a cluster of flags (`-ni.bak`), and what
/// follows it in the word is the suffix.
pub(crate) fn sed_backup_suffix(args: &[Word]) -> Option<(&Word, String)> {
    for w in args {
        let t = w.text.as_str();
        if let Some(suffix) = t.strip_prefix("--in-place=") {
            return Some((w, suffix.to_string())).filter(|(_, s)| !s.is_empty());
        }
        let Some(cluster) = t.strip_prefix('-').filter(|c| !c.starts_with('-')) else {
            continue;
        };
        for (at, c) in cluster.char_indices() {
            match c {
                'i' => {
                    let suffix = &cluster[at + 1..];
                    return Some((w, suffix.to_string())).filter(|(_, s)| !s.is_empty());
                }
                'n' | 'E' | 'r' | 's' | 'u' | 'z' => {}
                // A value option (`-e`, `-f`, `-l`) or anything else: the rest is its value.
                _ => break,
            }
        }
    }
    None
}

/// Where GNU sed keeps the backup of `file` for `suffix`: the suffix added to the file's
/// name, or, when the suffix has a `*`, the suffix with each `*` replaced by the file as named
/// (GNU sed 4.9: `-i'bak/*.orig' sub/k` keeps `bak/sub/k.orig`), so `-i'.git/hooks/*'` copies
/// the file it edits into `.git/hooks/`.
pub(crate) fn sed_backup_path(file: &str, suffix: &str) -> String {
    if suffix.contains('*') {
        suffix.replace('*', file)
    } else {
        format!("{file}{suffix}")
    }
}

/// The input files an awk program adds for itself: a file named in `ARGV[…] = "FILE"` is read
/// as the main input (`BEGIN { ARGV[1] = ".env"; ARGC = 2 } { print }` prints `.env`). Any
/// other assignment to `ARGV`, or `ARGV` handed over whole (`split(s, ARGV)`), names files
/// only at run time. Reading an element (`print ARGV[1]`) or deleting one adds nothing.
fn awk_input_files(program: &str) -> Vec<Escape> {
    let b = program.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                if &program[start..i] != "ARGV" {
                    continue;
                }
                let rest = program[i..].trim_start();
                let Some(subscript) = rest.strip_prefix('[') else {
                    out.push(Escape::Opaque);
                    continue;
                };
                // After the subscript's closing bracket (subscripts nest: `ARGV[a[1]]`).
                let mut depth = 1usize;
                let mut end = None;
                for (at, c) in subscript.char_indices() {
                    match c {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(at + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    out.push(Escape::Opaque);
                    continue;
                };
                let after = subscript[end..].trim_start();
                let assigned = after.starts_with('=') && !after.starts_with("==");
                let updated = ["+=", "-=", "*=", "/=", "%=", "^=", "++", "--"]
                    .iter()
                    .any(|op| after.starts_with(op));
                if updated {
                    out.push(Escape::Opaque);
                } else if assigned {
                    let value = after[1..].trim_start();
                    match awk_tokens(value).as_slice() {
                        [AwkToken::Str(f), rest @ ..]
                            if matches!(
                                rest.first(),
                                None | Some(AwkToken::Punct(";" | "\n" | "}"))
                            ) =>
                        {
                            out.extend(file_escape(f, false));
                        }
                        _ => out.push(Escape::Opaque),
                    }
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn apply(escapes: &[Escape], word: &Word, label: &str, info: &mut Info) {
    for e in escapes {
        match e {
            Escape::Command(text) => {
                let w = Word::derived(word, text);
                info.code(&[&w], label, Stdin::Terminal);
            }
            Escape::Read(path) => {
                info.access(AccessKind::Read, &Word::derived(word, path), label);
            }
            Escape::Write(path) => {
                info.access(AccessKind::Write, &Word::derived(word, path), label);
            }
            Escape::Opaque => info.class(RiskClass::InterpreterInlineCode),
            Escape::Network => info.class(RiskClass::NetworkEgress),
        }
    }
}

/// Files a script may name that are the process's own streams, not files.
fn is_stream(path: &str) -> bool {
    matches!(
        path,
        "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/null"
            | "-"
            | "/dev/fd/1"
            | "/dev/fd/2"
    )
}

/// A file named by a script: a write or read of it, a network connection for gawk's
/// `/inet…` files, nothing for the standard streams.
fn file_escape(path: &str, write: bool) -> Option<Escape> {
    if is_stream(path) {
        None
    } else if path.starts_with("/inet") {
        Some(Escape::Network)
    } else if write {
        Some(Escape::Write(path.to_string()))
    } else {
        Some(Escape::Read(path.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum AwkToken {
    Str(String),
    Ident(String),
    Punct(&'static str),
    Other,
}

/// The tokens of an awk program, enough to find its escapes: strings, names, and the
/// punctuation that redirects (`|`, `|&`, `>`, `>>`, `<`), groups and ends statements.
fn awk_tokens(program: &str) -> Vec<AwkToken> {
    use AwkToken::*;
    let chars: Vec<char> = program.chars().collect();
    let mut out: Vec<AwkToken> = Vec::new();
    let mut i = 0;
    // Whether a `/` here starts a regular expression rather than dividing.
    let regex_may_start = |out: &[AwkToken]| match out.last() {
        None => true,
        Some(Punct(p)) => !matches!(*p, ")"),
        Some(Ident(name)) => matches!(name.as_str(), "print" | "printf" | "return" | "in"),
        Some(Other) | Some(Str(_)) => false,
    };
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
            ' ' | '\t' | '\r' => i += 1,
            '\n' => {
                out.push(Punct("\n"));
                i += 1;
            }
            '#' => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                while let Some(&c) = chars.get(i) {
                    match c {
                        '\\' => {
                            match chars.get(i + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&e) => s.push(e),
                                None => {}
                            }
                            i += 2;
                        }
                        '"' => {
                            i += 1;
                            break;
                        }
                        _ => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Str(s));
            }
            '/' if regex_may_start(&out) => {
                i += 1;
                let mut class = false;
                while let Some(&c) = chars.get(i) {
                    match c {
                        '\\' => i += 1,
                        '[' => class = true,
                        ']' => class = false,
                        '/' if !class => break,
                        '\n' => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
                out.push(Other);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '@' => {
                let start = i;
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Ident(chars.get(start..i).unwrap_or(&[]).iter().collect()));
            }
            '|' => {
                let (p, n) = match chars.get(i + 1) {
                    Some('|') => ("||", 2),
                    Some('&') => ("|&", 2),
                    _ => ("|", 1),
                };
                out.push(Punct(p));
                i += n;
            }
            '>' => {
                let (t, n) = match chars.get(i + 1) {
                    Some('>') => (Punct(">>"), 2),
                    Some('=') => (Other, 2),
                    _ => (Punct(">"), 1),
                };
                out.push(t);
                i += n;
            }
            '<' => {
                let (t, n) = match chars.get(i + 1) {
                    Some('=') => (Other, 2),
                    _ => (Punct("<"), 1),
                };
                out.push(t);
                i += n;
            }
            '(' | ')' | '{' | '}' | ';' | ',' => {
                out.push(Punct(match c {
                    '(' => "(",
                    ')' => ")",
                    '{' => "{",
                    '}' => "}",
                    ';' => ";",
                    _ => ",",
                }));
                i += 1;
            }
            _ => {
                out.push(Other);
                i += 1;
            }
        }
    }
    out
}

/// The escapes of an awk program (POSIX awk, gawk, mawk).
pub(crate) fn awk(program: &str) -> Vec<Escape> {
    use AwkToken::*;
    let tokens = awk_tokens(program);
    let mut out = Vec::new();
    // The token at `i` as a literal string, if it is one and stands alone: a string followed
    // by more of an expression (`"out/" $1 ".txt"`, a concatenation) is known only at run time.
    let literal = |i: usize| match (tokens.get(i), tokens.get(i + 1)) {
        (Some(Str(s)), None | Some(Punct(_))) => Some(s.clone()),
        (Some(Str(s)), Some(Ident(name))) if name == "getline" => Some(s.clone()),
        _ => None,
    };
    let mut in_print = false;
    let mut depth = 0usize;
    let mut print_depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Punct("(") => depth += 1,
            Punct(")") => depth = depth.saturating_sub(1),
            Punct(";" | "\n" | "{" | "}") => in_print = false,
            Ident(name) if name == "print" || name == "printf" => {
                in_print = true;
                print_depth = depth;
            }
            Ident(name) if name == "system" && tokens.get(i + 1) == Some(&Punct("(")) => {
                match (literal(i + 2), tokens.get(i + 3)) {
                    (Some(cmd), Some(Punct(")"))) => out.push(Escape::Command(cmd)),
                    _ => out.push(Escape::Opaque),
                }
            }
            // `ENVIRON` is the process's environment (the agent's keys and tokens).
            Ident(name) if name == "ENVIRON" => {
                out.push(Escape::Read(super::ENVIRONMENT_FILE.to_string()));
            }
            Ident(name) if name == "@include" || name == "@load" => {
                match literal(i + 1) {
                    Some(f) if name == "@include" => out.push(Escape::Read(f)),
                    _ => {}
                }
                out.push(Escape::Opaque);
            }
            Punct(p @ ("|" | "|&")) => {
                let next_is_getline = matches!(tokens.get(i + 1), Some(Ident(n)) if n == "getline");
                if in_print && depth == print_depth && !next_is_getline {
                    // `print … | "cmd"`: the output goes to a command (or, with gawk's
                    // `|&`, to a coprocess or a `/inet…` connection).
                    match literal(i + 1) {
                        Some(target) if target.starts_with("/inet") => out.push(Escape::Network),
                        Some(cmd) => out.push(Escape::Command(cmd)),
                        None => out.push(Escape::Opaque),
                    }
                } else if next_is_getline {
                    // `"cmd" | getline`: reads a command's output.
                    match i.checked_sub(1).and_then(literal) {
                        Some(cmd) => out.push(Escape::Command(cmd)),
                        None => out.push(Escape::Opaque),
                    }
                } else if *p == "|&" {
                    out.push(Escape::Opaque);
                }
            }
            Punct(p @ (">" | ">>")) if in_print && depth == print_depth => {
                let _ = p;
                match literal(i + 1) {
                    Some(f) => out.extend(file_escape(&f, true)),
                    None => out.push(Escape::Opaque),
                }
            }
            Ident(name) if name == "getline" => {
                // `getline < FILE` or `getline VAR < FILE`.
                let at = match tokens.get(i + 1) {
                    Some(Punct("<")) => Some(i + 2),
                    Some(Ident(_)) if tokens.get(i + 2) == Some(&Punct("<")) => Some(i + 3),
                    _ => None,
                };
                if let Some(at) = at {
                    match literal(at) {
                        Some(f) => out.extend(file_escape(&f, false)),
                        None => out.push(Escape::Opaque),
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The escapes of a GNU sed script: `e [COMMAND]`, the `e` and `w FILE` flags of `s`, and
/// `r`, `R`, `w`, `W` with their file.
pub(crate) fn sed(script: &str) -> Vec<Escape> {
    let chars: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // The rest of the line from `at`, leading blanks dropped (a file name or a command).
    let rest_of_line = |at: usize| -> (String, usize) {
        let mut j = at;
        while chars.get(j).is_some_and(|c| *c == ' ' || *c == '\t') {
            j += 1;
        }
        let start = j;
        while chars.get(j).is_some_and(|c| *c != '\n') {
            j += 1;
        }
        (chars.get(start..j).unwrap_or(&[]).iter().collect(), j)
    };
    // Past a delimited part (`/re/`), from just after its opening delimiter.
    let delimited = |mut j: usize, delim: char| -> (String, usize) {
        let mut text = String::new();
        while let Some(&c) = chars.get(j) {
            if c == '\\' {
                text.push(c);
                if let Some(&n) = chars.get(j + 1) {
                    text.push(n);
                }
                j += 2;
                continue;
            }
            if c == delim {
                return (text, j + 1);
            }
            text.push(c);
            j += 1;
        }
        (text, j)
    };
    while i < chars.len() {
        // Blanks and separators between commands.
        while chars
            .get(i)
            .is_some_and(|c| c.is_whitespace() || *c == ';' || *c == '}')
        {
            i += 1;
        }
        // Addresses: numbers, `$`, `first~step`, `+N`, `/re/` or `\cREc` with `I`/`M`, a
        // comma between two, and `!`.
        loop {
            match chars.get(i) {
                Some(c) if c.is_ascii_digit() || matches!(c, '$' | '~' | '+' | ',' | '!') => i += 1,
                Some(' ' | '\t') => i += 1,
                Some('/') => {
                    let (_, j) = delimited(i + 1, '/');
                    i = j;
                    while matches!(chars.get(i), Some('I' | 'M')) {
                        i += 1;
                    }
                }
                Some('\\') => match chars.get(i + 1) {
                    Some(&d) => {
                        let (_, j) = delimited(i + 2, d);
                        i = j;
                        while matches!(chars.get(i), Some('I' | 'M')) {
                            i += 1;
                        }
                    }
                    None => i += 1,
                },
                _ => break,
            }
        }
        let Some(&command) = chars.get(i) else {
            break;
        };
        i += 1;
        match command {
            '{' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x' | 'z'
            | 'F' => {}
            '#' | ':' | 'a' | 'i' | 'c' => {
                // To the end of the line; `a\` text continues over escaped newlines.
                while let Some(&c) = chars.get(i) {
                    if c == '\\' {
                        i += 2;
                        continue;
                    }
                    if c == '\n' {
                        break;
                    }
                    i += 1;
                }
            }
            'b' | 't' | 'T' | 'v' | 'q' | 'Q' | 'l' | 'L' => {
                while chars.get(i).is_some_and(|c| !matches!(c, ';' | '\n' | '}')) {
                    i += 1;
                }
            }
            'r' | 'R' => {
                let (file, j) = rest_of_line(i);
                out.extend(file_escape(&file, false));
                i = j;
            }
            'w' | 'W' => {
                let (file, j) = rest_of_line(i);
                out.extend(file_escape(&file, true));
                i = j;
            }
            'e' => {
                let (cmd, j) = rest_of_line(i);
                if cmd.trim().is_empty() {
                    out.push(Escape::Opaque);
                } else {
                    out.push(Escape::Command(cmd));
                }
                i = j;
            }
            's' | 'y' => {
                let Some(&delim) = chars.get(i) else {
                    break;
                };
                let (_, j) = delimited(i + 1, delim);
                let (replacement, j) = delimited(j, delim);
                i = j;
                if command == 'y' {
                    continue;
                }
                while let Some(&flag) = chars.get(i) {
                    match flag {
                        'e' => {
                            // The pattern space, after the substitution, is run as a command:
                            // the replacement when it stands alone, else only known at run time.
                            out.push(Escape::Opaque);
                            if !replacement.contains(['\\', '&']) && !replacement.is_empty() {
                                out.push(Escape::Command(replacement.clone()));
                            }
                            i += 1;
                        }
                        'w' => {
                            let (file, j) = rest_of_line(i + 1);
                            out.extend(file_escape(&file, true));
                            i = j;
                        }
                        c if c.is_ascii_alphanumeric() => i += 1,
                        _ => break,
                    }
                }
            }
            // Not a sed command: sed refuses the script, so it does nothing.
            _ => break,
        }
    }
    out
}

/// The escapes of ed or ex commands: `!COMMAND`, `r FILE`, `w FILE` (and `W`), `e FILE`,
/// `r !COMMAND` / `w !COMMAND`.
pub(crate) fn ed(script: &str) -> Vec<Escape> {
    let mut out = Vec::new();
    for line in script.lines() {
        // Addresses: numbers, `.`, `$`, `,`, `;`, `+`, `-`, marks and patterns.
        let command = line.trim_start_matches(|c: char| {
            c.is_ascii_digit() || matches!(c, '.' | '$' | ',' | ';' | '+' | '-' | ' ' | '%')
        });
        let mut chars = command.chars();
        let Some(c) = chars.next() else {
            continue;
        };
        let rest = chars.as_str();
        match c {
            '!' => out.push(Escape::Command(rest.trim().to_string())),
            'r' | 'w' | 'W' | 'e' | 'E' => {
                // `wq` writes too; a bare command names the current file (already judged).
                let rest = rest.strip_prefix('q').unwrap_or(rest).trim();
                if let Some(cmd) = rest.strip_prefix('!') {
                    out.push(Escape::Command(cmd.trim().to_string()));
                } else if !rest.is_empty() {
                    out.extend(file_escape(rest, c != 'r' && c != 'e' && c != 'E'));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
