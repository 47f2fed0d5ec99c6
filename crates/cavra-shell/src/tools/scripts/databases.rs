//! The database shells' command languages: sqlite3 (dot-commands, file functions, the
//! database file it opens), psql (backslash commands, `COPY`) and mysql (client commands,
//! `LOAD DATA LOCAL`).

use super::*;

/// sqlite3's command-line shell: the database file it opens (created and written unless
/// `-readonly`), the SQL and dot-commands of its operands and `-cmd` values.
pub(super) fn sqlite3(args: &[Word], stdin_text: Option<&str>, info: &mut Info) {
    let mut i = 0;
    let mut operands = Vec::new();
    let mut readonly = false;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        let option = t.strip_prefix("--").or_else(|| t.strip_prefix('-'));
        match option {
            Some("cmd") => {
                if let Some(v) = args.get(i + 1) {
                    apply(&sqlite_script(&v.text), v, "sqlite3 -cmd", info);
                }
                i += 2;
            }
            Some("init") => {
                if let Some(v) = args.get(i + 1) {
                    info.access(AccessKind::Read, v, "sqlite3 -init");
                    info.class(RiskClass::InterpreterInlineCode);
                }
                i += 2;
            }
            Some("readonly") => {
                readonly = true;
                i += 1;
            }
            Some(
                "separator" | "newline" | "nullvalue" | "vfs" | "maxsize" | "mmap" | "pagecache"
                | "lookaside" | "heap" | "escape",
            ) => i += 2,
            Some(o) if !o.is_empty() => i += 1,
            _ => {
                operands.push(w);
                i += 1;
            }
        }
    }
    let mut operands = operands.into_iter();
    if let Some(db) = operands.next()
        && !db.text.is_empty()
        && db.text != ":memory:"
    {
        let kind = if readonly {
            AccessKind::Read
        } else {
            AccessKind::Write
        };
        info.access(kind, db, "database opened by sqlite3");
    }
    for w in operands {
        apply(&sqlite_script(&w.text), w, "sqlite3 statement", info);
    }
    if let (Some(text), Some(at)) = (stdin_text, args.first()) {
        apply(&sqlite_script(text), at, "sqlite3 input", info);
    }
}

/// A quoted SQL string literal at the start of `text` (`'a''b'` is `a'b`), or a bare word.
fn sql_literal(text: &str) -> Option<String> {
    let text = text.trim_start();
    if let Some(body) = text.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    out.push('\'');
                    chars.next();
                } else {
                    return Some(out);
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        None
    }
}

/// A dot-command's argument, unquoted (`"a b"`, `'a b'` or a word) and the rest.
fn shell_argument(text: &str) -> String {
    let text = text.trim();
    for q in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(q).and_then(|r| r.split(q).next()) {
            return inner.to_string();
        }
    }
    text.split_whitespace().next().unwrap_or("").to_string()
}

/// The escapes of sqlite3 input: dot-commands at the start of a line, and SQL that reaches
/// files (`ATTACH`, `VACUUM INTO`, `readfile`, `writefile`, `edit`, `load_extension`).
pub(crate) fn sqlite_script(script: &str) -> Vec<Escape> {
    let mut out = Vec::new();
    for line in script.lines() {
        let line = line.trim_start();
        let Some(dot) = line.strip_prefix('.') else {
            continue;
        };
        let (name, rest) = dot.split_once(char::is_whitespace).unwrap_or((dot, ""));
        let rest = rest.trim();
        match name {
            "shell" | "system" => out.push(Escape::Command(rest.to_string())),
            "output" | "once" | "log" | "excel" => {
                let rest = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with('-') || *w == "-")
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(cmd) = rest.strip_prefix('|') {
                    out.push(Escape::Command(cmd.trim().to_string()));
                } else if name == "excel" || dot.contains(" -x") || dot.contains(" -e") {
                    out.push(Escape::Opaque);
                } else if !rest.is_empty() && rest != "off" && rest != "stdout" {
                    out.extend(file_escape(&shell_argument(&rest), true));
                }
            }
            "read" | "import" => {
                let file = rest
                    .split_whitespace()
                    .find(|w| !w.starts_with('-'))
                    .unwrap_or("");
                if let Some(cmd) = rest.strip_prefix('|') {
                    out.push(Escape::Command(cmd.trim().to_string()));
                } else if !file.is_empty() {
                    out.extend(file_escape(&shell_argument(file), false));
                    if name == "read" {
                        // Its statements may be dot-commands too.
                        out.push(Escape::Opaque);
                    }
                }
            }
            "backup" | "save" | "clone" | "open" | "restore" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with('-'))
                    .collect();
                if let Some(file) = words.last() {
                    out.extend(file_escape(
                        &shell_argument(file),
                        name != "restore" && !dot.contains("--readonly"),
                    ));
                }
            }
            "load" | "cd" | "edit" => out.push(Escape::Opaque),
            _ => {}
        }
    }
    let lower = script.to_ascii_lowercase();
    for (word, write) in [
        ("attach", true),
        ("vacuum into", true),
        ("readfile(", false),
        ("writefile(", true),
    ] {
        for at in keyword_ends(&lower, word) {
            let mut rest = script.get(at..).unwrap_or("").trim_start();
            if word == "attach"
                && rest
                    .get(..8)
                    .is_some_and(|d| d.eq_ignore_ascii_case("database"))
            {
                rest = rest.get(8..).unwrap_or("");
            }
            match sql_literal(rest) {
                Some(file) if file != ":memory:" && !file.is_empty() => {
                    out.extend(file_escape(&file, write))
                }
                Some(_) => {}
                None => out.push(Escape::Opaque),
            }
        }
    }
    if !keyword_ends(&lower, "edit(").is_empty()
        || !keyword_ends(&lower, "load_extension(").is_empty()
    {
        out.push(Escape::Opaque);
    }
    out
}

/// Where each occurrence of `word` in `lower` (lower-cased SQL) ends, when it is a word of its
/// own: no letter, digit or `_` just before it, and (for a word not ending in `(`) a blank just
/// after it (`attach` is not `attachments`).
fn keyword_ends(lower: &str, word: &str) -> Vec<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    lower
        .match_indices(word)
        .filter(|(at, _)| {
            let before = lower.get(..*at).and_then(|b| b.chars().last());
            let after = lower.get(at + word.len()..).and_then(|a| a.chars().next());
            !before.is_some_and(is_word)
                && (word.ends_with('(') || after.is_some_and(char::is_whitespace))
        })
        .map(|(at, _)| at + word.len())
        .collect()
}

/// The escapes of psql input: `\!`, `\o`/`\out`, `\g`/`\w` to a file or a `|command`, `\i`,
/// `\copy … to|from 'file' | program 'command'`, the editor commands, and the server-side
/// `COPY … PROGRAM`.
pub(crate) fn psql(script: &str) -> Vec<Escape> {
    let mut out = Vec::new();
    // Backslash commands may follow SQL on a line; each runs to the next backslash command
    // or the end of the line.
    for part in script.split('\\').skip(1) {
        let part = part.lines().next().unwrap_or("");
        let (name, rest) = part.split_once(char::is_whitespace).unwrap_or((part, ""));
        let rest = rest.trim();
        match name {
            "!" => out.push(Escape::Command(rest.to_string())),
            "o" | "out" | "g" | "gx" | "w" | "write" => {
                if let Some(cmd) = rest.strip_prefix('|') {
                    out.push(Escape::Command(cmd.trim().to_string()));
                } else if !rest.is_empty() {
                    out.extend(file_escape(&shell_argument(rest), true));
                }
            }
            "i" | "include" | "ir" | "include_relative" | "lo_import" => {
                if !rest.is_empty() {
                    out.extend(file_escape(&shell_argument(rest), false));
                }
                if name != "lo_import" {
                    out.push(Escape::Opaque);
                }
            }
            "lo_export" => {
                if let Some(file) = rest.split_whitespace().nth(1) {
                    out.extend(file_escape(&shell_argument(file), true));
                }
            }
            "e" | "edit" | "ef" | "ev" | "setenv" => out.push(Escape::Opaque),
            "copy" => out.extend(copy_target(rest)),
            _ if name.starts_with('!') => {
                let program = name.strip_prefix('!').unwrap_or(name);
                out.push(Escape::Command(
                    format!("{program} {rest}").trim().to_string(),
                ))
            }
            _ => {}
        }
    }
    // COPY … TO/FROM PROGRAM runs a command on the database server.
    let lower = script.to_ascii_lowercase();
    if lower.contains("copy")
        && lower.contains("program")
        && !out.iter().any(|e| matches!(e, Escape::Command(_)))
    {
        out.extend(copy_target(script));
    }
    out
}

/// The file or program of a `COPY`/`\copy`: `to|from 'file'`, `to|from program 'command'`,
/// `stdin`/`stdout` for none.
fn copy_target(statement: &str) -> Vec<Escape> {
    let lower = statement.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let Some(pos) = words.iter().position(|w| *w == "to" || *w == "from") else {
        return Vec::new();
    };
    let write = words.get(pos).is_some_and(|w| *w == "to");
    // Offsets in the original text, to keep letter case.
    let after = |word: &str| -> Option<&str> {
        let at = lower.find(&format!(" {word} "))? + word.len() + 2;
        statement.get(at..)
    };
    if words.get(pos + 1).is_some_and(|w| *w == "program") {
        return match after("program").and_then(sql_literal) {
            Some(cmd) => vec![Escape::Command(cmd)],
            None => vec![Escape::Opaque],
        };
    }
    let Some(target) = words.get(pos + 1) else {
        return Vec::new();
    };
    if matches!(*target, "stdin" | "stdout" | "pstdin" | "pstdout") {
        return Vec::new();
    }
    let word = if write { "to" } else { "from" };
    match after(word).and_then(sql_literal) {
        Some(file) => file_escape(&file, write).into_iter().collect(),
        None => vec![Escape::Opaque],
    }
}

/// The escapes of mysql client input: `system`/`\!`, `pager`/`\P`, `tee`/`\T`,
/// `source`/`\.`, `edit`/`\e`, and `LOAD DATA LOCAL INFILE`.
pub(crate) fn mysql(script: &str) -> Vec<Escape> {
    let mut out = Vec::new();
    for statement in script.split([';', '\n']) {
        let s = statement.trim();
        let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let rest = rest.trim();
        match name.to_ascii_lowercase().as_str() {
            "system" | "\\!" => out.push(Escape::Command(rest.to_string())),
            "pager" | "\\p" if !rest.is_empty() => out.push(Escape::Command(rest.to_string())),
            "tee" | "\\t" if !rest.is_empty() => {
                out.extend(file_escape(&shell_argument(rest), true))
            }
            "source" | "\\." if !rest.is_empty() => {
                out.extend(file_escape(&shell_argument(rest), false));
                out.push(Escape::Opaque);
            }
            "edit" | "\\e" => out.push(Escape::Opaque),
            _ => {}
        }
        let lower = s.to_ascii_lowercase();
        if let Some(pos) = lower.find("local infile") {
            match s.get(pos + "local infile".len()..).and_then(sql_literal) {
                Some(file) => out.extend(file_escape(&file, false)),
                None => out.push(Escape::Opaque),
            }
        }
    }
    out
}
