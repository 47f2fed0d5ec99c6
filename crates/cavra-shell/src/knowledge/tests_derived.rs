//! Commands other programs run for the agent (in a container, a pod, a machine; written out by
//! xargs and parallel), files configuration commands write, and the bounds of the readings.

use crate::{AccessKind, CommandAnalysis, RiskClass, analyze};

fn canon(a: &CommandAnalysis) -> Vec<&str> {
    a.commands.iter().map(|c| c.canonical.as_str()).collect()
}

fn has(a: &CommandAnalysis, c: &str) -> bool {
    a.commands.iter().any(|x| x.canonical == c)
}

fn writes(a: &CommandAnalysis) -> Vec<&str> {
    a.file_accesses
        .iter()
        .filter(|f| f.kind == AccessKind::Write)
        .map(|f| f.path.as_str())
        .collect()
}

#[test]
fn commands_run_in_containers_pods_and_machines_are_judged_as_written() {
    for (line, inner) in [
        ("docker exec web terraform apply", "terraform apply"),
        (
            "docker exec -it -u root -w /app web terraform apply",
            "terraform apply",
        ),
        (
            "docker exec --env A=1 --privileged web terraform apply",
            "terraform apply",
        ),
        (
            "docker container exec -e X=1 web terraform destroy",
            "terraform destroy",
        ),
        (
            "docker -H tcp://h:2375 exec web terraform apply",
            "terraform apply",
        ),
        ("podman exec web terraform apply", "terraform apply"),
        ("nerdctl exec web terraform apply", "terraform apply"),
        (
            "docker run --rm -v /tmp:/x -e A=b alpine terraform apply",
            "terraform apply",
        ),
        (
            "docker run -d --name x -p 80:80 --network host alpine terraform apply",
            "terraform apply",
        ),
        (
            "docker container run --rm alpine terraform apply",
            "terraform apply",
        ),
        ("docker create alpine terraform apply", "terraform apply"),
        (
            "docker run --health-cmd 'terraform apply' nginx",
            "terraform apply",
        ),
        ("docker compose exec web terraform apply", "terraform apply"),
        (
            "docker compose exec -T -u root web terraform apply",
            "terraform apply",
        ),
        (
            "docker compose -f prod.yml run --rm web terraform apply",
            "terraform apply",
        ),
        (
            "docker compose run --no-deps -e A=1 api terraform apply",
            "terraform apply",
        ),
        ("docker-compose exec db terraform apply", "terraform apply"),
        ("podman-compose run web terraform apply", "terraform apply"),
        (
            "kubectl exec -it pod/api -c app -- terraform apply",
            "terraform apply",
        ),
        (
            "kubectl -n prod exec deploy/api -- terraform apply",
            "terraform apply",
        ),
        ("kubectl exec api-1 terraform apply", "terraform apply"),
        ("oc exec api-1 -- terraform apply", "terraform apply"),
        (
            "kubectl run tmp --image=alpine --rm -it --restart=Never -- terraform apply",
            "terraform apply",
        ),
        (
            "kubectl debug node/n1 -it --image busybox -- terraform apply",
            "terraform apply",
        ),
        ("lxc exec c1 -- terraform apply", "terraform apply"),
        (
            "incus exec c1 --env A=1 -- terraform apply",
            "terraform apply",
        ),
        ("multipass exec vm -- terraform apply", "terraform apply"),
        ("distrobox enter box -- terraform apply", "terraform apply"),
        ("vagrant ssh -c 'terraform apply'", "terraform apply"),
    ] {
        let a = analyze(line);
        assert!(has(&a, inner), "{line}: {:?}", canon(&a));
    }
    // Nothing to run: nothing derived.
    for line in [
        "docker run -d nginx",
        "docker compose up -d",
        "docker ps -a",
        "kubectl run nginx --image=nginx",
        "kubectl exec api-1",
    ] {
        let a = analyze(line);
        assert_eq!(a.commands.len(), 1, "{line}: {:?}", canon(&a));
    }
}

#[test]
fn configuration_commands_write_their_files() {
    let a = analyze("yarn config set registry https://r.example");
    for f in ["~/.yarnrc", ".yarnrc.yml"] {
        assert!(writes(&a).contains(&f), "{:?}", writes(&a));
    }
    let a = analyze("yarn config unset yarnPath");
    assert!(writes(&a).contains(&".yarnrc.yml"), "{:?}", writes(&a));
    assert!(writes(&analyze("yarn config get registry")).is_empty());
    let a = analyze("gh config set editor 'terraform apply'");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
    assert!(writes(&a).contains(&"~/.config/gh/config.yml"));
    let a = analyze("gh config set git_protocol ssh");
    assert_eq!(a.commands.len(), 1, "{:?}", canon(&a));
    assert!(writes(&analyze("gh config get editor")).is_empty());
    let a = analyze("glab config set -g editor 'terraform apply'");
    assert!(has(&a, "terraform apply"), "{:?}", canon(&a));
}

#[test]
fn xargs_writes_its_replacement_in_before_judging() {
    for (line, inner) in [
        (
            "echo 'terraform apply' | xargs -I{} sh -c {}",
            "terraform apply",
        ),
        (
            "echo 'terraform apply' | xargs -I % sh -c %",
            "terraform apply",
        ),
        (
            "echo 'terraform apply' | xargs -i sh -c {}",
            "terraform apply",
        ),
        (
            "echo 'terraform apply' | xargs --replace sh -c {}",
            "terraform apply",
        ),
        (
            "echo 'terraform apply' | xargs --replace=@ sh -c @",
            "terraform apply",
        ),
        ("echo apply | xargs -i@ terraform @", "terraform apply"),
        ("echo apply | xargs terraform", "terraform apply"),
    ] {
        let a = analyze(line);
        assert!(has(&a, inner), "{line}: {:?}", canon(&a));
    }
    // Input known only at run time in the command's place, or fed to a shell: dynamic.
    for line in [
        "xargs -I{} sh -c {} < jobs.txt",
        "cat list | xargs -I{} {} --version",
    ] {
        let a = analyze(line);
        assert!(
            a.classes.contains(&RiskClass::DynamicCommand),
            "{line}: {:?}",
            a.classes
        );
    }
    let a = analyze("git ls-files | xargs wc -l");
    assert!(
        !a.classes.contains(&RiskClass::DynamicCommand),
        "{:?}",
        a.classes
    );
}

#[test]
fn parallel_writes_out_every_command() {
    for (line, inner) in [
        ("parallel ::: 'terraform apply' ls", "terraform apply"),
        ("parallel {} ::: 'terraform apply'", "terraform apply"),
        ("parallel sh -c {} ::: 'terraform apply'", "terraform apply"),
        (
            "parallel {1} {2} ::: terraform ::: apply",
            "terraform apply",
        ),
        ("parallel -j4 terraform ::: plan apply", "terraform apply"),
        ("parallel -I @ terraform @ ::: apply", "terraform apply"),
        ("echo 'terraform apply' | parallel", "terraform apply"),
        ("echo apply | parallel terraform {}", "terraform apply"),
        (
            "parallel --jobs 2 'terraform {}' ::: apply",
            "terraform apply",
        ),
    ] {
        let a = analyze(line);
        assert!(has(&a, inner), "{line}: {:?}", canon(&a));
    }
    let a = analyze("parallel cat ::: src/a.rs .env");
    assert!(
        a.file_accesses
            .iter()
            .any(|f| f.path == ".env" && f.kind == AccessKind::Read),
        "{:?}",
        a.file_accesses
    );
    for line in [
        "parallel :::: jobs.txt",
        "parallel -a jobs.txt",
        "curl -s x | parallel",
    ] {
        let a = analyze(line);
        assert!(
            a.classes.contains(&RiskClass::DynamicCommand)
                || a.classes.contains(&RiskClass::RemoteCodeExecution),
            "{line}: {:?}",
            a.classes
        );
    }
    let a = analyze("find src -name '*.rs' | parallel wc -l");
    assert!(
        !a.classes.contains(&RiskClass::DynamicCommand),
        "{:?}",
        a.classes
    );
}

#[test]
fn links_are_writes_of_what_they_name() {
    for line in [
        "ln -s .claude cfg",
        "ln -sfn .claude/settings.json s.json",
        "cp -s .cavra/policy.yaml p",
        "ln -s -t links ../.claude",
    ] {
        let a = analyze(line);
        assert!(
            writes(&a).iter().any(|w| w.contains(".c")),
            "{line}: {:?}",
            writes(&a)
        );
    }
    let a = analyze("find -name settings.json -delete");
    assert!(
        a.file_accesses
            .iter()
            .any(|f| f.kind == AccessKind::Delete && f.path == "./**/settings.json"),
        "{:?}",
        a.file_accesses
    );
}

#[test]
fn find_deletes_by_name_are_deletes_of_those_names() {
    let deletes = |line: &str| -> Vec<String> {
        analyze(line)
            .file_accesses
            .iter()
            .filter(|f| f.kind == AccessKind::Delete)
            .map(|f| f.path.clone())
            .collect()
    };
    // A plain conjunction with a name test deletes that name below each starting point.
    // find's wildcards match a leading dot (fnmatch without FNM_PERIOD), a shell glob's do
    // not: the dotted names are spelt out.
    assert_eq!(
        deletes("find . -name '*.pyc' -delete"),
        ["./**/*.pyc", "./**/.*.pyc", "./**/.pyc"]
    );
    assert_eq!(
        deletes("find . -name '?env' -delete"),
        ["./**/?env", "./**/.env"]
    );
    assert_eq!(
        deletes("find . -name '[._]env' -delete"),
        ["./**/[._]env", "./**/.env"]
    );
    assert_eq!(deletes("find . -name 'x*' -delete"), ["./**/x*"]);
    // -iname: the lower-cased pattern too.
    assert_eq!(
        deletes("find -type f -iname '*.LOG' -delete"),
        [
            "./**/*.LOG",
            "./**/*.log",
            "./**/.*.LOG",
            "./**/.LOG",
            "./**/.*.log",
            "./**/.log"
        ]
    );
    assert_eq!(
        deletes("find src tests -mtime +7 -name 'a.tmp' -delete"),
        ["src/**/a.tmp", "tests/**/a.tmp"]
    );
    // A test's value is not an operator: `-path '!'` keeps the conjunction.
    assert_eq!(
        deletes("find . -path '!' -name 'x.o' -delete"),
        ["./**/x.o"]
    );
    // The starting point goes too when its own name matches.
    assert_eq!(
        deletes("find .claude/settings.json -name 's*.json' -delete"),
        [".claude/settings.json/**/s*.json", ".claude/settings.json"]
    );
    assert_eq!(
        deletes("find build/ -name 'b*' -delete"),
        ["build/**/b*", "build/"]
    );
    // Anything else deletes from the starting point as before: alternatives, negations,
    // parentheses, a name not known before the command runs, a name with a slash.
    for line in [
        "find . -name '*.pyc' -o -name '*.json' -delete",
        "find . ! -name '*.pyc' -delete",
        "find . -not -name '*.pyc' -delete",
        "find . \\( -name '*.pyc' \\) -delete",
        "find . -name \"$X\" -delete",
        "find . -name 'a/b' -delete",
        "find . -delete",
    ] {
        assert_eq!(deletes(line), ["."], "{line}");
    }
}

#[test]
fn readings_past_the_bounds_are_never_simply_allowed() {
    // Many words that may be a subcommand after an unknown option: the readings past the
    // bound are not made, so the command is unparseable (approval at least).
    let many: String = (0..20).map(|i| format!(" --o{i} w{i}")).collect();
    let a = analyze(&format!("gh pr{many} merge 1"));
    assert!(
        a.classes.contains(&RiskClass::Unparseable),
        "{:?}",
        a.classes
    );
    // Readings of readings of readings.
    let a = analyze("gh --a x pr --b y merge --c z --d q 1");
    let deep = a.classes.contains(&RiskClass::Unparseable);
    let read = a
        .commands
        .iter()
        .any(|c| c.variants.iter().any(|v| v.starts_with("gh pr merge")));
    assert!(deep || read, "{:?} {:?}", a.classes, a.commands[0].variants);
    // Ordinary commands stay within the bounds.
    for line in [
        "gh pr create --title fix --body text --label bug",
        "gh pr create --title fix --body text --label a --label b --reviewer c --assignee d",
        "gh pr list --state open --limit 5",
        "kubectl get pods -n prod -o wide",
    ] {
        let a = analyze(line);
        assert!(
            !a.classes.contains(&RiskClass::Unparseable),
            "{line}: {:?}",
            a.classes
        );
    }
}

#[test]
fn xargs_judges_the_items_it_reads() {
    let reads = |line: &str| -> Vec<String> {
        let a = analyze(line);
        let mut out: Vec<String> = a
            .file_accesses
            .iter()
            .filter(|f| f.kind == AccessKind::Read)
            .map(|f| f.path.clone())
            .collect();
        out.sort();
        out
    };
    // From a find that selects by name: the globs its output matches, dotted names spelt out.
    assert_eq!(
        reads("find . -name '*env' | xargs cat"),
        ["./**/*env", "./**/.*env"]
    );
    assert_eq!(
        reads("find src -name '*.rs' -print0 | xargs -0 -I{} wc -l {}"),
        // (`{}`: the command as written is judged too.)
        ["src/**/*.rs", "src/**/.*.rs", "src/**/.rs", "{}"]
    );
    // From anything else: one path known only at run time.
    for line in [
        "xargs cat < list.txt",
        "xargs -a list.txt cat",
        "cat list.txt | xargs cat",
        "git ls-files | xargs cat",
        "find . -type f | xargs cat",
        "find . -name '*.rs' -printf '%p\\n' | xargs cat",
        "find . -name '*.rs' -o -name '*.md' | xargs cat",
    ] {
        let a = analyze(line);
        assert!(
            a.file_accesses
                .iter()
                .any(|f| f.kind == AccessKind::Read && !f.literal),
            "{line}: {:?}",
            a.file_accesses
        );
    }
    // Nothing piped in: nothing added.
    assert!(reads("xargs cat").is_empty());
}
