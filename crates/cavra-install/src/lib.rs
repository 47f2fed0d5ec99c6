//! `cavra init`: what registering cavra in a repository changes, planned as whole-file changes
//! ([`plan`]), shown as diffs ([`diff`]) and applied ([`apply`]).
//!
//! - the agent's hook settings: `cavra hook <agent>` (or the slim `cavra-hook` client with the
//!   hook server) registered for each event the agent has, merged into what is there; on
//!   uninstall exactly our entries removed, and the file when nothing else is left in it;
//! - `.cavra/policy.yaml` from a built-in pack, unless one exists (removed on uninstall only
//!   while still the pack as written);
//! - `.cavra/.gitignore` at once, so the store, keys and evidence bundles are never committed,
//!   whether or not a hook has run yet;
//! - the prepare-commit-msg git hook that adds the `Cavra-Session` trailer;
//! - with `wrap_mcp`, the project's `.mcp.json` servers behind `cavra mcp proxy`
//!   ([`mcp_json`]).
//!
//! The shared parts (policy, git hook, ignore file) stay while another agent's cavra hooks
//! remain. Planning reads files and asks git where its hooks live; only [`apply`] writes.

#![warn(missing_docs)]

pub mod choice;
pub mod mcp_json;

use cavra_agents::Agent;
use cavra_agents::settings::HOOK_TIMEOUT_SECS;
use cavra_policy::builtin::BuiltinPack;
use mcp_json::{MCP_JSON, PROXY_PROGRAM, wrap_mcp_servers};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Why a plan could not be made or applied.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file cannot be read, written or removed, or a folder created.
    #[error("cannot {what} {}: {error}", path.display())]
    Io {
        /// `read`, `write`, `replace`, `remove`, `create`, `make executable`.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A settings file or `.mcp.json` is not what cavra can merge into; it is never
    /// overwritten.
    #[error("{0}")]
    Unmergeable(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |error| InstallError::Io { what, path, error }
}

/// The first line of a policy file written by init; uninstall removes only such files, and
/// only when unchanged.
const POLICY_HEADER: &str = "# Written by `cavra init` from the built-in pack";

/// Where cavra lives on this machine: what the hook commands and the git hook name.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `cavra` binary running init (the git hook, not committed, names it by this path).
    pub exe: PathBuf,
    /// Whether the slim `cavra-hook` client sits beside it (release builds and
    /// `cargo install` ship both, so where one is found through PATH the other is too).
    pub slim_beside: bool,
}

impl Programs {
    /// This process's binary and whether the slim client sits beside it.
    pub fn of_this_process() -> Result<Programs, InstallError> {
        let exe = std::env::current_exe().map_err(|e| {
            InstallError::Unmergeable(format!("cannot find the cavra binary's path: {e}"))
        })?;
        let slim_beside = exe
            .parent()
            .map(|dir| dir.join("cavra-hook"))
            .is_some_and(|slim| slim.is_file());
        Ok(Programs { exe, slim_beside })
    }

    /// The hook command for an agent, by program name: the settings it goes into are
    /// committed, so it must start on a teammate's machine, in CI and in a cloud agent, where
    /// cavra lives elsewhere (a machine-local absolute path would not start there, and agents
    /// treat a hook that cannot start as non-blocking). With the hook server (`daemon`): the
    /// slim `cavra-hook` client when it ships beside this binary (it starts in a fraction of
    /// the time), else `cavra hook … --daemon`.
    pub fn hook_command(&self, agent: Agent, daemon: bool) -> String {
        self.command_with(agent, "", daemon)
    }

    fn command_with(&self, agent: Agent, options: &str, daemon: bool) -> String {
        match (daemon, self.slim_beside) {
            (true, true) => format!("cavra-hook {agent}{options}"),
            (true, false) => format!("cavra hook {agent}{options} --daemon"),
            (false, _) => format!("cavra hook {agent}{options}"),
        }
    }

    /// Our command in the form asked for (hook server or not; the slim client when there is
    /// one), by program name (an older entry's absolute path is dropped: see
    /// [`Programs::hook_command`]), keeping every option a person added.
    fn upgraded(&self, command: &str, agent: Agent, daemon: bool) -> Option<String> {
        let ours = cavra_agents::settings::parse_hook_command(command, agent)?;
        let options: String = ours.options.iter().map(|o| format!(" {o}")).collect();
        Some(self.command_with(agent, &options, daemon))
    }

    /// The git hook is not committed (it lives in `.git/hooks`), so it names this binary by its
    /// absolute path.
    pub fn trailer_command(&self) -> String {
        format!("{} trailer \"$@\" || true", shell_word(&self.exe))
    }

    fn git_hook_script(&self) -> String {
        format!(
            "#!/bin/sh\n# cavra: adds the Cavra-Session trailer to commits a governed agent makes (written by `cavra init`).\n{}\nexit 0\n",
            self.trailer_command()
        )
    }
}

/// A program path as a shell word (quoted when it holds anything unusual).
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy().into_owned();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Where a program is found through PATH, as a shell resolves it.
fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What to tell the person about a command: its program must resolve through PATH where the
/// agent runs (`here` names the folder that holds cavra).
pub fn path_warning(command: &str, here: Option<&Path>) -> Option<String> {
    let program = command.split_whitespace().next()?;
    if on_path(program).is_some() {
        return None;
    }
    let here = here
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the folder that holds cavra".into());
    Some(format!(
        "warning: `{program}` is not on PATH, so the agent cannot start the hook `{command}` (agents run a hook that cannot start as if it allowed the call); install cavra (`scripts/install`, or `cargo install --path crates/cavra`) or add {here} to PATH, here and wherever the agent runs"
    ))
}

/// Brings our entries already in a list up to date (`--daemon` on or off), in place.
fn upgrade_ours(
    list: &mut [Value],
    grouped: bool,
    agent: Agent,
    programs: &Programs,
    daemon: bool,
) {
    let fix = |h: &mut Value| {
        let Some(obj) = h.as_object_mut() else {
            return;
        };
        for key in ["command", "bash"] {
            if let Some(Value::String(c)) = obj.get_mut(key)
                && let Some(new) = programs.upgraded(c, agent, daemon)
            {
                *c = new;
            }
        }
    };
    for entry in list {
        if grouped {
            if let Some(hs) = entry.get_mut("hooks").and_then(Value::as_array_mut) {
                hs.iter_mut().for_each(fix);
            }
        } else {
            fix(entry);
        }
    }
}

/// Whether a hook command is one of ours: `<…/cavra> hook <agent> …` or
/// `<…/cavra-hook> <agent> …`.
fn is_ours(command: &str, agent: Agent) -> bool {
    cavra_agents::settings::parse_hook_command(command, agent).is_some()
}

/// Where each agent keeps its hooks, and what we register there.
struct Layout {
    file: PathBuf,
    /// (event name, the entry we add).
    entries: Vec<(&'static str, Value)>,
    /// Claude-style files nest entries in `{matcher, hooks: [...]}` groups.
    grouped: bool,
    /// Cursor and Copilot files carry `"version": 1`.
    versioned: bool,
}

fn layout(agent: Agent, root: &Path, command: &str) -> Layout {
    let claude_group = |matcher: Option<&str>, timeout: Value| {
        let mut g = Map::new();
        if let Some(m) = matcher {
            g.insert("matcher".into(), json!(m));
        }
        g.insert(
            "hooks".into(),
            json!([{ "type": "command", "command": command, "timeout": timeout }]),
        );
        Value::Object(g)
    };
    // Every event of an agent gets the same entry; which events, and where, is
    // `cavra_agents::settings` (shared with `cavra doctor`).
    let entry = match agent {
        Agent::ClaudeCode => claude_group(Some("*"), json!(HOOK_TIMEOUT_SECS)),
        // Codex matchers are regular expressions: no matcher matches every tool.
        Agent::Codex => claude_group(None, json!(HOOK_TIMEOUT_SECS)),
        // Gemini CLI timeouts are in milliseconds.
        Agent::Gemini => claude_group(Some(".*"), json!(HOOK_TIMEOUT_SECS * 1000)),
        Agent::Cursor => {
            json!({ "command": command, "timeout": HOOK_TIMEOUT_SECS, "failClosed": true })
        }
        Agent::Copilot => {
            json!({ "type": "command", "bash": command, "cwd": ".", "timeoutSec": HOOK_TIMEOUT_SECS })
        }
    };
    let settings = cavra_agents::settings::hook_settings(agent);
    Layout {
        file: root.join(settings.file),
        entries: settings
            .events
            .iter()
            .map(|event| (*event, entry.clone()))
            .collect(),
        grouped: settings.grouped,
        versioned: settings.versioned,
    }
}

/// Adds our entries where missing and brings ours up to date. Returns the new settings.
fn install(
    mut root: Value,
    l: &Layout,
    agent: Agent,
    programs: &Programs,
    daemon: bool,
) -> Result<Value, InstallError> {
    let obj = root.as_object_mut().ok_or_else(|| {
        InstallError::Unmergeable(format!(
            "{} is not a JSON object; fix or move it first",
            l.file.display()
        ))
    })?;
    if l.versioned && !obj.contains_key("version") {
        obj.insert("version".into(), json!(1));
    }
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or_else(|| {
        InstallError::Unmergeable(format!("`hooks` in {} is not an object", l.file.display()))
    })?;
    for (event, entry) in &l.entries {
        let list = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
        let list = list.as_array_mut().ok_or_else(|| {
            InstallError::Unmergeable(format!(
                "`hooks.{event}` in {} is not a list",
                l.file.display()
            ))
        })?;
        let present = list.iter().any(|e| {
            cavra_agents::settings::entry_commands(e, l.grouped)
                .iter()
                .any(|c| is_ours(c, agent))
        });
        if present {
            upgrade_ours(list, l.grouped, agent, programs, daemon);
        } else {
            list.push(entry.clone());
        }
    }
    Ok(root)
}

/// Removes our entries (and the containers they leave empty).
fn uninstall(mut root: Value, l: &Layout, agent: Agent) -> Value {
    let Some(obj) = root.as_object_mut() else {
        return root;
    };
    if let Some(hooks) = obj.get_mut("hooks").and_then(Value::as_object_mut) {
        for (event, _) in &l.entries {
            let Some(list) = hooks.get_mut(*event).and_then(Value::as_array_mut) else {
                continue;
            };
            if l.grouped {
                for group in list.iter_mut() {
                    if let Some(hs) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                        hs.retain(|h| {
                            !h.get("command")
                                .and_then(Value::as_str)
                                .is_some_and(|c| is_ours(c, agent))
                        });
                    }
                }
                list.retain(|g| {
                    !g.get("hooks")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
                });
            } else {
                list.retain(|e| {
                    !cavra_agents::settings::entry_commands(e, false)
                        .iter()
                        .any(|c| is_ours(c, agent))
                });
            }
            if list.is_empty() {
                hooks.remove(*event);
            }
        }
        if hooks.is_empty() {
            obj.remove("hooks");
        }
    }
    if l.versioned && obj.len() == 1 && obj.get("version") == Some(&json!(1)) {
        obj.remove("version");
    }
    root
}

fn render_json(v: &Value) -> String {
    // A `Value` always serialises.
    let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.push('\n');
    text
}

/// A planned change to one file: `None` means the file is (or becomes) absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file.
    pub path: PathBuf,
    /// Its text now.
    pub before: Option<String>,
    /// Its text once applied.
    pub after: Option<String>,
}

impl Change {
    /// Whether applying it changes anything.
    pub fn changes(&self) -> bool {
        self.before != self.after
    }

    /// `created`, `removed` or `updated`.
    pub fn what(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "created",
            (Some(_), None) => "removed",
            _ => "updated",
        }
    }
}

/// The hook settings of one agent, as they are and as this run leaves them.
fn settings_change(
    agent: Agent,
    root: &Path,
    uninstall: bool,
    programs: &Programs,
    daemon: bool,
) -> Result<Change, InstallError> {
    let command = programs.hook_command(agent, daemon);
    let l = layout(agent, root, &command);
    let before = read_optional(&l.file)?;
    let current: Value = match &before {
        Some(text) if !text.trim().is_empty() => serde_json::from_str(text).map_err(|e| {
            InstallError::Unmergeable(format!(
                "{} is not valid JSON; fix it first, cavra will not overwrite it: {e}",
                l.file.display()
            ))
        })?,
        _ => json!({}),
    };
    let after = if uninstall {
        let v = self::uninstall(current.clone(), &l, agent);
        if v == current {
            before.clone()
        } else if v.as_object().is_some_and(Map::is_empty) {
            None
        } else {
            Some(render_json(&v))
        }
    } else {
        let v = install(current.clone(), &l, agent, programs, daemon)?;
        if v == current {
            before.clone()
        } else {
            Some(render_json(&v))
        }
    };
    Ok(Change {
        path: l.file,
        before,
        after,
    })
}

/// Whether an agent's hook settings in this repository hold a cavra hook. A file that cannot
/// be read or parsed counts as holding one: its hooks may still call cavra, so the shared
/// policy must not be taken from under them.
pub fn installed(agent: Agent, root: &Path) -> bool {
    let l = layout(agent, root, "");
    let text = match std::fs::read_to_string(&l.file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        return true;
    };
    l.entries.iter().any(|(event, _)| {
        doc["hooks"][*event].as_array().is_some_and(|list| {
            list.iter().any(|e| {
                cavra_agents::settings::entry_commands(e, l.grouped)
                    .iter()
                    .any(|c| is_ours(c, agent))
            })
        })
    })
}

/// What one `cavra init` run is asked to do.
#[derive(Debug, Clone)]
pub struct InitOptions<'a> {
    /// The agents whose hooks are installed or removed (one to install; any to remove).
    pub agents: Vec<Agent>,
    /// Remove instead of install.
    pub uninstall: bool,
    /// The built-in pack written to `.cavra/policy.yaml` when there is none.
    pub pack: &'a BuiltinPack,
    /// Claude Code: put the project's `.mcp.json` stdio servers behind `cavra mcp proxy`.
    pub wrap_mcp: bool,
    /// Register the hook with the hook server (`--daemon`, or the slim client).
    pub daemon: bool,
}

/// Every file a run would change, in order, and what to tell the person.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One change per file considered (some may change nothing: see [`Change::changes`]).
    pub changes: Vec<Change>,
    /// Notes for the person (a foreign git hook, shared parts kept, MCP servers left alone).
    pub notes: Vec<String>,
    /// Agents whose cavra hooks remain after an uninstall, keeping the shared parts.
    pub still_used_by: Vec<Agent>,
}

/// Plans a `cavra init` run in the repository at `root`: reads what is there, writes nothing.
pub fn plan(root: &Path, options: &InitOptions, programs: &Programs) -> Result<Plan, InstallError> {
    let targets = &options.agents;
    let mut changes = Vec::new();

    // The hook settings.
    for agent in targets {
        changes.push(settings_change(
            *agent,
            root,
            options.uninstall,
            programs,
            options.daemon,
        )?);
    }
    // The shared parts stay while another agent's cavra hooks remain.
    let still_used_by: Vec<Agent> = if options.uninstall {
        Agent::ALL
            .iter()
            .copied()
            .filter(|a| !targets.contains(a) && installed(*a, root))
            .collect()
    } else {
        Vec::new()
    };
    let remove_shared = options.uninstall && still_used_by.is_empty();

    // The policy.
    let store_dir = root.join(cavra_store::STORE_DIR);
    let policy_path = store_dir.join("policy.yaml");
    let policy_before = read_optional(&policy_path)?;
    let written = |p: &BuiltinPack| format!("{POLICY_HEADER} `{}`; edit freely.\n{}", p.id, p.yaml);
    let policy_after = if remove_shared {
        // Only a file init wrote, still exactly as written, is removed.
        match &policy_before {
            Some(text)
                if cavra_policy::builtin::builtin_packs()
                    .iter()
                    .any(|p| *text == written(p)) =>
            {
                None
            }
            other => other.clone(),
        }
    } else if policy_before.is_some() || options.uninstall {
        policy_before.clone()
    } else {
        Some(written(options.pack))
    };
    let policy_removed = policy_before.is_some() && policy_after.is_none();
    changes.push(Change {
        path: policy_path,
        before: policy_before,
        after: policy_after,
    });

    // `.cavra/.gitignore`, at once: the store, keys and bundles must never be committed, even
    // when `.cavra/` is committed before the first hook call. It goes on uninstall only with
    // the rest, as written, and when no local state is left for it to keep out of git.
    let ignore_path = store_dir.join(".gitignore");
    let ignore_before = read_optional(&ignore_path)?;
    let ignore_after = if !options.uninstall {
        Some(cavra_store::completed_gitignore(ignore_before.as_deref()))
    } else if remove_shared
        && ignore_before.as_deref() == Some(cavra_store::GITIGNORE)
        && only_ignore_left(&store_dir, policy_removed)
    {
        None
    } else {
        ignore_before.clone()
    };
    changes.push(Change {
        path: ignore_path,
        before: ignore_before,
        after: ignore_after,
    });

    // The prepare-commit-msg git hook that adds the Cavra-Session trailer to agent commits.
    let mut note = None;
    if let Some(git_hook) = git_hook_path(root) {
        let ours = programs.git_hook_script();
        let hook_before = read_optional(&git_hook)?;
        let hook_after = match (&hook_before, options.uninstall) {
            (Some(text), true) if *text == ours && remove_shared => None,
            (other, true) => other.clone(),
            (None, false) => Some(ours.clone()),
            (Some(text), false) => {
                if *text != ours && !text.contains(" trailer \"$@\"") {
                    note = Some(format!(
                        "{} exists and is not cavra's: add `{}` to it to get Cavra-Session trailers on agent commits",
                        relative(&git_hook, root),
                        programs.trailer_command()
                    ));
                }
                Some(text.clone())
            }
        };
        changes.push(Change {
            path: git_hook,
            before: hook_before,
            after: hook_after,
        });
    }
    if !still_used_by.is_empty() {
        let names: Vec<&str> = still_used_by.iter().map(|a| a.as_str()).collect();
        note = Some(format!(
            "kept .cavra/policy.yaml and the git hook: still used by {} (remove those with `cavra init <agent> --uninstall`, or everything with `cavra init --uninstall --all`)",
            names.join(", ")
        ));
    }

    // The project's MCP servers, behind the proxy.
    let mut notes: Vec<String> = note.into_iter().collect();
    let mcp_path = root.join(MCP_JSON);
    if targets.contains(&Agent::ClaudeCode)
        && (options.wrap_mcp || options.uninstall)
        && let Some(text) = read_optional(&mcp_path)?
    {
        let doc: Value = serde_json::from_str(&text).map_err(|e| {
            InstallError::Unmergeable(format!(
                "{} is not valid JSON; fix it first, cavra will not overwrite it: {e}",
                mcp_path.display()
            ))
        })?;
        let (wrapped, wrap_notes) = wrap_mcp_servers(doc.clone(), options.uninstall);
        notes.extend(wrap_notes);
        if !options.uninstall
            && wrapped != doc
            && let Some(w) =
                path_warning(&format!("{PROXY_PROGRAM} mcp proxy"), programs.exe.parent())
        {
            notes.push(w);
        }
        let after = if wrapped == doc {
            Some(text.clone())
        } else {
            Some(render_json(&wrapped))
        };
        changes.push(Change {
            path: mcp_path,
            before: Some(text),
            after,
        });
    }
    Ok(Plan {
        changes,
        notes,
        still_used_by,
    })
}

/// The hook settings file an agent's hooks go into in the repository at `root`.
pub fn settings_file(agent: Agent, root: &Path) -> PathBuf {
    layout(agent, root, "").file
}

/// Whether `.cavra/` holds nothing but the `.gitignore` (and the policy, when this run removes
/// it): no store, key or bundle the ignore file still has to keep out of git.
fn only_ignore_left(store_dir: &Path, policy_removed: bool) -> bool {
    let Ok(entries) = std::fs::read_dir(store_dir) else {
        return true;
    };
    entries.flatten().all(|e| {
        let name = e.file_name();
        name == ".gitignore" || (policy_removed && name == "policy.yaml")
    })
}

/// Where git looks for the prepare-commit-msg hook (honours `core.hooksPath` and worktrees);
/// None outside a git repository.
fn git_hook_path(root: &Path) -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--git-path", "hooks/prepare-commit-msg"])
        .current_dir(root)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some(if p.is_absolute() { p } else { root.join(p) })
}

fn read_optional(path: &Path) -> Result<Option<String>, InstallError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Applies one change: the new text written beside the file and renamed over it (a git hook
/// made executable), or the file removed with the folders that held only it.
pub fn apply(c: &Change) -> Result<(), InstallError> {
    match &c.after {
        Some(text) => {
            if let Some(parent) = c.path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            // Write beside and rename, so an interrupted init never leaves half a settings file.
            let tmp = c.path.with_extension("cavra-tmp");
            std::fs::write(&tmp, text).map_err(io("write", &tmp))?;
            std::fs::rename(&tmp, &c.path).map_err(io("replace", &c.path))?;
            if c.path.ends_with("prepare-commit-msg") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&c.path, std::fs::Permissions::from_mode(0o755))
                    .map_err(io("make executable", &c.path))?;
            }
        }
        None => {
            std::fs::remove_file(&c.path).map_err(io("remove", &c.path))?;
            // Remove the folders init created, when nothing else is in them.
            let mut dir = c.path.parent();
            while let Some(d) = dir {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    Ok(())
}

/// A path as shown to the person: relative to the repository root when inside it.
pub fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// A unified diff of two texts (whole-file hunks; these files are small).
pub fn diff(path: &Path, root: &Path, before: Option<&str>, after: Option<&str>) -> String {
    let name = relative(path, root);
    let a: Vec<&str> = before.map(|t| t.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = after.map(|t| t.lines().collect()).unwrap_or_default();
    // Longest common subsequence, then walk it.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!(
        "--- {}\n+++ {}\n@@ -1,{} +1,{} @@\n",
        if before.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".into()
        },
        if after.is_some() {
            format!("b/{name}")
        } else {
            "/dev/null".into()
        },
        a.len(),
        b.len()
    );
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours() {
        assert!(is_ours(
            "/usr/local/bin/cavra hook claude-code",
            Agent::ClaudeCode
        ));
        assert!(is_ours("'/opt/my tools/cavra' hook cursor", Agent::Cursor));
        assert!(is_ours(
            "cavra hook codex --approval-mode store",
            Agent::Codex
        ));
        assert!(!is_ours("cavra hook codex", Agent::ClaudeCode));
        assert!(!is_ours("./lint.sh", Agent::ClaudeCode));
    }

    #[test]
    fn diff_marks_lines() {
        let d = diff(
            Path::new("/r/f"),
            Path::new("/r"),
            Some("a\nb\n"),
            Some("a\nc\n"),
        );
        assert!(
            d.contains(" a\n") && d.contains("-b\n") && d.contains("+c\n"),
            "{d}"
        );
    }

    fn programs() -> Programs {
        Programs {
            exe: PathBuf::from("/opt/cavra tools/cavra"),
            slim_beside: false,
        }
    }

    fn options(agent: Agent, uninstall: bool) -> InitOptions<'static> {
        InitOptions {
            agents: vec![agent],
            uninstall,
            pack: cavra_policy::builtin::find("cavra-baseline").expect("baseline"),
            wrap_mcp: false,
            daemon: true,
        }
    }

    fn apply_all(plan: &Plan) {
        for c in plan.changes.iter().filter(|c| c.changes()) {
            apply(c).expect("apply");
        }
    }

    #[test]
    fn install_then_uninstall_leaves_the_repository_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join(".claude")).expect("mkdir");
        let theirs = "{\"permissions\": {\"allow\": [\"Bash(ls)\"]}}\n";
        std::fs::write(root.join(".claude/settings.json"), theirs).expect("write");
        let planned = plan(root, &options(Agent::ClaudeCode, false), &programs()).expect("plan");
        let what: Vec<(String, &str)> = planned
            .changes
            .iter()
            .filter(|c| c.changes())
            .map(|c| (relative(&c.path, root), c.what()))
            .collect();
        assert!(
            what.contains(&(".claude/settings.json".into(), "updated")),
            "{what:?}"
        );
        assert!(
            what.contains(&(".cavra/policy.yaml".into(), "created")),
            "{what:?}"
        );
        assert!(
            what.contains(&(".cavra/.gitignore".into(), "created")),
            "{what:?}"
        );
        apply_all(&planned);
        let settings = std::fs::read_to_string(root.join(".claude/settings.json")).expect("read");
        assert!(
            settings.contains("cavra hook claude-code --daemon"),
            "{settings}"
        );
        assert!(
            settings.contains("Bash(ls)"),
            "their settings are kept: {settings}"
        );
        assert!(installed(Agent::ClaudeCode, root));
        // A second run changes nothing.
        let again = plan(root, &options(Agent::ClaudeCode, false), &programs()).expect("plan");
        assert!(
            again.changes.iter().all(|c| !c.changes()),
            "{:?}",
            again.changes
        );
        // Uninstall removes exactly what was added.
        apply_all(&plan(root, &options(Agent::ClaudeCode, true), &programs()).expect("plan"));
        let after: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(".claude/settings.json")).expect("read"),
        )
        .expect("json");
        let before: serde_json::Value = serde_json::from_str(theirs).expect("json");
        assert_eq!(after, before);
        assert!(!root.join(".cavra").exists(), "nothing of cavra's is left");
    }

    #[test]
    fn a_settings_file_cavra_cannot_merge_into_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join(".cursor")).expect("mkdir");
        std::fs::write(root.join(".cursor/hooks.json"), "[1, 2]").expect("write");
        let e = plan(root, &options(Agent::Cursor, false), &programs()).expect_err("a list");
        assert!(matches!(e, InstallError::Unmergeable(_)), "{e}");
        std::fs::write(root.join(".cursor/hooks.json"), "{not json").expect("write");
        let e = plan(root, &options(Agent::Cursor, false), &programs()).expect_err("not JSON");
        assert!(e.to_string().contains("is not valid JSON"), "{e}");
    }

    #[test]
    fn the_git_hook_names_this_binary_quoted_and_never_blocks() {
        let script = programs().git_hook_script();
        assert!(
            script.contains("'/opt/cavra tools/cavra' trailer \"$@\" || true"),
            "{script}"
        );
        assert!(script.ends_with("exit 0\n"), "{script}");
        let slim = Programs {
            slim_beside: true,
            ..programs()
        };
        assert_eq!(slim.hook_command(Agent::Codex, true), "cavra-hook codex");
        assert_eq!(slim.hook_command(Agent::Codex, false), "cavra hook codex");
    }
}
