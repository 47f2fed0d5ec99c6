//! What the binary's integration tests share: the `cavra` command with a clean environment
//! (as `std::process::Command` and as `assert_cmd::Command`), scratch repositories, git, keys
//! and trust roots, a hook runner, the evidence log as JSON, and (in [`agents`] and
//! [`service`]) the pinned agents and the real service.
//!
//! Each test file uses part of it, so what one file leaves unused is not dead code.
#![allow(dead_code)]

pub mod agents;
pub mod service;

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The built `cavra` binary.
pub fn cavra_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cavra"))
}

/// The workspace's root folder (where README.md, docs/ and tests/data are).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hook conformance policy (tests/data/conformance/hooks/policy.yaml).
pub const HOOK_POLICY: &str = include_str!("../../../../tests/data/conformance/hooks/policy.yaml");

/// The caller's settings that would change what cavra decides, where it asks or which store it
/// opens; every command the tests run goes without them (a test sets what it means to).
pub const UNSET: [&str; 9] = [
    "CAVRA_POLICY",
    "CAVRA_TRUST_ROOT",
    "CAVRA_REQUIRE_SIGNED_POLICY",
    "CAVRA_SERVER",
    "CAVRA_TOKEN",
    "CAVRA_SERVER_FALLBACK",
    "CAVRA_SERVER_CONFIG",
    "CAVRA_DATABASE_URL",
    "CAVRA_HOOK_DEADLINE_MS",
];

/// `cavra` with none of the caller's settings ([`UNSET`]), in the test's own folder, with the
/// pack cache as a user has it.
pub fn bare() -> Command {
    let mut c = Command::new(cavra_bin());
    unset(&mut c);
    c
}

/// Takes the caller's settings ([`UNSET`]) out of `cmd`'s environment: for a program that
/// runs cavra (a shell running documented lines, an agent).
pub fn unset(cmd: &mut Command) -> &mut Command {
    for var in UNSET {
        cmd.env_remove(var);
    }
    cmd
}

/// [`bare`] run in `dir`.
pub fn in_dir(dir: &Path) -> Command {
    let mut c = bare();
    c.current_dir(dir);
    c
}

/// `cavra`, run in `dir`, with none of the caller's `CAVRA_*` settings ([`UNSET`]) and no pack
/// cache.
pub fn cavra(dir: &Path) -> Command {
    let mut c = in_dir(dir);
    c.env("CAVRA_NO_CACHE", "1");
    c
}

/// [`bare`] as an `assert_cmd` command (`write_stdin`, `assert`).
pub fn command() -> assert_cmd::Command {
    assert_cmd::Command::from_std(bare())
}

/// [`in_dir`] as an `assert_cmd` command.
pub fn command_in(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(in_dir(dir))
}

/// [`cavra`] (no pack cache) as an `assert_cmd` command.
pub fn uncached(dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(cavra(dir))
}

/// A command that runs to its end and gives what it printed: `std` and `assert_cmd`'s.
pub trait Runs {
    /// Runs it, waiting for its end.
    fn output_of(&mut self) -> Output;
}

impl Runs for Command {
    fn output_of(&mut self) -> Output {
        self.output().expect("the command runs")
    }
}

impl Runs for assert_cmd::Command {
    fn output_of(&mut self) -> Output {
        self.output().expect("the command runs")
    }
}

/// What `out` printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd`, which must succeed (else panics with what it printed); its stdout.
pub fn ok(cmd: &mut impl Runs) -> String {
    let out = cmd.output_of();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`: its exit code and what it printed.
pub fn outcome(cmd: &mut impl Runs) -> Out {
    Out::from(cmd.output_of())
}

/// `cavra <args…>` in `dir`: its exit code and what it printed, stdout then stderr.
pub fn cavra_text(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = cavra(dir).args(args).output().expect("cavra runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `git` in `dir` with a fixed identity and no signing; panics with what it printed when
/// it fails. Its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_as(dir, "t", "t@e.invalid", args)
}

/// [`git`] as the author and committer `name` <`email`>.
pub fn git_as(dir: &Path, name: &str, email: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", &format!("user.name={name}")])
        .args(["-c", &format!("user.email={email}")])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A scratch git repository whose `.cavra/policy.yaml` is `policy`.
pub fn project(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
    std::fs::write(dir.path().join(".cavra/policy.yaml"), policy).expect("policy");
    dir
}

/// A scratch folder that cavra takes for a repository's root (an empty `.git`; git is not
/// run).
pub fn marked_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join(".git")).expect(".git");
    dir
}

/// [`marked_repo`] whose `.cavra/policy.yaml` is `policy`.
pub fn marked_project(policy: &str) -> tempfile::TempDir {
    let dir = marked_repo();
    std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
    std::fs::write(dir.path().join(".cavra/policy.yaml"), policy).expect("policy");
    dir
}

/// A key pair from `cavra keys generate --key-id ID --output DIR`; the private key's path
/// (the public one is `DIR/ID.pub`).
pub fn key_pair(dir: &Path, id: &str) -> PathBuf {
    ok(bare()
        .args(["keys", "generate", "--key-id", id, "--output"])
        .arg(dir));
    dir.join(format!("{id}.key"))
}

/// Adds the public key `public` as `id`, owned by `owner` and valid since 2020, to the trust
/// root `trust` (`cavra trust add`, which creates it).
pub fn trust_key(trust: &Path, public: &Path, id: &str, owner: &str) {
    ok(bare()
        .args(["trust", "add", "--trust-root"])
        .arg(trust)
        .args(["--key-id", id, "--owner", owner])
        .args(["--valid-from", "2020-01-01T00:00:00Z", "--public-key"])
        .arg(public));
}

/// `PATH` with the built binaries' folder first, as a user who installed cavra has it.
pub fn path_with_cavra() -> String {
    format!(
        "{}:{}",
        cavra_bin().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A Claude Code hook payload: `event` (`PreToolUse`, `PostToolUse`: then a successful
/// `tool_response`) of `tool` with `input`, tool call `id` of `session`, from `dir`.
pub fn claude_call(
    dir: &Path,
    session: &str,
    event: &str,
    tool: &str,
    input: Value,
    id: &str,
) -> Value {
    let mut payload = json!({
        "session_id": session,
        "cwd": dir.to_string_lossy(),
        "hook_event_name": event,
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": id,
    });
    if event == "PostToolUse" {
        payload["tool_response"] = json!({"success": true});
    }
    payload
}

/// What a command printed and its exit code.
#[derive(Debug)]
pub struct Out {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Out {
    fn from(out: std::process::Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Standard output as JSON (panics with the text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {:?}; stderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `command` with `stdin`, waits, and returns what it printed.
pub fn run(command: &mut Command, stdin: &[u8]) -> Out {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    if let Some(mut input) = child.stdin.take() {
        // A hook that refuses early may close stdin first; its answer is what counts.
        let _ = input.write_all(stdin);
    }
    Out::from(child.wait_with_output().expect("the command ends"))
}

/// `cavra hook <agent> [extra…]` in `dir` with `payload` on stdin and `env` set.
pub fn hook(dir: &Path, agent: &str, payload: &Value, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = cavra(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    hook_by(c, agent, payload, extra)
}

/// `cavra hook <agent> [extra…]` as `cavra` (one of this module's commands, set up as the
/// test needs) with `payload` on stdin.
pub fn hook_by(mut cavra: Command, agent: &str, payload: &Value, extra: &[&str]) -> Out {
    cavra.arg("hook").arg(agent).args(extra);
    run(&mut cavra, payload.to_string().as_bytes())
}

/// Claude Code's answer as one word: deny, ask, allow or none.
pub fn claude_decision(out: &Out) -> &'static str {
    if out.code == 2 {
        return "deny";
    }
    assert_eq!(out.code, 0, "unexpected exit code; stderr: {}", out.stderr);
    if out.stdout.trim().is_empty() {
        return "none";
    }
    match out.json()["hookSpecificOutput"]["permissionDecision"].as_str() {
        Some("deny") => "deny",
        Some("ask") => "ask",
        Some("allow") => "allow",
        _ => "none",
    }
}

/// `cavra <args…> --json` in `dir`, parsed.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    let out = run(cavra(dir).args(args).arg("--json"), b"");
    assert_eq!(out.code, 0, "cavra {args:?}: {}", out.stderr);
    out.json()
}

/// The repository's evidence log, one JSON value per entry (`cavra evidence export`).
pub fn evidence(dir: &Path) -> Vec<Value> {
    let out = run(
        cavra(dir).args(["evidence", "export", "--format", "jsonl", "--output", "-"]),
        b"",
    );
    assert_eq!(out.code, 0, "evidence export: {}", out.stderr);
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Starts `cmd`, whose program a test has just copied into place. While another test thread
/// forks, its child holds the copy's write descriptor until it executes its own program, and
/// running the copy then fails with "text file busy" (ETXTBSY); that moment passes, so the
/// start is tried again for up to two seconds.
pub fn spawn_copied(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Every file under `dir` with its size and modification time (SQLite's shared-memory index
/// `*-shm` only by presence: readers take their read locks in it, which is not content), to
/// show a command changed nothing. What cannot be read is passed over.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p.clone());
            }
            let shm = p.to_string_lossy().ends_with("-shm");
            let modified = if shm {
                std::time::UNIX_EPOCH
            } else {
                meta.modified().unwrap_or(std::time::UNIX_EPOCH)
            };
            out.insert(p, (if shm { 0 } else { meta.len() }, modified));
        }
    }
    out
}
