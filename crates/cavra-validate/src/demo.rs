//! The scripted demo (`cavra demo before-the-agent-acts`): its throw-away repository and
//! policy, the agent's tool calls, and running the `cavra` binary on them as the agent's hooks
//! and a person would.

use crate::ValidateError;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ValidateError {
    let what = what.to_string();
    move |source| ValidateError::Io { what, source }
}

/// The demo repository's policy.
pub const DEMO_POLICY: &str = "\
metadata: {id: cavra-demo, title: cavra demo, version: 1.0.0}
filesystem:
  block_read: [\".env\", \".env.*\"]
  block_write: [\".github/workflows/**\"]
  require_approval_write: [\"iam/**\"]
commands:
  allow: [\"ls*\", \"git status*\", \"npm test*\"]
  block: [\"terraform apply*\"]
mcp:
  block_unknown_servers: true
  allowed_servers: [github]
";

/// One tool call of the demo session.
pub struct Step {
    /// What it shows.
    pub title: &'static str,
    /// The agent's tool.
    pub tool: &'static str,
    /// The tool's input.
    pub input: Value,
}

/// The session's tool calls, for the repository at `root`.
pub fn steps(root: &str) -> Vec<Step> {
    vec![
        Step {
            title: "a safe read",
            tool: "Read",
            input: json!({"file_path": format!("{root}/README.md")}),
        },
        Step {
            title: "a secret read",
            tool: "Read",
            input: json!({"file_path": format!("{root}/.env")}),
        },
        Step {
            title: "a workflow write",
            tool: "Write",
            input: json!({"file_path": format!("{root}/.github/workflows/release.yml"), "content": "on: push\njobs: {}\n"}),
        },
        Step {
            title: "an IAM change",
            tool: "Edit",
            input: json!({"file_path": format!("{root}/iam/admin-role.tf"), "old_string": "ReadOnly", "new_string": "AdministratorAccess"}),
        },
        Step {
            title: "the test suite",
            tool: "Bash",
            input: json!({"command": "npm test", "description": "run the tests"}),
        },
        Step {
            title: "a smuggled apply",
            tool: "Bash",
            input: json!({"command": "terraform plan && terraform apply -auto-approve", "description": "plan"}),
        },
        Step {
            title: "an unknown MCP server",
            tool: "mcp__filesystem__read_file",
            input: json!({"path": "/etc/passwd"}),
        },
    ]
}

/// Runs `cavra` with arguments in `dir`; its stdout, or an error naming the command.
pub fn cavra_in(exe: &Path, dir: &Path, args: &[&str]) -> Result<(i32, String), ValidateError> {
    let out = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(io(&format!("cannot run `cavra {}`", args.join(" "))))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

/// Makes the demo repository at `dir`: git (or a bare `.git` folder), the policy, a README,
/// a secret, a workflows folder and an IAM file.
pub fn setup_repo(dir: &Path) -> Result<(), ValidateError> {
    setup(dir).map_err(io(&format!(
        "setting up the demo repository {}",
        dir.display()
    )))
}

fn setup(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join(".cavra"))?;
    // A real repository when git is installed; a bare `.git` folder marks the root otherwise.
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !git.map(|s| s.success()).unwrap_or(false) {
        std::fs::create_dir_all(dir.join(".git"))?;
    }
    std::fs::write(dir.join(".cavra/policy.yaml"), DEMO_POLICY)?;
    std::fs::write(dir.join("README.md"), "# demo service\n")?;
    std::fs::write(dir.join(".env"), "DATABASE_PASSWORD=not-a-real-secret\n")?;
    std::fs::create_dir_all(dir.join(".github/workflows"))?;
    std::fs::create_dir_all(dir.join("iam"))?;
    std::fs::write(dir.join("iam/admin-role.tf"), "policy = \"ReadOnly\"\n")?;
    Ok(())
}

/// Sends `payload` to `cavra hook claude-code` in `dir`: its exit code, stdout and stderr.
pub fn call_hook(
    exe: &Path,
    dir: &Path,
    payload: &Value,
) -> Result<(i32, String, String), ValidateError> {
    let mut child = Command::new(exe)
        .args(["hook", "claude-code"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("cannot start `cavra hook claude-code`"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(payload.to_string().as_bytes())
            .map_err(io("cannot write the hook payload"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io("the hook did not finish"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The text in `code`'s colour on a terminal, else as it is.
fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Writes one line of the demo's output.
fn put(out: &mut dyn Write, line: &str) -> Result<(), ValidateError> {
    writeln!(out, "{line}").map_err(io("writing the demo's output"))
}

fn demo(what: impl std::fmt::Display) -> ValidateError {
    ValidateError::Demo(what.to_string())
}

/// What the hook answered one step: Claude Code's decision word and its reason. No decision
/// is a deny when the hook exited 2, else Claude Code's own permission flow (`none`).
pub fn answer_of(code: i32, stdout: &str, stderr: &str) -> (String, String) {
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    let decision = answer["hookSpecificOutput"]["permissionDecision"]
        .as_str()
        .unwrap_or(if code == 2 { "deny" } else { "none" });
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            if stderr.trim().is_empty() {
                "nothing matched: Claude Code's own permission flow applies".into()
            } else {
                stderr.trim().to_string()
            }
        });
    (decision.to_string(), reason)
}

/// Runs the demo with the `cavra` binary `exe` in a fresh repository under the temporary
/// folder, writing what happens to `out` (`colour`: for a terminal).
pub fn run(exe: &Path, out: &mut dyn Write, colour: bool) -> Result<(), ValidateError> {
    let session = format!("demo-{}", uuid::Uuid::now_v7().simple());
    let dir = std::env::temp_dir().join(format!("cavra-{session}"));
    setup_repo(&dir)?;
    let root = dir.to_string_lossy().into_owned();
    put(
        out,
        &paint(
            "cavra demo: before the agent acts, cavra decides",
            "1",
            colour,
        ),
    )?;
    put(
        out,
        &format!("repository: {root} (policy: .cavra/policy.yaml)\n"),
    )?;
    for (i, step) in steps(&root).iter().enumerate() {
        let payload = json!({
            "session_id": session,
            "transcript_path": format!("{root}/.claude/transcript.jsonl"),
            "cwd": root,
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": step.tool,
            "tool_input": step.input,
            "tool_use_id": format!("toolu_demo_{i}"),
        });
        let (code, stdout, stderr) = call_hook(exe, &dir, &payload)?;
        let (decision, reason) = answer_of(code, &stdout, &stderr);
        let shown = match decision.as_str() {
            "deny" => paint("DENY ", "1;31", colour),
            "ask" => paint("ASK  ", "1;33", colour),
            "allow" => paint("ALLOW", "1;32", colour),
            _ => paint("PASS ", "2", colour),
        };
        let what = step
            .input
            .get("command")
            .or_else(|| step.input.get("file_path"))
            .and_then(Value::as_str)
            .unwrap_or("");
        put(
            out,
            &format!(
                "{}. {} — {} {}",
                i + 1,
                step.title,
                step.tool,
                what.strip_prefix(&format!("{root}/")).unwrap_or(what)
            ),
        )?;
        put(out, &format!("   {shown} {reason}  (exit {code})"))?;
    }

    let store = cavra_store::Store::open_repo(&dir).map_err(demo)?;
    let s = store
        .session(&session)
        .map_err(demo)?
        .ok_or_else(|| demo("the session was not recorded"))?;
    put(
        out,
        &format!(
            "\nsession {}: {} decisions — {} blocked, {} routed for approval, {} warned",
            s.id, s.decisions, s.blocked, s.approvals, s.warned
        ),
    )?;
    put(
        out,
        &format!(
            "recorded: {} (every decision, redacted, recorded before the hook answered)",
            store.path().display()
        ),
    )?;
    drop(store);
    evidence_scene(exe, &dir, &session, out)?;
    put(
        out,
        &format!(
            "look closer: cd {root} && {} session show {session}",
            exe.display()
        ),
    )
}

/// The session's evidence: the log verified, a signed bundle written and verified offline, and
/// the same bundle with one byte changed refused.
fn evidence_scene(
    exe: &Path,
    dir: &Path,
    session: &str,
    out: &mut dyn Write,
) -> Result<(), ValidateError> {
    let must = |(code, out): (i32, String), what: &str| -> Result<String, ValidateError> {
        if code == 0 {
            Ok(out)
        } else {
            Err(demo(format!("{what} failed: {out}")))
        }
    };
    let log = must(
        cavra_in(exe, dir, &["evidence", "log", "verify"])?,
        "evidence log verify",
    )?;
    put(
        out,
        &format!(
            "\nevidence log: {}",
            log.lines().next().unwrap_or("").trim()
        ),
    )?;
    let keys = dir.join("auditor-keys");
    let keys_s = keys.to_string_lossy().into_owned();
    must(
        cavra_in(
            exe,
            dir,
            &[
                "keys", "generate", "--key-id", "auditor", "--output", &keys_s,
            ],
        )?,
        "keys generate",
    )?;
    let trust = dir
        .join("auditor-trust.json")
        .to_string_lossy()
        .into_owned();
    let public = keys.join("auditor.pub").to_string_lossy().into_owned();
    must(
        cavra_in(
            exe,
            dir,
            &[
                "trust",
                "add",
                "--trust-root",
                &trust,
                "--key-id",
                "auditor",
                "--public-key",
                &public,
                "--owner",
                "security team",
            ],
        )?,
        "trust add",
    )?;
    let bundle = dir.join("evidence-bundle");
    let bundle_s = bundle.to_string_lossy().into_owned();
    let private = keys.join("auditor.key").to_string_lossy().into_owned();
    let written = must(
        cavra_in(
            exe,
            dir,
            &[
                "evidence",
                "bundle",
                "--session",
                session,
                "--output",
                &bundle_s,
                "--sign-key",
                &private,
            ],
        )?,
        "evidence bundle",
    )?;
    put(
        out,
        &format!("bundle: {}", written.lines().next().unwrap_or("").trim()),
    )?;
    let (code, _) = cavra_in(
        exe,
        dir,
        &["evidence", "verify", &bundle_s, "--trust-root", &trust],
    )?;
    put(
        out,
        &format!("verified offline against the auditor's trust root: exit {code}"),
    )?;
    // One changed byte in the bundle's entries: verification must fail and say where.
    let entries = bundle.join("entries.jsonl");
    let mut bytes = std::fs::read(&entries).map_err(demo)?;
    if let Some(b) = bytes.iter_mut().find(|b| **b == b'b') {
        *b = b'B';
    }
    std::fs::write(&entries, &bytes).map_err(demo)?;
    let (code, said) = cavra_in(
        exe,
        dir,
        &["evidence", "verify", &bundle_s, "--trust-root", &trust],
    )?;
    let failure = said
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or("")
        .trim_start_matches("FAIL")
        .trim();
    put(
        out,
        &format!("after changing one byte of entries.jsonl: exit {code} — {failure}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_holds_what_the_steps_touch() {
        let dir = tempfile::tempdir().expect("temp dir");
        setup_repo(dir.path()).expect("set up");
        assert!(dir.path().join(".git").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".cavra/policy.yaml")).expect("policy"),
            DEMO_POLICY
        );
        let root = dir.path().to_string_lossy().into_owned();
        for step in steps(&root) {
            let Some(file) = step.input.get("file_path").and_then(Value::as_str) else {
                continue;
            };
            // Reads and edits touch files that exist; a write may create its file, in a
            // folder that exists.
            let path = Path::new(file);
            if step.tool == "Write" {
                assert!(path.parent().is_some_and(Path::is_dir), "{file}");
            } else {
                assert!(path.is_file(), "{file}");
            }
        }
    }

    #[test]
    fn a_hook_answer_reads_as_its_decision_and_reason() {
        let asked = r#"{"hookSpecificOutput":{"permissionDecision":"ask","permissionDecisionReason":"needs approval"}}"#;
        assert_eq!(
            answer_of(0, asked, ""),
            ("ask".to_string(), "needs approval".to_string())
        );
        // No JSON: exit 2 is a deny with stderr's reason; exit 0 leaves the agent's own flow.
        assert_eq!(
            answer_of(2, "", " blocked by x \n"),
            ("deny".to_string(), "blocked by x".to_string())
        );
        assert_eq!(
            answer_of(0, "", ""),
            (
                "none".to_string(),
                "nothing matched: Claude Code's own permission flow applies".to_string()
            )
        );
        assert_eq!(paint("DENY", "1;31", true), "\x1b[1;31mDENY\x1b[0m");
        assert_eq!(paint("DENY", "1;31", false), "DENY");
    }
}
