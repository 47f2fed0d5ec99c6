//! What known commands mean: the risk classes they carry, the files they touch, the `git push`
//! they perform, and the command they wrap.

use crate::knowledge::Knowledge;
use crate::opts::{self, Parsed, Spec};
use crate::words::Word;
use crate::{AccessKind, RiskClass};
use std::collections::BTreeSet;

mod accesses;
mod archives;
mod classes;
mod find;
mod inner;
mod parallel;
mod patches;
mod scripts;

use accesses::*;
use classes::*;
pub(crate) use find::WHOLE_FILE_PRINTERS;
pub(crate) use find::find_output_globs;
use find::*;
use inner::*;
pub(crate) use inner::{sh_quote, stdin_code};
pub use patches::patch_file_accesses;

/// Where a command's standard input comes from, as far as it matters for code execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// Nothing known (terminal, inherited, a file).
    Terminal,
    /// A pipe from a producer whose output is not known before run time (`curl …`).
    Untrusted(String),
    /// Known, local content: a pipe from `cat script.sh` or `printf …`, or a `< FILE`
    /// redirection. The files it comes from, when the producer names them (`cat a b`, `< x`);
    /// empty when it makes the content itself (`printf`).
    Local(Vec<Word>),
    /// A pipe from a producer that prints only file names, selected so that the globs say
    /// which: `find . -name '*.rs'` prints paths matching `./**/*.rs`. Otherwise as
    /// [`Stdin::Untrusted`]: what the names are is known only at run time.
    Names {
        /// The producer's program.
        from: String,
        /// Globs every printed name matches.
        globs: Vec<String>,
    },
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
    /// The folder the wrapper runs it in (`env -C DIR`), when not the current one.
    pub folder: Option<Word>,
}

/// A file access before it is tied to a command index.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub kind: AccessKind,
    pub path: String,
    pub literal: bool,
    pub reason: String,
}

/// A patch file a command applies, before it is tied to a command index: what the patch
/// writes is known only once the file is read (see [`crate::PatchFile`]).
#[derive(Debug, Clone)]
pub(crate) struct PendingPatch {
    pub file: Word,
    pub how: crate::PatchApplying,
}

/// A `git push` before it is tied to a command index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Push {
    pub remote: Option<String>,
    pub refspecs: Vec<String>,
    pub branches: Vec<String>,
    pub force: bool,
    pub all_branches: bool,
    /// `-o merge_request.create`: the forge opens a merge request for the pushed branch.
    pub opens_pull_request: bool,
}

/// The file that is a process's environment. The environment an agent runs in holds its own
/// API keys and tokens (the baseline blocks reading `/proc/*/environ`); a program that prints
/// it, or whose script reads it, reads this file.
pub(crate) const ENVIRONMENT_FILE: &str = "/proc/self/environ";

/// Everything learnt from one simple command's name and arguments.
#[derive(Debug, Default)]
pub(crate) struct Info {
    pub classes: BTreeSet<RiskClass>,
    pub accesses: Vec<Access>,
    pub push: Option<Push>,
    /// The command opens a pull (merge) request (`gh pr create`, `glab mr create`, …).
    pub pull_request: bool,
    pub inner: Vec<Inner>,
    /// The command does work of its own besides running `inner` (connects to a host, runs in
    /// a pod, rewrites history): it is judged as itself too, the default included, rather
    /// than as a wrapper that only the rules naming it judge.
    pub acts_itself: bool,
    /// Patch files the command applies (`git apply fix.patch`).
    pub patch_files: Vec<PendingPatch>,
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

    /// The command prints (or hands its program) the process's environment: a read of
    /// [`ENVIRONMENT_FILE`], so that the pack's rule for that file judges `printenv`, jq's
    /// `env` and awk's `ENVIRON` as it judges `cat /proc/self/environ`.
    pub(crate) fn reads_environment(&mut self, reason: &str) {
        self.accesses.push(Access {
            kind: AccessKind::Read,
            path: ENVIRONMENT_FILE.into(),
            literal: true,
            reason: reason.into(),
        });
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
            folder: None,
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
                folder: None,
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
        "Rscript" | "R" | "lua" | "luajit" | "osascript" => (spec("el", &[]), &["e"][..]),
        "julia" => (
            spec(
                "eELCtJp",
                &["eval", "print", "load", "project", "threads", "sysimage"],
            ),
            &["e", "E", "eval", "print"][..],
        ),
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
    scripts::inspect(base, args, stdin, &mut info);
    if base == "npm" || base == "pnpm" {
        npm_config(kb, args, &mut info);
    }
    if base == "git" {
        crate::gitconfig::command_line(args, &mut info);
        let words = texts(args);
        if let Some(sub) = crate::canon::git_subcommand_index(&words)
            && words.get(sub) == Some(&"config")
        {
            crate::gitconfig::config_command(args.get(sub + 1..).unwrap_or(&[]), &mut info);
        }
        git_accesses(args, &mut info);
        if let Some(sub) = crate::canon::git_subcommand_index(&words)
            && let (Some(name), Some(at)) = (words.get(sub), args.get(sub))
        {
            patches::git(
                name,
                at,
                args.get(sub + 1..).unwrap_or(&[]),
                stdin,
                &mut info,
            );
        }
        info.push = git_push(args);
        if info.push.as_ref().is_some_and(|p| p.force) {
            info.class(RiskClass::ForcePush);
        }
        info.pull_request = info.push.as_ref().is_some_and(|p| p.opens_pull_request);
        git_ext_transport(args, &mut info);
        git_chdir(args, &mut info);
    } else {
        if base == "patch" {
            patches::patch(args, stdin, &mut info);
        }
        info.pull_request = opens_pull_request(base, args);
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
        // `printf -v NAME FORMAT …` and `read NAME` assign a shell variable, which the rest of
        // the line sees as `NAME=…` would be seen (`printf -v PATH %s ./bin; ls`): the value
        // is only known at run time, so it is the format, or nothing cavra can read.
        "printf" => match (args.first(), args.get(1), args.get(2)) {
            (Some(v), Some(name), Some(format)) if v.text == "-v" => {
                vec![(name.text.as_str(), format.clone())]
            }
            _ => Vec::new(),
        },
        "read" | "mapfile" | "readarray" => args
            .iter()
            .filter(|w| is_assignment(&format!("{}=", w.text)))
            .map(|w| {
                let mut unknown = Word::derived(w, "$REPLY");
                unknown.literal = false;
                (w.text.as_str(), unknown)
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

/// `npm config set KEY VALUE` / `KEY=VALUE` (and pnpm's, which writes the same files): a key
/// is the option of every later npm run, judged as `npm_config_KEY` in the environment is
/// (`script-shell`, `node-options`, …), and the file is written: `.npmrc` with
/// `--location=project`, `~/.npmrc` by default (npm config, npm 10.9,
/// <https://docs.npmjs.com/cli/v10/commands/npm-config>). `npm config edit` writes the file.
fn npm_config(kb: &Knowledge, args: &[Word], info: &mut Info) {
    let words: Vec<&Word> = args.iter().filter(|w| !w.text.starts_with('-')).collect();
    let (Some(first), Some(verb)) = (words.first(), words.get(1)) else {
        return;
    };
    if !matches!(first.text.as_str(), "config" | "c")
        || !matches!(verb.text.as_str(), "set" | "edit")
    {
        return;
    }
    let mut location = "user";
    let mut i = 0;
    while let Some(w) = args.get(i) {
        i += 1;
        match w.text.as_str() {
            "-g" | "--global" => location = "global",
            "--location" | "-L" => {
                location = match args.get(i).map(|v| v.text.as_str()) {
                    Some("project") => "project",
                    Some("global") => "global",
                    _ => "user",
                };
                i += 1;
            }
            t => {
                if let Some(v) = t.strip_prefix("--location=") {
                    location = match v {
                        "project" => "project",
                        "global" => "global",
                        _ => "user",
                    };
                }
            }
        }
    }
    let file = match location {
        "project" => Some(".npmrc"),
        "user" => Some("~/.npmrc"),
        _ => None,
    };
    if let Some(f) = file {
        info.access(
            AccessKind::Write,
            &Word::derived(verb, f),
            format!("npm config {}", verb.text),
        );
    }
    if verb.text != "set" {
        return;
    }
    // `KEY=VALUE` pairs, or one `KEY VALUE`.
    let rest: Vec<&Word> = words.iter().skip(2).copied().collect();
    let mut pairs: Vec<(String, Word)> = Vec::new();
    if rest.iter().all(|w| w.text.contains('=')) {
        for w in &rest {
            if let Some((k, v)) = w.text.split_once('=') {
                pairs.push((k.to_string(), Word::derived(w, v)));
            }
        }
    } else if let (Some(k), Some(v)) = (rest.first(), rest.get(1)) {
        pairs.push((k.text.clone(), (*v).clone()));
    }
    let names: Vec<(String, &Word)> = pairs
        .iter()
        .map(|(k, v)| (format!("npm_config_{}", k.replace('-', "_")), v))
        .collect();
    let list: Vec<(&str, &Word)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    if !list.is_empty() {
        crate::knowledge::assignments(kb, &list, info);
    }
}

/// A read of what a git pathspec names. git's wildcards match a leading dot and cross `/`
/// (gitglossary(7), "pathspec"): `'*.env'` selects `.env` and `config/.env`, judged as the
/// spellings a shell glob would need for them.
/// Whether an operand can only be a revision, never a path git would read: a range (`a..b`),
/// a suffix walking history (`HEAD~2`, `HEAD^`, `@{1}`), `HEAD` and its kin, or an abbreviated
/// object name. Anything else may be a file (gitrevisions(7)).
fn revision_shaped(t: &str) -> bool {
    t.contains("..")
        || t.contains(['^', '~', '@'])
        || matches!(
            t,
            "HEAD" | "FETCH_HEAD" | "ORIG_HEAD" | "MERGE_HEAD" | "CHERRY_PICK_HEAD" | "REBASE_HEAD"
        )
        || (t.len() >= 4 && t.len() <= 64 && t.chars().all(|c| c.is_ascii_hexdigit()))
}

fn pathspec_read(w: &Word, reason: &str, info: &mut Info) {
    info.access(AccessKind::Read, w, reason);
    if !w.text.contains(['*', '?', '[']) || w.text.starts_with(':') {
        return;
    }
    for v in crate::folders::dotted(w).iter().skip(1) {
        info.access(AccessKind::Read, v, reason);
    }
    if !w.text.contains('/') {
        for v in crate::folders::dotted(w) {
            let deep = Word::derived(&v, &format!("**/{}", v.text));
            info.access(AccessKind::Read, &deep, reason);
        }
    }
}

/// The merge strategies git has built in (git-merge(1), git 2.47): any other name runs the
/// program `git-merge-NAME` found on the `PATH`.
const GIT_BUILTIN_STRATEGIES: &[&str] =
    &["ort", "recursive", "resolve", "octopus", "ours", "subtree"];

/// `git merge -s NAME` (and pull's, rebase's, cherry-pick's and revert's `--strategy`) with a
/// strategy git does not have built in runs `git-merge-NAME`: judged as that command.
fn merge_strategies(sub: &str, rest: &[Word], info: &mut Info) {
    let short_s = matches!(sub, "merge" | "pull" | "rebase");
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        let t = w.text.as_str();
        if t == "--" {
            break;
        }
        let (value, step) = if t == "--strategy" || (short_s && t == "-s") {
            (rest.get(i + 1).map(|v| (v, v.text.as_str())), 2)
        } else if let Some(v) = t.strip_prefix("--strategy=") {
            (Some((w, v)), 1)
        } else if let Some(v) = t.strip_prefix("-s").filter(|v| short_s && !v.is_empty()) {
            (Some((w, v)), 1)
        } else {
            (None, 1)
        };
        if let Some((at, v)) = value.filter(|(_, v)| !GIT_BUILTIN_STRATEGIES.contains(v)) {
            info.code(
                &[&Word::derived(at, &format!("git-merge-{v}"))],
                &format!("git {sub} --strategy"),
                Stdin::Terminal,
            );
        }
        i += step;
    }
}

/// A remote named `ext::COMMAND` (git-remote-ext(1)): git runs COMMAND to talk to it, with
/// `% ` for a space and `%%` for `%` (`%s`/`%S` are the service's name). git refuses the
/// transport unless `protocol.ext.allow` or `GIT_ALLOW_PROTOCOL` lets it, which cavra cannot
/// see from here, so the command is judged as run.
fn git_ext_transport(args: &[Word], info: &mut Info) {
    for w in args {
        if let Some(command) = w.text.strip_prefix("ext::") {
            let command = ext_command(command);
            info.code(
                &[&Word::derived(w, &command)],
                "git ext:: transport",
                Stdin::Terminal,
            );
        }
    }
}

/// The command of an `ext::` remote as git runs it (git-remote-ext(1)), as a shell line: an
/// unescaped space separates arguments, `% ` is a space inside one and `%%` a `%`; `%s`/`%S`
/// stand for the service (`git-upload-pack`), `%G`/`%V` for what a git:// request names.
pub(crate) fn ext_command(text: &str) -> String {
    let mut args: Vec<String> = Vec::new();
    let mut arg = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if !arg.is_empty() {
                    args.push(sh_quote(&std::mem::take(&mut arg)));
                }
            }
            '%' => match chars.next() {
                Some(' ') => arg.push(' '),
                Some('%') => arg.push('%'),
                Some('s') => arg.push_str("upload-pack"),
                Some('S') => arg.push_str("git-upload-pack"),
                Some(other) => {
                    arg.push('%');
                    arg.push(other);
                }
                None => arg.push('%'),
            },
            c => arg.push(c),
        }
    }
    if !arg.is_empty() {
        args.push(sh_quote(&arg));
    }
    args.join(" ")
}

/// git's `-C DIR` (git(1): each one changes folder before the next, relative to the last):
/// git works there, so every relative path it was given is DIR's, not the current folder's
/// (`git -C .github/workflows checkout HEAD~1 -- ci.yml` writes `.github/workflows/ci.yml`).
/// A folder known only at run time makes the paths so too. `-C ""` changes nothing.
fn git_chdir(args: &[Word], info: &mut Info) {
    let words = texts(args);
    let end = crate::canon::git_subcommand_index(&words).unwrap_or(words.len());
    let mut dir: Option<Word> = None;
    let mut i = 0;
    while i < end {
        let Some(w) = args.get(i) else { break };
        match w.text.as_str() {
            "-C" => {
                if let Some(v) = args.get(i + 1).filter(|v| !v.path.is_empty()) {
                    let absolute = v.path.starts_with('/') || v.path.starts_with('~');
                    dir = Some(match dir {
                        Some(d) if !absolute => {
                            let mut joined = Word::derived(v, &format!("{}/{}", d.path, v.path));
                            joined.path_literal = d.path_literal && v.path_literal;
                            joined
                        }
                        _ => v.clone(),
                    });
                }
                i += 2;
            }
            "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--config-env"
            | "--super-prefix" => i += 2,
            _ => i += 1,
        }
    }
    let Some(dir) = dir else { return };
    for a in &mut info.accesses {
        if !a.path.starts_with('/') && !a.path.starts_with('~') {
            a.path = format!("{}/{}", dir.path.trim_end_matches('/'), a.path);
            a.literal &= dir.path_literal;
        }
    }
    // The commands git runs (`difftool -x`, aliases, `rebase -x`) run there too.
    for inner in info.inner.iter_mut().filter(|n| n.folder.is_none()) {
        inner.folder = Some(dir.clone());
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
    if matches!(
        *name,
        "merge" | "pull" | "rebase" | "cherry-pick" | "revert"
    ) {
        merge_strategies(name, rest, info);
    }
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
                pathspec_read(w, &reason, info);
            }
        }
        // `git stash show -p [STASH] -- PATH` prints the stashed changes of PATH.
        "stash" if rest.first().is_some_and(|w| w.text == "show") => {
            for w in after_dashes() {
                pathspec_read(w, "git stash show", info);
            }
        }
        "diff" | "log" | "blame" | "annotate" | "whatchanged" => {
            for w in after_dashes() {
                pathspec_read(w, &reason, info);
            }
            // `git log -L START,END:FILE` (or `-L :FUNC:FILE`) prints those lines of FILE as
            // each commit changed them: the file is what follows the last `:`.
            if *name == "log" {
                let mut words = rest.iter().take_while(|w| w.text != "--");
                while let Some(w) = words.next() {
                    let range = match w.text.strip_prefix("-L") {
                        Some("") => words.next().map(|v| (v, v.text.as_str())),
                        Some(r) => Some((w, r)),
                        None => None,
                    };
                    if let Some((at, file)) =
                        range.and_then(|(at, r)| r.rsplit_once(':').map(|(_, f)| (at, f)))
                        && !file.is_empty()
                    {
                        info.access(
                            AccessKind::Read,
                            &Word::derived(at, file),
                            "git log -L".to_string(),
                        );
                    }
                }
            }
            // Without `--`, git reads an operand that is no revision as a path (the first that
            // is none and all after it): `git log -p .env` and `git diff HEAD~1 .env` print
            // what .env held. An operand that could be either is judged as a path too (a read
            // of a file named like a branch is harmless); `REV:PATH` names a committed file.
            if matches!(*name, "diff" | "log" | "whatchanged")
                && !rest.iter().any(|w| w.text == "--no-index")
            {
                for w in rest
                    .iter()
                    .take_while(|w| w.text != "--")
                    .filter(|w| !w.text.starts_with('-'))
                {
                    match w.text.split_once(':') {
                        Some((_, path)) if !path.is_empty() => info.access(
                            AccessKind::Read,
                            &Word::derived(w, path),
                            format!("{reason} of a committed file"),
                        ),
                        Some(_) => {}
                        None if !revision_shaped(&w.text) => pathspec_read(w, &reason, info),
                        None => {}
                    }
                }
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
        // `git grep PATTERN [REV…] [--] [PATH…]` prints the matching lines of the paths.
        "grep" => {
            for w in after_dashes() {
                pathspec_read(w, &reason, info);
            }
            let p = opts::parse(
                rest,
                &Spec {
                    short_val: "efABCm",
                    long_val: &[
                        "regexp",
                        "file",
                        "after-context",
                        "before-context",
                        "context",
                        "max-count",
                        "max-depth",
                        "threads",
                        "open-files-in-pager",
                    ],
                    stop_at_operand: false,
                },
            );
            for w in opts::values(&p, &["f", "file"]) {
                info.access(AccessKind::Read, w, "git grep -f");
            }
            let pattern_given = opts::has(&p, &["e", "f", "regexp", "file"]);
            for w in opts::operands(&p)
                .into_iter()
                .filter_map(|i| rest.get(i))
                .take_while(|w| w.text != "--")
                .skip(usize::from(!pattern_given))
            {
                if !revision_shaped(&w.text) {
                    pathspec_read(w, &reason, info);
                }
            }
        }
        // `git archive TREE-ISH [PATH…]` packs the committed content of the paths.
        "archive" => {
            let p = opts::parse(
                rest,
                &Spec {
                    short_val: "o",
                    long_val: &[
                        "format",
                        "prefix",
                        "add-file",
                        "add-virtual-file",
                        "remote",
                        "exec",
                        "output",
                        "mtime",
                    ],
                    stop_at_operand: false,
                },
            );
            for w in opts::values(&p, &["add-file"]) {
                info.access(AccessKind::Read, w, "git archive --add-file");
            }
            let operands: Vec<&Word> = opts::operands(&p)
                .into_iter()
                .filter_map(|i| rest.get(i))
                .filter(|w| w.text != "--")
                .collect();
            if let Some(tree) = operands.first()
                && let Some((_, path)) = tree.text.split_once(':')
                && !path.is_empty()
            {
                info.access(
                    AccessKind::Read,
                    &Word::derived(tree, path),
                    format!("{reason} of a committed file"),
                );
            }
            for w in operands.iter().skip(1) {
                pathspec_read(w, &reason, info);
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
        // Committing paths stages their content first (`git commit -m x .env` is `git add
        // .env` and a commit): the paths are read, as `git add`'s are.
        "commit" => {
            let value_long = [
                "message",
                "file",
                "reuse-message",
                "reedit-message",
                "author",
                "date",
                "template",
                "fixup",
                "squash",
                "trailer",
                "cleanup",
                "pathspec-from-file",
            ];
            let mut skip = false;
            let mut dashes = false;
            for w in rest {
                let t = w.text.as_str();
                if skip {
                    skip = false;
                    continue;
                }
                if !dashes && t == "--" {
                    dashes = true;
                    continue;
                }
                if !dashes && let Some(long) = t.strip_prefix("--") {
                    skip = !long.contains('=') && value_long.contains(&long);
                    continue;
                }
                if !dashes && t.starts_with('-') && t.len() > 1 {
                    // A cluster (`-am`): the first letter that takes a value takes the rest
                    // of the word, or the next word when it is the last letter.
                    skip = t
                        .char_indices()
                        .skip(1)
                        .find(|(_, c)| "mFCct".contains(*c))
                        .is_some_and(|(i, _)| i + 1 == t.len());
                    continue;
                }
                info.access(AccessKind::Read, w, format!("{reason} (committed content)"));
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
