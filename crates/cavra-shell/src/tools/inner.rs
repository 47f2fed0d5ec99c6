//! Commands that run other commands: wrappers (`sudo`, `env`, `timeout`, …), shells and
//! interpreters with code in an argument or on stdin, build tools' targets, `xargs`, `find -exec`.

use super::*;

pub(crate) fn wrappers(base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
    let all = args.len();
    match base {
        b if is_shell(b) => shell(b, args, stdin, info),
        "busybox" => info.words(args, 0, all, "busybox", stdin.clone()),
        "make" | "gmake" | "just" => build_targets(base, args, info),
        "mvn" | "mvnw" | "gradle" | "gradlew" => build_goals(base, args, info),
        "go" => go_linker(args, info),
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
                // `--replace[=R]`, `--eof[=E]`, `-i[R]`, `-e[E]` and `-l[N]` take their value
                // only attached (findutils xargs(1)): none of them takes the next word.
                "xargs" => stop(
                    "IadELnPs",
                    &[
                        "arg-file",
                        "delimiter",
                        "max-args",
                        "max-procs",
                        "max-chars",
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
        "parallel" => super::parallel::parallel(args, stdin, info),
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
                // Deno runs modules named by URL (`deno test https://…/x_test.ts`) and
                // fetches registry packages to run (`npm:`, `jsr:` specifiers).
                let t = texts(args);
                match t.first() {
                    Some(&"eval") => info.class(RiskClass::InterpreterInlineCode),
                    Some(&("run" | "test" | "bench" | "serve" | "repl" | "install" | "x")) => {
                        let operands = || {
                            t.iter()
                                .skip(1)
                                .map(|a| a.split_once('=').map_or(*a, |(_, v)| v))
                        };
                        if operands().any(|a| a.starts_with("http://") || a.starts_with("https://"))
                        {
                            info.class(RiskClass::RemoteCodeExecution);
                        }
                        if operands().any(|a| a.starts_with("npm:") || a.starts_with("jsr:")) {
                            info.class(RiskClass::PackageInstall);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A shell: `-c STRING`, a script file, or code on stdin.
pub(crate) fn shell(base: &str, args: &[Word], stdin: &Stdin, info: &mut Info) {
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

pub(crate) fn script_operand(base: &str, w: &Word, stdin: &Stdin, info: &mut Info) {
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
pub(crate) fn build_targets(base: &str, args: &[Word], info: &mut Info) {
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
    each_target_alone(base, args, &targets, "target", info);
}

/// Maven's goals and phases (`mvn test deploy`, `mvn test exec:exec`) and Gradle's tasks
/// (`gradle test publish`) run in turn, like make's targets: each is its own request, so an
/// allowed `mvn test *` cannot carry `deploy` along. Options (and `-D` properties) stay with
/// every goal.
pub(crate) fn build_goals(base: &str, args: &[Word], info: &mut Info) {
    let maven = matches!(base, "mvn" | "mvnw");
    // Options that take the next word as their value, when not attached (`-Dx=y`, `-T4`,
    // `--file=pom.xml`). Maven 3.9 (`mvn --help`) and Gradle 8.11's command line reference,
    // with Gradle's common task options (`test --tests`, `run --args`).
    let takes_value: &[&str] = if maven {
        &[
            "-f",
            "--file",
            "-s",
            "--settings",
            "-gs",
            "--global-settings",
            "-t",
            "--toolchains",
            "-gt",
            "--global-toolchains",
            "-P",
            "--activate-profiles",
            "-pl",
            "--projects",
            "-rf",
            "--resume-from",
            "-T",
            "--threads",
            "-l",
            "--log-file",
            "-b",
            "--builder",
            "-D",
            "--define",
            "-emp",
            "--encrypt-master-password",
            "-ep",
            "--encrypt-password",
        ]
    } else {
        &[
            "-b",
            "--build-file",
            "-c",
            "--settings-file",
            "-D",
            "--system-prop",
            "-g",
            "--gradle-user-home",
            "-I",
            "--init-script",
            "-P",
            "--project-prop",
            "-p",
            "--project-dir",
            "-x",
            "--exclude-task",
            "--console",
            "--warning-mode",
            "--max-workers",
            "--include-build",
            "--project-cache-dir",
            "-M",
            "--write-verification-metadata",
            "--priority",
            "--dependency-verification",
            "-F",
            "--update-locks",
            "--tests",
            "--args",
        ]
    };
    let mut goals = Vec::new();
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if t.starts_with('-') && t.len() > 1 {
            i += if takes_value.contains(&t) { 2 } else { 1 };
            continue;
        }
        goals.push(i);
        i += 1;
    }
    each_target_alone(base, args, &goals, "goal", info);
}

/// Makes each of `targets` (indices into `args`) its own command, `BASE TARGET` followed by
/// every word that is not a target, for the rules to judge alone. Nothing to do for one
/// target written first: already the form patterns name (`make test -j4`).
fn each_target_alone(base: &str, args: &[Word], targets: &[usize], what: &str, info: &mut Info) {
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
    for &t in targets {
        let Some(target) = args.get(t) else { continue };
        // Target first: make, just, Maven and Gradle accept options anywhere, and patterns
        // name the target right after the program (`make test *`).
        let mut text = format!("{base} {}", sh_quote(&target.text));
        for s in &shared {
            text.push(' ');
            text.push_str(s);
        }
        info.inner.push(Inner {
            kind: InnerKind::Code(text),
            label: format!("{base} {what}"),
            stdin: Stdin::Terminal,
            span: target.span,
        });
    }
}

/// `go build|test|run|install -ldflags '… -extld=PROG …'` links through PROG (the go tool's
/// linker flags, `go tool link -help`: `-extld linker` names the external linker it runs).
fn go_linker(args: &[Word], info: &mut Info) {
    let mut i = 0;
    while let Some(w) = args.get(i) {
        let t = w.text.trim_start_matches('-');
        let flags = match t.split_once('=') {
            Some(("ldflags", v)) => Some((w, v.to_string())),
            None if t == "ldflags" && w.text.starts_with('-') => {
                i += 1;
                args.get(i).map(|v| (v, v.text.clone()))
            }
            _ => None,
        };
        i += 1;
        let Some((at, flags)) = flags else { continue };
        let words: Vec<&str> = flags.split_whitespace().collect();
        for (j, f) in words.iter().enumerate() {
            let f = f.trim_matches(['\'', '"']);
            let linker = match f.trim_start_matches('-').split_once('=') {
                Some(("extld", v)) => Some(v.trim_matches(['\'', '"']).to_string()),
                None if f.trim_start_matches('-') == "extld" && f.starts_with('-') => words
                    .get(j + 1)
                    .map(|v| v.trim_matches(['\'', '"']).to_string()),
                _ => None,
            };
            if let Some(linker) = linker.filter(|l| !l.is_empty()) {
                info.code(
                    &[&Word::derived(at, &linker)],
                    "go -ldflags -extld",
                    Stdin::Terminal,
                );
            }
        }
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
/// The text xargs replaces with each input line: `-I R`, `-iR` / `--replace=R`, or `{}` for a
/// bare `-i` / `--replace` (findutils xargs(1), 4.10).
fn xargs_replace(args: &[Word], p: &[opts::Parsed], first: usize) -> Option<String> {
    let mut replace = opts::values(p, &["I"]).last().map(|w| w.text.clone());
    for w in args.get(..first).unwrap_or_default() {
        let t = w.text.as_str();
        if t == "--replace" || t == "-i" {
            replace = Some("{}".into());
        } else if let Some(r) = t.strip_prefix("--replace=") {
            replace = Some(r.into());
        } else if let Some(r) = t.strip_prefix("-i")
            && !t.starts_with("--")
        {
            replace = Some(r.into());
        }
    }
    replace
}

pub(crate) fn xargs_inner(
    args: &[Word],
    p: &[opts::Parsed],
    all: usize,
    stdin: &Stdin,
    info: &mut Info,
) {
    let Some(first) = opts::first_operand(p) else {
        return;
    };
    let inner: Vec<&Word> = args[first..all.min(args.len())].iter().collect();
    let replace = xargs_replace(args, p, first);
    let inner_base = inner
        .first()
        .map(|w| w.text.rsplit('/').next().unwrap_or("").to_string())
        .unwrap_or_default();
    // The input standing where the command's name is (`xargs -I{} {} …`) names the program.
    let input_is_program = replace
        .as_deref()
        .is_some_and(|r| !r.is_empty() && inner.first().is_some_and(|w| w.text.contains(r)));
    let runs_code = input_is_program
        || is_shell(&inner_base)
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
        _ => {
            if runs_code {
                // A shell or interpreter whose arguments come from data runs code from data.
                info.class(RiskClass::DynamicCommand);
                if matches!(stdin, Stdin::Untrusted(_) | Stdin::Names { .. }) {
                    info.class(RiskClass::RemoteCodeExecution);
                }
            }
            info.words(args, first, all, "xargs", Stdin::Terminal);
            if !runs_code {
                xargs_with_input(&inner, replace.as_deref(), args, p, first, stdin, info);
            }
        }
    }
}

/// What stands for an argument xargs reads from a list only known at run time: a parameter
/// expansion, so the command judges it as a path (or word) known only at run time.
const RUN_TIME_ARGUMENT: &str = "\"$XARGS_INPUT\"";

/// `xargs CMD…` with the items it reads in place: the command is judged once more with them as
/// its further arguments (or in place of `-I`'s string), so `find . -name .env | xargs cat`
/// reads `./**/.env` and `xargs cat < list` reads paths only known at run time. Items from a
/// `find` that selects by name are the globs its output matches; from a file (`-a`, `< list`),
/// another program or text not known before run time, one argument known only at run time.
/// Without any input (a terminal) nothing is added.
fn xargs_with_input(
    inner: &[&Word],
    replace: Option<&str>,
    args: &[Word],
    p: &[opts::Parsed],
    first: usize,
    stdin: &Stdin,
    info: &mut Info,
) {
    if inner.is_empty() || !inner.iter().all(|w| w.literal) {
        return;
    }
    let from_file = !opts::values(p, &["a", "arg-file"]).is_empty()
        || args
            .get(..first)
            .unwrap_or_default()
            .iter()
            .any(|w| w.text.starts_with("--arg-file"));
    let items: Vec<String> = match stdin {
        _ if from_file => vec![RUN_TIME_ARGUMENT.to_string()],
        Stdin::Names { globs, .. } => globs.iter().map(|g| sh_quote(g)).collect(),
        Stdin::Terminal => return,
        Stdin::Untrusted(_) | Stdin::Local(_) | Stdin::Code { .. } => {
            vec![RUN_TIME_ARGUMENT.to_string()]
        }
    };
    with_items(inner, replace, items, "xargs (its input)", info);
}

/// Judges `command` once more with `items` (shell text: quoted globs or a run-time expansion)
/// as its further arguments, or each in place of `replace` where the command holds it.
fn with_items(
    command: &[&Word],
    replace: Option<&str>,
    items: Vec<String>,
    label: &str,
    info: &mut Info,
) {
    let span = match (command.first(), command.last()) {
        (Some(a), Some(b)) => (a.span.0, b.span.1),
        _ => (0, 0),
    };
    let mut commands = Vec::new();
    match replace {
        Some(r) if !r.is_empty() => {
            for item in &items {
                // Each word quoted as written, the item spliced in unquoted (it is quoted or an
                // expansion already): `'cat '"$XARGS_INPUT"''`.
                let words: Vec<String> = command
                    .iter()
                    .map(|w| {
                        w.text
                            .split(r)
                            .map(sh_quote)
                            .collect::<Vec<_>>()
                            .join(item.as_str())
                    })
                    .collect();
                commands.push(words.join(" "));
            }
        }
        _ => {
            let mut words: Vec<String> = command.iter().map(|w| sh_quote(&w.text)).collect();
            words.extend(items);
            commands.push(words.join(" "));
        }
    }
    for command in commands.into_iter().take(64) {
        info.inner.push(Inner {
            kind: InnerKind::Code(command),
            label: label.to_string(),
            stdin: Stdin::Terminal,
            span,
        });
    }
}

/// A shell or interpreter runs its standard input as code.
pub(crate) fn stdin_code(base: &str, is_shell_code: bool, stdin: &Stdin, info: &mut Info) {
    match stdin {
        Stdin::Untrusted(_) | Stdin::Names { .. } => info.class(RiskClass::RemoteCodeExecution),
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
        Stdin::Terminal | Stdin::Local(_) => {}
    }
}

pub(crate) fn run_interpreter(
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

pub(crate) fn env(args: &[Word], stdin: &Stdin, info: &mut Info) {
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

/// find(1)'s tests that take the next word as their value (findutils 4.10, GNU find's manual):
/// the value is skipped, so it is never read as an operator or a test of its own.
const FIND_TESTS_WITH_VALUE: &[&str] = &[
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-lname",
    "-ilname",
    "-type",
    "-xtype",
    "-user",
    "-group",
    "-uid",
    "-gid",
    "-perm",
    "-size",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-newer",
    "-anewer",
    "-cnewer",
    "-samefile",
    "-inum",
    "-links",
    "-maxdepth",
    "-mindepth",
    "-fstype",
    "-context",
    "-used",
    "-printf",
    "-regextype",
    "-files0-from",
];

/// Whether find's name pattern may match `name`, erring towards yes: letter case is ignored
/// (for `-iname`, and where the file system folds it) and a bracket expression counts as any
/// one character.
fn name_may_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|k| go(rest, &n[k..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => match rest.iter().skip(1).position(|&c| c == ']') {
                Some(close) => !n.is_empty() && go(&rest[close + 2..], &n[1..]),
                None => n.first() == Some(&'[') && go(rest, &n[1..]),
            },
            Some(('\\', rest)) if !rest.is_empty() => {
                n.first()
                    .is_some_and(|c| c.to_lowercase().eq(rest[0].to_lowercase()))
                    && go(&rest[1..], &n[1..])
            }
            Some((c, rest)) => {
                n.first()
                    .is_some_and(|m| m.to_lowercase().eq(c.to_lowercase()))
                    && go(rest, &n[1..])
            }
        }
    }
    if pattern.len() > 256 {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Bounded: a pattern of many stars against a long name is exponential in the worst case.
    p.iter().filter(|&&c| c == '*').count() > 8 || go(&p, &n)
}

/// The paths a `find` whose expression selects by `name` deletes or prints below `start`, as
/// shell globs: the entries with that name at any depth, and whether `start` itself may be one
/// (find tests its starting points too). find's `-name` is fnmatch(3) without `FNM_PERIOD`:
/// its `*`, `?` and `[…]` match a leading dot, which a shell glob's do not, so a pattern that
/// begins with one also gives the dotted names spelt out (`*env` → `.*env`, which `.env`
/// matches). With `-iname` the lower-cased pattern is added, for rules written in lower case.
fn find_named(start: &str, name: &str, ignore_case: bool) -> (Vec<String>, bool) {
    let base = start.trim_end_matches('/');
    let (prefix, last) = if base.is_empty() {
        ("/**/".to_string(), "/")
    } else {
        (
            format!("{base}/**/"),
            base.rsplit('/').next().unwrap_or(base),
        )
    };
    let mut names = vec![name.to_string()];
    if ignore_case && name.to_lowercase() != name {
        names.push(name.to_lowercase());
    }
    for n in names.clone() {
        names.extend(crate::folders::dotted_names(&n));
    }
    let itself = names.iter().any(|n| name_may_match(n, last));
    (
        names.iter().map(|n| format!("{prefix}{n}")).collect(),
        itself,
    )
}

/// What a `find` prints, when it prints only names and selects them by name: globs the printed
/// paths match (`find . -name '*.rs'` → `./**/*.rs`), so that what a consumer does with them
/// (`| xargs cat`) is judged as done to those paths. `None` when the output could be anything
/// else: no name test, alternatives or negations, an action other than `-print`/`-print0`
/// (`-printf` prints any text), or a word not known before the command runs.
pub(crate) fn find_output_globs(args: &[Word]) -> Option<Vec<String>> {
    find_selection(args, false)
}

/// The globs the entries a `find` selects by name match (see [`find_output_globs`]); with
/// `actions`, whatever its actions (`-exec CMD {} ;` is handed exactly those entries).
fn find_selection(args: &[Word], actions: bool) -> Option<Vec<String>> {
    let mut starts: Vec<&str> = Vec::new();
    let mut name: Option<&str> = None;
    let mut ignore_case = false;
    let mut i = 0;
    let mut in_starts = true;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        if in_starts && !t.is_empty() && (t.starts_with('-') || t == "(" || t == "!") {
            in_starts = false;
        }
        if in_starts {
            if !w.literal {
                return None;
            }
            starts.push(t);
            i += 1;
            continue;
        }
        match t {
            "-name" | "-iname" => {
                let value = args.get(i + 1)?;
                if !value.literal {
                    return None;
                }
                name = Some(value.text.as_str());
                ignore_case = t == "-iname";
                i += 2;
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" if actions => {
                while args.get(i).is_some_and(|w| w.text != ";" && w.text != "+") {
                    i += 1;
                }
                i += 1;
            }
            // `-printf FORMAT` prints any text.
            "-printf" if !actions => return None,
            "-fprint" | "-fprint0" | "-fls" | "-fprintf" if actions => i += 2,
            _ if FIND_TESTS_WITH_VALUE.contains(&t) || t.starts_with("-newer") => i += 2,
            "-print" | "-print0" | "-a" | "-and" => i += 1,
            "-delete" | "-ls" | "-prune" | "-quit" if actions => i += 1,
            // Tests and options without a value; not an action that prints, runs or deletes,
            // nor an operator.
            _ if t.starts_with('-')
                && !t.starts_with("-exec")
                && !t.starts_with("-ok")
                && !t.starts_with("-fprint")
                && !matches!(
                    t,
                    "-o" | "-or" | "-not" | "-delete" | "-ls" | "-fls" | "-prune" | "-quit"
                ) =>
            {
                i += 1
            }
            _ => return None,
        }
    }
    let name = name.filter(|n| !n.is_empty() && !n.contains('/'))?;
    if starts.is_empty() {
        starts.push(".");
    }
    let mut globs = Vec::new();
    for start in starts {
        let (below, itself) = find_named(start, name, ignore_case);
        globs.extend(below);
        if itself {
            globs.push(start.to_string());
        }
    }
    Some(globs)
}

pub(crate) fn find(args: &[Word], info: &mut Info) {
    let selection = find_selection(args, true);
    let mut i = 0;
    let mut starts: Vec<usize> = Vec::new();
    let mut in_starts = true;
    let mut deletes = false;
    // The `-name`/`-iname` patterns of the expression, and whether the expression is a plain
    // conjunction of its tests (no `-o`, `!`, `-not`, `,` or parentheses): then everything
    // `-delete` removes has a name every one of those patterns matches.
    let mut names: Vec<(&Word, bool)> = Vec::new();
    let mut conjunction = true;
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
            "-name" | "-iname" => {
                match args.get(i + 1) {
                    Some(n) if n.literal => names.push((n, t == "-iname")),
                    _ => conjunction = false,
                }
                i += 2;
                continue;
            }
            "-o" | "-or" | "!" | "-not" | "," | "(" | ")" => conjunction = false,
            _ if FIND_TESTS_WITH_VALUE.contains(&t) || t.starts_with("-newer") => {
                i += 2;
                continue;
            }
            _ => {}
        }
        match t {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let start = i + 1;
                let mut j = start;
                while args.get(j).is_some_and(|w| w.text != ";" && w.text != "+") {
                    j += 1;
                }
                info.words(args, start, j, &format!("find {t}"), Stdin::Terminal);
                // The command is handed the entries found, in place of `{}`: judged once more
                // with them there (`-exec rm {} ;` after `-name settings.json` deletes
                // `./**/settings.json`).
                let command: Vec<&Word> = args.get(start..j).unwrap_or_default().iter().collect();
                if command.iter().skip(1).any(|w| w.text.contains("{}")) {
                    // Without a name test, every entry below the starting points, as the
                    // folder reads of `-exec` (crate::folders) have them.
                    let everything = || -> Vec<String> {
                        let roots: Vec<&Word> = args
                            .iter()
                            .take_while(|w| {
                                !(w.text.starts_with('-') || w.text == "(" || w.text == "!")
                            })
                            .collect();
                        if roots.iter().any(|w| !w.path_literal) {
                            return vec![RUN_TIME_ARGUMENT.to_string()];
                        }
                        let roots: Vec<&str> = roots.iter().map(|w| w.path.as_str()).collect();
                        let roots = if roots.is_empty() { vec!["."] } else { roots };
                        roots
                            .iter()
                            .map(|r| match r.trim_end_matches('/') {
                                "" if r.starts_with('/') => "/**".to_string(),
                                "" | "." => "**".to_string(),
                                dir => format!("{dir}/**"),
                            })
                            .map(|g| sh_quote(&g))
                            .collect()
                    };
                    let items = match &selection {
                        Some(globs) => globs.iter().map(|g| sh_quote(g)).collect(),
                        None => everything(),
                    };
                    with_items(
                        &command,
                        Some("{}"),
                        items,
                        &format!("find {t} (its entries)"),
                        info,
                    );
                }
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
    // Without a starting point find searches `.` (findutils find(1)).
    let dot = args.first().map(|w| Word::derived(w, "."));
    if deletes {
        info.class(RiskClass::RecursiveDelete);
        // With a name pattern in a plain conjunction, what is deleted is the entries below each
        // starting point with such a name: `find . -name '*.pyc' -delete` deletes `./**/*.pyc`,
        // not `.` (which would take `.cavra/` along). `-delete` removes a folder only once it
        // is empty, so nothing below a matched folder goes unless it matches too. One pattern
        // (the last: every one must match, so any one bounds the set) names the deletion.
        let name = names
            .last()
            .filter(|(n, _)| conjunction && !n.text.is_empty() && !n.text.contains('/'));
        let delete = |info: &mut Info, start: &Word, why: &str| match name {
            Some((n, ignore_case)) => {
                let (below, itself) = find_named(&start.text, &n.text, *ignore_case);
                for glob in below {
                    let below = Word::derived(start, &glob);
                    info.access(
                        AccessKind::Delete,
                        &below,
                        format!("{why} -name {}", n.text),
                    );
                }
                // The starting point is tested too: it goes when its own name matches (a
                // file; or a folder, once empty).
                if itself {
                    info.access(AccessKind::Delete, start, why);
                }
            }
            None => info.access(AccessKind::Delete, start, why),
        };
        if starts.is_empty()
            && let Some(d) = &dot
        {
            delete(info, d, "find -delete (from .)");
        }
        for s in starts {
            if let Some(w) = args.get(s) {
                delete(info, w, "find -delete");
            }
        }
    }
}
