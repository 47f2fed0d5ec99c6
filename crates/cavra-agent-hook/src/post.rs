//! A tool call that ran (PostToolUse, PostToolUseFailure): its outcome recorded, with the
//! content hash of each file it wrote so the CI gate can bind them, and a question put at the
//! agent's prompt closed as answered.

use crate::answer::Resources;
use crate::options::HookEnv;
use cavra_agents::{Answer, Context, EventKind, HookEvent, Mapping, Verdict};
use cavra_engine::ActionType;
use cavra_redact::Redactor;
use cavra_store::{Outcome, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Whether a written path names one file whose content can be hashed: not `/dev/null`, and not
/// `FOLDER/**` or `**`, which stand for a folder (or the working tree) moved or rewritten as a
/// whole.
fn names_one_file(path: &str) -> bool {
    path != "/dev/null" && path != "**" && !path.ends_with("/**")
}

fn sha256_file(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(format!("sha256:{}", hex::encode(hasher.finalize())))
}

pub(crate) fn post_tool_use(
    res: &mut dyn Resources,
    event: &HookEvent,
    ctx: &Context,
    repo_root: &Path,
    env: &HookEnv,
) -> Result<Answer, String> {
    let reported = event.tool_response.as_ref().and_then(|r| {
        r.get("success")
            .and_then(Value::as_bool)
            .or_else(|| r.get("is_error").and_then(Value::as_bool).map(|e| !e))
            .or_else(|| r.get("error").map(|e| e.is_null()))
    });
    // A failure event (PostToolUseFailure) is a failed outcome whatever its payload says.
    let success = if event.kind == EventKind::PostToolUseFailure {
        Some(false)
    } else {
        reported
    };
    let mut written: Vec<PathBuf> = Vec::new();
    let mut shell = false;
    if let Mapping::Requests(reqs) = cavra_agents::map_tool(event, ctx) {
        for r in reqs {
            match r.action {
                ActionType::WriteFile if names_one_file(&r.target) => {
                    written.push(Path::new(&ctx.cwd).join(&r.target))
                }
                ActionType::ExecuteCommand => shell = true,
                _ => {}
            }
        }
    }
    if shell && let Some(command) = event.tool_input.get("command").and_then(Value::as_str) {
        // Files a shell command wrote get their post-write hash too, so that the CI gate can
        // bind them. Only literal paths: a path with an expansion cannot be named reliably.
        for access in cavra_shell::analyze(command).file_accesses {
            if access.kind == cavra_shell::AccessKind::Write
                && access.literal
                && !access.path.starts_with('~')
                && names_one_file(&access.path)
            {
                written.push(Path::new(&ctx.cwd).join(&access.path));
            }
        }
    }
    written.dedup();
    let store = res.store(repo_root)?;
    let timestamp = cavra_store::Timestamp::now();
    let targets: Vec<Option<PathBuf>> = if written.is_empty() {
        vec![None]
    } else {
        written.into_iter().map(Some).collect()
    };
    for target in targets {
        let sha256 = target.as_deref().and_then(sha256_file);
        store
            .record_outcome(&Outcome {
                tool_use_id: event.tool_use_id.clone(),
                decision_id: None,
                session_id: event.session_id.clone(),
                success,
                sha256,
                // The pack is not loaded after the tool ran; the built-in rules mask the path.
                path: target.map(|p| Redactor::builtin().redact_text(&p.to_string_lossy()).value),
                timestamp,
            })
            .map_err(|e| format!("could not record the outcome: {e}"))?;
    }
    close_prompt_approvals(store, event, env)?;
    Ok(cavra_agents::render(
        event.agent,
        event,
        &Verdict::NoDecision,
    ))
}

/// Ask mode: the tool ran, so the person at the agent's prompt approved it — its pending
/// agent-prompt approval is closed as approved by them (the user this hook runs as, where
/// known) and used by the call. Questions whose result never came are closed at their expiry
/// as declined or abandoned, here and wherever the store expires approvals.
fn close_prompt_approvals(
    store: &mut Store,
    event: &HookEvent,
    env: &HookEnv,
) -> Result<(), String> {
    let person = env
        .var("USER")
        .or_else(|| env.var("LOGNAME"))
        .filter(|u| !u.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("the person at the {} prompt", event.agent));
    // A failed call may have been declined in the prompt: only a result closes as approved.
    let ran = match event.kind {
        EventKind::PostToolUse => event.tool_use_id.as_deref(),
        _ => None,
    };
    store
        .answered_at_prompt(ran, &person, time::OffsetDateTime::now_utc())
        .map_err(|e| format!("could not record the prompt's answer: {e}"))?;
    Ok(())
}
