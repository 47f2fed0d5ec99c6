//! `cavra demo before-the-agent-acts`: real Claude Code hook payloads, through the real
//! `cavra hook claude-code` (this binary, spawned), in a throw-away repository.

use crate::support::{self, Failure};
use anyhow::anyhow;
use cavra_validate::demo::{call_hook, cavra_in, setup_repo, steps};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;

/// `cavra demo …`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// An agent session in a temporary repository: every tool call decided before it runs.
    BeforeTheAgentActs,
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
