//! What known commands mean: the risk classes they carry, the files they touch, the `git push`
//! they perform, and the command they wrap.

use crate::knowledge::Knowledge;
use crate::opts::{self, Parsed, Spec};
use crate::words::Word;
use crate::{AccessKind, RiskClass};
use std::collections::BTreeSet;

/// Where a command's standard input comes from, as far as it matters for code execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// Nothing known (terminal, inherited, a file).
    Terminal,
    /// A pipe from a producer whose output is not known before run time (`curl …`).
    Untrusted(String),
    /// A pipe from a producer of known, local content (`cat script.sh`, `printf …`).
    Trusted,
    /// Text known from the command line: `echo TEXT |`, here-strings, here-documents.
    Code {
        /// Shared: the stdin is copied into the context of every node below the statement.
        text: std::rc::Rc<str>,
        literal: bool,
        subst: bool,
    },
}

/// What a wrapper runs.
#[derive(Debug, Clone)]
pub(crate) enum InnerKind {
    /// A command given as words: `args[start..end]`.
    Words(usize, usize),
    /// Shell code given as text.
    Code(String),
}

/// A command run by a wrapper.
#[derive(Debug, Clone)]
pub(crate) struct Inner {
    pub kind: InnerKind,
    /// How the wrapper appears in `via` (`sudo`, `sh -c`, `find -exec`, …).
    pub label: String,
    /// The inner command's standard input.
    pub stdin: Stdin,
    /// Source range of the words that hold the inner command.
    pub span: (usize, usize),
}

/// A file access before it is tied to a command index.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub kind: AccessKind,
    pub path: String,
    pub literal: bool,
    pub reason: String,
}

/// A `git push` before it is tied to a command index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Push {
    pub remote: Option<String>,
    pub refspecs: Vec<String>,
    pub branches: Vec<String>,
    pub force: bool,
    pub all_branches: bool,
}

/// Everything learnt from one simple command's name and arguments.
#[derive(Debug, Default)]
pub(crate) struct Info {
    pub classes: BTreeSet<RiskClass>,
    pub accesses: Vec<Access>,
    pub push: Option<Push>,
    pub inner: Vec<Inner>,
}

impl Info {
    pub(crate) fn access(&mut self, kind: AccessKind, w: &Word, reason: impl Into<String>) {
        self.accesses.push(Access {
            kind,
            path: w.path.clone(),
            literal: w.path_literal,
            reason: reason.into(),
        });
    }

    pub(crate) fn class(&mut self, c: RiskClass) {
        self.classes.insert(c);
    }

    /// The words `args[start..end]` are a command run by this one.
    pub(crate) fn words(
        &mut self,
        args: &[Word],
        start: usize,
        end: usize,
        label: &str,
        stdin: Stdin,
    ) {
        let end = end.min(args.len());
        if start >= end {
            return;
        }
        let span = match (args.get(start), args.get(end - 1)) {
            (Some(a), Some(b)) => (a.span.0, b.span.1),
            _ => (0, 0),
        };
        self.inner.push(Inner {
            kind: InnerKind::Words(start, end),
            label: label.to_string(),
            stdin,
            span,
        });
    }

    /// `text` is shell code run by this command. Code that is not a literal cannot be analysed:
    /// it is dynamic, and remote code execution when it comes from a substitution.
    pub(crate) fn code(&mut self, words: &[&Word], label: &str, stdin: Stdin) {
        let (Some(first), Some(last)) = (words.first(), words.last()) else {
            return;
        };
        if words.iter().all(|w| w.literal) {
            let text = words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            self.inner.push(Inner {
                kind: InnerKind::Code(text),
                label: label.to_string(),
                stdin,
                span: (first.span.0, last.span.1),
            });
        } else {
            self.class(RiskClass::DynamicCommand);
            if words.iter().any(|w| w.has_subst) {
                self.class(RiskClass::RemoteCodeExecution);
            }
        }
    }
}

/// Shells whose `-c` string and stdin are shell code.
pub(crate) fn is_shell(base: &str) -> bool {
    matches!(
        base,
        "sh" | "bash" | "zsh" | "dash" | "ksh" | "mksh" | "ash" | "fish" | "rbash" | "yash"
    )
}

fn is_python(base: &str) -> bool {
    let rest = base
        .strip_prefix("python")
        .or_else(|| base.strip_prefix("pypy"));
    rest.is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Interpreters: option spelling, the options that carry inline code.
fn interpreter(base: &str) -> Option<(Spec, &'static [&'static str])> {
    let spec = |short_val, long_val| Spec {
        short_val,
        long_val,
        stop_at_operand: true,
    };
    Some(match base {
        b if is_python(b) => (spec("cmWX", &[]), &["c"][..]),
        "perl" => (spec("eE", &[]), &["e", "E"][..]),
        "ruby" => (spec("eIrCE", &[]), &["e"][..]),
        "node" | "nodejs" => (
            spec(
                "epr",
                &["eval", "print", "require", "import", "loader", "input-type"],
            ),
            &["e", "p", "eval", "print"][..],
        ),
        "php" => (spec("rfcdzBRFE", &[]), &["r", "B", "R", "E"][..]),
        "bun" => (
            spec("ep", &["eval", "print"]),
            &["e", "p", "eval", "print"][..],
        ),
        "Rscript" | "lua" | "luajit" | "osascript" => (spec("el", &[]), &["e"][..]),
        _ => return None,
    })
}

/// Analyses one simple command with a literal name. `base` is the executable's base name;
/// what the knowledge base says about it is applied too.
pub(crate) fn inspect(kb: &Knowledge, base: &str, args: &[Word], stdin: &Stdin) -> Info {
    let mut info = Info::default();
    wrappers(base, args, stdin, &mut info);
    crate::knowledge::apply(kb, base, args, stdin, &mut info);
    environment_operands(kb, base, args, &mut info);
    crate::folders::inspect(base, args, &mut info);
    classes(base, args, &mut info);
    accesses(base, args, &mut info);
    if base == "git" {
        crate::gitconfig::command_line(args, &mut info);
        git_accesses(args, &mut info);
        info.push = git_push(args);
        if info.push.as_ref().is_some_and(|p| p.force) {
            info.class(RiskClass::ForcePush);
        }
    }
    info
}

/// Assignments given as operands, which put a variable in a program's environment:
/// `export NAME=value` (and `declare -x`, `readonly`, …) for the rest of the line, `env
/// NAME=value cmd`, `sudo NAME=value cmd`.
fn environment_operands(kb: &Knowledge, base: &str, args: &[Word], info: &mut Info) {
    let list: Vec<(&str, Word)> = match base {
        "export" | "declare" | "typeset" | "local" | "readonly" => args
            .iter()
            .filter_map(|w| {
                let (name, value) = w.text.split_once('=')?;
                is_assignment(&w.text).then(|| (name, Word::derived(w, value)))
            })
            .collect(),
        "env" | "sudo" | "doas" => {
            // Options (and their values) come first, then the assignments, then the command.
            let takes_value: &[&str] = match base {
                "env" => &["-u", "-C", "--unset", "--chdir"],
                "doas" => &["-u", "-C"],
                _ => &[
                    "-u",
                    "-U",
                    "-g",
                    "-p",
                    "-C",
                    "-D",
                    "-r",
                    "-t",
                    "-T",
                    "-R",
                    "-c",
                    "-h",
                    "--user",
                    "--group",
                    "--prompt",
                    "--chdir",
                    "--role",
                    "--type",
                    "--other-user",
                    "--host",
                ],
            };
            let mut list = Vec::new();
            let mut i = 0;
            while let Some(w) = args.get(i) {
                let t = w.text.as_str();
                if takes_value.contains(&t) {
                    i += 2;
                } else if t.starts_with('-') {
                    i += 1;
                } else if let Some((name, value)) = t.split_once('=').filter(|_| is_assignment(t)) {
                    list.push((name, Word::derived(w, value)));
                    i += 1;
                } else {
                    break;
                }
            }
            list
        }
        _ => return,
    };
    if !list.is_empty() {
        let refs: Vec<(&str, &Word)> = list.iter().map(|(n, w)| (*n, w)).collect();
        crate::knowledge::assignments(kb, &refs, info);
    }
}

/// Files git reads or changes on the agent's behalf: `git show REV:PATH` and
/// `git cat-file -p REV:PATH` print a file's committed content, `git diff|log|show|blame -- PATH`
/// print it too, `git checkout|restore -- PATH` overwrite it, `git rm PATH` deletes it.
fn git_accesses(args: &[Word], info: &mut Info) {
    let words = texts(args);
    let Some(sub) = crate::canon::git_subcommand_index(&words) else {
        return;
    };
    let Some(name) = words.get(sub) else { return };
    let rest = args.get(sub + 1..).unwrap_or(&[]);
    let after_dashes = || {
        rest.iter()
            .skip_while(|w| w.text != "--")
            .skip(1)
            .collect::<Vec<&Word>>()
    };
    let reason = format!("git {name}");
    match *name {
        "show" | "cat-file" => {
            for w in rest.iter().filter(|w| !w.text.starts_with('-')) {
                if let Some((_, path)) = w.text.split_once(':').filter(|(_, p)| !p.is_empty()) {
                    info.access(
                        AccessKind::Read,
                        &Word::derived(w, path),
                        format!("{reason} of a committed file"),
                    );
                }
            }
            for w in after_dashes() {
                info.access(AccessKind::Read, w, reason.clone());
            }
        }
        "diff" | "log" | "blame" | "annotate" | "whatchanged" => {
            for w in after_dashes() {
                info.access(AccessKind::Read, w, reason.clone());
            }
            // `git diff --no-index A B` compares two files outside git's index: both are read.
            if *name == "diff" && rest.iter().any(|w| w.text == "--no-index") {
                for w in rest
                    .iter()
                    .filter(|w| !w.text.starts_with('-'))
                    .take_while(|w| w.text != "--")
                {
                    info.access(AccessKind::Read, w, "git diff --no-index");
                }
            }
            if matches!(*name, "blame" | "annotate")
                && let Some(w) = rest
                    .iter()
                    .rev()
                    .find(|w| !w.text.starts_with('-') && w.text != "--")
            {
                info.access(AccessKind::Read, w, reason.clone());
            }
        }
        "checkout" | "restore" => {
            for w in after_dashes() {
                info.access(AccessKind::Write, w, reason.clone());
            }
        }
        "rm" => {
            for w in rest.iter().filter(|w| !w.text.starts_with('-')) {
                info.access(AccessKind::Delete, w, reason.clone());
            }
        }
        // Staging a file copies its content into the repository (and, once pushed, off the
        // machine): the file is read. `git hash-object` reads its operands too.
        "add" | "stage" | "hash-object" => {
            let value_opts = ["--chmod", "--pathspec-from-file", "-t", "--path"];
            let mut skip = false;
            for w in rest {
                if skip {
                    skip = false;
                    continue;
                }
                if value_opts.contains(&w.text.as_str()) {
                    skip = true;
                    continue;
                }
                if w.text.starts_with('-') {
                    continue;
                }
                info.access(AccessKind::Read, w, format!("{reason} (staged content)"));
            }
        }
        _ => {}
    }
}

pub(crate) fn texts(args: &[Word]) -> Vec<&str> {
    args.iter().map(|w| w.text.as_str()).collect()
}

/// `NAME=value` as an environment assignment operand (`env A=1 cmd`, `sudo A=1 cmd`).
pub(crate) fn is_assignment(t: &str) -> bool {
    match t.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn stop(short_val: &'static str, long_val: &'static [&'static str]) -> Spec {
    Spec {
        short_val,
        long_val,
        stop_at_operand: true,
    }
}

fn wrappers(base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
    let all = args.len();
    match base {
        b if is_shell(b) => shell(b, args, stdin, info),
        "busybox" => info.words(args, 0, all, "busybox", stdin.clone()),
        "make" | "gmake" | "just" => build_targets(base, args, info),
        "eval" => {
            let ws: Vec<&Word> = args.iter().collect();
            info.code(&ws, "eval", stdin.clone());
        }
        "sudo" => {
            let p = opts::parse(
                args,
                &stop(
                    "uUgpCDrtTRch",
                    &[
                        "user",
                        "group",
                        "prompt",
                        "close-from",
                        "chdir",
                        "role",
                        "type",
                        "other-user",
                        "command-timeout",
                        "chroot",
                        "login-class",
                        "host",
                    ],
                ),
            );
            if opts::has(&p, &["e", "edit"]) {
                for i in opts::operands(&p) {
                    if let Some(w) = args.get(i) {
                        info.access(AccessKind::Write, w, "sudo -e");
                    }
                }
            } else if let Some(mut i) = opts::first_operand(&p) {
                while args.get(i).is_some_and(|w| is_assignment(&w.text)) {
                    i += 1;
                }
                info.words(args, i, all, "sudo", stdin.clone());
            }
        }
        "sudoedit" => {
            for i in opts::operands(&opts::parse(args, &stop("uUgpCDrtTRch", &[]))) {
                if let Some(w) = args.get(i) {
                    info.access(AccessKind::Write, w, "sudoedit");
                }
            }
        }
        "doas" => {
            let p = opts::parse(args, &stop("uC", &[]));
            if let Some(i) = opts::first_operand(&p) {
                info.words(args, i, all, "doas", stdin.clone());
            }
        }
        "pkexec" => {
            let p = opts::parse(args, &stop("", &["user"]));
            if let Some(i) = opts::first_operand(&p) {
                info.words(args, i, all, "pkexec", stdin.clone());
            }
        }
        "su" | "runuser" => {
            let long: &[&str] = &[
                "command",
                "session-command",
                "group",
                "supp-group",
                "shell",
                "whitelist-environment",
                "user",
            ];
            let p = opts::parse(
                args,
                &Spec {
                    short_val: "cgGswu",
                    long_val: long,
                    stop_at_operand: false,
                },
            );
            let codes = opts::values(&p, &["c", "command", "session-command"]);
            if !codes.is_empty() {
                let label = format!("{base} -c");
                for c in codes {
                    info.code(&[c], &label, stdin.clone());
                }
            } else if base == "runuser" && opts::has(&p, &["u", "user"]) {
                // `runuser -u user cmd args…` runs the words directly.
                let p = opts::parse(args, &stop("gGsuw", long));
                if let Some(i) = opts::first_operand(&p) {
                    info.words(args, i, all, "runuser", stdin.clone());
                }
            }
        }
        "env" => env(args, stdin, info),
        "command" => {
            let p = opts::parse(args, &stop("", &[]));
            if !opts::has(&p, &["v", "V"])
                && let Some(i) = opts::first_operand(&p)
            {
                info.words(args, i, all, "command", stdin.clone());
            }
        }
        "builtin" | "nohup" | "unbuffer" | "coproc" => {
            let start = usize::from(args.first().is_some_and(|w| w.text == "--"));
            info.words(args, start, all, base, stdin.clone());
        }
        "exec" | "setsid" | "caffeinate" | "time" | "stdbuf" | "nice" | "ionice" | "xargs" => {
            let spec = match base {
                "exec" => stop("a", &[]),
                "caffeinate" => stop("tw", &[]),
                "time" => stop("fo", &["format", "output"]),
                "stdbuf" => stop("ioe", &["input", "output", "error"]),
                "nice" => stop("n", &["adjustment"]),
                "ionice" => stop("cnp", &["class", "classdata", "pid", "pgid", "uid"]),
                "xargs" => stop(
                    "IadELnPs",
                    &[
                        "arg-file",
                        "delimiter",
                        "max-args",
                        "max-lines",
                        "max-procs",
                        "max-chars",
                        "eof",
                        "replace",
                        "process-slot-var",
                    ],
                ),
                _ => stop("", &[]),
            };
            let p = opts::parse(args, &spec);
            if base == "time" {
                for w in opts::values(&p, &["o", "output"]) {
                    info.access(AccessKind::Write, w, "time -o");
                }
            }
            if base == "xargs" {
                for w in opts::values(&p, &["a", "arg-file"]) {
                    info.access(AccessKind::Read, w, "xargs -a");
                }
            }
            if base == "ionice" && opts::has(&p, &["p", "P", "u", "pid", "pgid", "uid"]) {
                return;
            }
            // xargs feeds its stdin to the command as arguments, not as input.
            if base == "xargs" {
                xargs_inner(args, &p, all, stdin, info);
                return;
            }
            if let Some(i) = opts::first_operand(&p) {
                info.words(args, i, all, base, stdin.clone());
            }
        }
        "timeout" | "chroot" | "taskset" | "chrt" | "flock" => {
            let spec = match base {
                "timeout" => stop("sk", &["signal", "kill-after"]),
                "chroot" => stop("", &["userspec", "groups"]),
                "taskset" => stop("", &[]),
                "chrt" => stop("T", &["sched-runtime", "sched-period", "sched-deadline"]),
                _ => stop("wEc", &["timeout", "conflict-exit-code", "command"]),
            };
            let p = opts::parse(args, &spec);
            if base == "taskset" && opts::has(&p, &["p", "pid"]) {
                return;
            }
            if base == "chrt" && opts::has(&p, &["p", "pid"]) {
                return;
            }
            let Some(first) = opts::first_operand(&p) else {
                return;
            };
            // The first operand is the duration / root / mask / priority / lock file.
            let i = first + 1;
            if base == "flock"
                && let Some(flag) = args.get(i)
                && (flag.text == "-c" || flag.text == "--command")
            {
                if let Some(c) = args.get(i + 1) {
                    info.code(&[c], "flock -c", stdin.clone());
                }
                return;
            }
            if base == "flock" {
                for c in opts::values(&p, &["c", "command"]) {
                    info.code(&[c], "flock -c", stdin.clone());
                }
            }
            info.words(args, i, all, base, stdin.clone());
        }
        "watch" => {
            let p = opts::parse(args, &stop("n", &["interval"]));
            if let Some(i) = opts::first_operand(&p) {
                let ws: Vec<&Word> = args.iter().skip(i).collect();
                info.code(&ws, "watch", Stdin::Terminal);
            }
        }
        "parallel" => {
            let p = opts::parse(args, &stop("adEIjLnPSsC", &["jobs", "arg-file"]));
            if let Some(i) = opts::first_operand(&p) {
                let ws: Vec<&Word> = args
                    .iter()
                    .skip(i)
                    .take_while(|w| !w.text.starts_with(":::"))
                    .collect();
                info.code(&ws, "parallel", Stdin::Terminal);
            }
        }
        "find" => find(args, info),
        "ssh" => {
            let p = opts::parse(args, &stop("BbcDEeFIiJLlmOoPpQRSWw", &[]));
            for w in opts::values(&p, &["i", "F"]) {
                info.access(AccessKind::Read, w, "ssh key/config");
            }
            if let Some(host) = opts::first_operand(&p) {
                let ws: Vec<&Word> = args.iter().skip(host + 1).collect();
                info.code(&ws, "ssh", Stdin::Terminal);
            }
        }
        "alias" => {
            for w in args {
                if let Some((_, body)) = w.text.split_once('=') {
                    if w.literal {
                        let body_word = Word::derived(w, body);
                        info.code(&[&body_word], "alias", Stdin::Terminal);
                    } else {
                        info.code(&[w], "alias", Stdin::Terminal);
                    }
                }
            }
        }
        "trap" => {
            if let Some(w) = args.first()
                && !w.text.starts_with('-')
                && !w.text.is_empty()
            {
                info.code(&[w], "trap", Stdin::Terminal);
            }
        }
        "source" | "." => {
            if let Some(w) = args.first() {
                if w.is_procsub {
                    info.class(RiskClass::RemoteCodeExecution);
                } else if w.text == "/dev/stdin" || w.text == "-" {
                    stdin_code(base, true, stdin, info);
                } else {
                    info.access(AccessKind::Read, w, format!("script run by {base}"));
                }
            }
        }
        b => {
            if let Some((spec, inline)) = interpreter(b) {
                run_interpreter(b, args, stdin, &spec, inline, info);
            } else if b == "deno" {
                let t = texts(args);
                match t.first() {
                    Some(&"eval") => info.class(RiskClass::InterpreterInlineCode),
                    Some(&"run") if t.iter().any(|a| a.starts_with("http")) => {
                        info.class(RiskClass::RemoteCodeExecution)
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A shell: `-c STRING`, a script file, or code on stdin.
fn shell(base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
    let mut i = 0;
    let mut code_mode = false;
    let mut read_stdin = false;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if t == "--" || t == "-" {
            read_stdin |= t == "-";
            i += 1;
            break;
        }
        if let Some(long) = t.strip_prefix("--") {
            i += if matches!(long, "rcfile" | "init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 {
            let mut skip = 1;
            for c in t.chars().skip(1) {
                match c {
                    'c' => code_mode = true,
                    's' => read_stdin = true,
                    // `-o option` / `-O shopt` take the next word.
                    'o' | 'O' => skip += 1,
                    _ => {}
                }
            }
            i += skip;
            continue;
        }
        break;
    }
    if code_mode {
        if let Some(w) = args.get(i) {
            info.code(&[w], &format!("{base} -c"), stdin.clone());
        }
    } else if let Some(w) = args.get(i).filter(|_| !read_stdin) {
        script_operand(base, w, stdin, info);
    } else {
        stdin_code(base, true, stdin, info);
    }
}

fn script_operand(base: &str, w: &Word, stdin: &Stdin, info: &mut Info) {
    if w.is_procsub {
        info.class(RiskClass::RemoteCodeExecution);
    } else if w.text == "/dev/stdin" || w.text == "-" {
        stdin_code(base, is_shell(base), stdin, info);
    } else {
        info.access(AccessKind::Read, w, format!("script run by {base}"));
    }
}

/// `make a b` / `just a b` runs each target (recipe) in turn: every one is its own request,
/// so an allowed `make test` cannot carry `deploy-prod` along. With two or more targets (or
/// options before the one target) the command becomes a wrapper of `make TARGET [options]` per
/// target, each judged on its own. Variable assignments (`CC=clang`) and options stay with
/// every target.
fn build_targets(base: &str, args: &[Word], info: &mut Info) {
    let spec = if base == "just" {
        Spec {
            short_val: "df",
            long_val: &[
                "justfile",
                "working-directory",
                "shell",
                "shell-arg",
                "dotenv-filename",
                "dotenv-path",
                "color",
                "chooser",
                "command-color",
                "list-heading",
                "list-prefix",
            ],
            stop_at_operand: false,
        }
    } else {
        Spec {
            short_val: "CfIoWE",
            long_val: &[
                "directory",
                "file",
                "makefile",
                "include-dir",
                "old-file",
                "assume-old",
                "what-if",
                "new-file",
                "assume-new",
                "eval",
            ],
            stop_at_operand: false,
        }
    };
    let parsed = opts::parse(args, &spec);
    let mut targets: Vec<usize> = Vec::new();
    let mut previous_takes_count = false;
    for p in &parsed {
        match p {
            Parsed::Operand(i) => {
                let Some(w) = args.get(*i) else { continue };
                // `-j 4`, `-l 2`: make's optional counts are the next word when it is a number.
                let is_count = previous_takes_count
                    && !w.text.is_empty()
                    && w.text.bytes().all(|b| b.is_ascii_digit());
                if !is_count && !is_assignment(&w.text) {
                    targets.push(*i);
                }
                previous_takes_count = false;
            }
            Parsed::Opt(name, value) => {
                previous_takes_count = base != "just"
                    && value.is_none()
                    && matches!(name.as_str(), "j" | "l" | "jobs" | "load-average");
            }
        }
    }
    // One target written first is already in the form patterns name (`make test -j4`).
    if targets.is_empty() || (targets.len() == 1 && targets[0] == 0) {
        return;
    }
    if args.iter().any(|w| !w.literal) {
        info.class(RiskClass::DynamicCommand);
        return;
    }
    let shared: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| !targets.contains(i))
        .map(|(_, w)| sh_quote(&w.text))
        .collect();
    for &t in &targets {
        let Some(target) = args.get(t) else { continue };
        // Target first: GNU make and just accept options anywhere, and patterns name the
        // target right after the program (`make test *`).
        let mut text = format!("{base} {}", sh_quote(&target.text));
        for s in &shared {
            text.push(' ');
            text.push_str(s);
        }
        info.inner.push(Inner {
            kind: InnerKind::Code(text),
            label: format!("{base} target"),
            stdin: Stdin::Terminal,
            span: target.span,
        });
    }
}

/// Single-quotes a word for re-analysis as shell text.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `xargs CMD…`: the command runs with its standard input's items as further arguments (or,
/// with `-I R`, each input line in place of `R`). When that input is text known from the command
/// line (`echo .env | xargs cat`, `xargs … <<< "…"`), the commands xargs will run are
/// analysed as written out; input known only at run time leaves the arguments unknown, and a
/// shell or interpreter fed such arguments runs code from data.
fn xargs_inner(args: &[Word], p: &[opts::Parsed], all: usize, stdin: &Stdin, info: &mut Info) {
    let Some(first) = opts::first_operand(p) else {
        return;
    };
    let inner: Vec<&Word> = args[first..all.min(args.len())].iter().collect();
    let replace: Option<String> = opts::values(p, &["I", "replace"])
        .into_iter()
        .next()
        .map(|w| w.text.clone());
    let inner_base = inner
        .first()
        .map(|w| w.text.rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let runs_code = is_shell(&inner_base)
        || matches!(
            inner_base.as_str(),
            "eval" | "python" | "python3" | "perl" | "ruby" | "node" | "php" | "lua"
        );
    match stdin {
        Stdin::Code {
            text,
            literal: true,
            ..
        } if inner.iter().all(|w| w.literal) => {
            let span = match (inner.first(), inner.last()) {
                (Some(a), Some(b)) => (a.span.0, b.span.1),
                _ => (0, 0),
            };
            let mut commands = Vec::new();
            match &replace {
                Some(r) if !r.is_empty() => {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        let words: Vec<String> = inner
                            .iter()
                            .map(|w| sh_quote(&w.text.replace(r.as_str(), line.trim())))
                            .collect();
                        commands.push(words.join(" "));
                    }
                }
                _ => {
                    let mut words: Vec<String> = inner.iter().map(|w| sh_quote(&w.text)).collect();
                    words.extend(
                        text.split_whitespace()
                            .map(|item| sh_quote(item.trim_matches(|c| c == '\'' || c == '"'))),
                    );
                    commands.push(words.join(" "));
                }
            }
            for command in commands.into_iter().take(64) {
                info.inner.push(Inner {
                    kind: InnerKind::Code(command),
                    label: "xargs".into(),
                    stdin: Stdin::Terminal,
                    span,
                });
            }
        }
        Stdin::Terminal => info.words(args, first, all, "xargs", Stdin::Terminal),
        _ => {
            if runs_code {
                // A shell or interpreter whose arguments come from data runs code from data.
                info.class(RiskClass::DynamicCommand);
                if matches!(stdin, Stdin::Untrusted(_)) {
                    info.class(RiskClass::RemoteCodeExecution);
                }
            }
            info.words(args, first, all, "xargs", Stdin::Terminal);
        }
    }
}

/// A shell or interpreter runs its standard input as code.
pub(crate) fn stdin_code(base: &str, is_shell_code: bool, stdin: &Stdin, info: &mut Info) {
    match stdin {
        Stdin::Untrusted(_) => info.class(RiskClass::RemoteCodeExecution),
        Stdin::Code {
            text,
            literal,
            subst,
        } => {
            if !*literal {
                info.class(RiskClass::DynamicCommand);
                if *subst {
                    info.class(RiskClass::RemoteCodeExecution);
                }
            } else if is_shell_code {
                info.inner.push(Inner {
                    kind: InnerKind::Code(text.to_string()),
                    label: format!("{base} (stdin)"),
                    stdin: Stdin::Terminal,
                    span: (0, 0),
                });
            } else {
                info.class(RiskClass::InterpreterInlineCode);
            }
        }
        Stdin::Terminal | Stdin::Trusted => {}
    }
}

fn run_interpreter(
    base: &str,
    args: &[Word],
    stdin: &Stdin,
    spec: &Spec,
    inline: &[&str],
    info: &mut Info,
) {
    let p = opts::parse(args, spec);
    let ops = opts::operands(&p);
    if opts::has(&p, inline) {
        info.class(RiskClass::InterpreterInlineCode);
        for i in ops {
            if let Some(w) = args.get(i)
                && w.is_procsub
            {
                info.class(RiskClass::RemoteCodeExecution);
            }
        }
        return;
    }
    if opts::has(&p, &["m", "f"]) && base != "php" {
        return;
    }
    if base == "php" {
        for w in opts::values(&p, &["f"]) {
            script_operand(base, w, stdin, info);
        }
        if opts::has(&p, &["f"]) {
            return;
        }
    }
    match ops.first().and_then(|&i| args.get(i)) {
        Some(w) => script_operand(base, w, stdin, info),
        None => stdin_code(base, false, stdin, info),
    }
}

fn env(args: &[Word], stdin: &Stdin, info: &mut Info) {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        match t {
            "-i" | "-0" | "--ignore-environment" | "--null" | "-v" | "--debug" | "-" => i += 1,
            "-u" | "-C" | "--unset" | "--chdir" => i += 2,
            "-S" | "--split-string" => {
                let ws: Vec<&Word> = args.iter().skip(i + 1).collect();
                info.code(&ws, "env -S", stdin.clone());
                return;
            }
            "--" => {
                i += 1;
                break;
            }
            _ if t.starts_with("-S") || t.starts_with("--split-string=") => {
                let body = t
                    .strip_prefix("--split-string=")
                    .or_else(|| t.strip_prefix("-S"))
                    .unwrap_or("");
                let first = Word::derived(w, body);
                let mut ws: Vec<&Word> = vec![&first];
                ws.extend(args.iter().skip(i + 1));
                info.code(&ws, "env -S", stdin.clone());
                return;
            }
            _ if t.starts_with("--") || (t.starts_with('-') && t.len() > 1) => i += 1,
            _ if is_assignment(t) => i += 1,
            _ => break,
        }
    }
    while args.get(i).is_some_and(|w| is_assignment(&w.text)) {
        i += 1;
    }
    info.words(args, i, args.len(), "env", stdin.clone());
}

fn find(args: &[Word], info: &mut Info) {
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
        match t {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let start = i + 1;
                let mut j = start;
                while args.get(j).is_some_and(|w| w.text != ";" && w.text != "+") {
                    j += 1;
                }
                info.words(args, start, j, &format!("find {t}"), Stdin::Terminal);
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
    if deletes {
        info.class(RiskClass::RecursiveDelete);
        for s in starts {
            if let Some(w) = args.get(s) {
                info.access(AccessKind::Delete, w, "find -delete");
            }
        }
    }
}

/// Risk classes that follow from the command name and its arguments alone.
fn classes(base: &str, args: &[Word], info: &mut Info) {
    let t = texts(args);
    if escalates(base, &t) {
        info.class(RiskClass::PrivilegeEscalation);
    }
    if base == "rm" {
        let p = opts::parse(args, &Spec::default());
        if opts::has(&p, &["r", "R", "recursive"]) {
            info.class(RiskClass::RecursiveDelete);
        }
    }
    let egress = match base {
        "curl" | "wget" | "nc" | "ncat" | "netcat" | "socat" | "ssh" | "scp" | "sftp"
        | "telnet" | "ftp" | "http" | "https" | "aria2c" | "xh" | "lftp" => true,
        "rsync" => args.iter().any(|w| is_remote(&w.text)),
        _ => false,
    };
    if egress {
        info.class(RiskClass::NetworkEgress);
    }
    if package_install(base, &t) {
        info.class(RiskClass::PackageInstall);
    }
}

/// Whether the command gains privileges the agent does not have: it runs something as another
/// user (sudo, doas, su, pkexec, run0, machinectl shell, a system `systemd-run`), marks a file
/// set-user/group-ID or gives it capabilities (`chmod u+s`, `chmod 4755`, `install -m 4755`,
/// `setcap`), enters the init process's namespaces (`nsenter -t 1`), or starts a container with
/// the host's power (`--privileged`, host PID namespace, dangerous capabilities, the host's root
/// or control sockets mounted in).
fn escalates(base: &str, t: &[&str]) -> bool {
    match base {
        "sudo" | "doas" | "su" | "pkexec" | "runuser" | "sudoedit" | "run0" | "setcap" => true,
        "machinectl" => t
            .iter()
            .find(|a| !a.starts_with('-'))
            .is_some_and(|sub| matches!(*sub, "shell" | "login")),
        // Without --user it asks the system manager, which runs the unit as root.
        "systemd-run" => !t.contains(&"--user"),
        "chmod" => chmod_sets_id(t),
        "install" => option_values(t, &["-m"], &["--mode"])
            .iter()
            .any(|m| mode_sets_id(m)),
        "nsenter" => nsenter_init(t),
        "docker" | "podman" | "nerdctl" => {
            let sub = crate::canon::tool_subcommand_index("docker", t).unwrap_or(0);
            let mut rest = t.get(sub..).unwrap_or(&[]);
            if rest.first() == Some(&"container") {
                rest = rest.get(1..).unwrap_or(&[]);
            }
            rest.first()
                .is_some_and(|s| matches!(*s, "run" | "create" | "exec"))
                && container_escalates(rest)
        }
        _ => false,
    }
}

/// Values of an option given as `-m V`, `-mV`, `--mode V` or `--mode=V`.
fn option_values<'a>(t: &[&'a str], short: &[&str], long: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(a) = t.get(i) {
        i += 1;
        if *a == "--" {
            break;
        }
        if let Some((name, v)) = a.split_once('=')
            && (long.contains(&name) || short.contains(&name))
        {
            out.push(v);
            continue;
        }
        if long.contains(a) || short.contains(a) {
            if let Some(v) = t.get(i) {
                out.push(*v);
                i += 1;
            }
            continue;
        }
        for s in short {
            if let Some(v) = a.strip_prefix(s)
                && !v.is_empty()
                && !a.starts_with("--")
            {
                out.push(v);
            }
        }
    }
    out
}

/// A chmod/install mode that sets the set-user-ID or set-group-ID bit: symbolic (`u+s`,
/// `g=rwxs`, `+s`, `a+rs,o-w`) or octal with the 4000/2000 bits (`4755`, `2775`, `06755`).
fn mode_sets_id(mode: &str) -> bool {
    if !mode.is_empty() && mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        let value = mode
            .bytes()
            .fold(0u32, |v, b| (v << 3) | u32::from(b - b'0'));
        return mode.len() >= 4 && value & 0o6000 != 0;
    }
    mode.split(',').any(|clause| {
        // `[ugoa]*([-+=][rwxXst]*)+`: an operator that adds, followed by `s`.
        let mut adding = false;
        for c in clause.chars() {
            match c {
                '+' | '=' => adding = true,
                '-' => adding = false,
                's' if adding => return true,
                _ => {}
            }
        }
        false
    })
}

fn chmod_sets_id(t: &[&str]) -> bool {
    // The mode is the first word that is not an option; `-s`-like words that are modes
    // (`-s`, `+s`) are modes to chmod too, so every word is checked except known options.
    t.iter()
        .filter(|a| {
            !matches!(
                **a,
                "-R" | "-v"
                    | "-c"
                    | "-f"
                    | "--recursive"
                    | "--verbose"
                    | "--changes"
                    | "--silent"
                    | "--quiet"
                    | "--"
            ) && !a.starts_with("--reference")
        })
        .take(1)
        .any(|m| mode_sets_id(m))
}

/// `nsenter -t 1`, `--target 1`, `--target=1`, `-t1`, `-at 1`: the init process's namespaces.
fn nsenter_init(t: &[&str]) -> bool {
    let mut i = 0;
    while let Some(a) = t.get(i) {
        i += 1;
        let value = if *a == "--target" || *a == "-t" {
            t.get(i).copied()
        } else if let Some(v) = a.strip_prefix("--target=") {
            Some(v)
        } else if a.starts_with('-') && !a.starts_with("--") {
            match a.find('t') {
                Some(p) if p + 1 < a.len() => a.get(p + 1..),
                Some(_) => t.get(i).copied(),
                None => None,
            }
        } else {
            None
        };
        if value == Some("1") {
            return true;
        }
    }
    false
}

/// Host paths that hand a container the machine: its root, system configuration, kernel
/// interfaces, devices and the container engine's own control socket.
fn is_host_power_path(p: &str) -> bool {
    let mut norm = String::new();
    for part in p.split('/').filter(|s| !s.is_empty() && *s != ".") {
        norm.push('/');
        norm.push_str(part);
    }
    if !p.starts_with('/') {
        return false;
    }
    if norm.is_empty() {
        return true;
    }
    const POWER: &[&str] = &[
        "/etc",
        "/root",
        "/proc",
        "/sys",
        "/dev",
        "/boot",
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/podman/podman.sock",
        "/run/containerd",
        "/var/lib/docker",
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
    ];
    POWER
        .iter()
        .any(|x| norm == *x || norm.starts_with(&format!("{x}/")))
}

/// `docker run|create|exec …` options that give the container the host's power.
fn container_escalates(rest: &[&str]) -> bool {
    let mut i = 1;
    while let Some(a) = rest.get(i) {
        i += 1;
        if !a.starts_with('-') {
            // The image: what follows is the container's command.
            return false;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None if a.starts_with("-v") && a.len() > 2 => ("-v", Some(&a[2..])),
            None => (*a, None),
        };
        let takes_value = matches!(
            name,
            "-v" | "--volume"
                | "--mount"
                | "--pid"
                | "--cap-add"
                | "--userns"
                | "--security-opt"
                | "--device"
                | "--ipc"
                | "--uts"
                | "--cgroupns"
                | "-e"
                | "--env"
                | "-u"
                | "--user"
                | "-w"
                | "--workdir"
                | "--name"
                | "-p"
                | "--publish"
                | "--network"
                | "--net"
                | "--entrypoint"
                | "-l"
                | "--label"
                | "--env-file"
                | "--platform"
                | "--hostname"
                | "-h"
        );
        let value = match inline {
            Some(v) => Some(v),
            None if takes_value => {
                let v = rest.get(i).copied();
                i += 1;
                v
            }
            None => None,
        };
        let v = value.unwrap_or("");
        let hit = match name {
            "--privileged" => inline.is_none_or(|v| v != "false"),
            "--pid" | "--userns" | "--ipc" | "--uts" | "--cgroupns" => v == "host",
            "--cap-add" => v.split(',').any(|c| {
                let c = c.trim().to_ascii_uppercase();
                let c = c.strip_prefix("CAP_").unwrap_or(&c);
                matches!(
                    c,
                    "ALL" | "SYS_ADMIN" | "SYS_PTRACE" | "SYS_MODULE" | "DAC_READ_SEARCH"
                        | "SYS_RAWIO" | "SETUID" | "SETGID" | "DAC_OVERRIDE"
                )
            }),
            "--security-opt" => v.contains("unconfined") || v.contains("no-new-privileges=false"),
            "-v" | "--volume" => is_host_power_path(v.split(':').next().unwrap_or("")),
            "--mount" => v.split(',').any(|kv| {
                matches!(kv.split_once('='), Some(("source" | "src", p)) if is_host_power_path(p))
            }),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
}

/// `host:path`, `user@host:path` or `rsync://…`, as used by scp and rsync.
fn is_remote(t: &str) -> bool {
    if t.starts_with('-') {
        return false;
    }
    if t.contains("://") {
        return true;
    }
    match t.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/'),
        None => false,
    }
}

fn package_install(base: &str, t: &[&str]) -> bool {
    let ops: Vec<&str> = t.iter().copied().filter(|a| !a.starts_with('-')).collect();
    let sub = ops.first().copied().unwrap_or("");
    let sub2 = ops.get(1).copied().unwrap_or("");
    match base {
        "npx" | "bunx" | "pnpx" => true,
        "npm" => matches!(
            sub,
            "install" | "i" | "add" | "ci" | "in" | "ins" | "inst" | "isntall" | "exec" | "x"
        ),
        "pnpm" => matches!(sub, "install" | "i" | "add" | "dlx"),
        "yarn" => ops.is_empty() || matches!(sub, "install" | "add" | "dlx"),
        "bun" => matches!(sub, "install" | "i" | "add" | "a" | "x"),
        "pipx" => matches!(sub, "install" | "run" | "inject"),
        b if b == "pip"
            || (b.starts_with("pip") && b[3..].chars().all(|c| c.is_ascii_digit() || c == '.')) =>
        {
            sub == "install"
        }
        b if is_python(b) => t
            .iter()
            .position(|a| *a == "-m")
            .and_then(|i| t.get(i + 1..))
            .is_some_and(|rest| {
                rest.first().is_some_and(|m| m.starts_with("pip")) && rest.contains(&"install")
            }),
        "uv" => {
            (sub == "pip" && sub2 == "install")
                || sub == "add"
                || (sub == "tool" && sub2 == "install")
        }
        "poetry" => matches!(sub, "add" | "install"),
        "cargo" => matches!(sub, "install" | "add" | "binstall"),
        "gem" => sub == "install",
        "go" => matches!(sub, "install" | "get"),
        "apt" | "apt-get" | "dnf" | "yum" | "zypper" | "brew" | "conda" | "mamba" | "snap"
        | "flatpak" | "port" | "pkg" => matches!(sub, "install" | "in" | "add" | "reinstall"),
        "apk" => sub == "add",
        "pacman" | "yay" | "paru" => t.iter().any(|a| {
            a.starts_with("-S") && !a.starts_with("-Ss") && !a.starts_with("-Si") || *a == "--sync"
        }),
        _ => false,
    }
}

/// `git [globals] push …`.
fn git_push(args: &[Word]) -> Option<Push> {
    let t = texts(args);
    let sub = crate::canon::git_subcommand_index(&t)?;
    if t.get(sub) != Some(&"push") {
        return None;
    }
    let rest = args.get(sub + 1..)?;
    let p = opts::parse(
        rest,
        &Spec {
            short_val: "o",
            long_val: &["push-option", "repo", "receive-pack", "exec"],
            stop_at_operand: false,
        },
    );
    let mut push = Push::default();
    for item in &p {
        let Parsed::Opt(name, value) = item else {
            continue;
        };
        match name.as_str() {
            "f" | "force" | "force-with-lease" | "force-if-includes" => push.force = true,
            "mirror" => {
                push.force = true;
                push.all_branches = true;
            }
            "all" | "branches" => push.all_branches = true,
            "repo" if push.remote.is_none() => {
                push.remote = value.as_ref().map(|v| v.text.clone());
            }
            _ => {}
        }
    }
    let ops = opts::operands(&p);
    let mut ops = ops.iter().filter_map(|&i| rest.get(i));
    if let Some(r) = ops.next() {
        push.remote = Some(r.text.clone());
    }
    for r in ops {
        let spec = r.text.clone();
        let body = match spec.strip_prefix('+') {
            Some(b) => {
                push.force = true;
                b
            }
            None => spec.as_str(),
        };
        let dst = match body.split_once(':') {
            Some((src, "")) => src,
            Some((_, dst)) => dst,
            None => body,
        };
        let dst = dst.strip_prefix("refs/heads/").unwrap_or(dst);
        if !dst.is_empty() {
            push.branches.push(dst.to_string());
        }
        push.refspecs.push(spec);
    }
    Some(push)
}

/// The files a known tool reads, writes or deletes.
fn accesses(base: &str, args: &[Word], info: &mut Info) {
    use AccessKind::{Delete, Read, Write};
    let get = |i: usize| args.get(i);
    let reason = format!("operand of {base}");
    let all_ops = |spec: Spec| {
        let p = opts::parse(args, &spec);
        let ops = opts::operands(&p);
        (p, ops)
    };
    let plain = |short_val: &'static str| Spec {
        short_val,
        long_val: &[],
        stop_at_operand: false,
    };
    let each = |info: &mut Info, ops: &[usize], kind: AccessKind, why: &str| {
        for &i in ops {
            if let Some(w) = get(i) {
                info.access(kind, w, why);
            }
        }
    };
    match base {
        "cat" | "tac" | "less" | "more" | "wc" | "nl" | "od" | "hexdump" | "strings" | "base64"
        | "base32" | "basenc" | "md5sum" | "sha1sum" | "sha224sum" | "sha256sum" | "sha384sum"
        | "sha512sum" | "b2sum" | "cksum" | "sum" | "cut" | "paste" | "diff" | "cmp" | "comm"
        | "file" | "stat" | "head" | "tail" | "xxd" | "uniq" | "sort" | "bat" | "strings2"
        | "fold" | "fmt" | "rev" | "expand" | "unexpand" | "column" | "tr" | "shasum" | "iconv"
        | "zcat" | "bzcat" | "xzcat" | "zless" => {
            let short = match base {
                "tac" => "s",
                "head" | "tail" => "ncs",
                "less" => "bhjkoOpPtTxyz",
                "nl" => "bdfhilnsvw",
                "od" => "AjNtw",
                "hexdump" => "efns",
                "strings" => "nteT",
                "base64" | "base32" | "basenc" => "w",
                "cut" => "bcdf",
                "paste" => "d",
                "diff" => "CUIFLSWxX",
                "cmp" => "in",
                "file" => "mfFeP",
                "stat" => "ct",
                "xxd" => "cglso",
                "uniq" => "fsw",
                "sort" => "ktoST",
                "fold" | "fmt" => "wgp",
                "column" => "cstoNEHRW",
                "shasum" => "a",
                "iconv" => "fto",
                _ => "",
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val: &[
                    "lines",
                    "bytes",
                    "format",
                    "printf",
                    "output",
                    "key",
                    "field-separator",
                    "delimiter",
                    "fields",
                    "characters",
                    "width",
                    "from-code",
                    "to-code",
                ],
                stop_at_operand: false,
            });
            if base == "tr" {
                return;
            }
            // `uniq IN OUT` and `xxd IN OUT` write their second operand.
            if matches!(base, "uniq" | "xxd") && ops.len() >= 2 {
                each(info, ops.get(..1).unwrap_or(&[]), Read, &reason);
                each(info, ops.get(1..2).unwrap_or(&[]), Write, &reason);
            } else {
                each(info, &ops, Read, &reason);
            }
            for w in opts::values(&p, &["o", "output"]) {
                if matches!(base, "sort" | "iconv") {
                    info.access(Write, w, format!("{base} -o"));
                }
            }
            for w in opts::values(&p, &["files0-from", "X", "exclude-from", "f"]) {
                if matches!(base, "wc" | "diff" | "file" | "du") {
                    info.access(Read, w, format!("{base} option"));
                }
            }
        }
        "grep" | "egrep" | "fgrep" | "rg" | "ag" | "ack" | "zgrep" => {
            let (short, long): (&str, &[&str]) = if base == "rg" {
                (
                    "efmABCgtTjMrEd",
                    &[
                        "regexp",
                        "file",
                        "glob",
                        "type",
                        "max-count",
                        "replace",
                        "context",
                    ],
                )
            } else {
                (
                    "efmABCdD",
                    &[
                        "regexp",
                        "file",
                        "max-count",
                        "context",
                        "include",
                        "exclude",
                        "exclude-from",
                    ],
                )
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val: long,
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["f", "file", "exclude-from"]) {
                info.access(Read, w, format!("pattern file of {base}"));
            }
            let skip = usize::from(!opts::has(&p, &["e", "f", "regexp", "file"]));
            each(info, ops.get(skip..).unwrap_or(&[]), Read, &reason);
        }
        "awk" | "gawk" | "mawk" | "nawk" => {
            let (p, ops) = all_ops(Spec {
                short_val: "fvF",
                long_val: &["file", "assign", "field-separator"],
                stop_at_operand: true,
            });
            let progs = opts::values(&p, &["f", "file"]);
            for w in &progs {
                info.access(Read, w, format!("program of {base}"));
            }
            let skip = usize::from(progs.is_empty());
            let files: Vec<usize> = ops
                .iter()
                .skip(skip)
                .copied()
                .filter(|&i| get(i).is_some_and(|w| !is_assignment(&w.text)))
                .collect();
            each(info, &files, Read, &reason);
        }
        "jq" | "gojq" | "jaq" => {
            // Some jq options take two values; walk by hand.
            let mut i = 0;
            let mut filter_seen = false;
            let mut from_file = false;
            while let Some(w) = get(i) {
                let t = w.text.as_str();
                match t {
                    "--arg" | "--argjson" => i += 3,
                    "--slurpfile" | "--rawfile" => {
                        if let Some(f) = get(i + 2) {
                            info.access(Read, f, format!("{t} of {base}"));
                        }
                        i += 3;
                    }
                    "--indent" | "--tab-size" => i += 2,
                    "-f" | "--from-file" => {
                        if let Some(f) = get(i + 1) {
                            info.access(Read, f, format!("program of {base}"));
                        }
                        from_file = true;
                        i += 2;
                    }
                    "--args" | "--jsonargs" => break,
                    _ if t.starts_with('-') && t.len() > 1 => i += 1,
                    _ => {
                        if filter_seen || from_file {
                            info.access(Read, w, &reason);
                        }
                        filter_seen = true;
                        i += 1;
                    }
                }
            }
        }
        "yq" => {
            let (p, ops) = all_ops(plain("opIes"));
            let mut ops = ops.as_slice();
            if let Some(first) = ops.first().and_then(|&i| get(i))
                && matches!(first.text.as_str(), "e" | "eval" | "ea" | "eval-all")
            {
                ops = ops.get(1..).unwrap_or(&[]);
            }
            let kind = if opts::has(&p, &["i", "inplace"]) {
                Write
            } else {
                Read
            };
            each(info, ops.get(1..).unwrap_or(&[]), kind, &reason);
        }
        "sed" | "gsed" => {
            // `-i` takes an optional attached suffix, so it is a flag here; `-i ''` (BSD) is
            // skipped below.
            let (p, ops) = all_ops(Spec {
                short_val: "efl",
                long_val: &["expression", "file", "line-length"],
                stop_at_operand: false,
            });
            let in_place = p
                .iter()
                .any(|x| matches!(x, Parsed::Opt(n, _) if n == "i" || n == "in-place"))
                || args
                    .iter()
                    .any(|w| w.text.starts_with("-i") || w.text.starts_with("--in-place"));
            for w in opts::values(&p, &["f", "file"]) {
                info.access(Read, w, "sed script");
            }
            let mut files: Vec<usize> = ops;
            if in_place
                && let Some(&f) = files.first()
                && get(f).is_some_and(|w| w.text.is_empty())
            {
                files.remove(0);
            }
            let skip = usize::from(!opts::has(&p, &["e", "f", "expression", "file"]));
            let files = files.get(skip..).unwrap_or(&[]);
            if in_place {
                each(info, files, Write, "sed -i");
            } else {
                each(info, files, Read, &reason);
            }
        }
        "tar" | "bsdtar" | "gtar" => tar(args, info),
        "zip" => {
            let (_, ops) = all_ops(plain("bnPt"));
            each(
                info,
                ops.get(..1).unwrap_or(&[]),
                Write,
                "archive written by zip",
            );
            each(info, ops.get(1..).unwrap_or(&[]), Read, &reason);
        }
        "unzip" => {
            let (p, ops) = all_ops(plain("dP"));
            each(
                info,
                ops.get(..1).unwrap_or(&[]),
                Read,
                "archive read by unzip",
            );
            for w in opts::values(&p, &["d"]) {
                info.access(Write, w, "unzip -d");
            }
        }
        "gzip" | "gunzip" | "bzip2" | "bunzip2" | "xz" | "unxz" | "zstd" | "unzstd" | "lz4"
        | "compress" | "uncompress" => {
            let (p, ops) = all_ops(plain("S"));
            let kind = if opts::has(&p, &["c", "stdout", "l", "list", "t", "test", "k", "keep"]) {
                Read
            } else {
                Write
            };
            each(info, &ops, kind, &reason);
        }
        "cp" | "mv" | "install" | "ln" => {
            let (p, ops) = all_ops(Spec {
                short_val: if base == "install" { "gmoSt" } else { "St" },
                long_val: &["target-directory", "suffix", "group", "mode", "owner"],
                stop_at_operand: false,
            });
            let src_kind = match base {
                "mv" => Delete,
                _ => Read,
            };
            let targets = opts::values(&p, &["t", "target-directory"]);
            if base == "install" && opts::has(&p, &["d", "directory"]) {
                each(info, &ops, Write, "install -d");
                return;
            }
            // A destination that is a directory receives each source under its own name:
            // `cp evil.yml .github/workflows/` writes `.github/workflows/evil.yml`. Whether a
            // destination without a trailing slash is a directory is only known at run time,
            // so both readings are checked.
            let into_dir = |info: &mut Info, dest: &Word, sources: &[usize]| {
                let dir = dest.path.trim_end_matches('/');
                if dir.is_empty() {
                    return;
                }
                for &i in sources {
                    if let Some(src) = get(i) {
                        let name = crate::canon::basename(src.path.trim_end_matches('/'));
                        if !name.is_empty() && name != "." && name != ".." {
                            info.access(
                                Write,
                                &Word::derived(dest, &format!("{dir}/{name}")),
                                format!("destination of {base} (into the folder)"),
                            );
                        }
                    }
                }
            };
            if !targets.is_empty() {
                for t in targets {
                    info.access(Write, t, format!("target directory of {base}"));
                    into_dir(info, t, &ops);
                }
                // A link to a file is a way to read it under another name later in the line.
                each(info, &ops, src_kind, &format!("source of {base}"));
                return;
            }
            if let Some((&last, sources)) = ops.split_last() {
                if sources.is_empty() && base == "ln" {
                    // `ln -s target` creates a link named after the target in `.`.
                    if let Some(w) = get(last) {
                        let name = crate::canon::basename(&w.path).to_string();
                        info.access(Write, &Word::derived(w, &name), "link created by ln");
                        info.access(Read, w, "source of ln");
                    }
                    return;
                }
                each(info, sources, src_kind, &format!("source of {base}"));
                if let Some(w) = get(last) {
                    info.access(Write, w, format!("destination of {base}"));
                    into_dir(info, w, sources);
                }
            }
        }
        "rm" | "unlink" | "shred" | "rmdir" | "srm" => {
            let (_, ops) = all_ops(plain(if base == "shred" { "ns" } else { "" }));
            each(info, &ops, Delete, &reason);
        }
        "tee" | "touch" | "truncate" | "mkdir" | "mkfifo" | "vi" | "vim" | "nvim" | "nano"
        | "emacs" | "code" | "subl" | "gedit" | "ed" | "pico" | "micro" | "hx" | "kak"
        | "patch" | "sponge" => {
            let short = match base {
                "touch" => "drt",
                "truncate" => "sr",
                "mkdir" | "mkfifo" => "m",
                "vi" | "vim" | "nvim" => "cSuUwWsTir",
                "patch" => "BDFdgiopYzr",
                _ => "",
            };
            let (p, ops) = all_ops(Spec {
                short_val: short,
                long_val: &["reference", "size", "mode", "input", "output", "directory"],
                stop_at_operand: false,
            });
            if matches!(base, "touch" | "truncate") {
                for w in opts::values(&p, &["r", "reference"]) {
                    info.access(Read, w, format!("reference of {base}"));
                }
            }
            if base == "patch" {
                for w in opts::values(&p, &["i", "input"]) {
                    info.access(Read, w, "patch input");
                }
                for w in opts::values(&p, &["o", "output"]) {
                    info.access(Write, w, "patch output");
                }
                each(info, ops.get(..1).unwrap_or(&[]), Write, "file patched");
                each(info, ops.get(1..2).unwrap_or(&[]), Read, "patch input");
                return;
            }
            let ops: Vec<usize> = ops
                .into_iter()
                .filter(|&i| get(i).is_some_and(|w| !w.text.starts_with('+')))
                .collect();
            // An editor shows the file before it writes it: opening a secret reads it.
            if matches!(
                base,
                "vi" | "vim"
                    | "nvim"
                    | "nano"
                    | "emacs"
                    | "code"
                    | "subl"
                    | "gedit"
                    | "ed"
                    | "pico"
                    | "micro"
                    | "hx"
                    | "kak"
            ) {
                each(info, &ops, Read, &format!("file opened by {base}"));
            }
            each(info, &ops, Write, &reason);
        }
        "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" => {
            let mut ops = Vec::new();
            let mut only_ops = false;
            let mut reference = false;
            for (i, w) in args.iter().enumerate() {
                let t = w.text.as_str();
                if only_ops {
                    ops.push(i);
                } else if t == "--" {
                    only_ops = true;
                } else if t.starts_with("--reference") {
                    reference = true;
                } else if base == "chmod"
                    && t.len() > 1
                    && t.starts_with('-')
                    && t[1..].chars().all(|c| "rwxXstugo,+-=".contains(c))
                {
                    // `chmod -x file`: a mode, not an option.
                    ops.push(i);
                } else if (t.starts_with('-') || (base == "chattr" && t.starts_with('+')))
                    && t.len() > 1
                {
                    if base == "chattr" {
                        ops.push(i);
                    }
                } else {
                    ops.push(i);
                }
            }
            let skip = usize::from(!reference);
            each(info, ops.get(skip..).unwrap_or(&[]), Write, &reason);
        }
        "dd" => {
            for w in args {
                if let Some(f) = w.text.strip_prefix("if=") {
                    info.access(Read, &Word::derived(w, f), "dd if=");
                } else if let Some(f) = w.text.strip_prefix("of=") {
                    info.access(Write, &Word::derived(w, f), "dd of=");
                }
            }
        }
        "openssl" => {
            let mut it = args.iter().peekable();
            while let Some(w) = it.next() {
                let kind = match w.text.as_str() {
                    "-in" | "-key" | "-inkey" | "-kfile" | "-signkey" | "-CAkey" => Read,
                    "-out" => Write,
                    _ => continue,
                };
                if let Some(v) = it.next() {
                    info.access(kind, v, format!("openssl {}", w.text));
                }
            }
        }
        "scp" | "rsync" => {
            let (p, ops) = all_ops(Spec {
                short_val: if base == "scp" { "cFiJloPSDX" } else { "efBT" },
                long_val: &[
                    "rsh",
                    "exclude",
                    "include",
                    "filter",
                    "files-from",
                    "temp-dir",
                ],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["i", "F", "files-from"]) {
                info.access(Read, w, format!("{base} option"));
            }
            if let Some((&last, sources)) = ops.split_last() {
                for &s in sources {
                    if let Some(w) = get(s).filter(|w| !is_remote(&w.text)) {
                        info.access(Read, w, format!("source of {base}"));
                    }
                }
                if !sources.is_empty()
                    && let Some(w) = get(last).filter(|w| !is_remote(&w.text))
                {
                    info.access(Write, w, format!("destination of {base}"));
                }
            }
        }
        "curl" => {
            let (p, _) = all_ops(Spec {
                short_val: "oTdFKbcHXuAeEwxmrUYyz",
                long_val: &[
                    "output",
                    "upload-file",
                    "data",
                    "data-binary",
                    "data-urlencode",
                    "data-ascii",
                    "form",
                    "config",
                    "cookie",
                    "cookie-jar",
                    "header",
                    "request",
                    "user",
                    "json",
                    "key",
                    "cert",
                    "cacert",
                    "dump-header",
                    "trace",
                    "stderr",
                    "url",
                ],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["o", "output", "c", "cookie-jar", "dump-header"]) {
                info.access(Write, w, "curl output");
            }
            for w in opts::values(&p, &["T", "upload-file", "K", "config", "key", "cert"]) {
                info.access(Read, w, "curl upload/config");
            }
            for w in opts::values(
                &p,
                &[
                    "d",
                    "data",
                    "data-binary",
                    "data-urlencode",
                    "data-ascii",
                    "json",
                    "F",
                    "form",
                ],
            ) {
                // `@file` / `name=@file` / `name=<file` send the file's content.
                let t = w.text.as_str();
                let file = t
                    .split_once("=@")
                    .map(|(_, f)| f)
                    .or_else(|| t.split_once("=<").map(|(_, f)| f))
                    .or_else(|| t.strip_prefix('@'));
                if let Some(f) = file.map(|f| f.split(';').next().unwrap_or(f))
                    && !f.is_empty()
                    && f != "-"
                {
                    info.access(Read, &Word::derived(w, f), "curl upload");
                }
            }
        }
        "wget" => {
            let (p, _) = all_ops(Spec {
                short_val: "OoaiP",
                long_val: &["output-document", "post-file", "body-file", "input-file"],
                stop_at_operand: false,
            });
            for w in opts::values(&p, &["O", "output-document", "o", "a"]) {
                if w.text != "-" {
                    info.access(Write, w, "wget output");
                }
            }
            for w in opts::values(&p, &["post-file", "body-file", "i", "input-file"]) {
                info.access(Read, w, "wget input");
            }
        }
        _ => {}
    }
}

fn tar(args: &[Word], info: &mut Info) {
    use AccessKind::{Read, Write};
    // Old-style `tar czf archive dir`: the first word is a bundle of letters without a dash.
    let mut mode = ' ';
    let mut archive: Option<Word> = None;
    let mut rest: &[Word] = args;
    if let Some(first) = args.first()
        && !first.text.starts_with('-')
        && !first.text.is_empty()
        && first.text.chars().all(|c| c.is_ascii_alphabetic())
    {
        let letters = first.text.clone();
        let mut next = 1;
        for c in letters.chars() {
            match c {
                'c' | 'r' | 'u' | 'x' | 't' | 'A' | 'd' => mode = c,
                'f' => {
                    archive = args.get(next).cloned();
                    next += 1;
                }
                'C' | 'T' | 'b' | 'K' | 'N' | 'V' | 'X' | 'g' => next += 1,
                _ => {}
            }
        }
        rest = args.get(next..).unwrap_or(&[]);
    }
    let p = opts::parse(
        rest,
        &Spec {
            short_val: "fCTbKNVXgIH",
            long_val: &[
                "file",
                "directory",
                "files-from",
                "exclude-from",
                "use-compress-program",
            ],
            stop_at_operand: false,
        },
    );
    for item in &p {
        if let Parsed::Opt(n, v) = item {
            match n.as_str() {
                "c" | "create" => mode = 'c',
                "r" | "append" => mode = 'r',
                "u" | "update" => mode = 'u',
                "x" | "extract" | "get" => mode = 'x',
                "t" | "list" => mode = 't',
                "f" | "file" => archive = v.clone(),
                "T" | "files-from" | "X" | "exclude-from" => {
                    if let Some(w) = v {
                        info.access(Read, w, "tar list file");
                    }
                }
                _ => {}
            }
        }
    }
    let creating = matches!(mode, 'c' | 'r' | 'u');
    if let Some(a) = archive.filter(|a| a.text != "-") {
        if creating {
            info.access(Write, &a, "archive written by tar");
        } else {
            info.access(Read, &a, "archive read by tar");
        }
    }
    if creating {
        for i in opts::operands(&p) {
            if let Some(w) = rest.get(i) {
                info.access(Read, w, "input of tar");
            }
        }
    } else if mode == 'x' {
        for w in opts::values(&p, &["C", "directory"]) {
            info.access(Write, w, "tar extraction directory");
        }
    }
}
