//! What the knowledge base derives, through the whole analysis.

use crate::knowledge::{Effect, Knowledge, OptionEntry, ProgramEntry};
use crate::{AccessKind, CommandAnalysis, Limits, RiskClass, analyze, analyze_with_knowledge};
use std::borrow::Cow;

fn canon(a: &CommandAnalysis) -> Vec<&str> {
    a.commands.iter().map(|c| c.canonical.as_str()).collect()
}

/// Whether the analysis holds command `c`, word for word (a program word holding a space
/// would print the same canonical text).
fn has(a: &CommandAnalysis, c: &str) -> bool {
    let words = c.split(' ').count();
    a.commands
        .iter()
        .any(|x| x.canonical == c && x.argv.len() == words)
}

fn accesses(a: &CommandAnalysis) -> Vec<(AccessKind, &str)> {
    a.file_accesses
        .iter()
        .map(|f| (f.kind, f.path.as_str()))
        .collect()
}

#[test]
fn options_that_run_a_command_are_analysed_as_that_command() {
    for (line, inner) in [
        ("fd -e rs -x rm -rf {} ;", "rm -rf {}"),
        ("fd . --exec-batch terraform apply", "terraform apply"),
        ("rg --pre ./evil.sh pattern", "./evil.sh"),
        ("rg --pre=/tmp/x pattern src", "/tmp/x"),
        ("git difftool -x 'terraform apply' HEAD", "terraform apply"),
        (
            "git difftool --ext='terraform apply' HEAD",
            "terraform apply",
        ),
        ("git fetch --upload-pack='sh -c id' origin", "id"),
        (
            "git -C sub push --rec='terraform apply' origin x",
            "terraform apply",
        ),
        ("go test -exec 'terraform apply' ./...", "terraform apply"),
        ("go test --toolexec=/tmp/wrap ./...", "/tmp/wrap"),
        ("strace -f -e trace=open terraform apply", "terraform apply"),
        ("tmux new -d -s w 'terraform apply'", "terraform apply"),
        (
            "gdb -batch -ex run --args terraform apply",
            "terraform apply",
        ),
        (
            "xvfb-run -a -s '-screen 0 1x1x8' terraform apply",
            "terraform apply",
        ),
    ] {
        let a = analyze(line);
        let want = crate::canon::basename(inner.split(' ').next().unwrap_or(inner)).to_string()
            + inner
                .split_once(' ')
                .map(|(_, r)| format!(" {r}"))
                .as_deref()
                .unwrap_or("");
        assert!(has(&a, &want), "{line}: {:?}", canon(&a));
    }
}

#[test]
fn the_knowledge_entry_is_named_where_the_command_came_from() {
    let a = analyze("fd -e rs -x rm -rf {} ;");
    let inner = a
        .commands
        .iter()
        .find(|c| c.canonical == "rm -rf {}")
        .expect("derived");
    assert_eq!(inner.via, ["fd -x [knowledge: fd (knowledge/search.yaml)]"]);
    let a = analyze("git commit -F .env");
    let read = a.file_accesses.first().expect("a read");
    assert_eq!(read.path, ".env");
    assert!(
        read.reason
            .contains("knowledge: git commit (knowledge/git.yaml)"),
        "{}",
        read.reason
    );
}

#[test]
fn options_that_read_or_write_files() {
    for (line, kind, path) in [
        ("git commit --fil=.env", AccessKind::Read, ".env"),
        ("git tag -a v1 -F notes.txt", AccessKind::Read, "notes.txt"),
        (
            "git blame --contents x.rs src/a.rs",
            AccessKind::Read,
            "x.rs",
        ),
        ("git log --output=out.txt", AccessKind::Write, "out.txt"),
        ("git diff --out out.txt", AccessKind::Write, "out.txt"),
        ("date -f dates.txt", AccessKind::Read, "dates.txt"),
        ("date --fi=dates.txt", AccessKind::Read, "dates.txt"),
        ("du --files0-from=list", AccessKind::Read, "list"),
        ("tree -o listing.txt", AccessKind::Write, "listing.txt"),
        ("sort --out=sorted names", AccessKind::Write, "sorted"),
        ("grep --fil=pats -r src", AccessKind::Read, "pats"),
        ("go build -o bin/app ./cmd", AccessKind::Write, "bin/app"),
    ] {
        let a = analyze(line);
        assert!(
            accesses(&a).contains(&(kind, path)),
            "{line}: {:?}",
            accesses(&a)
        );
    }
}

#[test]
fn abbreviations_are_read_as_the_option_the_program_acts_on() {
    // git's parse-options: `--forc` is `--force` (a force push), `--force-w` is
    // `--force-with-lease`; the canonical form names the full option for patterns.
    for line in ["git push --forc origin x", "git push --force-w origin x"] {
        let a = analyze(line);
        assert!(a.classes.contains(&RiskClass::ForcePush), "{line}");
        assert_eq!(a.git_pushes.first().map(|p| p.force), Some(true), "{line}");
    }
    assert_eq!(
        canon(&analyze("git push --forc origin x")),
        ["git push --force origin x"]
    );
    // Two entries know `git send-email`; for the uploads entry `--sm` is only `--smtp-user`,
    // for the git entry it may be `--smtp-server`, which runs its value. The word is not
    // rewritten to the harmless reading before the other entry judges it.
    let a = analyze("git send-email --sm 'terraform apply'");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    // Programs whose parser wants the full name (fd's clap, ripgrep) get no abbreviations.
    let a = analyze("rg --pr ./evil.sh pattern");
    assert!(!has(&a, "evil.sh"), "{:?}", canon(&a));
    // Operands and words after `--` are never options.
    let a = analyze("git commit -m x -- --fil=.env");
    assert!(!accesses(&a).contains(&(AccessKind::Read, ".env")));
}

#[test]
fn code_in_the_programs_own_language_is_inline_code() {
    for line in [
        "make test --eval='x:; id'",
        "make test --ev='x:; id'",
        "ctest -S dash.cmake",
        "gdb -batch -ex 'shell id' ./app",
        "vim -c ':!id' notes.txt",
    ] {
        assert!(
            analyze(line)
                .classes
                .contains(&RiskClass::InterpreterInlineCode),
            "{line}"
        );
    }
}

#[test]
fn input_and_operands_that_are_commands() {
    let a = analyze("echo 'terraform apply' | at now");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    let a = analyze("hyperfine --warmup 3 'terraform apply' 'ls'");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    let a = analyze("screen -dmS job terraform apply");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    assert!(
        analyze("dig example.com")
            .classes
            .contains(&RiskClass::NetworkEgress)
    );
}

#[test]
fn ordinary_runs_derive_nothing() {
    for line in [
        "git diff",
        "git log -p --output-indicator-new=+",
        "git commit -m 'a && b; c'",
        "git fetch --prune origin",
        "go test -run TestX -count=1 ./...",
        "make test -j4",
        "ctest --output-on-failure",
        "rg -n TODO src",
        "fd -e rs",
        "date -u +%Y",
        "tree -L 2",
    ] {
        let a = analyze(line);
        assert_eq!(a.commands.len(), 1, "{line}: {:?}", canon(&a));
        assert!(a.classes.is_empty(), "{line}: {:?}", a.classes);
    }
}

#[test]
fn unknown_programs_are_marked_and_known_ones_not() {
    let a = analyze("mytool run terraform apply && echo done && git status");
    let known: Vec<bool> = a.commands.iter().map(|c| c.known_program).collect();
    assert_eq!(known, [false, true, true]);
    assert!(analyze("cat x").commands.iter().all(|c| c.known_program));
}

#[test]
fn a_pack_entry_extends_the_built_in_base() {
    let entry = ProgramEntry {
        program: Cow::Borrowed("taskrunner"),
        aliases: Cow::Borrowed(&[]),
        subcommands: Cow::Borrowed(&[]),
        under: Cow::Borrowed(&[]),
        source: Cow::Borrowed("taskrunner(1)"),
        abbreviations: crate::knowledge::Abbreviations::UniquePrefix,
        single_dash_long: false,
        options_anywhere: false,
        options_end_at_operand: false,
        short_with_value: Cow::Borrowed(""),
        long_with_value: Cow::Borrowed(&[]),
        long_options: Cow::Owned(vec![Cow::Borrowed("verbose")]),
        options: Cow::Owned(vec![OptionEntry {
            names: Cow::Owned(vec![Cow::Borrowed("--hook")]),
            effect: Some(Effect::Command),
            classes: Cow::Borrowed(&[]),
            until: None,
            settings: Cow::Borrowed(&[]),
        }]),
        operands: None,
        command_after: 0,
        settings: Cow::Borrowed(&[]),
        assignments: Cow::Borrowed(&[]),
        writes: Cow::Borrowed(&[]),
        default_reads: Cow::Borrowed(&[]),
        stdin: None,
        classes: Cow::Borrowed(&[]),
        version_selector: Cow::Borrowed(""),
        environment_separator: Cow::Borrowed(""),
        neutral_options: Cow::Borrowed(&[]),
        nested: false,
        wrapper: false,
        complete_options: false,
        canonical_subcommand: None,
        origin: Cow::Borrowed(""),
    }
    .with_origin("pack p.yaml");
    assert_eq!(entry.check(), Ok(()));
    let kb = Knowledge::with_entries(vec![entry], Vec::new());
    let limits = Limits::default();
    let a = analyze_with_knowledge("taskrunner --ho 'terraform apply'", &limits, &kb);
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    assert!(a.commands.first().is_some_and(|c| c.known_program));
    // The built-in entries still apply beside the pack's.
    let a = analyze_with_knowledge("fd -x terraform apply", &limits, &kb);
    assert!(has(&a, "terraform apply"));
    // Without the entry the program is unknown and the words stay arguments.
    let a = analyze("taskrunner --ho 'terraform apply'");
    assert!(!has(&a, "terraform apply"));
    assert!(!a.commands.iter().any(|c| c.known_program));
}

#[test]
fn options_carry_classes_and_wrappers_keep_their_command() {
    for line in [
        "setpriv --reuid=0 --regid=0 --init-groups sh",
        "setpriv --init-gr --reu 0 sh",
        "unshare -rm sh",
        "unshare --map-root-user sh",
        "capsh --uid=0 --",
        "chroot / sh",
        "busybox chroot / sh",
        "sg root -c id",
        "docker compose -f x.yml run -v /:/host web sh",
    ] {
        assert!(
            analyze(line)
                .classes
                .contains(&RiskClass::PrivilegeEscalation),
            "{line}"
        );
    }
    // Options that only take rights away carry nothing; the command still runs.
    let a = analyze("setpriv --no-new-privs make test");
    assert!(a.classes.is_empty(), "{:?}", a.classes);
    assert!(has(&a, "make test"), "{:?}", canon(&a));
    // The value of a class-only option is not the wrapped command.
    let a = analyze("setpriv --reuid 0 bash -p");
    assert!(has(&a, "bash -p"), "{:?}", canon(&a));
    assert!(!a.commands.iter().any(|c| c.canonical.starts_with("0")));
}

#[test]
fn a_version_selector_is_not_a_subcommand() {
    let a = analyze("cargo +nightly test --workspace");
    assert_eq!(canon(&a), ["cargo test --workspace"]);
    assert_eq!(
        a.commands.first().map(|c| c.argv.first().cloned()),
        Some(Some("cargo".to_string()))
    );
    // What the subcommand does is read past the selector.
    let a = analyze("cargo +nightly install ripgrep");
    assert!(a.classes.contains(&RiskClass::PackageInstall));
    // Only the first word selects.
    assert_eq!(canon(&analyze("cargo test +x")), ["cargo test +x"]);
    assert_eq!(canon(&analyze("ls +x")), ["ls +x"]);
}

#[test]
fn subcommands_are_words_past_neutral_options() {
    for (line, want) in [
        ("gh -R o/r pr merge 12", "gh pr merge 12"),
        ("gh --repo=o/r pr merge 12", "gh pr merge 12"),
        ("gh -Ro/r pr merge 12", "gh pr merge 12"),
        ("gh pr -R o/r merge --squash 12", "gh pr merge --squash 12"),
        (
            "docker compose -f x.yml -p app run web",
            "docker compose run web",
        ),
        (
            "docker --context c compose run web",
            "docker compose run web",
        ),
        ("docker-compose -f x.yml run web", "docker-compose run web"),
        (
            "kubectl config --kubeconfig=k set-context p",
            "kubectl config set-context p",
        ),
        (
            "git -C . remote -v set-url origin x",
            "git remote set-url origin x",
        ),
        (
            "npm --prefix . run-script --silent deploy",
            "npm run deploy",
        ),
        ("npm rum test -- --watch", "npm run test -- --watch"),
        ("npm t", "npm test"),
        ("npm i left-pad", "npm install left-pad"),
        ("pnpm -r --filter api run build", "pnpm run build"),
        ("cargo --locked -q test", "cargo test"),
    ] {
        assert_eq!(canon(&analyze(line)), [want], "{line}");
    }
    // An option that is not known to be neutral stops the dropping.
    for line in [
        "gh --weird pr merge 12",
        "npm --script-shell sh run test",
        "docker compose --weird run web",
        "cargo --config x test",
    ] {
        let c = canon(&analyze(line)).join(" | ");
        assert!(
            c.contains("--weird") || c.contains("--script-shell") || c.contains("--config"),
            "{line}: {c}"
        );
    }
}

#[test]
fn configuration_commands_are_judged_by_what_they_set() {
    for line in [
        "git config core.pager 'terraform apply'",
        "git config --global core.sshCommand 'terraform apply'",
        "git config --local --add alias.x '!terraform apply'",
        "git config set core.fsmonitor 'terraform apply'",
        "git -C . config --replace-all core.editor 'terraform apply'",
        "npm config set script-shell 'terraform apply'",
        "npm config set --location=project script-shell='terraform apply'",
        "pnpm config set script-shell 'terraform apply'",
    ] {
        let a = analyze(line);
        assert!(has(&a, "terraform apply"), "{line}: {:?}", canon(&a));
    }
    for line in [
        "git config include.path /tmp/x",
        "git config core.hooksPath .githooks",
        "npm config set node-options='--require ./x.js'",
    ] {
        assert!(
            analyze(line)
                .classes
                .contains(&RiskClass::InterpreterInlineCode),
            "{line}"
        );
    }
    // The file written, where it is not the repository's own configuration.
    assert_eq!(
        accesses(&analyze("git config --file .git/config user.name x")),
        [(AccessKind::Write, ".git/config")]
    );
    assert_eq!(
        accesses(&analyze("git config --edit")),
        [(AccessKind::Write, ".git/config")]
    );
    assert_eq!(
        accesses(&analyze("git config --global user.name x")),
        [(AccessKind::Write, "~/.gitconfig")]
    );
    assert_eq!(
        accesses(&analyze(
            "npm config set --location project registry https://r.example"
        )),
        [(AccessKind::Write, ".npmrc")]
    );
    // Reads and ordinary settings derive nothing.
    for line in [
        "git config --get core.pager",
        "git config get core.pager",
        "git config --list",
        "git config user.name 'A B'",
        "npm config get registry",
    ] {
        let a = analyze(line);
        assert_eq!(canon(&a).len(), 1, "{line}: {:?}", canon(&a));
        assert!(a.classes.is_empty() && a.file_accesses.is_empty(), "{line}");
    }
}

#[test]
fn spelling_entries_alone_do_not_make_a_program_known() {
    // helm's entry only names its neutral options: the program stays unknown, so a command
    // line among its arguments still needs approval.
    let a = analyze("helm --kube-context x list");
    assert!(!a.commands.iter().any(|c| c.known_program));
    assert!(!Knowledge::builtin().knows("helm"));
    assert!(Knowledge::builtin().knows("cargo"));
}

#[test]
fn every_built_in_entry_checks_and_names_its_source() {
    let entries = Knowledge::builtin_entries();
    assert!(entries.len() > 60, "{}", entries.len());
    for e in entries {
        assert_eq!(e.check(), Ok(()), "{}", e.describe());
        assert!(e.origin.starts_with("knowledge/"), "{}", e.describe());
        assert!(!e.source.trim().is_empty());
        assert!(e.spelling_only() || Knowledge::builtin().knows(&e.program));
    }
    assert!(!Knowledge::builtin().knows("no-such-program"));
}

#[test]
fn environment_values_are_judged_as_what_they_name() {
    for line in [
        "GIT_SSH_COMMAND='terraform apply' git fetch",
        "export GIT_PAGER='terraform apply'; git log",
        "env -u HOME PAGER='terraform apply' git log",
        "sudo -u dev EDITOR='terraform apply' git commit",
        "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.pager GIT_CONFIG_VALUE_0='terraform apply' git log",
        "GIT_CONFIG_PARAMETERS=\"'alias.x'='!terraform apply'\" git x",
        "LESSOPEN='|terraform apply %s' less x",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER='terraform apply' cargo test",
    ] {
        let a = analyze(line);
        // Two words: the program and its subcommand (not one word holding a space).
        assert!(
            a.commands
                .iter()
                .any(|c| c.argv.first().is_some_and(|p| p == "terraform")
                    && c.canonical.starts_with("terraform apply")),
            "{line}: {:?}",
            canon(&a)
        );
    }
    let a = analyze("GIT_SSH_COMMAND='terraform apply' git fetch");
    let derived = a
        .commands
        .iter()
        .find(|c| c.canonical == "terraform apply")
        .expect("derived");
    assert_eq!(
        derived.via,
        ["GIT_SSH_COMMAND= [knowledge: GIT_SSH_COMMAND (knowledge/environment.yaml)]"]
    );
    for line in [
        "LD_PRELOAD=/tmp/x.so git status",
        "export NODE_OPTIONS='--require x.js'; npm test",
        "git -c include.path=/tmp/x log",
        "git --exec-path=/tmp/bin status",
        "MAKEFLAGS='--eval=x:;id' make test",
    ] {
        assert!(
            analyze(line)
                .classes
                .contains(&RiskClass::InterpreterInlineCode),
            "{line}"
        );
    }
    // Options in the environment are read as the program reads them.
    let a = analyze("GOFLAGS='-count=1 -toolexec=/tmp/wrap' go test ./...");
    assert!(has(&a, "wrap"), "{:?}", canon(&a));
    let a = analyze("PYTEST_ADDOPTS='--junitxml=out.xml' pytest");
    assert!(accesses(&a).contains(&(AccessKind::Write, "out.xml")));
    // Values only known at run time cannot be judged.
    for line in [
        "GIT_SSH_COMMAND=\"$X\" git fetch",
        "git --config-env=core.pager=P log",
        "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.pager git log",
    ] {
        assert!(
            analyze(line).classes.contains(&RiskClass::DynamicCommand),
            "{line}"
        );
    }
    // Ordinary settings derive nothing.
    for line in [
        "RUST_LOG=debug cargo test",
        "GOFLAGS=-mod=mod go test ./...",
        "MAKEFLAGS=-j4 make test",
        "GIT_PAGER=cat git log",
        "git -c color.ui=always log",
        "git -c protocol.allow=never fetch",
        "export CI=1",
    ] {
        let a = analyze(line);
        assert!(a.classes.is_empty(), "{line}: {:?}", a.classes);
        assert!(!has(&a, "terraform apply"));
    }
}

#[test]
fn entries_apply_at_any_subcommand_depth() {
    // `git submodule foreach` evaluates its words joined, `kubectl config set-credentials
    // --exec-command` is a command kubectl runs later.
    for (line, inner) in [
        ("git submodule foreach 'terraform apply'", "terraform apply"),
        (
            "git submodule --quiet foreach --recursive git pull",
            "git pull",
        ),
        (
            "git -C x submodule foreach terraform apply",
            "terraform apply",
        ),
        (
            "kubectl config set-credentials u --exec-command='terraform apply'",
            "terraform apply",
        ),
        (
            "kubectl --context c config --kubeconfig k set-credentials u --exec-command 'terraform apply'",
            "terraform apply",
        ),
    ] {
        let a = analyze(line);
        assert!(has(&a, inner), "{line}: {:?}", canon(&a));
    }
    // The word after `foreach` in another position is not the subcommand.
    let a = analyze("git submodule status foreach");
    assert!(!has(&a, "status"), "{:?}", canon(&a));
}

#[test]
fn an_unknown_option_before_a_subcommand_word_gives_every_reading() {
    let a = analyze("gh pr --weird merge 12");
    let c = &a.commands[0];
    assert_eq!(c.canonical, "gh pr --weird merge 12");
    assert!(
        c.variants.iter().any(|v| v == "gh pr merge --weird 12"),
        "{:?}",
        c.variants
    );
    assert!(!c.readings.is_empty());
    // Level 0, then the reading is read again: `pr`, then `merge`.
    let a = analyze("gh --weird pr merge 12");
    let v = &a.commands[0].variants;
    assert!(v.iter().any(|v| v.starts_with("gh pr merge")), "{v:?}");
    // A program cavra knows nothing about: its leading words may be subcommands.
    let a = analyze("az account --weird set -s prod");
    let v = &a.commands[0].variants;
    assert!(
        v.iter().any(|v| v == "az account set --weird -s prod"),
        "{v:?}"
    );
    // Known options leave nothing uncertain; paths and numbers are no subcommand words.
    for line in [
        "gh pr -R o/r merge 12",
        "git commit -m msg",
        "find . -name x -type f",
        "terraform plan -out plan.bin",
        "python -m pytest tests",
    ] {
        let a = analyze(line);
        assert!(
            a.commands[0].readings.is_empty(),
            "{line}: {:?}",
            a.commands[0].variants
        );
    }
}

#[test]
fn settings_are_judged_by_key() {
    for (line, inner) in [
        ("ssh -o ProxyCommand='terraform apply' h", "terraform apply"),
        ("ssh -oproxycommand='terraform apply' h", "terraform apply"),
        ("ssh -o 'ProxyCommand terraform apply' h", "terraform apply"),
        (
            "scp -o LocalCommand='terraform apply' a h:",
            "terraform apply",
        ),
        (
            "cargo --config 'target.x86_64-unknown-linux-gnu.runner=\"terraform apply\"' test",
            "terraform apply",
        ),
        (
            "cargo test --config \"target.'cfg(target_os = \\\"linux\\\")'.runner=['terraform','apply']\"",
            "terraform apply",
        ),
        ("cargo --config build.rustc-wrapper=sudo build", "sudo"),
        (
            "yarn config set script-shell 'terraform apply'",
            "terraform apply",
        ),
        ("hatch run test:terraform apply", "terraform apply"),
        ("pdm run -p api terraform apply", "terraform apply"),
    ] {
        let a = analyze(line);
        assert!(has(&a, inner), "{line}: {:?}", canon(&a));
    }
    // Keys that change nothing that runs derive nothing; a configuration file is code.
    let a = analyze("cargo test --config profile.dev.opt-level=1");
    assert!(a.classes.is_empty(), "{:?}", a.classes);
    let a = analyze("cargo --config ci.toml build");
    assert!(a.classes.contains(&RiskClass::InterpreterInlineCode));
    assert!(
        canon(&a).contains(&"cargo build --config ci.toml"),
        "{:?}",
        canon(&a)
    );
    let a = analyze("ssh -o PKCS11Provider=/tmp/x.so h");
    assert!(a.classes.contains(&RiskClass::InterpreterInlineCode));
}

#[test]
fn report_folders_are_written_whole() {
    let a = analyze("mypy --html-report .github/workflows src");
    assert!(
        accesses(&a).contains(&(AccessKind::Write, ".github/workflows/**")),
        "{:?}",
        accesses(&a)
    );
}

#[test]
fn programs_that_act_while_running_a_command_are_judged_as_themselves() {
    use crate::CommandRole::{Executed, Wrapper};
    // Work of their own (in a pod, on a host, while rebasing or extracting): not wrappers, so
    // the command they run cannot carry them. Pure wrappers, built in or marked
    // `wrapper: true`, add nothing of their own.
    for (line, role) in [
        ("kubectl exec pod -- ls", Executed),
        ("docker exec web ls", Executed),
        ("ssh prod-host ls", Executed),
        ("git rebase -x 'echo ok' main", Executed),
        ("tar --to-command=cat -xf a.tar", Executed),
        ("vagrant ssh -c ls", Executed),
        ("timeout 5 ls", Wrapper),
        ("uv run pytest", Wrapper),
        ("op run -- cargo test", Wrapper),
        ("strace -f cargo test", Wrapper),
        ("setpriv --no-new-privs make test", Wrapper),
    ] {
        let a = analyze(line);
        assert_eq!(a.commands.first().map(|c| c.role), Some(role), "{line}");
        assert!(a.commands.len() > 1, "{line}: {:?}", canon(&a));
    }
}
