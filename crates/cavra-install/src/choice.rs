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

/// What a person is told once a plan is applied: the plan's `notes`, and after installing
/// `agent` the next step in the agent (when its hooks changed) and a warning when the
/// registered command would not be found. Returns the notes and the warnings.
pub fn after_apply(
    notes: &[String],
    changed: &[&crate::Change],
    agent: Option<Agent>,
    programs: &crate::Programs,
    root: &std::path::Path,
    daemon: bool,
) -> (Vec<String>, Vec<String>) {
    let mut notes = notes.to_vec();
    let mut warnings = Vec::new();
    if let Some(agent) = agent {
        let command = programs.hook_command(agent, daemon);
        warnings.extend(crate::path_warning(&command, programs.exe.parent()));
        let settings_file = crate::settings_file(agent, root);
        let hooks_changed = changed.iter().any(|c| c.path == settings_file);
        notes.extend(after_install_note(agent, &command, hooks_changed));
    }
    (notes, warnings)
}

/// The changed files as `--json` lists them (path relative to `root`, what changed, and with
/// `diffs` the diff).
pub fn changes_json(
    changed: &[&crate::Change],
    root: &std::path::Path,
    diffs: bool,
) -> Vec<serde_json::Value> {
    changed
        .iter()
        .map(|c| {
            let path = crate::relative(&c.path, root);
            if diffs {
                let diff = crate::diff(&c.path, root, c.before.as_deref(), c.after.as_deref());
                serde_json::json!({ "path": path, "change": c.what(), "diff": diff })
            } else {
                serde_json::json!({ "path": path, "change": c.what() })
            }
        })
        .collect()
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

    #[test]
    fn after_installing_codex_the_person_is_told_to_trust_the_hook() {
        let root = std::path::Path::new("/r");
        let programs = crate::Programs {
            exe: "/opt/cavra/bin/cavra".into(),
            slim_beside: true,
        };
        let settings = crate::Change {
            path: crate::settings_file(Agent::Codex, root),
            before: None,
            after: Some("{}\n".into()),
        };
        let planned = ["planned".to_string()];
        let (notes, warnings) = after_apply(
            &planned,
            &[&settings],
            Some(Agent::Codex),
            &programs,
            root,
            true,
        );
        assert_eq!(notes[0], "planned");
        assert!(notes[1].contains("/hooks"), "{notes:?}");
        assert!(warnings.iter().all(|w| w.contains("is not on PATH")));
        // Uninstalling: the plan's notes only.
        let (notes, warnings) = after_apply(&planned, &[&settings], None, &programs, root, true);
        assert_eq!((notes.as_slice(), warnings.len()), (&planned[..], 0));
        let rows = changes_json(&[&settings], root, false);
        assert_eq!(rows[0]["change"], "created");
        assert_eq!(rows[0]["path"], crate::relative(&settings.path, root));
        assert!(rows[0].get("diff").is_none());
        let with = changes_json(&[&settings], root, true);
        assert!(with[0]["diff"].as_str().is_some_and(|d| d.contains("+{}")));
    }
}
