//! `cavra ci check` on real git repositories: an agent session through the real hook, its
//! signed bundle, commits — and the ways a branch can differ from what was governed.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::{HOOK_POLICY, command as cavra, git, git_as};

/// The conformance policy, with `echo` allowed (the agent writes a file with a command).
fn policy() -> String {
    let p = HOOK_POLICY.replace("allow: [\"ls*\",", "allow: [\"echo *\", \"ls*\",");
    assert_ne!(p, HOOK_POLICY);
    p
}

struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    outside: PathBuf,
    key: PathBuf,
    trust: PathBuf,
}

/// A repository on `main` with the conformance policy, an `agent` branch checked out, and a
/// signing key the CI trusts.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(repo.join(".cavra")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join(".cavra/policy.yaml"), policy()).expect("policy");
    // As the first hook run writes it; committed with the policy.
    std::fs::write(
        repo.join(".cavra/.gitignore"),
        "cavra.db\ncavra.db-wal\ncavra.db-shm\nkeys/\n",
    )
    .expect("gitignore");
    std::fs::write(repo.join("README.md"), "# service\n").expect("readme");
    std::fs::create_dir_all(repo.join("docs")).expect("docs");
    std::fs::write(repo.join("docs/old.md"), "old notes\n").expect("docs");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    git(&repo, &["checkout", "-q", "-b", "agent"]);
    let key = support::key_pair(&outside.join("keys"), "ci-2026");
    let trust = outside.join("trust.json");
    support::trust_key(&trust, &outside.join("keys/ci-2026.pub"), "ci-2026", "ci");
    Fixture {
        key,
        trust,
        repo,
        outside,
        _tmp: tmp,
    }
}

/// The agent's hook call `event` of `tool` in session agent-1: the hook's exit code.
fn hook(repo: &Path, event: &str, tool: &str, input: Value, id: &str) -> i32 {
    let payload = support::claude_call(repo, "agent-1", event, tool, input, id);
    support::hook_by(support::in_dir(repo), "claude-code", &payload, &[]).code
}

/// The agent writes a file the governed way: asks, writes, reports.
fn agent_writes(repo: &Path, rel: &str, content: &str, id: &str) -> i32 {
    let path = repo.join(rel);
    let input = json!({"file_path": path.to_string_lossy(), "content": content});
    let code = hook(repo, "PreToolUse", "Write", input.clone(), id);
    if code != 0 {
        return code;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, content).expect("write");
    hook(repo, "PostToolUse", "Write", input, id)
}

fn bundle(f: &Fixture, name: &str) -> PathBuf {
    let dir = f.outside.join(name);
    support::ok(
        cavra()
            .args(["evidence", "bundle", "--session", "agent-1", "--output"])
            .arg(&dir)
            .arg("--sign-key")
            .arg(&f.key)
            .current_dir(&f.repo),
    );
    dir
}

struct Checked {
    code: i32,
    text: String,
    json: Value,
}

fn check(f: &Fixture, evidence: &Path) -> Checked {
    let run = |format: &str| {
        cavra()
            .args([
                "ci",
                "check",
                "--base",
                "main",
                "--head",
                "HEAD",
                "--format",
                format,
                "--evidence",
            ])
            .arg(evidence)
            .arg("--trust-root")
            .arg(&f.trust)
            .current_dir(&f.repo)
            .output()
            .expect("ci check")
    };
    let text = run("text");
    let json = run("json");
    Checked {
        code: text.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&text.stdout).into_owned()
            + &String::from_utf8_lossy(&text.stderr),
        json: serde_json::from_slice(&json.stdout).unwrap_or(Value::Null),
    }
}

fn commit(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

#[test]
fn a_governed_session_passes() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    assert_eq!(
        agent_writes(&f.repo, "src/lib.rs", "pub fn f() {}\n", "t2"),
        0
    );
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() { run() }\n", "t3"),
        0
    );
    // An Edit of the agent's file: the edit applied, its post-edit hash recorded.
    let edit = json!({"file_path": f.repo.join("src/app.rs").to_string_lossy(),
        "old_string": "run()", "new_string": "run(); stop()"});
    assert_eq!(hook(&f.repo, "PreToolUse", "Edit", edit.clone(), "t5"), 0);
    std::fs::write(f.repo.join("src/app.rs"), "fn main() { run(); stop() }\n").expect("edit");
    assert_eq!(hook(&f.repo, "PostToolUse", "Edit", edit, "t5"), 0);
    // A file written by a shell command: its post-write hash is recorded from the command.
    let command = json!({"command": "echo generated > notes.txt"});
    assert_eq!(
        hook(&f.repo, "PreToolUse", "Bash", command.clone(), "t4"),
        0
    );
    std::fs::write(f.repo.join("notes.txt"), "generated\n").expect("write");
    assert_eq!(hook(&f.repo, "PostToolUse", "Bash", command, "t4"), 0);
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work");
    let c = check(&f, &b);
    assert_eq!(c.code, 0, "{}", c.text);
    assert!(c.text.contains("passed"), "{}", c.text);
    assert_eq!(c.json["ok"], true);
    assert_eq!(
        c.json["changes"].as_array().expect("changes").len(),
        3,
        "{}",
        c.json
    );
    assert!(
        c.json["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|c| c["covered"] == true)
    );
}

/// `cavra ci attest --base main --head HEAD` with the fixture's bundle and key.
fn attest(f: &Fixture, bundle: &Path, output: &Path) -> std::process::Output {
    cavra()
        .args([
            "ci",
            "attest",
            "--base",
            "main",
            "--head",
            "HEAD",
            "--evidence",
        ])
        .arg(bundle)
        .arg("--trust-root")
        .arg(&f.trust)
        .arg("--sign-key")
        .arg(&f.key)
        .arg("--output")
        .arg(output)
        .current_dir(&f.repo)
        .output()
        .expect("attest")
}

#[test]
fn pull_request_attestation() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work");
    let att = f.outside.join("attestation.json");
    let out = attest(&f, &b, &att);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same with --json: what was attested, for scripts.
    let again = f.outside.join("attestation-again.json");
    let out = cavra()
        .args(["ci", "attest", "--json", "--base", "main", "--evidence"])
        .arg(&b)
        .arg("--trust-root")
        .arg(&f.trust)
        .arg("--sign-key")
        .arg(&f.key)
        .arg("--output")
        .arg(&again)
        .current_dir(&f.repo)
        .output()
        .expect("attest --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("attest --json prints JSON");
    assert!(
        summary["changed_paths"].as_u64().is_some_and(|n| n >= 1),
        "{summary}"
    );
    assert_eq!(summary["written"], again.to_string_lossy().as_ref());
    assert!(again.is_file());
    let verify = |head: &str, evidence: Option<&Path>| {
        let mut cmd = cavra();
        cmd.args(["ci", "verify-attestation", "--json", "--head", head])
            .arg(&att)
            .arg("--trust-root")
            .arg(&f.trust)
            .current_dir(&f.repo);
        if let Some(e) = evidence {
            cmd.arg("--evidence").arg(e);
        }
        let out = cmd.output().expect("verify");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), v)
    };
    let (code, v) = verify("HEAD", Some(&b));
    assert_eq!(code, 0, "{v}");
    let p = &v["attestation"]["predicate"];
    assert_eq!(p["changed_paths"], 1);
    assert!(
        p["policy_digest"]
            .as_str()
            .expect("digest")
            .starts_with("sha256:")
    );
    assert_eq!(p["decisions"]["allow"], 1, "{p}");
    // Another commit: the subject does not match.
    std::fs::write(f.repo.join("later.txt"), "x\n").expect("write");
    commit(&f.repo, "later");
    let (code, v) = verify("HEAD", None);
    assert_eq!(code, 1);
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("subject mismatch"),
        "{v}"
    );
    assert_eq!(verify("HEAD~1", None).0, 0);
    // Another bundle: the evidence digest does not match.
    let other = bundle(&f, "other-bundle");
    let (code, v) = verify("HEAD~1", Some(&other));
    assert_eq!(code, 1);
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("evidence digest mismatch"),
        "{v}"
    );
    // A failing check is not attested.
    let out = attest(&f, &b, &f.outside.join("no.json"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bypass: later.txt"));
    // The signing key revoked.
    let out = cavra()
        .args([
            "trust",
            "revoke",
            "--key-id",
            "ci-2026",
            "--reason",
            "leaked",
            "--trust-root",
        ])
        .arg(&f.trust)
        .output()
        .expect("revoke");
    assert!(out.status.success());
    let (code, v) = verify("HEAD~1", None);
    assert_eq!(code, 1);
    assert!(
        v["error"].as_str().expect("error").contains("key revoked"),
        "{v}"
    );
}

#[test]
fn hand_edits_later_edits_and_unevidenced_changes_fail() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    // Changed by hand, without the hook; then the agent's file edited after its decision; a
    // file renamed and one deleted by hand.
    std::fs::write(f.repo.join("NOTES.md"), "typed by hand\n").expect("write");
    std::fs::create_dir_all(f.repo.join("assets")).expect("mkdir");
    std::fs::write(
        f.repo.join("assets/logo.bin"),
        [0u8, 159, 146, 150, 0, 255, b'\n', 0],
    )
    .expect("write");
    std::fs::write(f.repo.join("src/app.rs"), "fn main() { evil() }\n").expect("write");
    git(&f.repo, &["mv", "README.md", "README.txt"]);
    git(&f.repo, &["rm", "-q", "docs/old.md"]);
    commit(&f.repo, "mixed");
    let c = check(&f, &b);
    assert_eq!(c.code, 1, "{}", c.text);
    for needle in [
        "bypass: NOTES.md",
        "altered after decision: src/app.rs",
        "bypass: README.txt",
        "bypass: docs/old.md",
        "bypass: assets/logo.bin",
    ] {
        assert!(c.text.contains(needle), "{needle} missing:\n{}", c.text);
    }
    let kinds: Vec<&str> = c.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["kind"].as_str().unwrap_or(""))
        .collect();
    assert!(
        kinds.contains(&"renamed") && kinds.contains(&"deleted") && kinds.contains(&"added"),
        "{kinds:?}"
    );
    // The same findings for CI systems: JUnit XML, GitHub annotations and job summary, GitLab
    // code quality.
    let formatted = |format: &str, summary: Option<&Path>| {
        let mut cmd = cavra();
        cmd.args([
            "ci",
            "check",
            "--base",
            "main",
            "--format",
            format,
            "--evidence",
        ])
        .arg(&b)
        .arg("--trust-root")
        .arg(&f.trust)
        .current_dir(&f.repo);
        match summary {
            Some(p) => cmd.env("GITHUB_STEP_SUMMARY", p),
            None => cmd.env_remove("GITHUB_STEP_SUMMARY"),
        };
        let out = cmd.output().expect("check");
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stdout).expect("utf8")
    };
    let xml = formatted("junit", None);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    assert_eq!(suite.attribute("failures"), Some("5"), "{xml}");
    let failing: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure")))
        .filter_map(|n| n.attribute("name"))
        .collect();
    for path in ["NOTES.md", "src/app.rs", "README.txt", "docs/old.md"] {
        assert!(failing.contains(&path), "{path} not failing in {xml}");
    }
    let summary = f.outside.join("summary.md");
    let gh = formatted("github", Some(&summary));
    assert!(
        gh.lines()
            .any(|l| l.starts_with("::error file=NOTES.md,title=cavra%3A bypass::")),
        "{gh}"
    );
    assert!(
        gh.contains("::error file=src/app.rs,title=cavra%3A altered after decision::"),
        "{gh}"
    );
    let md = std::fs::read_to_string(&summary).expect("job summary");
    assert!(
        md.contains("## cavra ci check: failed") && md.contains("| bypass | `NOTES.md` |"),
        "{md}"
    );
    let sarif: Value = serde_json::from_str(&formatted("sarif", None)).expect("SARIF JSON");
    let schema: Value =
        serde_json::from_str(include_str!("../../../tests/data/sarif/sarif-2.1.0.json"))
            .expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF output violates the 2.1.0 schema: {errors:?}"
    );
    // The schema check can fail: a result without its message does not validate.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .expect("result")
        .remove("message");
    assert!(!validator.is_valid(&broken));
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules")
            .len(),
        8
    );
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .expect("uri")
        })
        .collect();
    assert!(
        uris.contains(&"NOTES.md") && uris.contains(&"src/app.rs"),
        "{uris:?}"
    );
    let gl: Value = serde_json::from_str(&formatted("gitlab", None)).expect("code quality JSON");
    let issues = gl.as_array().expect("array");
    assert_eq!(issues.len(), 5);
    let mut prints: Vec<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().expect("fp"))
        .collect();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), 5);
    assert!(
        issues
            .iter()
            .all(|i| i["location"]["path"].is_string() && i["severity"] == "blocker")
    );
    // Without evidence nothing is covered.
    let out = cavra()
        .args(["ci", "check", "--base", "main"])
        .current_dir(&f.repo)
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_branch_cannot_loosen_the_policy_that_judges_it() {
    let f = fixture();
    // The branch drops the workflow protection from its own policy, then the agent writes a
    // workflow (the hook, reading the loosened working-tree policy, lets it through).
    let loosened = policy().replace("block_write: [\".github/workflows/**\"]", "block_write: []");
    assert_ne!(loosened, policy());
    std::fs::write(f.repo.join(".cavra/policy.yaml"), &loosened).expect("write");
    assert_eq!(
        agent_writes(&f.repo, ".github/workflows/release.yml", "on: push\n", "t1"),
        0,
        "the loosened policy allows it locally"
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "loosen and write a workflow");
    let c = check(&f, &b);
    assert_eq!(c.code, 1, "{}", c.text);
    assert!(
        c.text
            .contains("blocked by policy: .github/workflows/release.yml"),
        "{}",
        c.text
    );
    // The policy change itself was not governed either.
    assert!(c.text.contains("bypass: .cavra/policy.yaml"), "{}", c.text);
}

#[test]
fn untrusted_or_tampered_evidence_fails() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work");
    assert_eq!(check(&f, &b).code, 0);
    // One byte of the bundle changed.
    let entries = b.join("entries.jsonl");
    let mut bytes = std::fs::read(&entries).expect("read");
    bytes[5] ^= 1;
    std::fs::write(&entries, &bytes).expect("write");
    let c = check(&f, &b);
    assert_eq!(c.code, 1);
    assert!(
        c.text.contains("evidence invalid") && c.text.contains("checksum mismatch: entries.jsonl"),
        "{}",
        c.text
    );
    bytes[5] ^= 1;
    std::fs::write(&entries, &bytes).expect("restore");
    // A trust root that does not hold the signing key.
    let other_keys = f.outside.join("other-keys");
    let out = cavra()
        .args(["keys", "generate", "--key-id", "stranger", "--output"])
        .arg(&other_keys)
        .output()
        .expect("keys");
    assert!(out.status.success());
    let stranger_trust = f.outside.join("stranger-trust.json");
    let out = cavra()
        .args(["trust", "add", "--trust-root"])
        .arg(&stranger_trust)
        .args(["--key-id", "stranger", "--owner", "x", "--public-key"])
        .arg(other_keys.join("stranger.pub"))
        .output()
        .expect("trust");
    assert!(out.status.success());
    let out = cavra()
        .args(["ci", "check", "--base", "main", "--evidence"])
        .arg(&b)
        .arg("--trust-root")
        .arg(&stranger_trust)
        .current_dir(&f.repo)
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("untrusted key"));
    // The signing key revoked.
    let out = cavra()
        .args([
            "trust",
            "revoke",
            "--key-id",
            "ci-2026",
            "--reason",
            "leaked",
            "--trust-root",
        ])
        .arg(&f.trust)
        .output()
        .expect("revoke");
    assert!(out.status.success());
    let c = check(&f, &b);
    assert_eq!(c.code, 1);
    assert!(c.text.contains("key revoked: ci-2026"), "{}", c.text);
    // --evidence without --trust-root is a usage error.
    let out = cavra()
        .args(["ci", "check", "--base", "main", "--evidence"])
        .arg(&b)
        .current_dir(&f.repo)
        .output()
        .expect("check");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn human_commits_can_be_exempted_by_author_never_by_default() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work"); // by git's test identity, not alice
    // A person adds docs, touches the agent's file, and adds a workflow.
    std::fs::write(f.repo.join("HUMAN.md"), "written by a person\n").expect("write");
    std::fs::write(f.repo.join("src/app.rs"), "fn main() { tweak() }\n").expect("write");
    std::fs::create_dir_all(f.repo.join(".github/workflows")).expect("mkdir");
    std::fs::write(f.repo.join(".github/workflows/x.yml"), "on: push\n").expect("write");
    git_as(&f.repo, "Someone", "alice@example.com", &["add", "-A"]);
    git_as(
        &f.repo,
        "Someone",
        "alice@example.com",
        &["commit", "-q", "-m", "human edits"],
    );
    let run = |extra: &[&str]| {
        let out = cavra()
            .args(["ci", "check", "--base", "main", "--evidence"])
            .arg(&b)
            .arg("--trust-root")
            .arg(&f.trust)
            .args(extra)
            .current_dir(&f.repo)
            .output()
            .expect("check");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(&[]);
    assert_eq!(code, 1);
    assert!(text.contains("bypass: HUMAN.md"), "{text}");
    let (code, text) = run(&["--exempt-author", "Alice@Example.com"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("exempt: HUMAN.md (by alice@example.com; would be: bypass)"),
        "{text}"
    );
    assert!(!text.contains("bypass: HUMAN.md"), "{text}");
    // The agent's file was also committed by the agent's author: not every commit is exempt.
    assert!(
        text.contains("altered after decision: src/app.rs"),
        "{text}"
    );
    // The policy still judges a person's change.
    assert!(
        text.contains("blocked by policy: .github/workflows/x.yml"),
        "{text}"
    );
}

#[test]
fn agent_commits_carry_their_session_and_the_gate_links_them() {
    let f = fixture();
    // `cavra init` installs the prepare-commit-msg git hook (the settings file is not needed
    // here; the hook payloads are sent by hand).
    let out = cavra()
        .args(["init", "claude-code"])
        .current_dir(&f.repo)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let git_hook = f.repo.join(".git/hooks/prepare-commit-msg");
    assert!(git_hook.exists());
    // Keep the init's settings out of the branch's diff for this test.
    std::fs::remove_dir_all(f.repo.join(".claude")).expect("rm");
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    // The agent commits through the hook: allowed (git commit is not blocked by the policy?
    // The conformance policy routes unknown commands to approval: the agent's UI asks, the
    // user accepts, the command runs).
    let command = json!({"command": "git commit -q -m 'agent work'"});
    assert_eq!(hook(&f.repo, "PreToolUse", "Bash", command, "t2"), 0);
    git(&f.repo, &["add", "src/app.rs"]);
    git(&f.repo, &["commit", "-q", "-m", "agent work"]);
    let message = git(&f.repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Cavra-Session: agent-1"), "{message}");
    // A person's commit right after gets no trailer (the note was used once).
    std::fs::write(f.repo.join("src/app.rs"), "fn main() {}\n// reviewed\n").expect("write");
    git(&f.repo, &["commit", "-q", "-am", "review note"]);
    let last = git(&f.repo, &["log", "-1", "--format=%B"]);
    assert!(!last.contains("Cavra-Session"));
    git(&f.repo, &["reset", "-q", "--hard", "HEAD~1"]);

    let b = bundle(&f, "bundle");
    let c = check(&f, &b);
    assert_eq!(c.code, 0, "{}", c.text);
    assert!(c.text.contains("agent session agent-1"), "{}", c.text);
    assert_eq!(c.json["commits"][0]["sessions"][0], "agent-1");
    // A bundle of another session does not hold the session the commit names.
    let other = f.outside.join("other");
    let out = cavra()
        .args(["evidence", "bundle", "--session", "nobody", "--output"])
        .arg(&other)
        .current_dir(&f.repo)
        .output()
        .expect("bundle");
    assert!(!out.status.success(), "no entries for that session");
    // A bundle of another session (which wrote nothing here) lacks the commit's session.
    let payload = json!({"session_id": "other-session", "cwd": f.repo.to_string_lossy(),
        "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"},
        "tool_use_id": "o1"});
    let out = cavra()
        .args(["hook", "claude-code"])
        .current_dir(&f.repo)
        .write_stdin(payload.to_string())
        .output()
        .expect("hook");
    assert!(out.status.success());
    let out = cavra()
        .args([
            "evidence",
            "bundle",
            "--session",
            "other-session",
            "--output",
        ])
        .arg(&other)
        .arg("--sign-key")
        .arg(&f.key)
        .current_dir(&f.repo)
        .output()
        .expect("bundle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = check(&f, &other);
    assert_eq!(c.code, 1);
    assert!(
        c.text.contains("session not in evidence")
            && c.text
                .contains("session agent-1, which the evidence does not hold"),
        "{}",
        c.text
    );
    // `cavra init --uninstall` removes the git hook it wrote.
    let out = cavra()
        .args(["init", "claude-code", "--uninstall"])
        .current_dir(&f.repo)
        .output()
        .expect("uninstall");
    assert!(out.status.success());
    assert!(!git_hook.exists());
}

#[test]
fn an_attestation_is_checked_when_the_base_policy_requires_one() {
    let f = fixture();
    git(&f.repo, &["checkout", "-q", "main"]);
    let requiring = format!("{}git:\n  require_ai_attestation: true\n", policy());
    std::fs::write(f.repo.join(".cavra/policy.yaml"), requiring).expect("policy");
    commit(&f.repo, "require attestations");
    git(&f.repo, &["checkout", "-q", "-B", "agent", "main"]);
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work");
    let c = check(&f, &b);
    assert_eq!(c.code, 1);
    assert!(c.text.contains("attestation missing"), "{}", c.text);
    let att = f.outside.join("att.json");
    let out = attest(&f, &b, &att);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let with = |file: &Path| {
        cavra()
            .args(["ci", "check", "--base", "main", "--evidence"])
            .arg(&b)
            .arg("--trust-root")
            .arg(&f.trust)
            .arg("--attestation")
            .arg(file)
            .current_dir(&f.repo)
            .output()
            .expect("check")
    };
    let out = with(&att);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // An attestation of another commit does not count.
    std::fs::write(f.repo.join("src/app.rs"), "fn main() { 1 }\n").expect("write");
    let out = with(&att);
    assert!(
        out.status.success(),
        "the working tree is not what is checked"
    );
    git(&f.repo, &["commit", "-q", "--allow-empty", "-m", "later"]);
    let out = with(&att);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("subject mismatch"));
}

/// cavra's own state committed by mistake (the store, the bundle at the documented
/// `.cavra/evidence/latest`) is not judged: only the source change is.
#[test]
fn cavras_own_state_files_are_never_reported() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let out = cavra()
        .args([
            "evidence",
            "bundle",
            "--session",
            "agent-1",
            "--output",
            ".cavra/evidence/latest",
            "--sign-key",
        ])
        .arg(&f.key)
        .current_dir(&f.repo)
        .output()
        .expect("bundle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The fixture's .gitignore predates `evidence/`; force the state in as a careless commit would.
    git(
        &f.repo,
        &["add", "-f", ".cavra/evidence", ".cavra/cavra.db", "src"],
    );
    git(
        &f.repo,
        &["commit", "-q", "-m", "agent work and cavra state"],
    );
    let c = check(&f, &f.repo.join(".cavra/evidence/latest"));
    assert_eq!(c.code, 0, "{}", c.text);
    let paths: Vec<&str> = c.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, ["src/app.rs"], "{}", c.json);
}

/// A release record binds the commit a passing check attested: the attestation verified, its
/// evidence bundle named by digest; the base commit, which no attestation covers, listed as
/// unchecked, and refused with --require-checks.
#[test]
fn a_release_record_binds_the_attested_commit_and_its_evidence() {
    let f = fixture();
    assert_eq!(
        agent_writes(&f.repo, "src/app.rs", "fn main() {}\n", "t1"),
        0
    );
    let b = bundle(&f, "bundle");
    commit(&f.repo, "agent work");
    let att = f.outside.join("attestation.json");
    let out = attest(&f, &b, &att);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let artefact = f.outside.join("cavra.tar.gz");
    std::fs::write(&artefact, "release bytes").expect("artefact");
    let record = |extra: &[&str]| {
        cavra()
            .args([
                "release",
                "record",
                "--version",
                "1.0.0",
                "--json",
                "--artifact",
            ])
            .arg(&artefact)
            .arg("--attestation")
            .arg(&att)
            .arg("--sign-key")
            .arg(&f.key)
            .arg("--trust-root")
            .arg(&f.trust)
            .arg("--output")
            .arg(f.outside.join("release.json"))
            .args(extra)
            .current_dir(&f.repo)
            .output()
            .expect("release record")
    };
    let strict = record(&["--require-checks"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("no passing CI check"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
    let out = record(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let head = git(&f.repo, &["rev-parse", "HEAD"]);
    let commits = v["predicate"]["commits"].as_array().expect("commits");
    let checked = commits
        .iter()
        .find(|c| c["commit"] == head.as_str())
        .expect("the head is in the release");
    let check = &checked["checks"][0];
    assert_eq!(check["signed_by"], "ci-2026");
    let manifest = std::fs::read(b.join("manifest.json")).expect("manifest");
    use sha2::Digest as _;
    assert_eq!(
        check["evidence_bundle_manifest_sha256"],
        hex::encode(sha2::Sha256::digest(&manifest))
    );
    assert_eq!(
        v["predicate"]["unchecked"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
}
