//! What one hook call is asked to do ([`HookOptions`], the flags of `cavra hook` as a plain
//! struct) and what it reads from its surroundings besides stdin ([`HookEnv`]).

use cavra_agents::Agent;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The most stdin the hook reads; more is refused (deny). One value with the slim client's.
pub const MAX_INPUT_BYTES: u64 = cavra_hook_wire::slim::MAX_INPUT_BYTES as u64;
pub use cavra_agents::settings::HOOK_TIMEOUT_SECS;
/// How long an approval asked for in store mode stays valid, by default (minutes).
pub use cavra_hook_wire::slim::DEFAULT_APPROVAL_TTL_MINUTES;
/// The default deadline, well inside [`HOOK_TIMEOUT_SECS`] (one value with the slim client's).
pub use cavra_hook_wire::slim::DEFAULT_DEADLINE_MS;

/// What to do with require_approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ApprovalMode {
    /// Ask the person at the agent (Claude Code's `ask`).
    Ask,
    /// Headless: create a pending approval in the local store and deny with its id; once
    /// approved, the same request is allowed once.
    Store,
}

/// What the hook does when the API service cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ServerFallback {
    /// Decide with the local policy (and record locally).
    Local,
    /// Deny the tool call.
    Deny,
}

/// One hook call's options: what `cavra hook <agent> …` was given, or what a client sent the
/// hook server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOptions {
    /// The agent whose hook format is on stdin.
    pub agent: Agent,
    /// What require_approval does.
    pub approval_mode: ApprovalMode,
    /// The policy: a path or a built-in id (else CAVRA_POLICY, else the repository's
    /// `.cavra/policy.yaml`; with neither, every tool call is denied).
    pub policy: Option<String>,
    /// How long an approval stays valid, in minutes.
    pub approval_ttl: u64,
    /// Answer deny if no decision is made within this many milliseconds.
    pub deadline_ms: u64,
    /// Refuse unless every pack file of the policy carries a valid signature.
    pub require_signed_policy: bool,
    /// The trust root for policy signatures.
    pub trust_root: Option<PathBuf>,
    /// The API service that decides (token from CAVRA_TOKEN).
    pub server: Option<String>,
    /// When the service cannot be reached.
    pub server_fallback: ServerFallback,
    /// Ask this repository's hook server first.
    pub daemon: bool,
}

impl HookOptions {
    /// The defaults `cavra hook <agent>` runs with.
    pub fn new(agent: Agent) -> HookOptions {
        HookOptions {
            agent,
            approval_mode: ApprovalMode::Ask,
            policy: None,
            approval_ttl: DEFAULT_APPROVAL_TTL_MINUTES,
            deadline_ms: DEFAULT_DEADLINE_MS,
            require_signed_policy: false,
            trust_root: None,
            server: None,
            server_fallback: ServerFallback::Local,
            daemon: false,
        }
    }

    /// The API service named, if any (a blank value names none).
    pub fn service(&self) -> Option<&str> {
        self.server.as_deref().filter(|s| !s.trim().is_empty())
    }
}

/// What a hook decision reads from its surroundings besides stdin: the current folder and the
/// environment variables that can change it. The in-process hook takes them from its own
/// process; the hook server from the client's request, so that both decide alike whatever
/// environment the server itself was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnv {
    /// The current folder, or why it could not be read.
    pub cwd: Result<PathBuf, String>,
    /// The variables in [`HookEnv::wanted`], by name.
    pub vars: BTreeMap<String, OsString>,
}

impl HookEnv {
    /// Whether a variable can change a hook decision: every `CAVRA_*`, and what the home
    /// folder and the pack cache's place derive from.
    pub fn wanted(name: &str) -> bool {
        cavra_hook_wire::client::wanted_var(name)
    }

    /// This process's folder and environment.
    pub fn from_process() -> HookEnv {
        HookEnv {
            cwd: std::env::current_dir().map_err(|e| e.to_string()),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| {
                    let k = k.into_string().ok()?;
                    HookEnv::wanted(&k).then_some((k, v))
                })
                .collect(),
        }
    }

    /// A variable as `std::env::var_os` gives it.
    pub fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(name).map(OsString::as_os_str)
    }

    /// A variable as `std::env::var` gives it: only when set and valid UTF-8.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.var_os(name).and_then(OsStr::to_str)
    }

    /// The home folder, when known (an absolute `HOME`).
    pub(crate) fn home(&self) -> Option<String> {
        self.var("HOME")
            .filter(|h| h.starts_with('/'))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variables_that_can_change_a_decision_are_kept() {
        assert!(HookEnv::wanted("CAVRA_POLICY"));
        assert!(HookEnv::wanted("HOME"));
        assert!(!HookEnv::wanted("PATH_TO_SOMETHING_ELSE"));
        let env = HookEnv {
            cwd: Err("gone".into()),
            vars: [("HOME".to_string(), OsString::from("relative/home"))].into(),
        };
        // A relative HOME names no home folder.
        assert_eq!(env.home(), None);
        assert_eq!(env.var("HOME"), Some("relative/home"));
        assert_eq!(env.var("CAVRA_POLICY"), None);
    }

    #[test]
    fn a_blank_server_names_no_service() {
        let mut options = HookOptions::new(Agent::ClaudeCode);
        assert_eq!(options.service(), None);
        options.server = Some("  ".into());
        assert_eq!(options.service(), None);
        options.server = Some("http://127.0.0.1:1".into());
        assert_eq!(options.service(), Some("http://127.0.0.1:1"));
    }
}
