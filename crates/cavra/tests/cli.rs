//! The real `cavra` binary: exit codes, output, policy errors, conformance files.

mod support;

use predicates::prelude::*;
use support::{command as cavra, marked_repo as repo, workspace};

#[test]
fn every_conformance_file_passes() {
    let data = workspace().join("tests/data/conformance");
    cavra()
        .arg("policy")
        .arg("test")
        .arg(data.join("baseline.yaml"))
        .arg(data.join("shell.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^[1-9][0-9]* passed, 0 failed$").expect("regex"));
}

#[test]
fn project_policy_tests_pass() {
    cavra()
        .arg("policy")
        .arg("test")
        .arg(workspace().join("tests/data/policy-tests"))
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^[1-9][0-9]* passed, 0 failed$").expect("regex"));
}

#[test]
fn a_failing_case_is_reported_and_fails_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("t.yaml");
    std::fs::write(
        &file,
        "policy:\n  metadata: {id: t, version: '1'}\n  filesystem: {block_read: ['.env']}\ncases:\n  - {name: wrong on purpose, request: {action: read_file, target: .env}, expect: allow}\n  - {name: right, request: {action: read_file, target: .env}, expect: block}\n",
    )
    .expect("write");
    cavra()
        .args(["policy", "test"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "wrong on purpose: expected allow, got block (rule filesystem.read.block)",
        ))
        .stdout(predicate::str::contains("1 passed, 1 failed"));
}

#[test]
fn exit_codes_follow_the_decision() {
    let r = repo();
    let root = r.path().to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        cavra()
            .current_dir(r.path())
            .args(["evaluate", "--repo-root", root])
            .args(args)
            .assert()
    };
    run(&["read_file", ".env"])
        .code(4)
        .stdout(predicate::str::starts_with("block"));
    run(&["read_file", "src/main.rs"]).code(0);
    run(&[
        "execute_command",
        "terraform plan && terraform apply -auto-approve",
    ])
    .code(4);
    run(&["execute_command", "make deploy"])
        .code(3)
        .stdout(predicate::str::contains("Repository Owners"));
    run(&[
        "execute_command",
        "terraform apply",
        "--policy-mode",
        "audit_only",
    ])
    .code(0);
    cavra()
        .args(["evaluate", "read_file", "x", "--no-such-flag"])
        .assert()
        .code(2);
    cavra()
        .args(["evaluate", "launch_rocket", "x"])
        .assert()
        .code(2);
}

#[test]
fn json_output_carries_the_decision_record() {
    let r = repo();
    let out = cavra()
        .current_dir(r.path())
        .args([
            "evaluate",
            "execute_command",
            "cat .env | head -n 1",
            "--json",
            "--session-id",
            "s1",
        ])
        .assert()
        .code(4)
        .get_output()
        .stdout
        .clone();
    let record: serde_json::Value = serde_json::from_slice(&out).expect("JSON on stdout");
    for field in [
        "decision_id",
        "correlation_id",
        "timestamp",
        "session_id",
        "action_type",
        "target",
        "policy_pack",
        "policy_version",
        "policy_digest",
        "rule_id",
        "severity",
        "reason",
        "mode",
        "base_decision",
        "decision",
        "evidence_refs",
        "matched_rules",
    ] {
        assert!(record.get(field).is_some(), "missing {field}");
    }
    assert_eq!(record["decision"], "block");
    assert_eq!(record["rule_id"], "filesystem.read.block");
    assert_eq!(record["session_id"], "s1");
    let subjects: Vec<&str> = record["matched_rules"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert!(subjects.iter().any(|s| s.contains(".env")), "{subjects:?}");
}

#[test]
fn request_json_from_stdin() {
    let r = repo();
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "--request", "-"])
        .write_stdin(r#"{"action":"git_operation","operation":"push","target":"origin/main"}"#)
        .assert()
        .code(4)
        .stdout(predicate::str::contains(
            "git.protected_branch.block_direct_push",
        ));
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "--request", "-"])
        .write_stdin(r#"{"action":"read_file","target":".env","brnach":"x"}"#)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `brnach`"));
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "--request", "-"])
        .write_stdin("not json")
        .assert()
        .code(2);
}

#[test]
fn a_symlink_to_a_secret_is_a_read_of_the_secret() {
    let r = repo();
    std::fs::write(r.path().join(".env"), "KEY=1").expect("write");
    std::os::unix::fs::symlink(r.path().join(".env"), r.path().join("harmless.txt"))
        .expect("symlink");
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "read_file", "harmless.txt"])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("symlink target"));
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "execute_command", "cat harmless.txt"])
        .assert()
        .code(4);
}

#[test]
fn the_repository_policy_is_used_by_default() {
    let r = repo();
    std::fs::create_dir(r.path().join(".cavra")).expect("mkdir");
    std::fs::write(
        r.path().join(".cavra/policy.yaml"),
        "metadata: {id: local, version: '1'}\nfilesystem: {block_read: ['notes.txt']}\n",
    )
    .expect("write");
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "read_file", "notes.txt"])
        .assert()
        .code(4);
    cavra()
        .current_dir(r.path())
        .args(["evaluate", "read_file", ".env"])
        .assert()
        .code(0);
}

#[test]
fn policy_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "metadata:\n  id: bad\nfilesystem:\n  block_reed: ['.env']\n",
    )
    .expect("write");
    cavra()
        .args(["policy", "validate"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.yaml:4:3"))
        .stderr(predicate::str::contains("block_read"));
    cavra()
        .args(["evaluate", "read_file", "x", "--policy"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.yaml:4:3"));
}

#[test]
fn validate_warns_on_a_pattern_ending_inside_a_word() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("words.yaml");
    std::fs::write(
        &file,
        "metadata: {id: words, version: '1'}\ncommands:\n  allow: ['cat*', 'git diff *']\n",
    )
    .expect("write");
    cavra()
        .args(["policy", "validate"])
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("commands.allow: `cat*`"))
        .stderr(predicate::str::contains("write `cat *`"))
        .stderr(predicate::str::contains("git diff").not());
    // The built-in packs say what they mean.
    cavra()
        .args(["policy", "validate", "cavra-baseline", "claude-code"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
}

#[test]
fn policy_list_validate_compile() {
    cavra()
        .args(["policy", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cavra-baseline"))
        .stdout(predicate::str::contains("claude-code"))
        .stdout(predicate::str::contains("community-starter"));
    cavra()
        .args([
            "policy",
            "validate",
            "cavra-baseline",
            "claude-code",
            "community-starter",
        ])
        .assert()
        .success();
    let out = cavra()
        .args(["policy", "compile", "claude-code"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let compiled: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert!(
        compiled["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(
        compiled["chain"].as_array().is_some_and(|c| c.len() >= 2),
        "claude-code inherits the baseline"
    );
}

#[test]
fn policy_diff_is_semantic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    std::fs::write(&a, "metadata: {id: p, version: '1'}\nfilesystem: {block_read: ['.env', '*.pem']}\ncommands: {block: ['rm -rf*']}\n")
        .expect("write");
    std::fs::write(
        &b,
        "# reordered and reformatted, one pattern dropped, one section added\ncommands:\n  block: ['rm -rf*']\nfilesystem:\n  block_read: ['.env']\ngit: {block_force_push: true}\nmetadata: {version: '1', id: p}\n",
    )
    .expect("write");
    cavra()
        .args(["policy", "diff"])
        .arg(&a)
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("- pattern *.pem"))
        .stdout(predicate::str::contains(
            "git.block_force_push: false -> true",
        ))
        .stdout(predicate::str::contains("commands.block").not());
    cavra()
        .args(["policy", "diff"])
        .arg(&a)
        .arg(&a)
        .assert()
        .success()
        .stdout("no semantic difference\n");
}

#[test]
fn explain_shows_the_normalisation() {
    let r = repo();
    cavra()
        .current_dir(r.path())
        .args([
            "policy",
            "explain",
            "execute_command",
            "sudo sh -c 'terraform apply'",
        ])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("terraform apply"))
        .stdout(predicate::str::contains("privilege_escalation"))
        .stdout(predicate::str::contains("commands.block"));
}

#[test]
fn explain_says_when_a_rule_matched_ignoring_letter_case() {
    let r = repo();
    let explain = |target: &str| {
        cavra()
            .current_dir(r.path())
            .args(["policy", "explain", "read_file", target])
            .assert()
    };
    explain("config/.ENV")
        .code(4)
        .stdout(predicate::str::contains(
            "filesystem.read.block                        matched ignoring letter case",
        ))
        .stdout(predicate::str::contains(
            "matches `.env` ignoring letter case (filesystem.read.block block)",
        ));
    // As written, it is an ordinary match.
    explain("config/.env")
        .code(4)
        .stdout(predicate::str::contains("ignoring letter case").not());
}

#[test]
fn the_pack_cache_follows_every_edit() {
    let r = repo();
    let cache = tempfile::tempdir().expect("cache dir");
    let pack = r.path().join("pack.yaml");
    let run = |expect: i32| {
        cavra()
            .current_dir(r.path())
            .env("CAVRA_CACHE_DIR", cache.path())
            .args([
                "evaluate",
                "read_file",
                "notes.txt",
                "--policy",
                "pack.yaml",
            ])
            .assert()
            .code(expect);
    };
    std::fs::write(
        &pack,
        "metadata: {id: c, version: '1'}\nfilesystem: {block_read: ['notes.txt']}\n",
    )
    .expect("write");
    run(4);
    run(4);
    assert!(
        std::fs::read_dir(cache.path())
            .map(|d| d.count())
            .unwrap_or(0)
            >= 1,
        "the cache was used"
    );
    std::fs::write(
        &pack,
        "metadata: {id: c, version: '1'}\nfilesystem: {block_read: ['other.txt']}\n",
    )
    .expect("write");
    run(0);
    std::fs::write(
        &pack,
        "metadata: {id: c, version: '1'}\nfilesystem: {block_reed: ['other.txt']}\n",
    )
    .expect("write");
    run(1);
}
