//! Helpers over the source text (a pre-parse nesting estimate), tree-sitter-bash nodes and
//! fast-path results: children with field names, words, assignments, spans, syntax errors,
//! and where a command's stdin comes from.

use super::*;

/// How deeply `text` nests brackets, braces, parentheses and backquotes, plus how many
/// here-documents it opens (the parser carries every pending one through each step) and how
/// many pipeline stages it has (a long pipeline costs the parser more with every stage), as a
/// cheap upper estimate taken before parsing (single-quoted text is skipped: it holds no
/// syntax).
pub(super) fn nesting_depth(text: &[u8]) -> usize {
    let mut heredocs: usize = 0; // and pipes
    let mut previous = 0u8;
    let mut depth: usize = 0;
    let mut deepest = 0;
    let mut in_single = false;
    let mut in_backquote = false;
    let mut escaped = false;
    for &b in text {
        if in_single {
            in_single = b != b'\'';
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        if b == b'<' && previous == b'<' {
            heredocs += 1;
        }
        // A pipe (`|`, `|&`), not the second bar of `||`.
        if b == b'|' && previous != b'|' {
            heredocs += 1;
        }
        previous = b;
        match b {
            b'\\' => escaped = true,
            b'\'' => in_single = true,
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'`' => {
                in_backquote = !in_backquote;
                if in_backquote {
                    depth += 1;
                } else {
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        deepest = deepest.max(depth.saturating_add(heredocs));
    }
    deepest
}

/// Words after a redirection's target (`> f b c`): arguments of the command, which
/// tree-sitter-bash files as further destinations of the redirection.
/// The children of `node` with their field names, read through one cursor: asking the node
/// for each child's field name is a scan of the grammar's field map per child.
pub(super) fn fielded_children(node: Node<'_>) -> Vec<(Option<&'static str>, Node<'_>)> {
    let mut out = Vec::with_capacity(node.child_count());
    let mut cursor = node.walk();
    if cursor.goto_first_child() {
        loop {
            out.push((cursor.field_name(), cursor.node()));
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }
    out
}

pub(super) fn extra_words(redirects: &[Node<'_>], src: &str) -> Vec<Word> {
    let mut out = Vec::new();
    for r in redirects {
        let mut targets: Vec<Node<'_>> = Vec::new();
        if r.kind() == "file_redirect" {
            targets.push(*r);
        } else if r.kind() == "heredoc_redirect" {
            let mut cursor = r.walk();
            targets.extend(
                r.named_children(&mut cursor)
                    .filter(|c| c.kind() == "file_redirect"),
            );
        }
        for t in targets {
            let mut cursor = t.walk();
            let dests: Vec<Node<'_>> = t
                .children_by_field_name("destination", &mut cursor)
                .collect();
            out.extend(dests.iter().skip(1).map(|d| word_from_node(*d, src)));
        }
    }
    out
}

/// A `NAME=value` assignment node: the name and the value as a word (empty when absent).
pub(super) fn assignment(node: Node<'_>, src: &str) -> Option<(String, Word)> {
    let name = node_text(node.child_by_field_name("name")?, src).to_string();
    let value = match node.child_by_field_name("value") {
        Some(v) => word_from_node(v, src),
        None => Word {
            text: String::new(),
            literal: true,
            path: String::new(),
            path_literal: true,
            span: (node.end_byte(), node.end_byte()),
            has_subst: false,
            is_procsub: false,
            glob: false,
        },
    };
    Some((name, value))
}

/// `x=1 > f` makes tree-sitter report a missing command name although bash accepts it.
pub(super) fn missing_is_benign(node: Node<'_>) -> bool {
    let Some(parent) = node.parent() else {
        return false;
    };
    parent.kind() == "command_name"
        && parent.parent().is_some_and(|cmd| {
            let mut cursor = cmd.walk();
            cmd.named_children(&mut cursor)
                .any(|c| matches!(c.kind(), "variable_assignment" | "file_redirect"))
        })
}

/// A syntax range as a command's span: the outer word's range for code parsed out of a word,
/// else the range mapped back to the text as given.
pub(super) fn span_of(range: (usize, usize), ctx: &Ctx) -> (usize, usize) {
    ctx.span.unwrap_or_else(|| map_span(ctx, range))
}

/// [`stdin_from_redirects`] for the fast front end's redirections: only `<` (with no
/// descriptor, as tree-sitter's text test has it) gives a stdin, local content.
pub(super) fn fast_stdin(redirects: &[fast::Redirect]) -> Option<Stdin> {
    redirects
        .iter()
        .rev()
        .find(|r| !r.descriptor && r.op == "<")
        .map(|r| Stdin::Local(r.dests.clone()))
}

/// [`producer_stdin`] for a fast front end node.
pub(super) fn fast_producer_stdin(node: &fast::Node) -> Stdin {
    let (node, own) = match node {
        fast::Node::Redirected {
            body, redirects, ..
        } => (
            body.as_ref(),
            fast_stdin(redirects).unwrap_or(Stdin::Terminal),
        ),
        other => (other, Stdin::Terminal),
    };
    match node {
        fast::Node::Command(c) => stdin_from_producer_words(&c.words, own),
        fast::Node::Pipeline(_) => Stdin::Untrusted("pipeline".to_string()),
        fast::Node::List(..) => Stdin::Untrusted("list".to_string()),
        fast::Node::Redirected { .. } => Stdin::Untrusted("redirected_statement".to_string()),
    }
}

/// Maps a span in cleaned text (line continuations removed) back to the text as given.
pub(super) fn map_span(ctx: &Ctx, (s, e): (usize, usize)) -> (usize, usize) {
    match &ctx.map {
        None => (s, e),
        Some(map) => {
            let shift = |p: usize| p + 2 * map.partition_point(|&m| m <= p);
            (shift(s), shift(e))
        }
    }
}

/// Byte positions of backslash-newline line continuations the shell removes before splitting
/// words: not in single quotes, `$'…'`, comments or quoted here-documents, and not preceded by
/// an escaped backslash.
pub(super) fn line_continuations(root: Node<'_>, src: &str) -> Vec<usize> {
    let bytes = src.as_bytes();
    let mut candidates = Vec::new();
    let mut run = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && run % 2 == 1 {
            candidates.push(i - 1);
        }
        run = if b == b'\\' { run + 1 } else { 0 };
    }
    if candidates.is_empty() {
        return candidates;
    }
    let mut protected: Vec<(usize, usize)> = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "raw_string" | "ansi_c_string" | "comment" => {
                protected.push((n.start_byte(), n.end_byte()));
                continue;
            }
            "heredoc_redirect" => {
                let mut cursor = n.walk();
                let kids: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
                let quoted = kids.iter().any(|k| {
                    k.kind() == "heredoc_start" && node_text(*k, src).contains(['\'', '"', '\\'])
                });
                if quoted {
                    for k in kids.iter().filter(|k| k.kind() == "heredoc_body") {
                        protected.push((k.start_byte(), k.end_byte()));
                    }
                }
            }
            _ => {}
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    // The protected nodes do not overlap, so the last one starting at or before a candidate is
    // the only one that can hold it.
    protected.sort_unstable();
    candidates
        .into_iter()
        .filter(|&c| {
            let i = protected.partition_point(|&(s, _)| s <= c);
            !(i > 0 && protected.get(i - 1).is_some_and(|&(_, e)| c < e))
        })
        .collect()
}

/// A message for the first ERROR or MISSING node, searched iteratively.
pub(super) fn first_error(root: Node<'_>, src: &str) -> Option<String> {
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.is_missing() && !missing_is_benign(n) {
            return Some(format!(
                "incomplete input: missing `{}` at byte {}",
                n.kind(),
                n.start_byte()
            ));
        }
        if n.is_error() && !is_read_write_redirect_error(n, src) {
            let snippet: String = node_text(n, src).chars().take(40).collect();
            return Some(format!(
                "syntax error at byte {}: `{}`",
                n.start_byte(),
                snippet.escape_debug()
            ));
        }
        let mut cursor = n.walk();
        let kids: Vec<Node<'_>> = n.children(&mut cursor).collect();
        stack.extend(kids.into_iter().rev());
    }
    None
}

/// Pushes a node's named children for walking, in source order.
pub(super) fn push_children<'t>(node: Node<'t>, ctx: &Ctx, stack: &mut Vec<Work<'t>>) {
    let mut cursor = node.walk();
    // Unnamed children matter only when missing (`echo $(ls` lacks its `)`).
    let children: Vec<Node<'t>> = node
        .children(&mut cursor)
        .filter(|c| c.is_named() || c.is_missing())
        .collect();
    stack.extend(
        children
            .into_iter()
            .rev()
            .map(|c| Work::Visit(c, ctx.clone())),
    );
}

/// Words of `export A=1`, `local x`, `unset y`: the keyword and every argument.
pub(super) fn plain_words(node: Node<'_>, src: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.kind() == "comment" || child.is_missing() {
            continue;
        }
        if !child.is_named() {
            let t = node_text(child, src);
            if words.is_empty() && !t.is_empty() {
                words.push(Word {
                    text: t.to_string(),
                    literal: true,
                    path: t.to_string(),
                    path_literal: true,
                    span: (child.start_byte(), child.end_byte()),
                    has_subst: false,
                    is_procsub: false,
                    glob: false,
                });
            }
            continue;
        }
        words.push(word_from_node(child, src));
    }
    words
}

/// `<>` is not in tree-sitter-bash's grammar; it shows up as an ERROR holding `>` right after
/// a `<` inside a file redirect. bash accepts it, so it is not a syntax error for us.
pub(super) fn is_read_write_redirect_error(node: Node<'_>, src: &str) -> bool {
    node.parent().is_some_and(|p| p.kind() == "file_redirect")
        && node_text(node, src) == ">"
        && node
            .prev_sibling()
            .is_some_and(|s| node_text(s, src) == "<")
}

/// Standard input given by here-documents and here-strings among `redirects`.
pub(super) fn stdin_from_redirects(redirects: &[Node<'_>], src: &str) -> Option<Stdin> {
    let mut stdin = None;
    for r in redirects {
        match r.kind() {
            "herestring_redirect" => {
                let mut cursor = r.walk();
                let word = r
                    .named_children(&mut cursor)
                    .find(|c| c.kind() != "file_descriptor");
                if let Some(w) = word.map(|w| word_from_node(w, src)) {
                    stdin = Some(Stdin::Code {
                        text: w.text.into(),
                        literal: w.literal,
                        subst: w.has_subst,
                    });
                }
            }
            "heredoc_redirect" => {
                let mut cursor = r.walk();
                let body = r
                    .named_children(&mut cursor)
                    .find(|c| c.kind() == "heredoc_body");
                let Some(body) = body else { continue };
                let mut c = body.walk();
                let expands = body
                    .named_children(&mut c)
                    .any(|c| c.kind() != "heredoc_content");
                let subst = crate::words::contains_kind(body, &["command_substitution"]);
                let text = node_text(body, src);
                // A here-document with `<<-` strips leading tabs; harmless to do always.
                let text: String = text
                    .lines()
                    .map(|l| l.trim_start_matches('\t'))
                    .collect::<Vec<_>>()
                    .join("\n");
                stdin = Some(Stdin::Code {
                    text: text.into(),
                    literal: !expands,
                    subst,
                });
            }
            "file_redirect" => {
                let t = node_text(*r, src);
                if t.starts_with('<') && !t.starts_with("<&") {
                    // `bash < <(curl …)` reads a process substitution: run-time content.
                    let destination = r.child_by_field_name("destination");
                    stdin = Some(match destination {
                        Some(d) if d.kind() == "process_substitution" => {
                            Stdin::Untrusted("process substitution".to_string())
                        }
                        Some(d) => Stdin::Local(vec![word_from_node(d, src)]),
                        None => Stdin::Local(Vec::new()),
                    });
                }
            }
            _ => {}
        }
    }
    stdin
}

/// What a pipeline stage writes to the next stage's stdin: text known from the command line
/// (`echo …`, `cat` of a here-document), known local content, or something decided at run time.
pub(super) fn producer_stdin(producer: Node<'_>, src: &str, own_stdin: &Stdin) -> Stdin {
    let mut node = producer;
    let mut own = own_stdin.clone();
    if node.kind() == "redirected_statement" {
        let mut cursor = node.walk();
        let redirects: Vec<Node<'_>> = node
            .named_children(&mut cursor)
            .filter(|c| c.kind().ends_with("redirect"))
            .collect();
        if let Some(s) = stdin_from_redirects(&redirects, src) {
            own = s;
        }
        match node.child_by_field_name("body") {
            Some(b) => node = b,
            None => return Stdin::Untrusted("redirect".to_string()),
        }
    }
    if node.kind() != "command" {
        return Stdin::Untrusted(node.kind().to_string());
    }
    let mut words = Vec::new();
    for (field, child) in fielded_children(node) {
        match field {
            Some("name") => {
                if let Some(n) = child.named_child(0) {
                    words.push(word_from_node(n, src));
                }
            }
            Some("argument") => words.push(word_from_node(child, src)),
            _ => {}
        }
    }
    stdin_from_producer_words(&words, own)
}

/// [`producer_stdin`] once the producer's words are known.
fn stdin_from_producer_words(words: &[Word], own: Stdin) -> Stdin {
    let Some((name, args)) = words.split_first() else {
        return Stdin::Untrusted(String::new());
    };
    if !name.literal || !args.iter().all(|w| w.literal) {
        return Stdin::Untrusted(name.text.clone());
    }
    let base = canon::basename(&name.text);
    match base {
        "echo" => {
            let escapes = args
                .iter()
                .take_while(|w| w.text.starts_with('-'))
                .any(|w| w.text.contains('e'));
            let text: Vec<&str> = args
                .iter()
                .map(|w| w.text.as_str())
                .skip_while(|t| matches!(*t, "-n" | "-e" | "-E" | "-ne" | "-en"))
                .collect();
            let text = text.join(" ");
            // `echo -e '\x74erraform'` prints a text its words do not show.
            if escapes && (text.contains("\\x") || text.contains("\\0") || text.contains("\\u")) {
                return unknown_text();
            }
            Stdin::Code {
                text: text.into(),
                literal: true,
                subst: false,
            }
        }
        // What printf prints, when its format is plain enough to know it: the text is then
        // judged like echo's (`printf 'terraform destroy' | sh`); a format with other
        // directives or numeric escapes prints what only running it shows.
        "printf" => match printf_output(args) {
            Some(text) => Stdin::Code {
                text: text.into(),
                literal: true,
                subst: false,
            },
            None => unknown_text(),
        },
        "cat" if args.is_empty() => own,
        "cat" | "head" | "tail" | "tac" => Stdin::Local(reader_files(base, args)),
        "find" => match crate::tools::find_output_globs(args) {
            Some(globs) => Stdin::Names {
                from: base.to_string(),
                globs,
            },
            None => Stdin::Untrusted(base.to_string()),
        },
        _ => Stdin::Untrusted(base.to_string()),
    }
}

/// Local text that only running its producer shows (`printf '\x74…'`): a shell given it runs
/// a command known only at run time.
fn unknown_text() -> Stdin {
    Stdin::Code {
        text: "".into(),
        literal: false,
        subst: false,
    }
}

/// The text `printf FORMAT [ARG…]` prints, when its format uses only `%s`/`%b` (and `%%`) and
/// the escapes `\n`, `\t`, `\\`, `\'`, `\"`: the format is repeated while arguments remain,
/// as printf does. `None` for anything else (`%d`, `\x74`, `\0164`, `-v NAME`).
pub(crate) fn printf_output(args: &[Word]) -> Option<String> {
    let mut args = args.iter().map(|w| w.text.as_str());
    let mut format = args.next()?;
    if format == "--" {
        format = args.next()?;
    }
    if format.starts_with('-') {
        return None;
    }
    let rest: Vec<&str> = args.collect();
    let mut out = String::new();
    let mut next = 0;
    loop {
        let mut chars = format.chars();
        let mut used = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    c @ ('\\' | '\'' | '"') => out.push(c),
                    _ => return None,
                },
                '%' => match chars.next()? {
                    '%' => out.push('%'),
                    's' | 'b' => {
                        used = true;
                        let arg = rest.get(next).copied().unwrap_or("");
                        if arg.contains('\\') {
                            return None;
                        }
                        out.push_str(arg);
                        next += 1;
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        }
        if !used || next >= rest.len() {
            return Some(out);
        }
    }
}

/// The files a `cat`/`head`/`tail`/`tac` producer reads: its operands, less its options and
/// the values of head's and tail's `-n`/`-c` (the content it passes on is at most theirs).
fn reader_files(base: &str, args: &[Word]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut takes_value = false;
    let mut options_end = false;
    for w in args {
        let t = w.text.as_str();
        if takes_value {
            takes_value = false;
        } else if options_end || t == "-" || !t.starts_with('-') {
            if t != "-" {
                out.push(w.clone());
            }
        } else if t == "--" {
            options_end = true;
        } else if matches!(base, "head" | "tail") {
            // `-n 5`, `-c 5`, `--lines 5` take the next word; `-n5`, `--lines=5`, `-5` do not.
            takes_value = matches!(t, "-n" | "-c" | "--lines" | "--bytes");
        }
    }
    out
}
