//! Shell words: turning a tree-sitter word node into the string the shell would pass to the
//! command (quote removal, backslash removal, `$'…'` decoding), while remembering whether the
//! word holds an expansion whose value cannot be known before run time.

use tree_sitter::Node;

/// Nesting of quoted/concatenated word parts followed before a word is treated as opaque.
/// Real words are shallow; the bound only keeps hostile input from deep recursion.
const MAX_WORD_DEPTH: usize = 32;

/// Node kinds whose value is only known at run time.
const EXPANSION_KINDS: &[&str] = &[
    "simple_expansion",
    "expansion",
    "command_substitution",
    "process_substitution",
    "arithmetic_expansion",
];

/// One word of a command, after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// Decoded text when literal, otherwise the source text.
    pub text: String,
    /// No expansion anywhere in the word.
    pub literal: bool,
    /// The word as a path: a leading `$HOME`/`${HOME}` becomes `~`.
    pub path: String,
    /// Whether `path` is fully known (literal apart from a leading home directory).
    pub path_literal: bool,
    /// Byte range in the text the word was parsed from.
    pub span: (usize, usize),
    /// The word contains a command or process substitution.
    pub has_subst: bool,
    /// The whole word is a process substitution `<(…)` / `>(…)`.
    pub is_procsub: bool,
    /// The word has an unquoted glob character (`*`, `?`, `[`): as a command name it is not a
    /// literal, because the shell replaces it with matching file names.
    pub glob: bool,
}

impl Word {
    /// A word built from plain text (used for values split off an option, `--file=x`).
    pub(crate) fn derived(parent: &Word, text: &str) -> Word {
        let (path, path_literal) = if parent.literal {
            (text.to_string(), true)
        } else {
            home_path(text)
        };
        Word {
            text: text.to_string(),
            literal: parent.literal,
            path,
            path_literal,
            span: parent.span,
            has_subst: parent.has_subst,
            is_procsub: false,
            glob: parent.glob,
        }
    }
}

/// A non-literal path whose only expansion is a leading `$HOME`/`${HOME}` is known up to `~`.
fn home_path(text: &str) -> (String, bool) {
    for prefix in ["${HOME}", "$HOME"] {
        if let Some(rest) = text.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
            && !rest.contains(['$', '`'])
        {
            return (format!("~{rest}"), true);
        }
    }
    (text.to_string(), false)
}

#[derive(Debug)]
enum Seg {
    Lit(String),
    Exp(String),
}

/// Source text of a node (empty when the range is not valid UTF-8 boundaries, which tree-sitter
/// does not produce for valid `&str` input, but we never index unchecked).
pub(crate) fn node_text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    src.get(node.start_byte()..node.end_byte()).unwrap_or("")
}

/// Decodes a word node.
pub(crate) fn word_from_node(node: Node<'_>, src: &str) -> Word {
    let mut segs = Vec::new();
    let mut glob = false;
    collect_segs(node, src, &mut segs, 0, &mut glob);
    let literal = segs.iter().all(|s| matches!(s, Seg::Lit(_)));
    let source = node_text(node, src);
    let text = if literal {
        segs.iter()
            .map(|s| match s {
                Seg::Lit(t) | Seg::Exp(t) => t.as_str(),
            })
            .collect::<String>()
    } else {
        source.to_string()
    };
    let (path, path_literal) = if literal {
        (text.clone(), true)
    } else {
        seg_home_path(&segs).unwrap_or_else(|| (source.to_string(), false))
    };
    Word {
        text,
        literal,
        path,
        path_literal,
        span: (node.start_byte(), node.end_byte()),
        has_subst: contains_kind(node, &["command_substitution", "process_substitution"]),
        is_procsub: node.kind() == "process_substitution",
        glob,
    }
}

fn seg_home_path(segs: &[Seg]) -> Option<(String, bool)> {
    let (first, rest) = segs.split_first()?;
    let Seg::Exp(e) = first else { return None };
    if e != "$HOME" && e != "${HOME}" {
        return None;
    }
    let mut out = String::from("~");
    for s in rest {
        match s {
            Seg::Lit(t) => out.push_str(t),
            Seg::Exp(_) => return None,
        }
    }
    if out.len() > 1 && !out[1..].starts_with('/') {
        return None;
    }
    Some((out, true))
}

/// Whether any node under `node` (inclusive) has one of `kinds`. Iterative, so deep trees are
/// fine.
pub(crate) fn contains_kind(node: Node<'_>, kinds: &[&str]) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if kinds.contains(&n.kind()) {
            return true;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}

fn collect_segs(node: Node<'_>, src: &str, out: &mut Vec<Seg>, depth: usize, glob: &mut bool) {
    let text = node_text(node, src);
    if depth > MAX_WORD_DEPTH {
        out.push(Seg::Exp(text.to_string()));
        return;
    }
    match node.kind() {
        "raw_string" => {
            let inner = text.strip_prefix('\'').unwrap_or(text);
            let inner = inner.strip_suffix('\'').unwrap_or(inner);
            out.push(Seg::Lit(inner.to_string()));
        }
        "ansi_c_string" => out.push(Seg::Lit(decode_ansi_c(text))),
        "string" => collect_string(node, src, out, depth, glob),
        "translated_string" => {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                collect_segs(child, src, out, depth + 1, glob);
            }
        }
        // `NAME='value'` (as `export`/`declare` take it) is a name, `=`, and a word.
        "concatenation" | "variable_assignment" => collect_concat(node, src, out, depth, glob),
        // `{a,b}` / `{1..3}` expand to several words.
        "brace_expression" => out.push(Seg::Exp(text.to_string())),
        k if EXPANSION_KINDS.contains(&k) => out.push(Seg::Exp(text.to_string())),
        _ => {
            if node.named_child_count() > 0 && contains_kind(node, EXPANSION_KINDS) {
                out.push(Seg::Exp(text.to_string()));
            } else {
                out.push(unquoted_seg(text, glob));
            }
        }
    }
}

/// Concatenations: unquoted pieces (and gaps between children) are unescaped together, because
/// tree-sitter may split `\;` into two word nodes and the backslash belongs to the next byte.
fn collect_concat(node: Node<'_>, src: &str, out: &mut Vec<Seg>, depth: usize, glob: &mut bool) {
    let mut pending = String::new();
    let mut pos = node.start_byte();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if let Some(gap) = src.get(pos..child.start_byte()) {
            pending.push_str(gap);
        }
        pos = child.end_byte().max(pos);
        let unquoted = child.kind() == "word" || !child.is_named();
        if unquoted {
            pending.push_str(node_text(child, src));
        } else {
            if !pending.is_empty() {
                out.push(unquoted_seg(&pending, glob));
                pending.clear();
            }
            collect_segs(child, src, out, depth + 1, glob);
        }
    }
    if let Some(gap) = src.get(pos..node.end_byte()) {
        pending.push_str(gap);
    }
    if !pending.is_empty() {
        out.push(unquoted_seg(&pending, glob));
    }
}

/// Unquoted text: brace expansion makes it non-literal; glob characters are noted.
fn unquoted_seg(raw: &str, glob: &mut bool) -> Seg {
    if has_brace_expansion(raw) {
        return Seg::Exp(raw.to_string());
    }
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => *glob = true,
            _ => {}
        }
    }
    Seg::Lit(unescape_unquoted(raw))
}

/// `{a,b}` or `{1..3}` (unescaped), which the shell expands into several words.
fn has_brace_expansion(raw: &str) -> bool {
    let mut depth = 0usize;
    let mut prev = '\0';
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                prev = '\0';
                continue;
            }
            '{' if prev != '$' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth > 0 => return true,
            '.' if depth > 0 && chars.peek() == Some(&'.') => return true,
            _ => {}
        }
        prev = c;
    }
    false
}

fn collect_string(node: Node<'_>, src: &str, out: &mut Vec<Seg>, depth: usize, glob: &mut bool) {
    let text = node_text(node, src);
    let mut start = node.start_byte();
    let mut end = node.end_byte();
    // `$"…"` (locale translation) has the same content rules as `"…"`.
    if text.starts_with("$\"") {
        start += 2;
    } else if text.starts_with('"') {
        start += 1;
    }
    if text.len() >= 2 && text.ends_with('"') {
        end = end.saturating_sub(1);
    }
    let mut pos = start;
    let mut pending = String::new();
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let (cs, ce) = (child.start_byte().max(start), child.end_byte().min(end));
        if let Some(gap) = src.get(pos..cs) {
            pending.push_str(gap);
        }
        if child.kind() == "string_content" {
            if let Some(t) = src.get(cs..ce) {
                pending.push_str(t);
            }
        } else {
            if !pending.is_empty() {
                out.push(Seg::Lit(unescape_double_quoted(&pending)));
                pending.clear();
            }
            collect_segs(child, src, out, depth + 1, glob);
        }
        pos = ce.max(pos);
    }
    if let Some(gap) = src.get(pos..end) {
        pending.push_str(gap);
    }
    if !pending.is_empty() || out.is_empty() {
        out.push(Seg::Lit(unescape_double_quoted(&pending)));
    }
}

/// Backslash removal outside quotes: `\x` is `x`, a backslash-newline disappears.
pub(crate) fn unescape_unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') => {}
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Inside double quotes a backslash only escapes `$`, `` ` ``, `"`, `\` and newline.
fn unescape_double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                Some('\n') => {
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes bash's `$'…'` strings.
pub(crate) fn decode_ansi_c(text: &str) -> String {
    let inner = text.strip_prefix("$'").unwrap_or(text);
    let inner = inner.strip_suffix('\'').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            'x' => push_code(&mut out, take_digits(&mut chars, 16, 2), "\\x"),
            'u' => push_code(&mut out, take_digits(&mut chars, 16, 4), "\\u"),
            'U' => push_code(&mut out, take_digits(&mut chars, 16, 8), "\\U"),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                push_code(&mut out, Some(v), "\\");
            }
            'c' => match chars.next() {
                Some(ch) => {
                    let v = (ch.to_ascii_uppercase() as u32) ^ 0x40;
                    push_code(&mut out, Some(v), "\\c");
                }
                None => out.push_str("\\c"),
            },
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    radix: u32,
    max: usize,
) -> Option<u32> {
    let mut v: u32 = 0;
    let mut n = 0;
    while n < max {
        match chars.peek().and_then(|c| c.to_digit(radix)) {
            Some(d) => {
                v = v.saturating_mul(radix).saturating_add(d);
                chars.next();
                n += 1;
            }
            None => break,
        }
    }
    (n > 0).then_some(v)
}

fn push_code(out: &mut String, v: Option<u32>, raw: &str) {
    match v.and_then(char::from_u32) {
        // NUL ends a C string, so bash drops the rest; dropping the one byte is close enough and
        // keeps the word printable.
        Some('\0') => {}
        Some(c) => out.push(c),
        None => out.push_str(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c_decoding() {
        assert_eq!(decode_ansi_c("$'a\\nb'"), "a\nb");
        assert_eq!(decode_ansi_c("$'\\x72\\x6d'"), "rm");
        assert_eq!(decode_ansi_c("$'\\162\\155'"), "rm");
        assert_eq!(decode_ansi_c("$'\\u0072m'"), "rm");
        assert_eq!(decode_ansi_c("$'it\\'s'"), "it's");
        assert_eq!(decode_ansi_c("$'\\'"), "\\");
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape_unquoted("\\rm"), "rm");
        assert_eq!(unescape_unquoted("a\\ b"), "a b");
        assert_eq!(unescape_unquoted("a\\"), "a\\");
        assert_eq!(unescape_double_quoted("a\\$b\\n"), "a$b\\n");
    }

    #[test]
    fn home_paths() {
        assert_eq!(home_path("$HOME/x"), ("~/x".to_string(), true));
        assert_eq!(home_path("${HOME}/x"), ("~/x".to_string(), true));
        assert!(!home_path("$HOMEX/x").1);
        assert!(!home_path("$HOME/$x").1);
    }
}
