//! One hook call answered: the input checked and parsed in the agent's format, lifecycle
//! events passed through, tool calls decided (`pre`) and their outcomes recorded
//! (`post`). Every failure becomes a deny that says what to fix, and is recorded where
//! the repository has a store.

use crate::options::{HookEnv, HookOptions, MAX_INPUT_BYTES};
use cavra_agents::{Agent, Answer, Context, EventKind};
use cavra_redact::Redactor;
use cavra_store::{NewDecision, Store};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cavra_runtime::policy::LoadedPack;

/// Where a hook decision gets its store and policy. The in-process hook opens both for the
/// one call; the hook server keeps them between calls.
pub trait Resources {
    /// The repository's store and the policy, for a PreToolUse decision.
    fn store_and_policy(
        &mut self,
        args: &HookOptions,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>);
    /// The repository's store alone.
    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String>;
}

/// The in-process hook's resources: opened for one call, closed when the process exits.
#[derive(Default)]
pub struct OneShot {
    store: Option<Store>,
}

impl Resources for OneShot {
    fn store_and_policy(
        &mut self,
        args: &HookOptions,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>) {
        // The store opens while the policy loads: two independent halves of the latency.
        let (store, pack) = std::thread::scope(|scope| {
            let store = scope.spawn(|| open_store(repo_root));
            let pack = load_policy(args, env, repo_root, None);
            let store = store
                .join()
                .unwrap_or_else(|_| Err("opening the decision store panicked".into()));
            (store, pack)
        });
        let store = match store {
            Ok(s) => Ok(self.store.insert(s)),
            Err(e) => Err(e),
        };
        (store, pack)
    }

    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String> {
        let store = open_store(repo_root)?;
        Ok(self.store.insert(store))
    }
}

/// The answer for one hook call, from its arguments, its input (stdin as read, or why it
/// could not be) and its environment: the same function in process and in the hook server.
pub fn answer(
    args: &HookOptions,
    input: Result<&[u8], &String>,
    env: &HookEnv,
    res: &mut dyn Resources,
) -> Answer {
    guarded(args.agent, env, res, |res| {
        let input = input.map_err(String::clone)?;
        handle(args, input, env, res)
    })
}

/// The answer for a hook run: its own, or a deny for a failure or a panic.
fn guarded(
    agent: Agent,
    env: &HookEnv,
    res: &mut dyn Resources,
    f: impl FnOnce(&mut dyn Resources) -> Result<Answer, String>,
) -> Answer {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *res))) {
        Ok(Ok(answer)) => answer,
        Ok(Err(message)) => {
            record_failure(agent, &message, env, res);
            cavra_agents::render_failure(agent, &message)
        }
        Err(_) => cavra_agents::render_failure(
            agent,
            "cavra hit an internal error (see the message above); run `cavra hook` by hand with this payload to reproduce, and report it",
        ),
    }
}

/// The answer for one hook call, or a failure message (answered as a deny).
fn handle(
    args: &HookOptions,
    input: &[u8],
    env: &HookEnv,
    res: &mut dyn Resources,
) -> Result<Answer, String> {
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "the hook input is larger than {} KiB; cavra refuses inputs it will not read whole",
            MAX_INPUT_BYTES / 1024
        ));
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err("the hook input on stdin is empty; cavra expects the agent's hook JSON (is `cavra hook` registered as a command hook?)".into());
    }
    let payload: Value = serde_json::from_slice(input).map_err(|e| {
        format!(
            "the hook input is not valid JSON ({e}); cavra expects the {} hook JSON on stdin",
            args.agent
        )
    })?;
    let event = cavra_agents::parse_event(args.agent, &payload).map_err(|e| e.to_string())?;
    if event.kind == EventKind::Lifecycle {
        // A prompt, a stop, a session start: nothing to decide or record, and a deny here
        // would block the person's prompt or keep the agent from stopping.
        return Ok(cavra_agents::render_neutral(args.agent, &event.event_name));
    }
    let cwd = match event.cwd.as_deref().filter(|c| Path::new(c).is_absolute()) {
        Some(c) => PathBuf::from(c),
        None => env.cwd.clone().map_err(|e| {
            format!("no `cwd` in the hook input and the current folder is unreadable: {e}")
        })?,
    };
    let repo_root = cavra_hook_wire::client::find_repo_root(&cwd);
    let ctx = Context {
        cwd: cwd.to_string_lossy().into_owned(),
        repo_root: repo_root.to_string_lossy().into_owned(),
        home: env.home(),
        known_mcp_servers: Vec::new(),
    };
    match event.kind {
        EventKind::PreToolUse | EventKind::PermissionRequest => {
            let answer = crate::pre::pre_tool_use(args, env, res, &event, &ctx, &repo_root)?;
            // A commit the agent may make gets its session as a trailer (see `trailer`).
            let allowed = answer.exit_code == 0 && !answer.stdout.contains("\"deny\"");
            if allowed
                && let (Some(session), Some(command)) = (
                    event.session_id.as_deref(),
                    event.tool_input.get("command").and_then(Value::as_str),
                )
                // The cheap test first: a second shell parse only for lines that mention it.
                && command.contains("commit")
                && cavra_ci::trailer::runs_git_commit(command)
            {
                cavra_ci::trailer::note_commit(&repo_root, session);
            }
            Ok(answer)
        }
        EventKind::PostToolUse | EventKind::PostToolUseFailure => {
            crate::post::post_tool_use(res, &event, &ctx, &repo_root, env)
        }
        EventKind::Lifecycle => Ok(cavra_agents::render_neutral(args.agent, &event.event_name)),
    }
}

/// Opens the repository's store with its log key, or says why not (a deny).
pub fn open_store(repo_root: &Path) -> Result<Store, String> {
    let mut store = Store::open_repo(repo_root).map_err(|e| {
        format!("cannot open the decision store under {}/.cavra: {e}; decisions must be recorded before cavra answers", repo_root.display())
    })?;
    cavra_runtime::keyfiles::attach_log_key(&mut store, repo_root);
    Ok(store)
}

/// Loads and compiles the policy that decides (the runtime's loader, with the hook's
/// environment). With a cache (the hook server), a pack whose every source still has the same
/// content is not parsed and compiled again; a signed-policy requirement always takes the full
/// path, since signatures and trust roots can change too. Unlike `cavra evaluate`, the hook
/// has no built-in fallback: a repository whose policy went missing must not silently change
/// rules.
pub fn load_policy(
    args: &HookOptions,
    env: &HookEnv,
    repo_root: &Path,
    cache: Option<&mut crate::daemon::PolicyCache>,
) -> Result<Arc<LoadedPack>, String> {
    let base = env.cwd.clone().unwrap_or_else(|_| repo_root.to_path_buf());
    let var = |name: &str| env.var_os(name).map(OsStr::to_os_string);
    let source = cavra_runtime::policy::Source {
        explicit: args.policy.as_deref(),
        repo_root,
        base: &base,
        builtin_fallback: false,
        require_signed: args.require_signed_policy,
        trust_root: args.trust_root.as_deref(),
        var: &var,
    };
    let reference = source
        .reference()
        .map_err(|e| e.to_string().replace("<agent>", args.agent.as_str()))?;
    let signing_required = source.signing_required();
    let mut cache = cache;
    if !signing_required
        && let Some(cache) = cache.as_deref_mut()
        && let Some(hit) = cache.get(&reference, &base)
    {
        return Ok(hit);
    }
    let loaded = Arc::new(source.load(&reference).map_err(|e| e.to_string())?);
    let signed = signing_required || loaded.resolved.document.metadata.require_signature;
    if !signed && let Some(cache) = cache {
        cache.put(&reference, &base, loaded.clone());
    }
    Ok(loaded)
}

/// What store failures start with; they are not recorded in the store that just failed.
const STORE_FAILURES: [&str; 2] = ["cannot open the decision store", "could not record"];

/// Best effort: a call denied for bad input or a bad policy is evidence too. Recorded only
/// where the repository already has a `.cavra/` folder, so a stray call creates nothing.
fn record_failure(agent: Agent, message: &str, env: &HookEnv, res: &mut dyn Resources) {
    if STORE_FAILURES.iter().any(|p| message.starts_with(p)) {
        return;
    }
    let Ok(cwd) = env.cwd.clone() else {
        return;
    };
    let root = cavra_hook_wire::client::find_repo_root(&cwd);
    if !root.join(cavra_store::STORE_DIR).is_dir() {
        return;
    }
    let Ok(store) = res.store(&root) else {
        return;
    };
    let timestamp = cavra_store::Timestamp::now();
    let decision_id = cavra_runtime::new_decision_id();
    let reason = Redactor::builtin().redact_text(message).value;
    let record = json!({
        "decision_id": decision_id,
        "timestamp": timestamp,
        "agent_id": agent.as_str(),
        "action_type": "hook_input",
        "target": "",
        "decision": "block",
        "rule_id": "hook.failure",
        "reason": reason,
        "explicit": false,
    });
    let _ = store.record_decision(&NewDecision {
        decision_id,
        session_id: None,
        agent: Some(agent.as_str().to_string()),
        action_type: cavra_store::Subject::HookInput,
        decision: cavra_engine::Decision::Block,
        rule_id: "hook.failure".into(),
        timestamp,
        fingerprint: String::new(),
        extra: cavra_store::ToolCall {
            cwd: Some(cwd.to_string_lossy().into_owned()),
            tool_use_id: None,
            record,
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_panic_is_answered_with_a_deny() {
        for agent in Agent::ALL {
            let env = HookEnv {
                cwd: Err("none".into()),
                vars: BTreeMap::new(),
            };
            let answer = guarded(agent, &env, &mut OneShot::default(), |_| {
                panic!("simulated bug")
            });
            assert!(answer.stdout.contains("deny"), "{agent}: {answer:?}");
            assert!(
                answer.stderr.contains("internal error") || agent == Agent::Copilot,
                "{agent}: {answer:?}"
            );
            assert!(
                answer.stdout.contains("internal error"),
                "{agent}: {answer:?}"
            );
            // Copilot honours the JSON deny at exit 0; every other agent gets exit 2.
            let blocking = if agent == Agent::Copilot { 0 } else { 2 };
            assert_eq!(answer.exit_code, blocking, "{agent}");
        }
    }
}
