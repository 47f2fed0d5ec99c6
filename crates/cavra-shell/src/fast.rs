//! A fast front end for the lines agents run most: simple commands made of plain words and
//! plain quotes, joined by `&&`, `||`, `;` and `|`, with plain file redirections.
//!
//! A tree-sitter parse and the walk over its tree cost tens of microseconds per line; most
//! lines need none of what tree-sitter is there for. [`parse`] reads such a line in one pass
//! and returns `None` for anything outside the subset (expansions, backslashes, here-documents,
//! compound commands, keywords, assignments, comments, non-ASCII text, …), and the line then
//! goes through tree-sitter as before. Within the subset the result is, by construction and by
//! test, what the tree-sitter walk produces: in debug builds every line the fast path accepts
//! is also analysed through tree-sitter and the two results are compared
//! (`Analyzer::analyze_code`).

use crate::words::Word;

/// A file redirection: `[fd]op word…`. tree-sitter-bash files every word after the operator up
/// to the next operator as a destination; the first is the target, the rest are arguments of
/// the command when the redirection follows a simple command (`echo a > f b` runs `echo a b`).
#[derive(Debug)]
pub(crate) struct Redirect {
    /// A one-digit descriptor written before the operator (`2>`).
    pub descriptor: bool,
    /// `>`, `>>`, `<` or `>&`.
    pub op: &'static str,
    /// The destination words; never empty.
    pub dests: Vec<Word>,
}

/// A simple command: its words, name first (never empty), and their byte range.
#[derive(Debug)]
pub(crate) struct Command {
    pub words: Vec<Word>,
    pub span: (usize, usize),
}

/// The syntax tree of a line in the subset, shaped as tree-sitter-bash shapes it, because the
/// analysis depends on the shape: a redirection applies to everything before it in the
/// statement (`a && b | c > f` is `(a && b | c) > f`), `&&`/`||` lists nest to the left, and
/// `|` binds tighter than a list unless a redirection closed the left side.
#[derive(Debug)]
pub(crate) enum Node {
    /// tree-sitter's `command`.
    Command(Command),
    /// tree-sitter's `pipeline`: two or more stages.
    Pipeline(Vec<Node>),
    /// tree-sitter's `list`: `left && right` or `left || right`.
    List(Box<Node>, Box<Node>),
    /// tree-sitter's `redirected_statement`.
    Redirected {
        body: Box<Node>,
        redirects: Vec<Redirect>,
        span: (usize, usize),
    },
}

/// Operators (each nests the statement's tree one level deeper) in one statement at most;
/// longer chains go to tree-sitter, whose walk is iterative. Keeps the recursive walk and drop
/// of [`Node`] shallow on hostile input (`a && a && …` 64 KiB long).
const MAX_NESTING: usize = 64;

/// A line in the subset: its `;`-separated statements in source order.
pub(crate) type Line = Vec<Node>;

/// Words that are not a command name in bash (or that tree-sitter-bash parses as something
/// else than a simple command).
const NOT_A_SIMPLE_NAME: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "time", "coproc", "declare", "typeset", "export", "readonly",
    "local", "unset", "unsetenv",
];

/// Unquoted bytes a word may hold in the subset. `*` and `?` are glob characters (noted on the
/// word); everything with a meaning of its own to the shell (`$`, `` ` ``, `\`, `{`, `[`, `#`,
/// `!`, `(`, `&`, `=` in a command name, …) sends the line to tree-sitter.
fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'/'
                | b':'
                | b','
                | b'+'
                | b'@'
                | b'%'
                | b'~'
                | b'='
                | b'^'
                | b'*'
                | b'?'
        )
}

/// Bytes allowed between double quotes: printable ASCII and space, but nothing that expands or
/// escapes.
fn plain_in_double_quotes(b: u8) -> bool {
    (b == b' ' || b.is_ascii_graphic()) && !matches!(b, b'"' | b'$' | b'`' | b'\\' | b'!')
}

/// Bytes allowed between single quotes: printable ASCII and space.
fn plain_in_single_quotes(b: u8) -> bool {
    (b == b' ' || b.is_ascii_graphic()) && b != b'\''
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    /// Byte range of the word read last.
    last_word: (usize, usize),
}

impl<'s> Lexer<'s> {
    fn skip_blanks(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Whether the word read last is a bare `-` (tree-sitter-bash drops it before `2>`).
    fn last_word_is_dash(&self) -> bool {
        self.src.get(self.last_word.0..self.last_word.1) == Some("-")
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.bytes.get(self.pos + i).copied()
    }

    /// Reads one word at the current position, or `None` when what is there is outside the
    /// subset (or not a word).
    fn word(&mut self) -> Option<Word> {
        let start = self.pos;
        let mut text = String::with_capacity(16);
        let mut glob = false;
        loop {
            match self.peek() {
                Some(b'\'') => {
                    let open = self.pos + 1;
                    let len = self.bytes.get(open..)?.iter().position(|&b| b == b'\'')?;
                    let inner = self.bytes.get(open..open + len)?;
                    if !inner.iter().all(|&b| plain_in_single_quotes(b)) {
                        return None;
                    }
                    text.push_str(self.src.get(open..open + len)?);
                    self.pos = open + len + 1;
                }
                Some(b'"') => {
                    let open = self.pos + 1;
                    let len = self.bytes.get(open..)?.iter().position(|&b| b == b'"')?;
                    let inner = self.bytes.get(open..open + len)?;
                    if !inner.iter().all(|&b| plain_in_double_quotes(b)) {
                        return None;
                    }
                    text.push_str(self.src.get(open..open + len)?);
                    self.pos = open + len + 1;
                }
                Some(b) if plain_byte(b) => {
                    let run = self.pos;
                    while self.peek().is_some_and(plain_byte) {
                        self.pos += 1;
                    }
                    let part = self.src.get(run..self.pos)?;
                    glob |= part.contains(['*', '?']);
                    text.push_str(part);
                }
                _ => break,
            }
        }
        if self.pos == start {
            return None;
        }
        // A word must end at a blank, an operator or the end of the line; `a2>f` (a word glued
        // to a redirection) and anything else is left to tree-sitter.
        match self.peek() {
            None | Some(b' ' | b'\t' | b';' | b'|' | b'&') => {}
            _ => return None,
        }
        self.last_word = (start, self.pos);
        Some(Word {
            path: text.clone(),
            text,
            literal: true,
            path_literal: true,
            span: (start, self.pos),
            has_subst: false,
            is_procsub: false,
            glob,
        })
    }

    /// Reads a redirection operator (with an optional one-digit descriptor) at the current
    /// position, if there is one in the subset.
    fn redirect_op(&mut self) -> Option<(bool, &'static str)> {
        let (descriptor, at) = match (self.peek(), self.peek_at(1)) {
            // tree-sitter-bash reads `0<` as the word `0` and a `<`: leave it to tree-sitter.
            (Some(d), Some(b'<')) if d.is_ascii_digit() => return None,
            (Some(d), Some(b'>')) if d.is_ascii_digit() => (true, 1),
            _ => (false, 0),
        };
        let op = match (self.peek_at(at), self.peek_at(at + 1)) {
            (Some(b'>'), Some(b'>')) => ">>",
            // `>&-` closes a descriptor; tree-sitter-bash reads it as one token.
            (Some(b'>'), Some(b'&')) if self.peek_at(at + 2) == Some(b'-') => return None,
            (Some(b'>'), Some(b'&')) => ">&",
            (Some(b'>'), Some(b'|' | b'(')) => return None,
            (Some(b'>'), _) => ">",
            (Some(b'<'), Some(b'<' | b'>' | b'&' | b'(')) => return None,
            (Some(b'<'), _) => "<",
            _ => return None,
        };
        if descriptor {
            // A descriptor stands alone before its operator: `x 2>f`, not `x2>f`.
            let before = self.pos.checked_sub(1).and_then(|i| self.bytes.get(i));
            if !matches!(before, None | Some(b' ' | b'\t')) {
                return None;
            }
        }
        self.pos += at + op.len();
        Some((descriptor, op))
    }
}

/// Parses a line in the subset (see the module documentation), or `None`.
pub(crate) fn parse(src: &str) -> Option<Line> {
    if !src.is_ascii() {
        return None;
    }
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        last_word: (0, 0),
    };
    let mut line: Line = Vec::new();
    loop {
        lx.skip_blanks();
        let statement_start = lx.pos;
        let mut acc = Node::Command(command(&mut lx)?);
        let mut nesting = 0usize;
        loop {
            nesting += 1;
            if nesting > MAX_NESTING {
                return None;
            }
            lx.skip_blanks();
            let redirects = redirects(&mut lx)?;
            if !redirects.is_empty() {
                acc = Node::Redirected {
                    body: Box::new(acc),
                    redirects,
                    span: (statement_start, lx.pos),
                };
                lx.skip_blanks();
            }
            match (lx.peek(), lx.peek_at(1)) {
                (None, _) => {
                    line.push(acc);
                    return Some(line);
                }
                // tree-sitter-bash's GLR parse of `a | b | c && d` comes out as
                // `a | (b | c && d)`; such lines are left to it.
                (Some(b'|'), Some(b'|')) | (Some(b'&'), Some(b'&')) if matches!(&acc, Node::Pipeline(stages) if stages.len() > 2) =>
                {
                    return None;
                }
                (Some(b'|'), Some(b'|')) | (Some(b'&'), Some(b'&')) => {
                    lx.pos += 2;
                    lx.skip_blanks();
                    acc = Node::List(Box::new(acc), Box::new(Node::Command(command(&mut lx)?)));
                }
                (Some(b'|'), Some(b'&')) => return None,
                (Some(b'|'), _) => {
                    lx.pos += 1;
                    lx.skip_blanks();
                    acc = pipe(acc, Node::Command(command(&mut lx)?));
                }
                (Some(b';'), Some(b';' | b'&')) => return None,
                (Some(b';'), _) => {
                    lx.pos += 1;
                    line.push(acc);
                    break;
                }
                _ => return None,
            }
        }
    }
}

/// `left | next`: `|` binds tighter than `&&`/`||`, so it extends a list's right side.
fn pipe(left: Node, next: Node) -> Node {
    match left {
        Node::Pipeline(mut stages) => {
            stages.push(next);
            Node::Pipeline(stages)
        }
        Node::List(l, r) => Node::List(l, Box::new(pipe(*r, next))),
        other => Node::Pipeline(vec![other, next]),
    }
}

/// Whether a command name as written is one tree-sitter-bash reads as a plain name: letters,
/// digits, `_`, `.`, `/` and inner `-`, the null command `:`, or one quoted string. Anything
/// else may be an assignment (`a=1`, `e+=x`), a glob it misreads (`a?a`), a keyword glued to a
/// string (`if"x"`), and is left to tree-sitter.
fn plain_name(raw: &str) -> bool {
    let quoted = |q: char| {
        raw.len() >= 2
            && raw.starts_with(q)
            && raw.ends_with(q)
            && !raw[1..raw.len() - 1].contains(q)
    };
    raw == ":"
        || quoted('\'')
        || quoted('"')
        || (!raw.is_empty()
            && !raw.starts_with('-')
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')))
}

/// A simple command's words, up to an operator or a redirection.
fn command(lx: &mut Lexer<'_>) -> Option<Command> {
    let start = lx.pos;
    let name = lx.word()?;
    let raw_name = lx.src.get(start..lx.pos)?;
    if !plain_name(raw_name) || NOT_A_SIMPLE_NAME.contains(&name.text.as_str()) {
        return None;
    }
    let mut words = vec![name];
    let mut end = lx.pos;
    loop {
        lx.skip_blanks();
        match (lx.peek(), lx.peek_at(1)) {
            (None | Some(b';' | b'|' | b'&' | b'>' | b'<'), _) => break,
            (Some(d), Some(b'>' | b'<')) if d.is_ascii_digit() => {
                // tree-sitter-bash drops a bare `-` before `2>` (`ls - 2>&1`).
                if lx.last_word_is_dash() {
                    return None;
                }
                break;
            }
            _ => {}
        }
        let word_start = lx.pos;
        let w = lx.word()?;
        // tree-sitter-bash reads what follows `==` / `=~` as a pattern or regex.
        if lx
            .src
            .get(word_start..lx.pos)
            .is_some_and(|w| w.starts_with('='))
        {
            return None;
        }
        words.push(w);
        end = lx.pos;
    }
    lx.pos = end;
    Some(Command {
        words,
        span: (start, end),
    })
}

/// The redirections at the current position (none when there are none), each with its
/// destination words.
fn redirects(lx: &mut Lexer<'_>) -> Option<Vec<Redirect>> {
    let mut out: Vec<Redirect> = Vec::new();
    loop {
        let before = lx.pos;
        lx.skip_blanks();
        match (lx.peek(), lx.peek_at(1)) {
            (Some(b'>' | b'<'), _) => {}
            (Some(d), Some(b'>' | b'<')) if d.is_ascii_digit() => {
                if lx.last_word_is_dash() {
                    return None;
                }
            }
            (None | Some(b';' | b'|' | b'&'), _) => {
                lx.pos = before;
                return Some(out);
            }
            _ => {
                // Another destination word of the last redirection.
                let last = out.last_mut()?;
                last.dests.push(lx.word()?);
                continue;
            }
        }
        let (descriptor, op) = lx.redirect_op()?;
        lx.skip_blanks();
        let first = lx.word()?;
        out.push(Redirect {
            descriptor,
            op,
            dests: vec![first],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_lines() {
        let line = parse("cd infra && cat .env | grep KEY > out.txt 2>&1; ls").expect("subset");
        assert_eq!(line.len(), 2);
        let Node::Redirected {
            body, redirects, ..
        } = &line[0]
        else {
            panic!("{:?}", line[0]);
        };
        assert_eq!(redirects.len(), 2);
        assert_eq!(redirects[1].op, ">&");
        assert!(redirects[1].descriptor);
        // As tree-sitter-bash has it: `(cd infra && cat .env | grep KEY) > out.txt 2>&1`.
        let Node::List(_, right) = body.as_ref() else {
            panic!("{body:?}");
        };
        assert!(matches!(right.as_ref(), Node::Pipeline(p) if p.len() == 2));
        let quoted = parse("git commit -m \"fix: a b\" 'x y'z").expect("subset");
        let Node::Command(c) = &quoted[0] else {
            panic!("{:?}", quoted[0]);
        };
        assert_eq!(c.words[3].text, "fix: a b");
        assert_eq!(c.words[4].text, "x yz");
    }

    #[test]
    fn leaves_everything_else_to_tree_sitter() {
        for t in [
            "echo $HOME",
            "echo \"$x\"",
            "a\\\nb",
            "x=1 ls",
            "if true; then ls; fi",
            "ls # c",
            "ls &",
            "ls && ",
            "&& ls",
            "cat <<EOF",
            "cat <(ls)",
            "echo a>b",
            "ls |& cat",
            "echo é",
            "ls\nls",
            "export A=1",
            "echo {a,b}",
            "[ -f x ]",
            "",
            "   ",
        ] {
            assert!(parse(t).is_none(), "{t:?} should not be in the subset");
        }
    }

    #[test]
    fn long_chains_go_to_tree_sitter() {
        let chain = |n: usize| vec!["ls"; n].join(" && ");
        assert!(parse(&chain(MAX_NESTING)).is_some());
        assert!(parse(&chain(MAX_NESTING + 2)).is_none());
        assert!(parse(&vec!["ls > f"; 5000].join(" && ")).is_none());
    }
}
