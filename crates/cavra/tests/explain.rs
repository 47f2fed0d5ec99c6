//! `cavra policy explain --decision ID`: a decision made through the real hook, explained from
//! the store exactly as it was decided — and every way that can stop being true (the kept pack
//! changed or gone, the record changed behind the evidence log, the world the decision read
//! changed) said so, with exit 1.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::uncached as cavra;

/// A repository set up with `cavra init claude-code`, whose agent read `target` once.
fn decided(target: &str) -> (tempfile::TempDir, String) {
    let dir = support::marked_repo();
    std::fs::write(dir.path().join(".env"), "TOKEN=abc\n").expect(".env");
    cavra(dir.path())
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    if target == "link-to-env" {
        std::os::unix::fs::symlink(dir.path().join(".env"), dir.path().join(target))
            .expect("symlink");
    }
    let read = json!({"file_path": dir.path().join(target)});
    let payload = support::claude_call(dir.path(), "s1", "PreToolUse", "Read", read, "t1");
    // Blocked: Claude Code reads exit code 2 as a block.
    cavra(dir.path())
        .args(["hook", "claude-code"])
        .write_stdin(payload.to_string())
        .assert()
        .code(2);
    let out = cavra(dir.path())
        .args(["decision", "list", "--json"])
        .output()
        .expect("decision list");
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = list[0]["decision_id"].as_str().expect("an id").to_string();
    (dir, id)
}

fn explain(dir: &Path, id: &str) -> (i32, Value) {
    let out = cavra(dir)
        .args(["policy", "explain", "--decision", id, "--json"])
        .output()
        .expect("explain");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn sql(dir: &Path, statement: &str) {
    let conn = rusqlite::Connection::open(dir.join(".cavra/cavra.db")).expect("open store");
    let changed = conn.execute(statement, []).expect("statement");
    assert!(changed > 0, "{statement} changed nothing");
}

#[test]
fn a_hook_decision_is_explained_exactly_as_decided() {
    let (dir, id) = decided(".env");
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 0, "{e:#}");
    assert_eq!(e["exact"], true, "{e:#}");
    assert_eq!(e["record"]["decision_id"], id.as_str());
    assert_eq!(e["record"]["decision"], "block");
    assert_eq!(e["pack"]["status"], "retained");
    assert_eq!(e["pack"]["id"], "claude-code");
    assert_eq!(e["pack"]["current_is_same"], true);
    assert_eq!(e["evidence"], "matches");
    assert_eq!(e["replay"]["status"], "identical", "{e:#}");
    let rule = e["record"]["rule_id"].as_str().expect("rule");
    assert_eq!(
        e["deciding_rule"]["id"], rule,
        "the rule as written in the kept pack"
    );
    assert!(
        e["deciding_rule"]["patterns"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{e:#}"
    );
    // Every rule considered, with what came of it: the deciding one matched.
    let considered = e["replay"]["considered"].as_array().expect("considered");
    assert!(
        considered
            .iter()
            .any(|c| c["rule_id"] == rule && c["outcome"] == "matched"),
        "{e:#}"
    );
    assert!(
        e["matched"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["rule_id"] == rule)),
        "{e:#}"
    );

    // As text.
    let out = cavra(dir.path())
        .args(["policy", "explain", "--decision", &id])
        .output()
        .expect("explain");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("rule       {rule}")), "{text}");
    assert!(text.contains("kept in the store, unaltered"), "{text}");
    assert!(text.contains("identical"), "{text}");
    assert!(text.contains("exact      yes"), "{text}");

    // The pack that applies now changes; the decision is still explained by the one that decided.
    let policy = dir.path().join(".cavra/policy.yaml");
    let edited =
        std::fs::read_to_string(&policy)
            .expect("policy")
            .replacen("title: ", "title: Edited ", 1);
    std::fs::write(&policy, edited).expect("edit");
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 0, "{e:#}");
    assert_eq!(e["pack"]["current_is_same"], false);
    assert_eq!(e["replay"]["status"], "identical");
}

#[test]
fn a_changed_or_missing_kept_pack_is_detected() {
    let (dir, id) = decided(".env");
    let (_, e) = explain(dir.path(), &id);
    let digest = e["pack"]["digest"].as_str().expect("digest").to_string();
    sql(
        dir.path(),
        &format!(
            "UPDATE policies SET document = replace(document, '\"block\"', '\"allow\"') WHERE digest = '{digest}'"
        ),
    );
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 1, "{e:#}");
    assert_eq!(e["pack"]["status"], "altered");
    assert_eq!(e["exact"], false);
    assert!(e["problems"].to_string().contains("was changed"), "{e:#}");
    assert_eq!(e["replay"]["status"], "not_possible");

    sql(
        dir.path(),
        &format!("DELETE FROM policies WHERE digest = '{digest}'"),
    );
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 1);
    assert_eq!(e["pack"]["status"], "missing");
    assert!(
        e["problems"].to_string().contains("not kept in this store"),
        "{e:#}"
    );
    // What was recorded is still shown.
    assert_eq!(e["record"]["decision"], "block");
    assert!(!e["matched"].as_array().expect("matched").is_empty());
}

#[test]
fn a_record_changed_behind_the_evidence_log_is_detected() {
    let (dir, id) = decided(".env");
    sql(
        dir.path(),
        &format!(
            "UPDATE decisions SET decision = 'allow', record = json_set(record, '$.decision', 'allow', '$.base_decision', 'allow') WHERE decision_id = '{id}'"
        ),
    );
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 1, "{e:#}");
    assert_eq!(e["evidence"], "differs");
    // The log's record is the one explained.
    assert_eq!(e["record"]["decision"], "block");
    assert!(
        e["problems"]
            .to_string()
            .contains("differs from its evidence log entry")
    );
}

#[test]
fn a_decision_whose_world_changed_replays_otherwise_and_says_so() {
    // Read through a link to .env: blocked because of where the link points.
    let (dir, id) = decided("link-to-env");
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 0, "{e:#}");
    assert_eq!(e["record"]["decision"], "block");
    // The link now points elsewhere: decided again, the read is allowed.
    std::fs::remove_file(dir.path().join("link-to-env")).expect("rm link");
    std::fs::write(dir.path().join("notes.txt"), "n\n").expect("notes");
    std::os::unix::fs::symlink(dir.path().join("notes.txt"), dir.path().join("link-to-env"))
        .expect("relink");
    let (code, e) = explain(dir.path(), &id);
    assert_eq!(code, 1, "{e:#}");
    assert_eq!(e["replay"]["status"], "differs");
    assert!(
        e["replay"]["differences"].to_string().contains("decision"),
        "{e:#}"
    );
    assert!(e["problems"].to_string().contains("changed since"), "{e:#}");
}

#[test]
fn an_unknown_decision_id_is_an_error() {
    let (dir, _) = decided(".env");
    cavra(dir.path())
        .args(["policy", "explain", "--decision", "nope"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no decision `nope`"));
    // And the decision and a request together are a usage error.
    cavra(dir.path())
        .args(["policy", "explain", "--decision", "x", "read_file", ".env"])
        .assert()
        .code(2);
}
