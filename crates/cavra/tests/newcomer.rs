//! The small things a newcomer trips over in the first hour: usage errors that say so,
//! read-only commands that create nothing, an unsigned bundle of this repository checked with
//! one flag, a trust root for the log key made with the defaults.

mod support;

use predicates::str::contains;
use serde_json::json;
use std::path::Path;
use support::{command_in as cavra, marked_repo as repo};

#[test]
fn evaluate_without_a_target_is_a_usage_error() {
    let dir = repo();
    cavra(dir.path())
        .args(["evaluate", "read_file"])
        .assert()
        .code(2)
        .stderr(contains("needs a TARGET"));
}

#[test]
fn listing_tokens_of_a_mistyped_database_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/typo.db", dir.path().display());
    for what in [["token", "list"], ["tenant", "list"]] {
        cavra(dir.path())
            .args(what)
            .args(["--database-url", &url])
            .assert()
            .code(1)
            .stderr(contains("no database at"));
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "created {left:?}");
}

/// One governed call, so the repository has a log and a log key; returns the log key's id.
fn one_call_and_a_bundle(dir: &Path) -> String {
    cavra(dir)
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    let read = json!({"file_path": dir.join("README.md").to_string_lossy()});
    let payload = support::claude_call(dir, "s1", "PreToolUse", "Read", read, "t1");
    cavra(dir)
        .args(["hook", "claude-code"])
        .write_stdin(payload.to_string())
        .assert()
        .success();
    let text = support::ok(cavra(dir).args(["evidence", "bundle", "--output", "bundle"]));
    text.split_whitespace()
        .find(|w| w.starts_with("log-"))
        .unwrap_or_else(|| panic!("the log key's id: {text}"))
        .to_string()
}

#[test]
fn an_unsigned_bundle_of_this_repository_verifies_with_allow_unsigned_alone() {
    let dir = repo();
    one_call_and_a_bundle(dir.path());
    cavra(dir.path())
        .args(["evidence", "verify", "bundle", "--allow-unsigned"])
        .assert()
        .success()
        .stderr(contains("this repository's log key"));
    // Without it the missing trust root is a usage error naming what to give.
    cavra(dir.path())
        .args(["evidence", "verify", "bundle"])
        .assert()
        .code(2)
        .stderr(contains("--trust-root"));
}

#[test]
fn a_trust_root_for_the_log_key_made_with_the_defaults_verifies_what_it_signed() {
    let dir = repo();
    let key_id = one_call_and_a_bundle(dir.path());
    // The trust root is made later than the key signed (whole seconds apart).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    cavra(dir.path())
        .args([
            "trust",
            "add",
            "--trust-root",
            "trust.json",
            "--key-id",
            &key_id,
        ])
        .args(["--owner", "me", "--public-key", ".cavra/keys/log.pub"])
        .assert()
        .success();
    cavra(dir.path())
        .args(["evidence", "verify", "bundle", "--allow-unsigned"])
        .args(["--trust-root", "trust.json"])
        .assert()
        .success();
}

/// The README's proof example: prove entry 0, trust the repository's log key, check the proof.
#[test]
fn a_proof_checks_against_a_trust_root_holding_the_log_key() {
    let dir = repo();
    one_call_and_a_bundle(dir.path());
    cavra(dir.path())
        .args(["evidence", "prove", "--index", "0", "--output", "p.json"])
        .assert()
        .success();
    cavra(dir.path())
        .args(["trust", "add", "--trust-root", "trust.json", "--log-key"])
        .args(["--owner", "this-repository"])
        .assert()
        .success();
    cavra(dir.path())
        .args([
            "evidence",
            "check-proof",
            "p.json",
            "--trust-root",
            "trust.json",
        ])
        .assert()
        .success();
}
