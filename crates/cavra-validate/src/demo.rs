//! The scripted demo (`cavra demo before-the-agent-acts`): its throw-away repository and
//! policy, the agent's tool calls, and running the `cavra` binary on them as the agent's hooks
//! and a person would.

use crate::ValidateError;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ValidateError {
    let what = what.to_string();
    move |source| ValidateError::Io { what, source }
}

/// The demo repository's policy.
pub const DEMO_POLICY: &str = "\
metadata: {id: cavra-demo, title: cavra demo, version: 1.0.0}
filesystem:
  block_read: [\".env\", \".env.*\"]
  block_write: [\".github/workflows/**\"]
  require_approval_write: [\"iam/**\"]
commands:
  allow: [\"ls*\", \"git status*\", \"npm test*\"]
  block: [\"terraform apply*\"]
mcp:
  block_unknown_servers: true
  allowed_servers: [github]
";

/// One tool call of the demo session.
pub struct Step {
    /// What it shows.
    pub title: &'static str,
    /// The agent's tool.
    pub tool: &'static str,
    /// The tool's input.
    pub input: Value,
}

/// The session's tool calls, for the repository at `root`.
pub fn steps(root: &str) -> Vec<Step> {
    vec![
        Step {
            title: "a safe read",
            tool: "Read",
            input: json!({"file_path": format!("{root}/README.md")}),
        },
        Step {
            title: "a secret read",
            tool: "Read",
            input: json!({"file_path": format!("{root}/.env")}),
        },
        Step {
            title: "a workflow write",
            tool: "Write",
            input: json!({"file_path": format!("{root}/.github/workflows/release.yml"), "content": "on: push\njobs: {}\n"}),
        },
        Step {
            title: "an IAM change",
            tool: "Edit",
            input: json!({"file_path": format!("{root}/iam/admin-role.tf"), "old_string": "ReadOnly", "new_string": "AdministratorAccess"}),
        },
        Step {
            title: "the test suite",
            tool: "Bash",
            input: json!({"command": "npm test", "description": "run the tests"}),
        },
        Step {
            title: "a smuggled apply",
            tool: "Bash",
            input: json!({"command": "terraform plan && terraform apply -auto-approve", "description": "plan"}),
        },
        Step {
            title: "an unknown MCP server",
            tool: "mcp__filesystem__read_file",
            input: json!({"path": "/etc/passwd"}),
        },
    ]
}

/// Runs `cavra` with arguments in `dir`; its stdout, or an error naming the command.
pub fn cavra_in(exe: &Path, dir: &Path, args: &[&str]) -> Result<(i32, String), ValidateError> {
    let out = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(io(&format!("cannot run `cavra {}`", args.join(" "))))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

/// Makes the demo repository at `dir`: git (or a bare `.git` folder), the policy, a README,
/// a secret, a workflows folder and an IAM file.
pub fn setup_repo(dir: &Path) -> Result<(), ValidateError> {
    setup(dir).map_err(io(&format!(
        "setting up the demo repository {}",
        dir.display()
    )))
}

fn setup(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join(".cavra"))?;
    // A real repository when git is installed; a bare `.git` folder marks the root otherwise.
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !git.map(|s| s.success()).unwrap_or(false) {
        std::fs::create_dir_all(dir.join(".git"))?;
    }
    std::fs::write(dir.join(".cavra/policy.yaml"), DEMO_POLICY)?;
    std::fs::write(dir.join("README.md"), "# demo service\n")?;
    std::fs::write(dir.join(".env"), "DATABASE_PASSWORD=not-a-real-secret\n")?;
    std::fs::create_dir_all(dir.join(".github/workflows"))?;
    std::fs::create_dir_all(dir.join("iam"))?;
    std::fs::write(dir.join("iam/admin-role.tf"), "policy = \"ReadOnly\"\n")?;
    Ok(())
}

/// Sends `payload` to `cavra hook claude-code` in `dir`: its exit code, stdout and stderr.
pub fn call_hook(
    exe: &Path,
    dir: &Path,
    payload: &Value,
) -> Result<(i32, String, String), ValidateError> {
    let mut child = Command::new(exe)
        .args(["hook", "claude-code"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io("cannot start `cavra hook claude-code`"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(payload.to_string().as_bytes())
            .map_err(io("cannot write the hook payload"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io("the hook did not finish"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_holds_what_the_steps_touch() {
        let dir = tempfile::tempdir().expect("temp dir");
        setup_repo(dir.path()).expect("set up");
        assert!(dir.path().join(".git").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".cavra/policy.yaml")).expect("policy"),
            DEMO_POLICY
        );
        let root = dir.path().to_string_lossy().into_owned();
        for step in steps(&root) {
            let Some(file) = step.input.get("file_path").and_then(Value::as_str) else {
                continue;
            };
            // Reads and edits touch files that exist; a write may create its file, in a
            // folder that exists.
            let path = Path::new(file);
            if step.tool == "Write" {
                assert!(path.parent().is_some_and(Path::is_dir), "{file}");
            } else {
                assert!(path.is_file(), "{file}");
            }
        }
    }
}
