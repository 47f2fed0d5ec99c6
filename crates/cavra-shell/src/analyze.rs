//! The analysis: parse with tree-sitter-bash, walk every place a command can run, and unwrap
//! wrappers.
//!
//! The walk over one syntax tree is iterative (an explicit work stack), so nesting depth in
//! the input cannot overflow the call stack. Recursion happens only when a wrapper hands us new
//! code (`sh -c '…'`, `sudo …`), and that recursion is bounded by [`Limits::max_depth`] (capped
//! at [`HARD_MAX_DEPTH`]).

use crate::canon;
use crate::fast;
use crate::knowledge::{self, Knowledge};
use crate::tools::{self, Inner, InnerKind, Stdin};
use crate::words::{Word, node_text, word_from_node};
use crate::{
    AccessKind, CommandAnalysis, CommandRole, FileAccess, GitPush, Limits, PullRequestOpen,
    RiskClass, SimpleCommand,
};
use std::collections::BTreeSet;
use std::rc::Rc;
use tree_sitter::{Node, ParseOptions, ParseState, Parser, Tree};

mod folders;
mod syntax;
use syntax::{
    assignment, extra_words, fast_producer_stdin, fast_stdin, fielded_children, first_error,
    is_read_write_redirect_error, line_continuations, map_span, missing_is_benign, nesting_depth,
    plain_words, producer_stdin, push_children, span_of, stdin_from_redirects,
};

/// Whatever the configured limit, wrapper recursion never goes deeper than this: each level
/// costs a few stack frames, and the walker must not overflow the stack on hostile input.
const HARD_MAX_DEPTH: usize = 64;

/// Problems recorded at most, so a line full of syntax errors does not produce a huge report.
const MAX_PROBLEMS: usize = 16;

/// Files whose access means nothing for policy.
fn ignored_path(p: &str) -> bool {
    matches!(
        p,
        "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "/dev/stdin"
    ) || p.starts_with("/dev/fd/")
}

/// Analyses a command line with the default limits.
pub fn analyze(text: &str) -> CommandAnalysis {
    analyze_with(text, &Limits::default())
}

/// Bytes handed to the lexer per read: each read is one step of the parse budget.
const PARSE_CHUNK: usize = 256;

/// How a problem report of an exhausted parse budget starts.
const PARSE_BUDGET_PROBLEM: &str = "parsing needed more than its budget";

/// Analyses a command line with explicit limits.
pub fn analyze_with(text: &str, limits: &Limits) -> CommandAnalysis {
    analyze_with_knowledge(text, limits, Knowledge::builtin())
}

/// Analyses a command line with explicit limits and a knowledge base (the built-in one plus a
/// pack's `knowledge:` entries).
pub fn analyze_with_knowledge(text: &str, limits: &Limits, kb: &Knowledge) -> CommandAnalysis {
    let (out, used_fast_path) = run(text, limits, kb, true);
    // Every line the fast front end reads is checked against the tree-sitter walk in debug
    // builds (all tests), so a divergence between the two cannot go unnoticed.
    #[cfg(debug_assertions)]
    if used_fast_path {
        let (reference, _) = run(text, limits, kb, false);
        // tree-sitter may run out of its budget on a huge line the fast path reads.
        let timed_out = reference
            .problems
            .iter()
            .any(|p| p.starts_with(PARSE_BUDGET_PROBLEM));
        if out != reference && !timed_out {
            let shown: String = text.chars().take(200).collect();
            panic!(
                "the fast front end and tree-sitter disagree on {shown:?}:\nfast: {:?}\ntree-sitter: {:?}",
                DebugShort(&out),
                DebugShort(&reference)
            );
        }
    }
    let _ = used_fast_path;
    out
}

/// An analysis in a panic message, cut short.
#[cfg(debug_assertions)]
struct DebugShort<'a>(&'a CommandAnalysis);

#[cfg(debug_assertions)]
impl std::fmt::Debug for DebugShort<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = format!("{:?}", self.0);
        let cut: String = full.chars().take(3000).collect();
        f.write_str(&cut)
    }
}

/// One analysis; `fast` allows the fast front end. Also says whether it was used.
pub(crate) fn run(
    text: &str,
    limits: &Limits,
    kb: &Knowledge,
    fast: bool,
) -> (CommandAnalysis, bool) {
    let mut a = Analyzer::new(limits, kb);
    a.fast = fast;
    if text.len() > limits.max_input_bytes {
        a.problem(format!(
            "input is {} bytes, more than the limit of {} bytes; not analysed",
            text.len(),
            limits.max_input_bytes
        ));
    } else {
        let ctx = Ctx {
            depth: 0,
            via: Rc::new(Vec::new()),
            span: None,
            stdin: Stdin::Terminal,
            map: None,
            folder: None,
        };
        a.analyze_code(text, &ctx);
    }
    let used = a.used_fast;
    (a.finish(), used)
}

/// Brings a policy command pattern into the canonical form commands are matched in (trimmed,
/// runs of spaces collapsed, the first word's directory dropped), keeping glob characters.
pub fn canonicalize_pattern(pattern: &str) -> String {
    canon::canonicalize_pattern(pattern)
}

/// Where in the line a piece of syntax sits.
#[derive(Debug, Clone)]
struct Ctx {
    /// Wrapper / substitution nesting.
    depth: usize,
    /// Wrapper chain, outermost first.
    via: Rc<Vec<String>>,
    /// For code parsed out of a word: the outer word's range, used for every span inside.
    span: Option<(usize, usize)>,
    /// Standard input of the statement.
    stdin: Stdin,
    /// When line continuations were removed before parsing: their positions in the cleaned
    /// text, to map spans back to the text as given.
    map: Option<Rc<Vec<usize>>>,
    /// The folder a wrapper runs the command in (`env -C DIR`), and whether it is literal:
    /// the command's relative paths are that folder's.
    folder: Option<folders::Folder>,
}

impl Ctx {
    fn with_stdin(&self, stdin: Stdin) -> Ctx {
        Ctx {
            stdin,
            ..self.clone()
        }
    }
}

enum Work<'t> {
    /// Walk this node.
    Visit(Node<'t>, Ctx),
    /// The body of a redirected statement is done: record its redirections against the first
    /// command it produced (`start` = number of commands before the body was walked).
    Redirects(Node<'t>, Ctx, usize),
}

struct Analyzer<'l> {
    limits: &'l Limits,
    /// What programs do with their arguments.
    kb: &'l Knowledge,
    out: CommandAnalysis,
    /// Created on first use: a line the fast front end reads never needs one.
    parser: Option<Option<Parser>>,
    /// Lines in the fast front end's subset skip tree-sitter.
    fast: bool,
    /// The fast front end read at least one piece of code.
    used_fast: bool,
    /// `max_commands` was reached: nothing more is recorded.
    stopped: bool,
    max_depth: usize,
    /// Parser steps spent so far, over every parse of this analysis (see
    /// [`Limits::max_parse_steps`]).
    parse_steps: u64,
    /// Environment assignments written before the command [`Analyzer::simple`] records next
    /// (`GIT_SSH_COMMAND=… git fetch`); taken by it.
    pending_env: Vec<(String, Word)>,
    /// The folder each recorded command runs in, where a wrapper set one (by command index).
    folders: Vec<Option<folders::Folder>>,
}

impl<'l> Analyzer<'l> {
    fn new(limits: &'l Limits, kb: &'l Knowledge) -> Self {
        Analyzer {
            limits,
            kb,
            out: CommandAnalysis::default(),
            parser: None,
            fast: true,
            used_fast: false,
            stopped: false,
            max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
            parse_steps: 0,
            pending_env: Vec::new(),
            folders: Vec::new(),
        }
    }

    fn finish(mut self) -> CommandAnalysis {
        folders::place(&mut self.out.file_accesses, &self.folders);
        let mut classes: BTreeSet<RiskClass> = std::mem::take(&mut self.out.classes);
        for c in &self.out.commands {
            classes.extend(c.classes.iter().copied());
        }
        if !self.out.problems.is_empty() {
            classes.insert(RiskClass::Unparseable);
        }
        self.out.classes = classes;
        self.out
    }

    /// Records a reason the input is (partly) unparseable.
    fn problem(&mut self, msg: String) {
        self.out.classes.insert(RiskClass::Unparseable);
        if self.out.problems.len() < MAX_PROBLEMS && !self.out.problems.contains(&msg) {
            self.out.problems.push(msg);
        }
    }

    /// The parser, created on first use. A fresh parser per analysis: reusing one across
    /// analyses (a thread-local cache) saved nothing measurable and crashed intermittently, the
    /// parser keeping state from the previous parse's progress callback.
    fn parser(&mut self) -> Option<&mut Parser> {
        self.parser
            .get_or_insert_with(|| {
                let mut parser = Parser::new();
                parser
                    .set_language(&tree_sitter_bash::LANGUAGE.into())
                    .ok()
                    .map(|()| parser)
            })
            .as_mut()
    }

    fn parse(&mut self, text: &str) -> Option<Tree> {
        let budget = self.limits.max_parse_steps;
        if self.parse_steps > budget {
            return None;
        }
        // The cost of one parse operation grows with how deeply the text nests (tree-sitter's
        // error recovery walks its stack): `${` repeated thirty thousand times is a few hundred
        // steps but seconds of work. Text nesting deeper than any real line is not parsed.
        if nesting_depth(text.as_bytes()) > self.limits.max_nesting {
            self.parse_steps = budget.saturating_add(1);
            return None;
        }
        let steps = std::cell::Cell::new(self.parse_steps);
        let parser = self.parser()?;
        // A cancelled parse would otherwise be resumed by the next call.
        parser.reset();
        // The work is counted, never timed, so a decision never depends on how fast (or how
        // loaded) the machine is: one step per chunk of text the lexer reads (it reads again
        // whenever it goes back, so re-scanning is paid for) and one per callback tree-sitter
        // makes every hundred or so parse operations.
        let mut cancel = |_: &ParseState| {
            steps.set(steps.get() + 1);
            steps.get() > budget
        };
        let options = ParseOptions::new().progress_callback(&mut cancel);
        // tree-sitter-bash's external scanner passes the lookahead code point to C's
        // `isdigit`, which reads past its table for code points above 255 and can crash the
        // process (found by the property tests). A crash would let the agent's tool run, so the
        // parser only ever sees ASCII: every byte of a non-ASCII character becomes `x`. Bash
        // treats such characters as ordinary word characters, as it does `x`, so the tree has
        // the same shape, and every byte offset stays the same: words are read from the text
        // as given.
        let sanitized: Vec<u8>;
        let bytes = if text.is_ascii() {
            text.as_bytes()
        } else {
            sanitized = text
                .bytes()
                .map(|b| if b.is_ascii() { b } else { b'x' })
                .collect();
            &sanitized
        };
        let tree = parser.parse_with_options(
            &mut |i, _| {
                steps.set(steps.get() + 1);
                if steps.get() > budget {
                    // Out of budget: the text ends here, and the parse is discarded below.
                    return &[][..];
                }
                let end = i.saturating_add(PARSE_CHUNK).min(bytes.len());
                bytes.get(i..end).unwrap_or_default()
            },
            None,
            Some(options),
        );
        self.parse_steps = steps.get();
        if self.parse_steps > budget {
            return None;
        }
        tree
    }

    /// Parses and walks shell code.
    fn analyze_code(&mut self, text: &str, ctx: &Ctx) {
        if self.stopped {
            return;
        }
        if self.fast
            && let Some(line) = fast::parse(text)
        {
            self.used_fast = true;
            self.walk_fast(&line, ctx);
            return;
        }
        if self.parser().is_none() {
            self.problem("the bash grammar could not be loaded".to_string());
            return;
        }
        let Some(tree) = self.parse(text) else {
            self.budget_problem();
            return;
        };
        // tree-sitter-bash treats a backslash-newline as blank space between words, but the
        // shell removes it first: `terra\<newline>form` runs `terraform`. Remove them (outside
        // single quotes, comments and quoted here-documents) and parse again.
        let conts = line_continuations(tree.root_node(), text);
        if conts.is_empty() {
            self.walk_checked(&tree, text, ctx);
            return;
        }
        let mut clean = String::with_capacity(text.len());
        let mut map = Vec::with_capacity(conts.len());
        let mut pos = 0;
        for &c in &conts {
            clean.push_str(text.get(pos..c).unwrap_or(""));
            map.push(clean.len());
            pos = c + 2;
        }
        clean.push_str(text.get(pos..).unwrap_or(""));
        let Some(tree) = self.parse(&clean) else {
            self.budget_problem();
            return;
        };
        let ctx = Ctx {
            map: if ctx.span.is_none() {
                Some(Rc::new(map))
            } else {
                ctx.map.clone()
            },
            ..ctx.clone()
        };
        self.walk_checked(&tree, &clean, &ctx);
    }

    fn budget_problem(&mut self) {
        self.problem(format!(
            "{PARSE_BUDGET_PROBLEM} ({} steps); not analysed",
            self.limits.max_parse_steps
        ));
    }

    /// Walks a tree and makes sure a tree with errors is reported even when the error sits
    /// in a token the walk does not visit.
    fn walk_checked(&mut self, tree: &Tree, src: &str, ctx: &Ctx) {
        let before = self.out.problems.len();
        self.walk(tree.root_node(), src, ctx);
        if tree.root_node().has_error()
            && self.out.problems.len() == before
            && !self.stopped
            && let Some(msg) = first_error(tree.root_node(), src)
        {
            self.problem(msg);
        }
    }

    /// Walks one syntax tree. Iterative: see the module documentation.
    fn walk(&mut self, root: Node<'_>, src: &str, ctx: &Ctx) {
        let mut stack = vec![Work::Visit(root, ctx.clone())];
        while let Some(item) = stack.pop() {
            if self.stopped {
                return;
            }
            match item {
                Work::Visit(node, ctx) => self.visit(node, src, ctx, &mut stack),
                Work::Redirects(node, ctx, start) => {
                    self.redirects_done(node, src, &ctx, start, &mut stack)
                }
            }
        }
    }

    fn span(&self, node: Node<'_>, ctx: &Ctx) -> (usize, usize) {
        span_of((node.start_byte(), node.end_byte()), ctx)
    }

    /// The fast front end's counterpart of [`Analyzer::walk`]: the same steps in the same
    /// order on the same tree shape. The walk's stack only ever delays a node's later siblings
    /// and a redirected statement's redirections until the nodes before them are done, which
    /// plain recursion does too; the fast front end keeps trees shallow (`fast::MAX_NESTING`).
    fn walk_fast(&mut self, line: &fast::Line, ctx: &Ctx) {
        for statement in line {
            self.fast_node(statement, ctx);
        }
    }

    fn fast_node(&mut self, node: &fast::Node, ctx: &Ctx) {
        if self.stopped {
            return;
        }
        match node {
            fast::Node::Command(c) => {
                self.simple(&c.words, ctx, span_of(c.span, ctx));
            }
            fast::Node::List(left, right) => {
                self.fast_node(left, ctx);
                self.fast_node(right, ctx);
            }
            fast::Node::Pipeline(stages) => {
                let mut prev: Option<&fast::Node> = None;
                for stage in stages {
                    let stdin = match prev {
                        None => ctx.stdin.clone(),
                        Some(p) => fast_producer_stdin(p),
                    };
                    self.fast_node(stage, &ctx.with_stdin(stdin));
                    prev = Some(stage);
                }
            }
            fast::Node::Redirected {
                body,
                redirects,
                span,
            } => {
                let stdin = fast_stdin(redirects).unwrap_or_else(|| ctx.stdin.clone());
                let body_ctx = ctx.with_stdin(stdin);
                let start = self.out.commands.len();
                match body.as_ref() {
                    fast::Node::Command(c) if redirects.iter().any(|r| r.dests.len() > 1) => {
                        let mut words = c.words.clone();
                        for r in redirects {
                            words.extend(r.dests.iter().skip(1).cloned());
                        }
                        self.simple(&words, &body_ctx, span_of(c.span, &body_ctx));
                    }
                    other => self.fast_node(other, &body_ctx),
                }
                if self.stopped {
                    return;
                }
                let idx = if self.out.commands.len() > start {
                    Some(self.out.commands.len() - 1)
                } else {
                    self.null_command(ctx, span_of(*span, ctx))
                };
                if let Some(idx) = idx {
                    for r in redirects {
                        if let Some(dest) = r.dests.first() {
                            self.file_redirect_access(r.op, dest, idx);
                        }
                    }
                }
            }
        }
    }

    fn visit<'t>(&mut self, node: Node<'t>, src: &str, ctx: Ctx, stack: &mut Vec<Work<'t>>) {
        if node.is_missing() {
            let what = node.kind();
            if !missing_is_benign(node) {
                self.problem(format!(
                    "incomplete input: missing `{what}` at byte {}",
                    self.span(node, &ctx).0
                ));
            }
            return;
        }
        match node.kind() {
            "ERROR" => {
                if !is_read_write_redirect_error(node, src) {
                    let snippet: String = node_text(node, src).chars().take(40).collect();
                    self.problem(format!(
                        "syntax error at byte {}: `{}`",
                        self.span(node, &ctx).0,
                        snippet.escape_debug()
                    ));
                }
                push_children(node, &ctx, stack);
            }
            "command" => self.command(node, src, &ctx, stack, Vec::new()),
            "redirected_statement" => self.redirected(node, src, &ctx, stack),
            "pipeline" => self.pipeline(node, src, &ctx, stack),
            "declaration_command" | "unset_command" => {
                let words = plain_words(node, src);
                self.simple(
                    &words,
                    &ctx.with_stdin(Stdin::Terminal),
                    self.span(node, &ctx),
                );
                push_children(node, &ctx.with_stdin(Stdin::Terminal), stack);
            }
            "command_substitution" | "process_substitution" => {
                if ctx.depth >= self.max_depth {
                    self.problem(format!(
                        "substitutions nested deeper than {}; not analysed further",
                        self.max_depth
                    ));
                    return;
                }
                let inner = Ctx {
                    depth: ctx.depth + 1,
                    stdin: Stdin::Terminal,
                    ..ctx
                };
                // `$(<FILE)` is bash's `$(cat FILE)`: the file's content becomes the text.
                let mut cursor = node.walk();
                let reads: Vec<Node<'t>> = node
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() == "file_redirect")
                    .collect();
                for r in reads {
                    let dest = fielded_children(r)
                        .into_iter()
                        .find(|(f, _)| *f == Some("destination"))
                        .map(|(_, d)| word_from_node(d, src));
                    if let Some(dest) = dest {
                        let words = [Word::derived(&dest, "cat"), dest];
                        self.simple(&words, &inner, self.span(r, &inner));
                    }
                }
                push_children(node, &inner, stack);
            }
            "heredoc_redirect" => {
                // Statements after the here-document operator (`<<EOF | sh`, `<<EOF && x`)
                // were routed by `redirected`; here only the body's substitutions remain.
                let mut cursor = node.walk();
                let bodies: Vec<Node<'t>> = node
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() == "heredoc_body" || c.kind().starts_with("heredoc"))
                    .collect();
                for b in bodies.into_iter().rev() {
                    stack.push(Work::Visit(b, ctx.with_stdin(Stdin::Terminal)));
                }
            }
            "comment"
            | "word"
            | "raw_string"
            | "ansi_c_string"
            | "string_content"
            | "heredoc_content"
            | "heredoc_start"
            | "heredoc_end"
            | "variable_name"
            | "special_variable_name"
            | "file_descriptor"
            | "test_operator"
            | "regex"
            | "extglob_pattern" => {}
            _ => push_children(node, &ctx, stack),
        }
    }

    /// A simple command. `extra` are words tree-sitter attached to a trailing redirection
    /// (`echo a > f b`: `b` is an argument of `echo`).
    fn command<'t>(
        &mut self,
        node: Node<'t>,
        src: &str,
        ctx: &Ctx,
        stack: &mut Vec<Work<'t>>,
        extra: Vec<Word>,
    ) {
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        let mut assignments = Vec::new();
        for (field, child) in fielded_children(node) {
            match field {
                Some("name") => {
                    if let Some(n) = child.named_child(0).filter(|n| !n.is_missing())
                        && n.end_byte() > n.start_byte()
                    {
                        words.push(word_from_node(n, src));
                    }
                }
                Some("argument") => words.push(word_from_node(child, src)),
                Some("redirect") => redirects.push(child),
                None if child.kind() == "variable_assignment" => {
                    if let Some(a) = assignment(child, src) {
                        assignments.push(a);
                    }
                }
                _ => {}
            }
        }
        words.extend(extra_words(&redirects, src));
        words.extend(extra);
        let stdin = stdin_from_redirects(&redirects, src).unwrap_or_else(|| ctx.stdin.clone());
        let span = self.span(node, ctx);
        // `NAME=value cmd`: the values are in the command's environment.
        self.pending_env = assignments;
        let mut idx = self.simple(&words, &ctx.with_stdin(stdin), span);
        if idx.is_none() && words.is_empty() && !redirects.is_empty() {
            idx = self.null_command(ctx, span);
        }
        if let Some(idx) = idx {
            for r in &redirects {
                self.redirect_access(*r, src, idx);
            }
        }
        push_children(node, &ctx.with_stdin(Stdin::Terminal), stack);
    }

    fn redirected<'t>(&mut self, node: Node<'t>, src: &str, ctx: &Ctx, stack: &mut Vec<Work<'t>>) {
        let mut redirects = Vec::new();
        for (field, child) in fielded_children(node) {
            if field != Some("body") && child.is_named() && child.kind().ends_with("redirect") {
                redirects.push(child);
            }
        }
        let body = node.child_by_field_name("body");
        let stdin = stdin_from_redirects(&redirects, src).unwrap_or_else(|| ctx.stdin.clone());
        let body_ctx = ctx.with_stdin(stdin.clone());
        // `cat <<EOF | sh`: tree-sitter puts the rest of the pipeline inside the here-document
        // redirect; its first command reads what the body command writes.
        let mut tails = Vec::new();
        for r in &redirects {
            if r.kind() != "heredoc_redirect" {
                continue;
            }
            for (field, child) in fielded_children(*r) {
                if !child.is_named() || child.kind().starts_with("heredoc") {
                    continue;
                }
                if matches!(child.kind(), "file_redirect" | "herestring_redirect") {
                    continue;
                }
                if field == Some("right") {
                    tails.push((child, ctx.clone()));
                } else if field.is_none() || field == Some("argument") {
                    if child.kind() == "pipeline" {
                        let first = body.map(|b| producer_stdin(b, src, &stdin));
                        tails.push((child, ctx.with_stdin(first.unwrap_or(Stdin::Terminal))));
                    } else if field.is_none() {
                        tails.push((child, ctx.clone()));
                    }
                }
            }
        }
        for (t, c) in tails.into_iter().rev() {
            stack.push(Work::Visit(t, c));
        }
        stack.push(Work::Redirects(node, ctx.clone(), self.out.commands.len()));
        match body {
            Some(b) if b.kind() == "command" => {
                let extra = extra_words(&redirects, src);
                self.command(b, src, &body_ctx, stack, extra);
            }
            Some(b) => stack.push(Work::Visit(b, body_ctx)),
            None => {}
        }
    }

    fn redirects_done<'t>(
        &mut self,
        node: Node<'t>,
        src: &str,
        ctx: &Ctx,
        start: usize,
        stack: &mut Vec<Work<'t>>,
    ) {
        let redirects: Vec<Node<'t>> = fielded_children(node)
            .into_iter()
            .filter(|(field, c)| {
                *field != Some("body") && c.is_named() && c.kind().ends_with("redirect")
            })
            .map(|(_, c)| c)
            .collect();
        // In `a && b > f` the redirection belongs to `b`, the statement's last command; for a
        // group or loop it covers them all, and the last is the one that runs after any `cd`.
        let idx = if self.out.commands.len() > start {
            Some(self.out.commands.len() - 1)
        } else {
            self.null_command(ctx, self.span(node, ctx))
        };
        if let Some(idx) = idx {
            for r in &redirects {
                self.redirect_access(*r, src, idx);
            }
        }
        for r in redirects.into_iter().rev() {
            stack.push(Work::Visit(r, ctx.with_stdin(Stdin::Terminal)));
        }
    }

    /// A redirection without a command (`> file`) still runs: bash treats it as the null
    /// command `:`. It is recorded as `:` so its file accesses have a command to belong to.
    fn null_command(&mut self, ctx: &Ctx, span: (usize, usize)) -> Option<usize> {
        let w = Word {
            text: ":".to_string(),
            literal: true,
            path: ":".to_string(),
            path_literal: true,
            span,
            has_subst: false,
            is_procsub: false,
            glob: false,
        };
        self.simple(&[w], ctx, span)
    }

    fn pipeline<'t>(&mut self, node: Node<'t>, src: &str, ctx: &Ctx, stack: &mut Vec<Work<'t>>) {
        let mut cursor = node.walk();
        let parts: Vec<Node<'t>> = node
            .named_children(&mut cursor)
            .filter(|c| c.kind() != "comment")
            .collect();
        let mut items = Vec::with_capacity(parts.len());
        let mut prev: Option<Node<'t>> = None;
        for p in parts {
            let stdin = match prev {
                None => ctx.stdin.clone(),
                Some(producer) => producer_stdin(producer, src, &Stdin::Terminal),
            };
            items.push(Work::Visit(p, ctx.with_stdin(stdin)));
            prev = Some(p);
        }
        stack.extend(items.into_iter().rev());
    }

    /// Records a file access from a redirection.
    fn redirect_access(&mut self, r: Node<'_>, src: &str, idx: usize) {
        if r.kind() == "heredoc_redirect" {
            // `cat <<EOF > out`: the file redirect sits inside the here-document redirect.
            let mut cursor = r.walk();
            let inner: Vec<Node<'_>> = r
                .named_children(&mut cursor)
                .filter(|c| c.kind() == "file_redirect")
                .collect();
            for i in inner {
                self.redirect_access(i, src, idx);
            }
            return;
        }
        if r.kind() != "file_redirect" {
            return;
        }
        let mut op = String::new();
        let mut dest: Option<Node<'_>> = None;
        for (field, child) in fielded_children(r) {
            match field {
                Some("destination") if dest.is_none() => dest = Some(child),
                Some("destination") => {}
                Some("descriptor") => {}
                _ if !child.is_named() || child.kind() == "ERROR" => {
                    op.push_str(node_text(child, src))
                }
                _ => {}
            }
        }
        let Some(dest) = dest else { return };
        let w = word_from_node(dest, src);
        if w.is_procsub || w.has_subst && !w.literal && dest.kind() == "process_substitution" {
            return;
        }
        self.file_redirect_access(&op, &w, idx);
    }

    /// Records the file access of a file redirection `op` to `w`.
    fn file_redirect_access(&mut self, op: &str, w: &Word, idx: usize) {
        let kinds: &[AccessKind] = match op {
            ">" | ">>" | ">|" | "&>" | "&>>" => &[AccessKind::Write],
            "<" => &[AccessKind::Read],
            "<>" => &[AccessKind::Read, AccessKind::Write],
            // `>&word` / `<&word`: a descriptor copy when the word is a number or `-`.
            ">&" | "<&" | "&>&" => {
                if w.text == "-" || w.text.chars().all(|c| c.is_ascii_digit()) {
                    return;
                }
                if op == "<&" {
                    &[AccessKind::Read]
                } else {
                    &[AccessKind::Write]
                }
            }
            _ => return,
        };
        if ignored_path(&w.path) {
            return;
        }
        for &kind in kinds {
            self.out.file_accesses.push(FileAccess {
                path: w.path.clone(),
                literal: w.path_literal,
                kind,
                command_index: idx,
                reason: format!("redirect {op}"),
            });
        }
    }

    /// Records one simple command (and, recursively, what it wraps). Returns its index.
    fn simple(&mut self, words: &[Word], ctx: &Ctx, span: (usize, usize)) -> Option<usize> {
        let env = std::mem::take(&mut self.pending_env);
        let (first, args) = words.split_first()?;
        if self.stopped {
            return None;
        }
        if self.out.commands.len() >= self.limits.max_commands {
            self.stopped = true;
            self.problem(format!(
                "more than {} commands; the rest was not analysed",
                self.limits.max_commands
            ));
            return None;
        }
        // A glob in the name is replaced by file names before the command runs.
        let name_is_literal = first.literal && !first.glob;
        let name = if name_is_literal {
            canon::basename(&first.text).to_string()
        } else {
            first.text.clone()
        };
        // `cargo +nightly test` is `cargo test` run by another installed version.
        let args = if name_is_literal {
            knowledge::drop_version_selector(self.kb, &name, args)
        } else {
            args
        };
        // `git push --forc` is `--force` to git: abbreviations are read as the option meant.
        let expanded = if name_is_literal {
            knowledge::expand_abbreviations(self.kb, &name, args)
        } else {
            std::borrow::Cow::Borrowed(args)
        };
        let args: &[Word] = &expanded;
        let mut info = if name_is_literal {
            tools::inspect(self.kb, &name, args, &ctx.stdin)
        } else {
            tools::Info::default()
        };
        if !env.is_empty() {
            let list: Vec<(&str, &Word)> = env.iter().map(|(n, w)| (n.as_str(), w)).collect();
            knowledge::assignments(self.kb, &list, &mut info);
        }
        let mut classes = info.classes;
        if !name_is_literal {
            classes.insert(RiskClass::DynamicCommand);
        }
        // Flags after the start of a wrapped command belong to that command.
        let flag_limit = info
            .inner
            .iter()
            .map(|i| match i.kind {
                InnerKind::Words(start, _) => start,
                InnerKind::Code(_) => args
                    .iter()
                    .position(|w| w.span.0 == i.span.0)
                    .unwrap_or(args.len()),
            })
            .min()
            .unwrap_or(args.len());
        let canon::Forms {
            canonical,
            variants,
            keys: match_keys,
            readings,
            readings_incomplete,
        } = canon::forms(self.kb, &name, name_is_literal, args, flag_limit);
        // More readings than cavra makes: one it did not make may be what a rule names, so the
        // command is never simply allowed.
        if readings_incomplete {
            classes.insert(RiskClass::Unparseable);
        }
        let known_program = name_is_literal
            && (self.kb.knows(&name)
                || !info.inner.is_empty()
                || !info.accesses.is_empty()
                || !classes.is_empty()
                || info.push.is_some()
                || info.pull_request);
        let mut argv = Vec::with_capacity(words.len());
        argv.extend(words.iter().map(|w| w.text.clone()));
        let idx = self.out.commands.len();
        if ctx.folder.is_some() {
            self.folders.resize(idx, None);
            self.folders.push(ctx.folder.clone());
        }
        self.out.commands.push(SimpleCommand {
            argv,
            name_is_literal,
            canonical,
            variants,
            match_keys,
            readings,
            role: if info.inner.is_empty() || info.acts_itself {
                CommandRole::Executed
            } else {
                CommandRole::Wrapper
            },
            known_program,
            via: ctx.via.as_ref().clone(),
            classes,
            span,
        });
        for a in info.accesses {
            if a.literal && ignored_path(&a.path) {
                continue;
            }
            self.out.file_accesses.push(FileAccess {
                path: a.path,
                literal: a.literal,
                kind: a.kind,
                command_index: idx,
                reason: a.reason,
            });
        }
        for p in info.patch_files {
            self.out.patch_files.push(crate::PatchFile {
                path: p.file.path,
                literal: p.file.path_literal,
                command_index: idx,
                how: p.how,
            });
        }
        if let Some(p) = info.push {
            self.out.git_pushes.push(GitPush {
                remote: p.remote,
                refspecs: p.refspecs,
                branches: p.branches,
                force: p.force,
                all_branches: p.all_branches,
                command_index: idx,
            });
        }
        if info.pull_request {
            self.out
                .pull_requests
                .push(PullRequestOpen { command_index: idx });
        }
        for inner in info.inner {
            self.inner(inner, args, ctx, span);
        }
        Some(idx)
    }

    fn inner(&mut self, inner: Inner, args: &[Word], ctx: &Ctx, span: (usize, usize)) {
        if ctx.depth >= self.max_depth {
            self.problem(format!(
                "wrappers nested deeper than {}; not analysed further",
                self.max_depth
            ));
            return;
        }
        let mut via = ctx.via.as_ref().clone();
        via.push(inner.label);
        let inner_span = if ctx.span.is_some() || inner.span == (0, 0) {
            span
        } else {
            map_span(ctx, inner.span)
        };
        let folder = folders::within(&ctx.folder, inner.folder);
        let child = Ctx {
            depth: ctx.depth + 1,
            via: Rc::new(via),
            span: ctx.span,
            stdin: inner.stdin,
            map: ctx.map.clone(),
            folder,
        };
        match inner.kind {
            InnerKind::Words(start, end) => {
                if let Some(ws) = args.get(start..end) {
                    self.simple(ws, &child, inner_span);
                }
            }
            InnerKind::Code(text) => {
                let child = Ctx {
                    span: Some(ctx.span.unwrap_or(inner_span)),
                    ..child
                };
                self.analyze_code(&text, &child);
            }
        }
    }
}
