//! The gate's own steps: which decisions let a change through, how recorded writes are found
//! by a repository path, how git's changes are read, and the check itself on a scratch
//! repository (a built-in guard blocks a change to an agent's hook settings, an ordinary
//! change is judged by the base policy).

use super::*;
use std::process::Command;

fn git_in(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(file, text).expect("write");
}

/// A repository with a policy and `README.md` on `main`, and a branch `agent` that changes
/// `README.md`, removes `old.txt`, renames `a.txt` and adds `.claude/settings.json`.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    git_in(d, &["init", "-q", "-b", "main"]);
    write(
        d,
        ".cavra/policy.yaml",
        "metadata: {id: t, version: 1.0.0}\nfilesystem:\n  block_write: [\".github/workflows/**\"]\n",
    );
    write(d, "README.md", "one\n");
    write(d, "old.txt", "old\n");
    write(d, "a.txt", "a stays the same when it moves\n");
    git_in(d, &["add", "."]);
    git_in(d, &["commit", "-q", "-m", "base"]);
    git_in(d, &["checkout", "-q", "-b", "agent"]);
    write(d, "README.md", "two\n");
    write(d, ".claude/settings.json", "{}\n");
    git_in(d, &["rm", "-q", "old.txt"]);
    git_in(d, &["mv", "a.txt", "b.txt"]);
    git_in(d, &["add", "."]);
    git_in(d, &["commit", "-q", "-m", "change"]);
    dir
}

#[test]
fn only_the_decisions_that_let_an_action_run_let_a_change_through() {
    for word in ["allow", "warn", "audit_only", "allow_with_attestation"] {
        assert!(may_proceed(word), "{word}");
    }
    for word in ["block", "require_approval", "ask", "", "Allow"] {
        assert!(!may_proceed(word), "{word}");
    }
}

#[test]
fn a_repository_path_finds_the_writes_recorded_under_the_agent_s_absolute_path() {
    let w = |d: &str| Write {
        decision: d.into(),
        sha256: None,
    };
    let writes = vec![
        ("/home/dev/repo/src/a.rs".to_string(), w("allow")),
        ("/home/dev/repo/src/b.rs".to_string(), w("block")),
        ("src/a.rs".to_string(), w("warn")),
    ];
    let index = index_writes(&writes);
    assert_eq!(index.get("src/a.rs"), Some(&vec![0, 2]));
    assert_eq!(index.get("a.rs"), Some(&vec![0, 2]));
    assert_eq!(index.get("repo/src/b.rs"), Some(&vec![1]));
    assert_eq!(index.get("/home/dev/repo/src/b.rs"), Some(&vec![1]));
    // Only whole components: no suffix starts inside a name.
    assert_eq!(index.get("rc/a.rs"), None);
    assert_eq!(index.get(""), None);
}

#[test]
fn git_s_changes_are_read_with_their_kind_and_the_old_path_of_a_rename() {
    let dir = scratch();
    let changes = git::changes(dir.path(), "main", "agent").expect("changes");
    let seen: Vec<(git::ChangeKind, &str, Option<&str>)> = changes
        .iter()
        .map(|c| (c.kind, c.path.as_str(), c.old_path.as_deref()))
        .collect();
    use git::ChangeKind::*;
    assert_eq!(
        seen,
        [
            (Added, ".claude/settings.json", None),
            (Modified, "README.md", None),
            (Renamed, "b.txt", Some("a.txt")),
            (Deleted, "old.txt", None),
        ]
    );
    assert!(changes.iter().all(|c| !c.is_submodule()));
    let deleted = &changes[3];
    assert!(deleted.new_blob.bytes().all(|b| b == b'0'), "{deleted:?}");
    assert!(git::resolve(dir.path(), "no-such-ref").is_err());
}

#[test]
fn the_check_blocks_a_change_to_an_agent_s_hook_settings_by_the_built_in_guard() {
    let dir = scratch();
    let report = check(&CheckOptions {
        repo: dir.path(),
        base: "main",
        head: "agent",
        policy_path: None,
        evidence: None,
        trust: None,
        timestamp: "2026-01-01T00:00:00.000Z",
        exempt_authors: &[],
        attestation: None,
        skip_attestation: true,
    })
    .expect("check");
    assert!(!report.ok());
    let settings = report
        .changes
        .iter()
        .find(|c| c.change.path == ".claude/settings.json")
        .expect("judged");
    assert_eq!(
        (settings.decision, settings.rule_id.as_str()),
        (Decision::Block, "cavra.protected")
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.path == ".claude/settings.json"
                && f.rule == "cavra.protected"
                && f.kind == FindingKind::PolicyBlock),
        "{:#?}",
        report.findings
    );
    let readme = report
        .changes
        .iter()
        .find(|c| c.change.path == "README.md")
        .expect("judged");
    assert!(
        readme.decision.may_proceed(),
        "an ordinary edit: {:?} {}",
        readme.decision,
        readme.rule_id
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.path == "README.md" && f.kind == FindingKind::PolicyBlock),
        "{:#?}",
        report.findings
    );
    assert_eq!(report.changes.len(), 4);
    assert_eq!(report.commits.len(), 1);
}
