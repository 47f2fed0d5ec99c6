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
                // The command runs on another host: reaching it is judged, as `ssh host` alone.
                info.acts_itself = true;
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
            folder: None,
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
                    folder: None,
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
                    folder: None,
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
    // `-C DIR`/`--chdir=DIR`: the command runs in DIR (GNU coreutils env).
    let mut folder: Option<Word> = None;
    while let Some(w) = args.get(i) {
        let t = w.text.as_str();
        match t {
            "-i" | "-0" | "--ignore-environment" | "--null" | "-v" | "--debug" | "-" => i += 1,
            "-C" | "--chdir" => {
                folder = args.get(i + 1).cloned();
                i += 2;
            }
            _ if t.starts_with("--chdir=") => {
                folder = Some(Word::derived(w, &t["--chdir=".len()..]));
                i += 1;
            }
            _ if t.starts_with("-C") && t.len() > 2 => {
                folder = Some(Word::derived(w, &t[2..]));
                i += 1;
            }
            "-u" | "--unset" => i += 2,
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
    // No command: env prints the environment (unless told to start from an empty one).
    let emptied = args
        .iter()
        .take(i)
        .any(|w| matches!(w.text.as_str(), "-i" | "--ignore-environment" | "-"));
    if i >= args.len() && !emptied {
        info.reads_environment("env prints the environment");
    }
    let before = info.inner.len();
    info.words(args, i, args.len(), "env", stdin.clone());
    if info.inner.len() > before
        && let Some(dir) = folder.filter(|d| !d.path.is_empty())
        && let Some(inner) = info.inner.last_mut()
    {
        inner.folder = Some(dir);
    }
}
