//! Small helpers of the runtime validation: files, process output, the validation pack,
//! hook settings, and running the agent with a timeout.

use super::*;

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ValidateError {
    let what = what.into();
    move |source| ValidateError::Io { what, source }
}

pub(super) fn write(path: &Path, text: &str) -> Result<(), ValidateError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent.display().to_string()))?;
    }
    std::fs::write(path, text).map_err(io(path.display().to_string()))
}

/// A folder that must be new or empty, created.
pub(super) fn fresh_dir(dir: &Path, what: &str) -> Result<PathBuf, ValidateError> {
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(ValidateError::Setup(format!(
            "the {what} {} is not empty",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(io(dir.display().to_string()))?;
    dir.canonicalize().map_err(io(dir.display().to_string()))
}

pub(super) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The child pack the validation decides with: `claude-code`, trusting the MCP server it
/// drives. (A child pack can only add: everything `claude-code` blocks stays blocked.)
pub(super) fn validation_pack() -> String {
    format!(
        "# cavra validate runtime: the claude-code pack, trusting the MCP server the session drives.\n\
         metadata:\n  id: cavra-validate-runtime\n  title: cavra validate runtime\n  version: 1.0.0\n  inherits: [claude-code]\n\
         mcp:\n  allowed_servers: [{MCP_SERVER}]\n"
    )
}

/// Adds `--approval-mode store` to cavra's hook commands in Claude Code's settings.
pub(super) fn headless_hooks(doc: &mut Value) {
    let Some(events) = doc.get_mut("hooks").and_then(Value::as_object_mut) else {
        return;
    };
    for list in events.values_mut().filter_map(Value::as_array_mut) {
        for group in list.iter_mut() {
            for hook in group
                .get_mut("hooks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(command) = hook.get("command").and_then(Value::as_str) else {
                    continue;
                };
                if cavra_agents::settings::parse_hook_command(command, Agent::ClaudeCode)
                    .is_some_and(|c| !c.options.iter().any(|o| o == "--approval-mode"))
                {
                    hook["command"] = format!("{command} --approval-mode store").into();
                }
            }
        }
    }
}

/// Takes cavra's hook commands out of Claude Code's settings (the remove-hook drill).
pub(super) fn without_cavra_hooks(doc: &mut Value) {
    let Some(events) = doc.get_mut("hooks").and_then(Value::as_object_mut) else {
        return;
    };
    for list in events.values_mut().filter_map(Value::as_array_mut) {
        for group in list.iter_mut() {
            if let Some(hooks) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                hooks.retain(|h| {
                    h.get("command").and_then(Value::as_str).is_none_or(|c| {
                        cavra_agents::settings::parse_hook_command(c, Agent::ClaudeCode).is_none()
                    })
                });
            }
        }
        list.retain(|g| g["hooks"].as_array().is_none_or(|h| !h.is_empty()));
    }
}

/// Whether cavra's hooks are in place and can start: each event cavra registers for holds a
/// cavra hook command whose program resolves through `path`. The finding when not.
pub(super) fn hook_state(repo: &Path, path: &str) -> Option<Finding> {
    let settings = cavra_agents::settings::hook_settings(Agent::ClaudeCode);
    let file = repo.join(settings.file);
    let doc: Value = match std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(doc) => doc,
        None => {
            return Some(Finding {
                kind: FindingKind::HookRemoved,
                detail: format!("{} is missing or unreadable", settings.file),
            });
        }
    };
    for (event, commands) in cavra_agents::settings::registered(&doc, Agent::ClaudeCode) {
        let Some(command) = commands.first() else {
            return Some(Finding {
                kind: FindingKind::HookRemoved,
                detail: format!("{} no longer runs cavra on {event}", settings.file),
            });
        };
        if resolve(&command.program, path).is_none() {
            return Some(Finding {
                kind: FindingKind::HookBroken,
                detail: format!(
                    "the {event} hook's program {:?} no longer starts (not found through PATH)",
                    command.program
                ),
            });
        }
    }
    None
}

/// Where a program is found (a path as is; a name through `path`).
fn resolve(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// The first `apr_…` id in a text.
pub(super) fn approval_id(text: &str) -> Option<String> {
    let start = text.find("apr_")?;
    let id: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (id.len() > 4).then_some(id)
}

pub(super) fn sha256_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
}

/// Runs the agent to its end (or the timeout).
pub(super) fn run_agent(mut cmd: Command) -> Result<Output, ValidateError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ValidateError::Run {
            program: "claude".into(),
            source: e,
        })?;
    // Read both pipes on threads so a full pipe never stalls the agent.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = std::io::Read::read_to_end(s, &mut b);
        }
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = std::io::Read::read_to_end(s, &mut b);
        }
        b
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io("waiting for the agent"))? {
            break status;
        }
        if started.elapsed() > AGENT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ValidateError::Agent(format!(
                "the agent did not finish within {} s",
                AGENT_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}
