//! Issue 13 point 10: every command that changes something takes `--json` (what it did, as
//! JSON on stdout), and every command that only reads leaves the disk as it found it — in a
//! scratch folder without `.cavra`, and in a repository with a store.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::{marked_repo as repo, snapshot};

/// `cavra` in `dir` as alice.
fn cavra(dir: &Path) -> assert_cmd::Command {
    let mut cmd = support::command_in(dir);
    cmd.env("CAVRA_ACTOR", "alice");
    cmd
}

/// Runs a command that must succeed with `--json` among its arguments; returns its JSON.
fn json_of(dir: &Path, args: &[&str]) -> Value {
    assert!(args.contains(&"--json"), "{args:?}");
    let out = support::outcome(cavra(dir).args(args));
    assert_eq!(out.code, 0, "cavra {args:?} failed: {}", out.stderr);
    out.json()
}

/// A Write through the hook in store mode (a pending approval when the policy asks for one).
fn agent_writes(dir: &Path, file: &str) {
    let write = json!({"file_path": dir.join(file), "content": "x"});
    let payload = support::claude_call(
        dir,
        "s1",
        "PreToolUse",
        "Write",
        write,
        &format!("t-{file}"),
    );
    // Held for approval: denied for now (exit code 2), a pending approval recorded.
    cavra(dir)
        .args(["hook", "claude-code", "--approval-mode", "store"])
        .write_stdin(payload.to_string())
        .assert()
        .code(2);
}

#[test]
fn every_mutating_command_prints_json() {
    let dir = repo();
    let d = dir.path();
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/claude-code/sample-policy.yaml");

    // init, as a dry run and for real; the policy then asks before migrations are written.
    let planned = json_of(
        d,
        &["init", "claude-code", "--no-daemon", "--dry-run", "--json"],
    );
    assert_eq!(planned["dry_run"], true);
    assert!(
        planned["changes"]
            .to_string()
            .contains(".claude/settings.json")
    );
    let done = json_of(d, &["init", "claude-code", "--no-daemon", "--json"]);
    assert!(
        done["changes"].to_string().contains("\"created\""),
        "{done}"
    );
    std::fs::copy(&sample, d.join(".cavra/policy.yaml")).expect("policy");

    // Approvals: approve, deny, expire.
    agent_writes(d, "migrations/1.sql");
    agent_writes(d, "migrations/2.sql");
    let pending = json_of(d, &["approval", "list", "--state", "pending", "--json"]);
    let ids: Vec<String> = pending
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{pending}");
    let approved = json_of(
        d,
        &[
            "approval", "approve", &ids[0], "--reason", "reviewed", "--json",
        ],
    );
    assert_eq!(approved["state"], "approved");
    let denied = json_of(
        d,
        &["approval", "deny", &ids[1], "--reason", "no", "--json"],
    );
    assert_eq!(denied["state"], "denied");
    let expired = json_of(d, &["approval", "expire", "--json"]);
    assert!(expired["expired"].is_array());

    // Keys, trust roots, pack signatures, trust packages.
    let key = json_of(
        d,
        &[
            "keys", "generate", "--key-id", "team", "--output", "k", "--json",
        ],
    );
    assert_eq!(key["key_id"], "team");
    let added = json_of(
        d,
        &[
            "trust",
            "add",
            "--trust-root",
            "t.json",
            "--key-id",
            "team",
            "--public-key",
            "k/team.pub",
            "--owner",
            "Team",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--json",
        ],
    );
    assert_eq!(added["key_id"], "team");
    assert_eq!(added["status"], "active");
    let signed = json_of(
        d,
        &[
            "policy",
            "sign",
            ".cavra/policy.yaml",
            "--key",
            "k/team.key",
            "--json",
        ],
    );
    assert_eq!(signed["key_id"], "team");
    assert!(d.join(".cavra/policy.yaml.sig").is_file());
    let package = json_of(
        d,
        &[
            "trust",
            "export",
            "--trust-root",
            "t.json",
            "--policy",
            ".cavra/policy.yaml",
            "--sign-key",
            "k/team.key",
            "--output",
            "package.json",
            "--json",
        ],
    );
    assert_eq!(package["signed_by"], "team");
    let imported = json_of(
        d,
        &[
            "trust",
            "import",
            "package.json",
            "--trust-root",
            "t.json",
            "--policies-dir",
            "imported",
            "--json",
        ],
    );
    assert_eq!(imported["signed_by"], "team");
    json_of(
        d,
        &[
            "keys", "generate", "--key-id", "old", "--output", "k", "--json",
        ],
    );
    json_of(
        d,
        &[
            "trust",
            "add",
            "--trust-root",
            "t.json",
            "--key-id",
            "old",
            "--public-key",
            "k/old.pub",
            "--owner",
            "Team",
            "--json",
        ],
    );
    let retired = json_of(
        d,
        &[
            "trust",
            "retire",
            "--trust-root",
            "t.json",
            "--key-id",
            "old",
            "--reason",
            "rotated",
            "--json",
        ],
    );
    assert_eq!(retired["status"], "retired");
    let revoked = json_of(
        d,
        &[
            "trust",
            "revoke",
            "--trust-root",
            "t.json",
            "--key-id",
            "old",
            "--reason",
            "lost",
            "--json",
        ],
    );
    assert_eq!(revoked["status"], "revoked");

    // The evidence log: checkpoint, bundle, export, proofs.
    json_of(d, &["evidence", "checkpoint", "--json"]);
    let size = json_of(d, &["evidence", "log", "verify", "--json"])["entries"]
        .as_u64()
        .expect("entries");
    let bundle = json_of(d, &["evidence", "bundle", "--output", "b", "--json"]);
    assert!(bundle.is_object());
    let exported = json_of(
        d,
        &[
            "evidence", "export", "--format", "jsonl", "--output", "e.jsonl", "--json",
        ],
    );
    assert!(
        exported["entries"].as_u64().is_some_and(|n| n > 0),
        "{exported}"
    );
    let proof = json_of(
        d,
        &[
            "evidence", "prove", "--index", "0", "--output", "p.json", "--json",
        ],
    );
    assert_eq!(proof["index"], 0);
    let from = size.to_string();
    let consistency = json_of(
        d,
        &[
            "evidence",
            "consistency",
            "--from",
            &from,
            "--output",
            "c.json",
            "--json",
        ],
    );
    assert!(consistency["written"].is_string());

    // The MCP registry.
    let registered = json_of(
        d,
        &[
            "registry",
            "mcp",
            "add",
            "github",
            "--trust",
            "trusted",
            "--approval",
            "approved",
            "--json",
        ],
    );
    assert_eq!(registered["name"], "github");
    // A pin as `cavra mcp proxy` leaves it when it first sees a tool.
    cavra_store::Store::open_repo(d)
        .expect("store")
        .pin_tool(
            "github",
            "list_repos",
            "sha256:00",
            "2026-01-01T00:00:00.000Z".parse().expect("time"),
        )
        .expect("pin");
    let unpinned = json_of(
        d,
        &["registry", "mcp", "unpin", "github", "list_repos", "--json"],
    );
    assert_eq!(unpinned["unpinned"], true);
    let removed = json_of(d, &["registry", "mcp", "remove", "github", "--json"]);
    assert_eq!(removed["removed"], true);

    // The hook server (not running: stopping it says so).
    let stopped = json_of(d, &["hook", "daemon", "stop", "--json"]);
    assert_eq!(stopped["was_running"], false);

    // Uninstalling.
    let gone = json_of(d, &["init", "claude-code", "--uninstall", "--json"]);
    assert_eq!(gone["uninstall"], true);
}

#[test]
fn service_administration_prints_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let d = dir.path();
    let migrated = json_of(d, &["db", "migrate", "--database-url", &url, "--json"]);
    assert_eq!(migrated["current"], true);
    let tenant = json_of(
        d,
        &["tenant", "create", "acme", "--database-url", &url, "--json"],
    );
    assert_eq!(tenant["created"], true);
    let token = json_of(
        d,
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--database-url",
            &url,
            "--json",
        ],
    );
    let id = token["id"].as_str().expect("id").to_string();
    let revoked = json_of(
        d,
        &["token", "revoke", &id, "--database-url", &url, "--json"],
    );
    assert_eq!(revoked["revoked"], true);
}

/// The read-only commands; each may succeed or fail (no store, no such id), never write.
fn read_only_commands(typo_db: &str) -> Vec<Vec<String>> {
    let v = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        v(&["evaluate", "read_file", ".env"]),
        v(&["evaluate", "execute_command", "make deploy", "--json"]),
        v(&["policy", "list"]),
        v(&["policy", "validate", "cavra-baseline"]),
        v(&["policy", "explain", "read_file", ".env"]),
        v(&["policy", "explain", "--decision", "nope"]),
        v(&["policy", "compile", "claude-code"]),
        v(&["policy", "diff", "cavra-baseline", "claude-code"]),
        v(&["session", "list"]),
        v(&["session", "list", "--json"]),
        v(&["session", "show", "nope"]),
        v(&["decision", "list", "--json"]),
        v(&["approval", "list", "--state", "pending"]),
        v(&["evidence", "log", "verify"]),
        v(&["evidence", "verify", "no-bundle", "--allow-unsigned"]),
        v(&["registry", "mcp", "list"]),
        v(&["registry", "mcp", "check", "github", "create_issue"]),
        v(&["hook", "daemon", "status"]),
        v(&["doctor"]),
        v(&["doctor", "--json"]),
        v(&["token", "list", "--database-url", typo_db]),
        v(&["tenant", "list", "--database-url", typo_db]),
    ]
}

fn assert_read_only(dir: &Path, runtime: &Path, typo_db: &str) {
    for args in read_only_commands(typo_db) {
        let before = (snapshot(dir), snapshot(runtime));
        let out = cavra(dir)
            .args(&args)
            .env("XDG_RUNTIME_DIR", runtime)
            .env("CAVRA_NO_CACHE", "1")
            .output()
            .expect("cavra runs");
        let after = (snapshot(dir), snapshot(runtime));
        assert_eq!(
            before,
            after,
            "cavra {args:?} changed files (exit {:?}: {})",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn read_only_commands_create_nothing_in_a_folder_without_cavra() {
    let dir = repo();
    let runtime = tempfile::tempdir().expect("runtime");
    let typo = format!("sqlite://{}/typo.db", dir.path().display());
    assert_read_only(dir.path(), runtime.path(), &typo);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from(".git")], "created {left:?}");
}

#[test]
fn read_only_commands_change_nothing_in_a_repository_with_a_store() {
    let dir = repo();
    let d = dir.path();
    cavra(d)
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    let payload = json!({"session_id": "s1", "cwd": d, "hook_event_name": "PreToolUse",
        "tool_name": "Read", "tool_input": {"file_path": d.join(".env")}, "tool_use_id": "t1"});
    // Blocked: exit code 2, as Claude Code reads a block.
    cavra(d)
        .args(["hook", "claude-code"])
        .write_stdin(payload.to_string())
        .assert()
        .code(2);
    let runtime = tempfile::tempdir().expect("runtime");
    let typo = format!("sqlite://{}/typo.db", d.display());
    assert_read_only(d, runtime.path(), &typo);
    // The recorded decision explained, read-only too.
    let id = json_of(d, &["decision", "list", "--json"])[0]["decision_id"]
        .as_str()
        .expect("id")
        .to_string();
    let before = snapshot(d);
    cavra(d)
        .args(["policy", "explain", "--decision", &id])
        .assert()
        .success();
    assert_eq!(before, snapshot(d));
    // Sanity: the binaries the hook commands name are the ones built here.
    assert!(support::cavra_bin().is_file());
}
