//! The agents' hooks: which agents have cavra's hook installed here, whether each hook
//! command starts on this machine, and the hook server those commands talk to.

use crate::{Finding, HookServerState, Probes, Setup, Status};
use cavra_agents::Agent;
use cavra_agents::settings::{CavraHookCommand, hook_settings, registered};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// An agent with cavra's hooks installed, and its hook commands.
pub struct Installed {
    /// The agent.
    pub agent: Agent,
    /// Its cavra hook commands (one per event registered).
    pub commands: Vec<CavraHookCommand>,
}

/// Whether `path` is a file this user may execute.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where a program named in a hook command is found, as a shell finds it: a path is taken as
/// it is (relative to the repository root, where agents run hooks), a bare name through PATH.
fn resolve(program: &str, root: &Path, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        };
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// One finding per agent whose settings file exists; a warning when no agent has cavra's
/// hooks. Returns the agents with hooks installed.
pub fn check_hooks(setup: &Setup, out: &mut Vec<Finding>) -> Vec<Installed> {
    let root = &setup.repo_root;
    let mut installed = Vec::new();
    for agent in Agent::ALL {
        let settings = hook_settings(agent);
        let file = root.join(settings.file);
        let check = format!("hooks.{agent}");
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.push(
                    Finding::new(
                        check,
                        Status::Fail,
                        format!("{} cannot be read: {e}", settings.file),
                    )
                    .fix(format!(
                        "make {} readable by the user the agent runs as",
                        settings.file
                    )),
                );
                continue;
            }
        };
        let doc: serde_json::Value = match serde_json::from_str(&text) {
            Ok(doc) => doc,
            Err(e) => {
                out.push(
                    Finding::new(
                        check,
                        Status::Fail,
                        format!(
                            "{}:{}:{}: not valid JSON ({e}); the agent may ignore every hook in it",
                            settings.file,
                            e.line(),
                            e.column()
                        ),
                    )
                    .fix(format!(
                        "correct the JSON at that line, then run `cavra init {agent}` to check the hooks"
                    )),
                );
                continue;
            }
        };
        let per_event = registered(&doc, agent);
        let missing: Vec<&str> = per_event
            .iter()
            .filter(|(_, found)| found.is_empty())
            .map(|(event, _)| *event)
            .collect();
        let commands: Vec<CavraHookCommand> =
            per_event.into_iter().flat_map(|(_, found)| found).collect();
        if commands.is_empty() {
            continue;
        }
        let mut problems = Vec::new();
        let mut found_at = Vec::new();
        let mut seen = Vec::new();
        for command in &commands {
            if seen.contains(&command.program) {
                continue;
            }
            seen.push(command.program.clone());
            match resolve(&command.program, root, setup.path.as_deref()) {
                None => problems.push(format!(
                    "`{}` is not found{}: the agent cannot start the hook, and agents run a hook that cannot start as if it allowed the call",
                    command.program,
                    if command.program.contains('/') { "" } else { " on PATH" }
                )),
                Some(at) if command.slim => {
                    // The slim client hands every case it does not serve to `cavra` beside it.
                    let big = at.parent().map(|d| d.join("cavra"));
                    if big.as_deref().is_some_and(executable) {
                        found_at.push(at.display().to_string());
                    } else {
                        problems.push(format!(
                            "{} has no `cavra` beside it; the slim client needs it for every call its server does not answer",
                            at.display()
                        ));
                    }
                }
                Some(at) => found_at.push(at.display().to_string()),
            }
        }
        let shown = commands
            .first()
            .map(|c| {
                let mut words = vec![c.written.clone()];
                if !c.slim {
                    words.push("hook".into());
                }
                words.push(agent.to_string());
                words.extend(c.options.iter().cloned());
                if c.daemon && !c.slim {
                    words.push("--daemon".into());
                }
                words.join(" ")
            })
            .unwrap_or_default();
        if !problems.is_empty() {
            out.push(
                Finding::new(
                    check,
                    Status::Fail,
                    format!("{} registers `{shown}`, which cannot run on this machine", settings.file),
                )
                .details(problems)
                .fix("install cavra so both binaries are on PATH (`scripts/install`, or `cargo install --path crates/cavra`), here and wherever the agent runs"),
            );
        } else if !missing.is_empty() {
            out.push(
                Finding::new(
                    check,
                    Status::Warn,
                    format!(
                        "{} runs `{shown}` but not on {}: those calls are not decided or not recorded",
                        settings.file,
                        missing.join(", ")
                    ),
                )
                .fix(format!("run `cavra init {agent}` to register the missing events")),
            );
        } else {
            out.push(Finding::new(
                check,
                Status::Ok,
                format!(
                    "{} runs `{shown}` ({}) on {}",
                    settings.file,
                    found_at.join(", "),
                    settings.events.join(", ")
                ),
            ));
        }
        installed.push(Installed { agent, commands });
    }
    if installed.is_empty() && !out.iter().any(|f| f.check.starts_with("hooks.")) {
        out.push(
            Finding::new(
                "hooks",
                Status::Warn,
                format!(
                    "no agent's hooks call cavra in {}: nothing an agent does here is decided or recorded",
                    root.display()
                ),
            )
            .fix("run `cavra init claude-code` (or codex, cursor, gemini, copilot) in the repository"),
        );
    }
    installed
}

/// The hook server, when a hook command uses it.
pub fn check_hook_server(
    setup: &Setup,
    installed: &[Installed],
    probes: &dyn Probes,
    out: &mut Vec<Finding>,
) {
    let users: Vec<String> = installed
        .iter()
        .filter(|i| i.commands.iter().any(|c| c.daemon))
        .map(|i| i.agent.to_string())
        .collect();
    if users.is_empty() {
        if !installed.is_empty() {
            out.push(Finding::new(
                "hook_server",
                Status::Info,
                "not used: the hooks decide in their own process on every call (registered with --no-daemon)",
            ));
        }
        return;
    }
    let who = users.join(", ");
    match probes.hook_server(&setup.repo_root) {
        HookServerState::Running(status) => {
            let details = status.lines().map(str::to_string).collect();
            out.push(
                Finding::new(
                    "hook_server",
                    Status::Ok,
                    format!("running; used by the hooks of {who}"),
                )
                .details(details),
            );
        }
        HookServerState::NotRunning { socket } => out.push(Finding::new(
            "hook_server",
            Status::Info,
            format!(
                "not running (socket {}); the next hook call of {who} starts it",
                socket.display()
            ),
        )),
        HookServerState::Stale { socket } => out.push(
            Finding::new(
                "hook_server",
                Status::Info,
                format!(
                    "not running: {} is left by a server that stopped; the next hook call of {who} replaces it",
                    socket.display()
                ),
            )
            .fix("nothing to do; if hook calls are denied with \"the hook server took the call and did not answer\", run `cavra hook daemon stop`"),
        ),
        HookServerState::Unavailable(why) => out.push(
            Finding::new(
                "hook_server",
                Status::Warn,
                format!("cannot run: {why}; every call of {who} decides in its own process (slower)"),
            )
            .fix("make $XDG_RUNTIME_DIR/cavra (or /tmp/cavra-UID) a folder of yours with mode 0700, or register the hooks with `cavra init <agent> --no-daemon`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_through_path_and_paths_as_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let program = bin.join("cavra");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths([bin.as_path()]).expect("PATH");
        // Not executable yet: not found.
        assert_eq!(resolve("cavra", dir.path(), Some(&path)), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            resolve("cavra", dir.path(), Some(&path)),
            Some(program.clone())
        );
        assert_eq!(resolve("cavra", dir.path(), None), None);
        assert_eq!(
            resolve("bin/cavra", dir.path(), None),
            Some(dir.path().join("bin/cavra"))
        );
        assert_eq!(resolve("/nowhere/cavra", dir.path(), Some(&path)), None);
    }
}
