//! What a `cavra init` run means from its arguments: which agents, which built-in pack, and
//! what to tell the person after installing.

use cavra_agents::Agent;
use cavra_policy::builtin::{self, BuiltinPack};

/// The agents a run installs or removes: the one named, or with `all` (only to uninstall)
/// every agent. `Err`: a usage error, in words.
pub fn targets(agent: Option<Agent>, all: bool, uninstall: bool) -> Result<Vec<Agent>, String> {
    match (agent, all) {
        (Some(agent), false) => Ok(vec![agent]),
        (None, true) if uninstall => Ok(Agent::ALL.to_vec()),
        (None, true) => Err("--all goes with --uninstall (install agents one at a time)".into()),
        (Some(_), true) => Err("give an agent or --all, not both".into()),
        (None, false) => Err(
            "which agent? claude-code, codex, cursor, gemini or copilot (or --uninstall --all)"
                .into(),
        ),
    }
}

/// The built-in pack written when the repository has none: `explicit`, else `claude-code` for
/// Claude Code alone, else `default`. `Err`: no such built-in pack, with the known ids.
pub fn pack(
    targets: &[Agent],
    explicit: Option<&str>,
    default: &str,
) -> Result<&'static BuiltinPack, String> {
    let fallback = if targets == [Agent::ClaudeCode] {
        "claude-code"
    } else {
        default
    };
    let id = explicit.unwrap_or(fallback);
    builtin::find(id).ok_or_else(|| {
        let known: Vec<&str> = builtin::builtin_packs().iter().map(|p| p.id).collect();
        format!(
            "no built-in pack `{id}` (built-in packs: {})",
            known.join(", ")
        )
    })
}

/// What the person must still do once `agent`'s hooks (`command`) were written: Codex runs a
/// repository's hooks only once they are trusted.
pub fn after_install_note(agent: Agent, command: &str, hooks_changed: bool) -> Option<String> {
    (agent == Agent::Codex && hooks_changed).then(|| {
        format!(
            "Codex runs a repository's hooks only once you trust them: start Codex here, open /hooks and trust `{command}` (Codex asks again whenever the hook command changes)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_agent_installs_and_all_only_uninstalls() {
        assert_eq!(
            targets(Some(Agent::Codex), false, false),
            Ok(vec![Agent::Codex])
        );
        assert_eq!(targets(None, true, true), Ok(Agent::ALL.to_vec()));
        assert!(targets(None, true, false).is_err_and(|e| e.contains("--uninstall")));
        assert!(targets(Some(Agent::Codex), true, true).is_err());
        assert!(targets(None, false, false).is_err_and(|e| e.starts_with("which agent?")));
    }

    #[test]
    fn claude_code_gets_its_own_pack_unless_one_is_named() {
        let base = "cavra-baseline";
        assert_eq!(
            pack(&[Agent::ClaudeCode], None, base).map(|p| p.id),
            Ok("claude-code")
        );
        assert_eq!(pack(&[Agent::Codex], None, base).map(|p| p.id), Ok(base));
        assert_eq!(
            pack(&[Agent::ClaudeCode], Some(base), base).map(|p| p.id),
            Ok(base)
        );
        let unknown = pack(&[Agent::Codex], Some("nope"), base).map(|p| p.id);
        assert!(unknown.is_err_and(|e| e.starts_with("no built-in pack `nope` (built-in packs: ")));
    }

    #[test]
    fn only_codex_asks_to_trust_changed_hooks() {
        assert!(after_install_note(Agent::Codex, "cavra hook codex", true).is_some());
        assert!(after_install_note(Agent::Codex, "cavra hook codex", false).is_none());
        assert!(after_install_note(Agent::ClaudeCode, "x", true).is_none());
    }
}
