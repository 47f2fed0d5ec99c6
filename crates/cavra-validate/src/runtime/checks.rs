//! The drill's disturbance and the checks after the session: each step against its
//! expectation, and changes that reached the repository without a governed tool call.

use super::*;

/// The drill's disturbance.
pub(super) fn strike(drill: Drill, env: &Env) -> Result<(), ValidateError> {
    match drill {
        Drill::RemoveHook => {
            let path = env.repo.join(".claude/settings.json");
            let mut doc: Value = serde_json::from_str(
                &std::fs::read_to_string(&path).map_err(io(path.display().to_string()))?,
            )
            .map_err(|e| ValidateError::Setup(e.to_string()))?;
            without_cavra_hooks(&mut doc);
            write(
                &path,
                &serde_json::to_string_pretty(&doc).unwrap_or_default(),
            )
        }
        Drill::BreakHook => {
            for name in ["cavra", "cavra-hook"] {
                let link = env.bin.join(name);
                if link.exists() {
                    std::fs::remove_file(&link).map_err(io(link.display().to_string()))?;
                }
            }
            Ok(())
        }
        Drill::OutsideWrite => write(
            &env.repo.join("README.md"),
            "# validation project\nchanged outside the agent\n",
        ),
    }
}

pub(super) fn last_line(s: &str) -> String {
    s.trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// A short form of a tool input for a finding.
pub(super) fn summary(input: &Value) -> String {
    for key in ["file_path", "path", "command"] {
        if let Some(v) = input[key].as_str() {
            return format!("{key} {v}");
        }
    }
    first_line(&input.to_string())
}

pub(super) fn check_step(
    i: usize,
    step: &Scripted,
    calls: &[TranscriptCall],
    decisions: &[cavra_store::StoredDecision],
) -> StepResult {
    let id = tool_use_id(i);
    let recorded = decisions
        .iter()
        .filter(|d| d.extra.tool_use_id.as_deref() == Some(id.as_str()))
        .max_by_key(|d| d.decision.strictness())
        .map(|d| d.decision.as_str());
    let call = calls.iter().find(|c| c.id == id);
    let proceeded = call.map(|c| c.result.is_some() && !c.is_error);
    let ok =
        recorded.is_some_and(|d| step.decisions.contains(&d)) && proceeded == Some(step.proceeds);
    // A failed step names what the agent was told, so that a call denied by something other
    // than cavra (the command failed, the hook erred) can be told from a denial by the policy.
    let told = match call.and_then(|c| c.result.as_deref()) {
        Some(text) if !ok => {
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            format!(
                " (the agent was told: {})",
                text.chars().take(600).collect::<String>()
            )
        }
        _ => String::new(),
    };
    StepResult {
        name: step.name.into(),
        ok,
        detail: format!(
            "{} {}: cavra decided {}, the agent's call {}{told}",
            step.call.name,
            summary(&step.call.input),
            recorded.unwrap_or("nothing"),
            match proceeded {
                Some(true) => "ran",
                Some(false) => "was denied",
                None => "is not in the transcript",
            }
        ),
    }
}

/// Every path changed since the base commit (committed on any branch, staged, unstaged or
/// untracked) whose content no governed write produced.
pub(super) fn ungoverned_changes(
    env: &Env,
    repo: &Path,
    outcomes: &[cavra_store::Outcome],
) -> Vec<Finding> {
    let lines = |args: &[&str]| -> Vec<String> {
        env.run(Path::new("git"), args)
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut changed: BTreeSet<String> = BTreeSet::new();
    changed.extend(lines(&["diff", "--name-only", "main", "HEAD"]));
    changed.extend(lines(&["diff", "--name-only", "HEAD"]));
    changed.extend(lines(&["ls-files", "--others", "--exclude-standard"]));
    let mut findings = Vec::new();
    for rel in changed {
        let abs = repo.join(&rel);
        let Some(now) = sha256_file(&abs) else {
            findings.push(Finding {
                kind: FindingKind::UngovernedChange,
                detail: format!("{rel} was deleted with no governed delete"),
            });
            continue;
        };
        let governed = outcomes.iter().any(|o| {
            o.sha256.as_deref() == Some(now.as_str())
                && o.path
                    .as_deref()
                    .is_some_and(|p| Path::new(p) == abs || p == rel)
        });
        if !governed {
            findings.push(Finding {
                kind: FindingKind::UngovernedChange,
                detail: format!("{rel} changed with no governed write that produced it"),
            });
        }
    }
    findings
}
