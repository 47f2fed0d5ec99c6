//! Command patterns as words.
//!
//! A command pattern is read word by word, never as a string prefix:
//!
//! - the first word is the program, compared by base name (`/usr/bin/rm` is `rm`);
//! - the plain words that follow it (no leading `-`, no glob character except a trailing `*`)
//!   are subcommand words, compared as whole words: `git diff*` names `git diff`, never
//!   `git difftool`; `cat*` names `cat`, never `catchsegv`;
//! - a `*` that ends the program word or a subcommand word (`cat*`, `git diff*`) means
//!   "then any further arguments", exactly as `cat *` and `git diff *` do;
//! - a word that is only `*` stands for any number of words (none included);
//! - inside any other word, `*`, `?`, `[…]` and `{a,b}` match within that one word (`/`
//!   included, so `rm -rf /*` covers `rm -rf /etc`), and a glob that ends the pattern's last
//!   word also lets further arguments follow (`rm -rf /*` covers `rm -rf /etc /home`).
//!
//! Both sides are turned into keys over which a separator-aware glob runs: words are joined by
//! `/` and a `/` inside a word becomes NUL (a byte no argument can hold), so a glob character
//! can never reach across a word boundary, however the words themselves are spelled.

/// What stands for a `/` inside a word in a match key.
const IN_WORD_SLASH: char = '\0';

/// Appends `word` to a match key under construction; `first` for the program word.
pub(crate) fn push_key_word(key: &mut String, word: &str, first: bool) {
    if !first {
        key.push('/');
    }
    for c in word.chars() {
        key.push(if c == '/' { IN_WORD_SLASH } else { c });
    }
}

/// The match key of a command given as its words (program base name first).
pub fn match_key<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut key = String::new();
    for (i, w) in words.into_iter().enumerate() {
        push_key_word(&mut key, w, i == 0);
    }
    key
}

/// Whether a word may be a program or subcommand word (`git`, `cherry-pick`, `python3.12`).
fn is_plain(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('-')
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | ':' | '@'))
}

/// Whether the word is a program or subcommand word followed by `*` (`cat*`, `git diff*`).
fn trailing_any(word: &str) -> Option<&str> {
    let stem = word.trim_end_matches('*');
    (stem.len() < word.len()
        && is_plain(stem)
        && stem.chars().last().is_some_and(|c| c.is_alphanumeric()))
    .then_some(stem)
}

/// Glob text for one word written in a pattern: `/` becomes the in-word slash and `**` the
/// same as `*` (inside a word both match anything, the in-word `/` included).
fn word_glob(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    let mut last_star = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                match chars.next() {
                    Some('/') => out.push(IN_WORD_SLASH),
                    Some(n) => out.push(n),
                    None => out.push('\\'),
                }
                last_star = false;
                continue;
            }
            '*' if last_star => continue,
            '*' => out.push('*'),
            '/' => out.push(IN_WORD_SLASH),
            other => out.push(other),
        }
        last_star = c == '*';
    }
    out
}

/// The globs (over match keys, `/` as the separator) a command pattern stands for. Any one of
/// them matching means the pattern matches.
pub fn command_pattern_globs(pattern: &str) -> Vec<String> {
    let words: Vec<&str> = pattern.split_whitespace().collect();
    let mut parts: Vec<String> = Vec::with_capacity(words.len());
    // Whether the pattern ends by letting any further arguments follow.
    let mut open_end = false;
    let mut in_subcommands = true;
    let last = words.len().saturating_sub(1);
    for (i, word) in words.iter().enumerate() {
        let word = if i == 0 {
            crate::canon::basename(word)
        } else {
            word
        };
        if word == "*" || word == "**" {
            in_subcommands = false;
            if i == last {
                open_end = true;
            } else {
                parts.push("**".into());
            }
            continue;
        }
        if in_subcommands && let Some(stem) = trailing_any(word) {
            parts.push(word_glob(stem));
            if i == last {
                open_end = true;
            } else {
                parts.push("**".into());
            }
            in_subcommands = false;
            continue;
        }
        if i > 0 && !is_plain(word) {
            in_subcommands = false;
        }
        if i == last && word.ends_with('*') && !word.ends_with("\\*") {
            open_end = true;
        }
        parts.push(word_glob(word));
    }
    // Collapse runs of `**` (a `* *` pattern) — globset rejects nothing, but keep it tidy.
    parts.dedup_by(|a, b| a == "**" && b == "**");
    let exact = parts.join("/");
    if !open_end {
        return vec![exact];
    }
    if exact.is_empty() {
        return vec!["**".into()];
    }
    if exact.ends_with("**") {
        return vec![exact];
    }
    vec![exact.clone(), format!("{exact}/**")]
}

/// Warnings about how a command pattern is read, for `cavra policy validate`: a `*` glued to a
/// program or subcommand word (`cat*`) ends the literal part inside a word, which earlier
/// versions read as a string prefix (`cat*` matched `catchsegv`); it now means the whole word
/// followed by any arguments, and is clearer written with a space (`cat *`).
pub fn command_pattern_warnings(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, word) in pattern.split_whitespace().enumerate() {
        let word = if i == 0 {
            crate::canon::basename(word)
        } else {
            word
        };
        if word == "*" {
            break;
        }
        if let Some(stem) = trailing_any(word) {
            out.push(format!(
                "`{pattern}`: the literal part ends inside the word `{word}`; it is read as \
                 `{stem}` followed by any arguments (never a longer name such as `{stem}x`) — \
                 write `{}` to say so",
                pattern.replacen(word, &format!("{stem} *"), 1).trim()
            ));
            break;
        }
        if i > 0 && !is_plain(word) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert_eq!(command_pattern_globs("cat*"), ["cat", "cat/**"]);
        assert_eq!(command_pattern_globs("cat *"), ["cat", "cat/**"]);
        assert_eq!(
            command_pattern_globs("git diff*"),
            ["git/diff", "git/diff/**"]
        );
        assert_eq!(command_pattern_globs("git status"), ["git/status"]);
        assert_eq!(command_pattern_globs("*"), ["**"]);
        assert_eq!(
            command_pattern_globs("rm -rf /*"),
            ["rm/-rf/\0*", "rm/-rf/\0*/**"]
        );
        assert_eq!(
            command_pattern_globs("dd * of=/dev/*"),
            ["dd/**/of=\0dev\0*", "dd/**/of=\0dev\0*/**"]
        );
        assert_eq!(command_pattern_globs("/usr/bin/rm -r x"), ["rm/-r/x"]);
        assert_eq!(
            command_pattern_globs("git push * --force *"),
            ["git/push/**/--force", "git/push/**/--force/**"]
        );
        assert_eq!(
            command_pattern_globs("cat /etc/**"),
            ["cat/\0etc\0*", "cat/\0etc\0*/**"]
        );
    }

    #[test]
    fn keys() {
        assert_eq!(match_key(["cat", "/etc/passwd"]), "cat/\0etc\0passwd");
        assert_eq!(
            match_key(["git", "commit", "-m", "a b"]),
            "git/commit/-m/a b"
        );
    }

    #[test]
    fn warnings() {
        assert_eq!(command_pattern_warnings("cat*").len(), 1);
        assert!(command_pattern_warnings("git diff*")[0].contains("`git diff *`"));
        assert!(command_pattern_warnings("cat *").is_empty());
        assert!(command_pattern_warnings("rm -rf /*").is_empty());
        assert!(command_pattern_warnings("git reset --hard origin*").is_empty());
    }
}
