//! `cavra doctor` driven as a person runs it, on scratch repositories broken one way each:
//! every breakage is found, named, and given its fix; a healthy set-up passes; the exit code
//! follows the worst finding; and doctor never creates, changes or removes a file.

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

mod support;

use support::snapshot;

/// A scratch repository with its own PATH folder (links to the built binaries), runtime
/// folder (hook server sockets) and home.
struct Scratch {
    repo: tempfile::TempDir,
    bin: tempfile::TempDir,
    runtime: tempfile::TempDir,
    home: tempfile::TempDir,
}

fn link(bin: &Path, name: &str) {
    std::os::unix::fs::symlink(cargo_bin(name), bin.join(name)).expect("link a binary");
}

impl Scratch {
    fn new() -> Scratch {
        let repo = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(repo.path().join(".git")).expect(".git");
        let bin = tempfile::tempdir().expect("bin dir");
        link(bin.path(), "cavra");
        link(bin.path(), "cavra-hook");
        Scratch {
            repo,
            bin,
            runtime: tempfile::tempdir().expect("runtime dir"),
            home: tempfile::tempdir().expect("home"),
        }
    }

    fn root(&self) -> &Path {
        self.repo.path()
    }

    /// PATH with the binaries, then the system's.
    fn path(&self) -> String {
        format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.path().display())
    }

    fn cavra(&self) -> Command {
        let mut cmd = Command::from_std(support::cavra(self.root()));
        cmd.env("PATH", self.path())
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("HOME", self.home.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cavra().args(args).output().expect("run cavra");
        assert!(
            out.status.success(),
            "cavra {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn init(&self) {
        self.run(&["init", "claude-code"]);
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// One Claude Code tool call through the in-process hook; returns its exit code.
    fn hook(&self, tool: &str, input: Value, extra: &[&str]) -> i32 {
        let payload = json!({
            "session_id": "sess-doctor", "cwd": self.root(), "hook_event_name": "PreToolUse",
            "tool_name": tool, "tool_input": input, "tool_use_id": format!("toolu_{tool}"),
        });
        let out = self
            .cavra()
            .args(["hook", "claude-code"])
            .args(extra)
            .write_stdin(payload.to_string())
            .output()
            .expect("hook");
        out.status.code().unwrap_or(-1)
    }

    fn read_readme(&self) {
        let readme = self.root().join("README.md");
        std::fs::write(&readme, "hello\n").expect("README");
        assert_eq!(
            self.hook("Read", json!({"file_path": readme}), &[]),
            0,
            "an ordinary read is allowed"
        );
    }

    /// `cavra doctor --json` with extra arguments and environment; asserts it changed no file
    /// in the repository, the runtime folder or the home folder. Returns the exit code and
    /// the report.
    fn doctor_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        let watched = [self.root(), self.runtime.path(), self.home.path()];
        let before: Vec<_> = watched.iter().map(|d| snapshot(d)).collect();
        let mut cmd = self.cavra();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .arg("doctor")
            .arg("--json")
            .args(args)
            .output()
            .expect("doctor");
        let after: Vec<_> = watched.iter().map(|d| snapshot(d)).collect();
        assert_eq!(before, after, "doctor changed files");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor --json printed no JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(report["exit_code"], code, "{report:#}");
        (code, report)
    }

    fn doctor(&self) -> (i32, Value) {
        self.doctor_with(&[], &[])
    }
}

/// The findings of one check.
fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// The one finding of a check with this status; panics with the report otherwise.
fn finding<'a>(report: &'a Value, check: &str, status: &str) -> &'a Value {
    findings(report, check)
        .into_iter()
        .find(|f| f["status"] == status)
        .unwrap_or_else(|| panic!("no {status} finding for {check}: {report:#}"))
}

fn text(v: &Value) -> String {
    v.to_string()
}

#[test]
fn a_healthy_set_up_passes_and_text_output_names_each_check() {
    let s = Scratch::new();
    s.init();
    s.read_readme();
    s.write(
        ".github/workflows/cavra.yml",
        "jobs:\n  gate:\n    steps:\n      - run: cavra ci check --base origin/main\n",
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 0, "{report:#}");
    let hooks = finding(&report, "hooks.claude-code", "ok");
    assert!(text(hooks).contains("cavra-hook claude-code"), "{hooks}");
    assert!(text(hooks).contains("PreToolUse, PostToolUse"), "{hooks}");
    assert!(text(finding(&report, "policy", "ok")).contains("mode enforce"));
    assert!(text(finding(&report, "store", "ok")).contains("1 decision(s)"));
    assert!(text(finding(&report, "log", "ok")).contains("verifies"));
    assert!(text(finding(&report, "hook_server", "info")).contains("next hook call"));
    assert!(text(finding(&report, "ci", "ok")).contains(".github/workflows/cavra.yml"));
    finding(&report, "approvals", "ok");
    finding(&report, "service", "info");
    assert!(findings(&report, "agents.unknown_tool").is_empty());
    for f in report["findings"].as_array().expect("findings") {
        assert!(f["status"] == "ok" || f["status"] == "info", "healthy: {f}");
    }

    // The same as text: one line per finding, and the fix under it.
    let out = s.cavra().arg("doctor").output().expect("doctor");
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("OK    hooks.claude-code"), "{printed}");
    assert!(printed.contains("INFO  hook_server"), "{printed}");
    assert!(printed.contains("0 failed, 0 warning(s)"), "{printed}");
}

#[test]
fn a_hook_command_that_cannot_start_on_this_machine_fails() {
    let s = Scratch::new();
    s.init();
    // Neither binary on PATH.
    let (code, report) = s.doctor_with(&[], &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "hooks.claude-code", "fail");
    assert!(text(f).contains("`cavra-hook` is not found on PATH"), "{f}");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|fix| fix.contains("cargo install --path crates/cavra")),
        "{f}"
    );

    // The slim client alone: it needs `cavra` beside it.
    let lonely = tempfile::tempdir().expect("dir");
    link(lonely.path(), "cavra-hook");
    let path = format!("{}:/usr/bin:/bin", lonely.path().display());
    let (code, report) = s.doctor_with(&[], &[("PATH", &path)]);
    assert_eq!(code, 1);
    let f = finding(&report, "hooks.claude-code", "fail");
    assert!(text(f).contains("has no `cavra` beside it"), "{f}");
    assert!(text(f).contains("both binaries"), "{f}");
}

#[test]
fn broken_or_partial_hook_settings_are_named_with_their_fix() {
    let s = Scratch::new();
    // No agent at all.
    let (code, report) = s.doctor();
    assert_eq!(code, 3, "{report:#}");
    let f = finding(&report, "hooks", "warn");
    assert!(text(f).contains("cavra init claude-code"), "{f}");

    s.init();
    // Settings that are not JSON.
    s.write(
        ".claude/settings.json",
        "{\n  \"hooks\": {\n    \"PreToolUse\": [\n",
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "hooks.claude-code", "fail");
    assert!(
        text(f).contains(".claude/settings.json:4:"),
        "line and column: {f}"
    );
    assert!(text(f).contains("correct the JSON"), "{f}");

    // The hook on one event only: the results of tool calls go unrecorded.
    s.write(
        ".claude/settings.json",
        &json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [
            {"type": "command", "command": "cavra hook claude-code"}]}]}})
        .to_string(),
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 3, "{report:#}");
    let f = finding(&report, "hooks.claude-code", "warn");
    assert!(text(f).contains("not on PostToolUse"), "{f}");
    assert_eq!(
        f["fix"],
        "run `cavra init claude-code` to register the missing events"
    );
    // Registered without the hook server: doctor says it is not used.
    assert!(text(finding(&report, "hook_server", "info")).contains("not used"));
}

#[test]
fn policy_problems_are_found_with_their_place_and_fix() {
    let s = Scratch::new();
    s.init();
    // A misspelt section: file, line and column.
    s.write(
        ".cavra/policy.yaml",
        "metadata:\n  id: team\n  title: Team\n  description: d\n  version: 1.0.0\nfilesystem:\n  blok_read: [\".env\"]\n",
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "policy", "fail");
    assert!(text(f).contains("policy.yaml:7:"), "{f}");
    assert!(text(f).contains("cavra policy validate"), "{f}");

    // No policy while hooks are installed: every call is denied.
    std::fs::remove_file(s.root().join(".cavra/policy.yaml")).expect("rm");
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "policy", "fail");
    assert!(text(f).contains("deny every call"), "{f}");
    assert!(text(f).contains("cavra init <agent>"), "{f}");

    // Audit only: nothing is enforced.
    s.write(
        ".cavra/policy.yaml",
        "metadata:\n  id: team\n  title: Team\n  description: d\n  version: 1.0.0\n  inherits: [claude-code]\n  mode: audit_only\n",
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 3, "{report:#}");
    let f = finding(&report, "policy.mode", "warn");
    assert!(text(f).contains("set `mode: enforce`"), "{f}");

    // A pack that requires a signature and has none.
    s.write(
        ".cavra/policy.yaml",
        "metadata:\n  id: team\n  title: Team\n  description: d\n  version: 1.0.0\n  inherits: [claude-code]\n  require_signature: true\n",
    );
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "policy.signature", "fail");
    assert!(text(f).contains("cavra policy sign"), "{f}");
}

#[test]
fn a_signed_pack_verifies_until_it_is_changed() {
    let s = Scratch::new();
    s.init();
    s.run(&["keys", "generate", "--key-id", "team", "--output", "keys"]);
    s.run(&[
        "trust",
        "add",
        "--trust-root",
        "trust.json",
        "--key-id",
        "team",
        "--public-key",
        "keys/team.pub",
        "--owner",
        "Team",
        "--valid-from",
        "2020-01-01T00:00:00Z",
    ]);
    s.run(&[
        "policy",
        "sign",
        ".cavra/policy.yaml",
        "--key",
        "keys/team.key",
    ]);
    let (_, report) = s.doctor_with(&["--trust-root", "trust.json"], &[]);
    assert!(text(finding(&report, "policy.signature", "ok")).contains("signed by team"));
    // Changed after signing.
    let policy = s.root().join(".cavra/policy.yaml");
    let changed =
        std::fs::read_to_string(&policy)
            .expect("policy")
            .replacen("title: ", "title: Changed ", 1);
    std::fs::write(&policy, changed).expect("write");
    let (code, report) = s.doctor_with(&["--trust-root", "trust.json"], &[]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "policy.signature", "fail");
    assert!(text(f).contains("re-signed"), "{f}");
}

#[test]
fn a_changed_evidence_log_does_not_verify() {
    let s = Scratch::new();
    s.init();
    s.read_readme();
    s.read_readme();
    let db = s.root().join(".cavra/cavra.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let changed = conn
        .execute(
            "UPDATE log_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'allow', 'block') AS BLOB) WHERE idx = 0",
            [],
        )
        .expect("update");
    assert_eq!(changed, 1);
    drop(conn);
    let (code, report) = s.doctor();
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "log", "fail");
    assert!(text(f).contains("does NOT verify"), "{f}");
    assert!(text(f).contains("copy .cavra/ aside"), "{f}");
}

#[test]
fn an_unusable_store_is_named_with_its_fix() {
    let s = Scratch::new();
    s.init();
    s.write(".cavra/cavra.db", "this is not a database\n");
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "store", "fail");
    assert!(text(f).contains("move it aside"), "{f}");

    let other = Scratch::new();
    other.write(".cavra", "a file where the folder should be\n");
    let (code, report) = other.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "store", "fail");
    assert!(text(f).contains("mv .cavra .cavra.moved"), "{f}");
}

#[test]
fn a_store_folder_that_cannot_be_written_fails() {
    // The superuser may write anywhere, so this breakage only exists for other users.
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        eprintln!("skipped: running as root, who can write a mode 0555 folder");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    s.init();
    let dir = s.root().join(".cavra");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let (code, report) = s.doctor();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert_eq!(code, 1);
    let f = finding(&report, "store", "fail");
    assert!(text(f).contains("write access"), "{f}");
}

#[test]
fn keys_and_trust_root_problems_are_named_with_their_fix() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    s.init();
    s.read_readme();
    s.run(&["evidence", "checkpoint"]);
    let key = s.root().join(".cavra/keys/log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, report) = s.doctor();
    assert_eq!(code, 1);
    let f = finding(&report, "keys", "fail");
    assert_eq!(f["fix"], "chmod 600 .cavra/keys/log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (_, report) = s.doctor();
    finding(&report, "keys", "ok");
    finding(&report, "trust_root", "info");

    // A trust root whose key expired, which does not hold the log key.
    s.run(&["keys", "generate", "--key-id", "old", "--output", "keys"]);
    s.run(&[
        "trust",
        "add",
        "--trust-root",
        "trust.json",
        "--key-id",
        "old",
        "--public-key",
        "keys/old.pub",
        "--owner",
        "Team",
        "--valid-from",
        "2020-01-01T00:00:00Z",
        "--valid-until",
        "2021-01-01T00:00:00Z",
    ]);
    let (code, report) = s.doctor_with(&["--trust-root", "trust.json"], &[]);
    assert_eq!(code, 3, "{report:#}");
    let f = finding(&report, "trust_root", "warn");
    assert!(text(f).contains("old: expired at 2021-01-01"), "{f}");
    assert!(text(f).contains("cavra trust retire"), "{f}");
    let f = finding(&report, "trust_root.log_key", "warn");
    assert!(text(f).contains("--log-key"), "{f}");

    // Revoked keys are listed as such; once the log key is added, that finding is ok.
    s.run(&[
        "trust",
        "revoke",
        "--trust-root",
        "trust.json",
        "--key-id",
        "old",
        "--reason",
        "laptop lost",
    ]);
    s.run(&[
        "trust",
        "add",
        "--trust-root",
        "trust.json",
        "--log-key",
        "--owner",
        "Repo",
    ]);
    let (_, report) = s.doctor_with(&[], &[("CAVRA_TRUST_ROOT", "trust.json")]);
    let f = finding(&report, "trust_root", "ok");
    assert!(text(f).contains("old: revoked (laptop lost)"), "{f}");
    finding(&report, "trust_root.log_key", "ok");
    // The log's checkpoint is checked against that trust root.
    assert!(text(finding(&report, "log", "ok")).contains("1 signature(s) checked"));
}

#[test]
fn pending_approvals_are_shown_with_their_route_owner_and_expiry() {
    let s = Scratch::new();
    s.init();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/claude-code/sample-policy.yaml"),
        s.root().join(".cavra/policy.yaml"),
    )
    .expect("policy");
    let write = |file: &str, ttl: &str| {
        s.hook(
            "Write",
            json!({"file_path": s.root().join(file), "content": "x"}),
            &["--approval-mode", "store", "--approval-ttl", ttl],
        )
    };
    write("migrations/0001.sql", "60");
    let (code, report) = s.doctor();
    assert_eq!(code, 0, "{report:#}");
    let f = finding(&report, "approvals", "info");
    assert!(text(f).contains("write_file"), "{f}");
    assert!(text(f).contains("expires 20"), "{f}");
    assert!(text(f).contains("cavra approval approve ID"), "{f}");

    // One that expired and was never closed.
    write("migrations/0002.sql", "0");
    let (code, report) = s.doctor();
    assert_eq!(code, 3);
    let f = finding(&report, "approvals", "warn");
    assert!(text(f).contains("expired at"), "{f}");
    assert!(text(f).contains("cavra approval expire"), "{f}");
}

#[test]
fn tools_unknown_to_cavra_are_reported() {
    let s = Scratch::new();
    s.init();
    s.hook("FrobnicateWidgets", json!({"x": 1}), &[]);
    let (code, report) = s.doctor();
    assert_eq!(code, 3, "{report:#}");
    let f = finding(&report, "agents.unknown_tool", "warn");
    assert!(
        text(f).contains("claude-code: `FrobnicateWidgets` — 1 call(s)"),
        "{f}"
    );
    assert!(text(f).contains("agents.unknown_tool"), "{f}");
}

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_service_is_reached_and_says_who_you_are() {
    let s = Scratch::new();
    s.init();
    // Configured without a token.
    let (code, report) = s.doctor_with(&["--server", "http://127.0.0.1:9"], &[]);
    assert_eq!(code, 1);
    assert!(text(finding(&report, "service", "fail")).contains("set CAVRA_TOKEN"));
    // Nothing listens there.
    let (code, report) = s.doctor_with(
        &["--server", "http://127.0.0.1:9"],
        &[("CAVRA_TOKEN", "cavra_x")],
    );
    assert_eq!(code, 1);
    let f = finding(&report, "service", "fail");
    assert!(text(f).contains("cannot be reached"), "{f}");
    assert!(text(f).contains("cavra serve"), "{f}");

    // A real service on loopback.
    let data = tempfile::tempdir().expect("data");
    let db = format!("sqlite://{}", data.path().join("s.db").display());
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(cargo_bin("cavra"))
            .env("CAVRA_DATABASE_URL", &db)
            .args(args)
            .output()
            .expect("cavra");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    admin(&["tenant", "create", "acme"]);
    let created: Value = serde_json::from_str(&admin(&[
        "token",
        "create",
        "--json",
        "--tenant",
        "acme",
        "--role",
        "approver",
        "--subject",
        "carol",
        "--group",
        "Release Managers",
    ]))
    .expect("token JSON");
    let token = created["token"].as_str().expect("token").to_string();
    let mut child = std::process::Command::new(cargo_bin("cavra"))
        .env("CAVRA_DATABASE_URL", &db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let _guard = Serve(child);
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let (_, report) = s.doctor_with(&[], &[("CAVRA_SERVER", &url), ("CAVRA_TOKEN", &token)]);
    let f = finding(&report, "service", "ok");
    assert!(text(f).contains("in tenant acme"), "{f}");
    assert!(text(f).contains("roles: approver"), "{f}");
    assert!(text(f).contains("Release Managers"), "{f}");
    // A token the service does not know.
    let (code, report) = s.doctor_with(
        &[],
        &[
            ("CAVRA_SERVER", &url),
            (
                "CAVRA_TOKEN",
                "cavra_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
        ],
    );
    assert_eq!(code, 1);
    let f = finding(&report, "service", "fail");
    assert!(text(f).contains("refuses the token"), "{f}");
    assert!(text(f).contains("cavra token create"), "{f}");
}

#[test]
fn a_running_hook_server_is_seen_and_no_ci_gate_is_pointed_out() {
    let s = Scratch::new();
    s.init();
    let child = std::process::Command::new(cargo_bin("cavra"))
        .args(["hook", "daemon", "run"])
        .env("XDG_RUNTIME_DIR", s.runtime.path())
        .env("HOME", s.home.path())
        .current_dir(s.root())
        .spawn()
        .expect("hook server");
    let _guard = Serve(child);
    // The server is up once its socket answers `status`.
    let mut running = false;
    for _ in 0..200 {
        let status = s.run(&["hook", "daemon", "status"]);
        if status.contains(": running") {
            running = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(running, "the hook server started");
    let (_, report) = s.doctor();
    let f = finding(&report, "hook_server", "ok");
    assert!(text(f).contains("used by the hooks of claude-code"), "{f}");
    assert!(text(f).contains("pid: "), "{f}");
    let f = finding(&report, "ci", "info");
    assert!(
        text(f).contains("examples/github-actions/cavra-required-check.yml"),
        "{f}"
    );
    s.run(&["hook", "daemon", "stop"]);
}
