//! `cavra validate runtime` with real Claude Code (pinned in tests/agents/node/package-lock.json,
//! installed by scripts/test) and the official filesystem MCP server: it passes on a correct
//! set-up and its signed report verifies offline; it fails, naming the finding, when cavra's
//! hooks are removed mid-session, when the hook can no longer start, and when a file is
//! changed outside the agent. The agent's model is the command's own loopback stand-in; every
//! other address is a closed loopback port.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::agents::{claude_binary, mcp_filesystem_server as mcp_server};
use support::bare as cavra;

/// A key pair and a trust root holding it, outside any repository.
fn keys(dir: &Path) -> (PathBuf, PathBuf) {
    let key = support::key_pair(&dir.join("keys"), "validation");
    let trust = dir.join("trust.json");
    let public = dir.join("keys/validation.pub");
    support::trust_key(&trust, &public, "validation", "validation");
    (key, trust)
}

struct Run {
    code: i32,
    report: Value,
    stderr: String,
    output: PathBuf,
    trust: PathBuf,
    _tmp: tempfile::TempDir,
}

fn validate(drill: Option<&str>) -> Run {
    let tmp = tempfile::tempdir().expect("tmp");
    let (key, trust) = keys(tmp.path());
    let output = tmp.path().join("out");
    let mut cmd = cavra();
    cmd.args(["validate", "runtime", "--json", "--claude"])
        .arg(claude_binary())
        .arg("--mcp-server")
        .arg(mcp_server())
        .arg("--sign-key")
        .arg(&key)
        .arg("--trust-root")
        .arg(&trust)
        .arg("--output")
        .arg(&output)
        .arg("--workdir")
        .arg(tmp.path().join("work"))
        .current_dir(tmp.path());
    if let Some(d) = drill {
        cmd.args(["--drill", d]);
    }
    let out = cmd.output().expect("cavra validate runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Run {
        code: out.status.code().unwrap_or(-1),
        report: printed["report"].clone(),
        stderr,
        output,
        trust,
        _tmp: tmp,
    }
}

fn findings(r: &Run) -> Vec<(String, String)> {
    r.report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_string(),
                f["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn verify(r: &Run) -> (i32, Value) {
    let out = cavra()
        .args(["validate", "verify", "--json"])
        .arg(r.output.join("report.json"))
        .arg("--trust-root")
        .arg(&r.trust)
        .arg("--evidence")
        .arg(r.output.join("bundle"))
        .output()
        .expect("verify runs");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn a_correct_set_up_passes_and_its_signed_report_verifies() {
    let r = validate(None);
    assert_eq!(r.code, 0, "{:#}\n{}", r.report, r.stderr);
    assert_eq!(r.report["result"], "passed");
    assert_eq!(findings(&r), vec![]);
    assert!(
        r.report["policy_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{}",
        r.report
    );
    let names: Vec<&str> = r.report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for expected in [
        "write of a CI workflow blocked",
        "high-risk shell command blocked",
        "git commit carries the session trailer",
        "the remote has the pushed branch",
        "pull request opened (git push -o merge_request.create)",
        "MCP read of .env refused",
        "approval: allowed once",
        "evidence bundle written and verified",
        "pull request: attestation signed and verified",
    ] {
        assert!(names.contains(&expected), "{expected}: {names:?}");
    }
    let (code, v) = verify(&r);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["report"]["result"], "passed");
    assert_eq!(v["bundle_checked"], true);

    // Another trust root: the report does not verify.
    let other = tempfile::tempdir().expect("tmp");
    let (_, stranger) = keys(other.path());
    let out = cavra()
        .args(["validate", "verify"])
        .arg(r.output.join("report.json"))
        .arg("--trust-root")
        .arg(&stranger)
        .output()
        .expect("verify runs");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_hook_removed_mid_session_fails_and_is_named() {
    let r = validate(Some("remove-hook"));
    assert_eq!(r.code, 4, "{:#}\n{}", r.report, r.stderr);
    assert_eq!(r.report["result"], "failed");
    let f = findings(&r);
    assert!(
        f.iter()
            .any(|(k, d)| k == "hook_removed" && d.contains(".claude/settings.json")),
        "{f:?}"
    );
    // The failed report is still signed and verifies: it says failed (exit 4).
    let (code, v) = verify(&r);
    assert_eq!(code, 4, "{v}");
}

#[test]
fn a_hook_that_cannot_start_leaves_undecided_tool_calls() {
    let r = validate(Some("break-hook"));
    assert_eq!(r.code, 4, "{:#}\n{}", r.report, r.stderr);
    let f = findings(&r);
    assert!(f.iter().any(|(k, _)| k == "hook_broken"), "{f:?}");
    assert!(
        f.iter()
            .any(|(k, d)| k == "undecided_tool_call" && d.contains("has no decision")),
        "{f:?}"
    );
}

#[test]
fn a_file_changed_outside_the_agent_fails_and_is_named() {
    let r = validate(Some("outside-write"));
    assert_eq!(r.code, 4, "{:#}\n{}", r.report, r.stderr);
    let f = findings(&r);
    assert_eq!(
        f,
        vec![(
            "ungoverned_change".to_string(),
            "README.md changed with no governed write that produced it".to_string()
        )],
        "{:#}",
        r.report
    );
}
