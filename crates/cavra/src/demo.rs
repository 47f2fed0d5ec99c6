//! `cavra demo before-the-agent-acts`: real Claude Code hook payloads, through the real
//! `cavra hook claude-code` (this binary, spawned), in a throw-away repository.

use crate::support::{self, Failure};
use anyhow::{Context as _, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `cavra demo …`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// An agent session in a temporary repository: every tool call decided before it runs.
    BeforeTheAgentActs,
}

const DEMO_POLICY: &str = "\
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

struct Step {
    title: &'static str,
    tool: &'static str,
    input: Value,
}

fn steps(root: &str) -> Vec<Step> {
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

fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Runs the demo.
pub fn run(cmd: &DemoCommand) -> Result<i32, Failure> {
    let DemoCommand::BeforeTheAgentActs = cmd;
    let colour = support::stdout_is_terminal();
    let exe = std::env::current_exe().map_err(|e| anyhow!("cannot find the cavra binary: {e}"))?;
    let session = format!("demo-{}", uuid::Uuid::now_v7().simple());
    let dir = std::env::temp_dir().join(format!("cavra-{session}"));
    setup_repo(&dir)?;
    let root = dir.to_string_lossy().into_owned();

    println!(
        "{}",
        paint(
            "cavra demo: before the agent acts, cavra decides",
            "1",
            colour
        )
    );
    println!("repository: {root} (policy: .cavra/policy.yaml)\n");
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
        let (code, stdout, stderr) = call_hook(&exe, &dir, &payload)?;
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
        let shown = match decision {
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
        println!(
            "{}. {} — {} {}",
            i + 1,
            step.title,
            step.tool,
            what.strip_prefix(&format!("{root}/")).unwrap_or(what)
        );
        println!("   {shown} {reason}  (exit {code})");
    }

    let store = cavra_store::Store::open_repo(&dir).map_err(|e| anyhow!("{e}"))?;
    let s = store
        .session(&session)
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("the session was not recorded"))?;
    println!(
        "\nsession {}: {} decisions — {} blocked, {} routed for approval, {} warned",
        s.id, s.decisions, s.blocked, s.approvals, s.warned
    );
    println!(
        "recorded: {} (every decision, redacted, recorded before the hook answered)",
        store.path().display()
    );
    drop(store);
    evidence_scene(&exe, &dir, &session)?;
    println!(
        "look closer: cd {root} && {} session show {session}",
        exe.display()
    );
    Ok(support::EXIT_OK)
}

/// Runs `cavra` with arguments in `dir`; its stdout, or an error naming the command.
fn cavra_in(exe: &Path, dir: &Path, args: &[&str]) -> Result<(i32, String), Failure> {
    let out = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run `cavra {}`", args.join(" ")))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

/// The session's evidence: the log verified, a signed bundle written and verified offline, and
/// the same bundle with one byte changed refused.
fn evidence_scene(exe: &Path, dir: &Path, session: &str) -> Result<(), Failure> {
    let must = |(code, out): (i32, String), what: &str| -> Result<String, Failure> {
        if code == 0 {
            Ok(out)
        } else {
            Err(anyhow!("{what} failed: {out}").into())
        }
    };
    let log = must(
        cavra_in(exe, dir, &["evidence", "log", "verify"])?,
        "evidence log verify",
    )?;
    println!(
        "
evidence log: {}",
        log.lines().next().unwrap_or("").trim()
    );
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
    println!("bundle: {}", written.lines().next().unwrap_or("").trim());
    let (code, _) = cavra_in(
        exe,
        dir,
        &["evidence", "verify", &bundle_s, "--trust-root", &trust],
    )?;
    println!("verified offline against the auditor's trust root: exit {code}");
    // One changed byte in the bundle's entries: verification must fail and say where.
    let entries = bundle.join("entries.jsonl");
    let mut bytes = std::fs::read(&entries)?;
    if let Some(b) = bytes.iter_mut().find(|b| **b == b'b') {
        *b = b'B';
    }
    std::fs::write(&entries, &bytes)?;
    let (code, out) = cavra_in(
        exe,
        dir,
        &["evidence", "verify", &bundle_s, "--trust-root", &trust],
    )?;
    let failure = out
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or("")
        .trim_start_matches("FAIL")
        .trim();
    println!("after changing one byte of entries.jsonl: exit {code} — {failure}");
    Ok(())
}

fn setup_repo(dir: &Path) -> Result<(), Failure> {
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

fn call_hook(exe: &Path, dir: &Path, payload: &Value) -> Result<(i32, String, String), Failure> {
    let mut child = Command::new(exe)
        .args(["hook", "claude-code"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `cavra hook claude-code`")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(payload.to_string().as_bytes())
            .context("cannot write the hook payload")?;
    }
    let out = child
        .wait_with_output()
        .context("the hook did not finish")?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
