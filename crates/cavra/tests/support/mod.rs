//! What the binary's integration tests share: the `cavra` command with a clean environment,
//! scratch repositories, a hook runner and the evidence log as JSON.
//!
//! Each test file uses part of it, so what one file leaves unused is not dead code.
#![allow(dead_code)]

pub mod service;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The built `cavra` binary.
pub fn cavra_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cavra"))
}

/// The caller's settings that would change what cavra decides or where it asks; every command
/// the tests run goes without them.
pub const UNSET: [&str; 6] = [
    "CAVRA_POLICY",
    "CAVRA_TRUST_ROOT",
    "CAVRA_SERVER",
    "CAVRA_TOKEN",
    "CAVRA_SERVER_FALLBACK",
    "CAVRA_HOOK_DEADLINE_MS",
];

/// `cavra`, run in `dir`, with none of the caller's `CAVRA_*` settings that change decisions
/// ([`UNSET`]) and no pack cache.
pub fn cavra(dir: &Path) -> Command {
    let mut c = Command::new(cavra_bin());
    c.current_dir(dir).env("CAVRA_NO_CACHE", "1");
    for var in UNSET {
        c.env_remove(var);
    }
    c
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

/// Runs `git` in `dir` with a fixed identity; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@e.invalid"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git {args:?}");
}

/// A scratch git repository whose `.cavra/policy.yaml` is `policy`.
pub fn project(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
    std::fs::write(dir.path().join(".cavra/policy.yaml"), policy).expect("policy");
    dir
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
    c.arg("hook").arg(agent).args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c, payload.to_string().as_bytes())
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
