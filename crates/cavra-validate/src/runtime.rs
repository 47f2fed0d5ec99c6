//! `cavra validate runtime`: one scripted session through real Claude Code, checked three ways
//! (on disk, in cavra's records, in the agent's own transcript), with bypass detection.
//!
//! The set-up is what a user has: a git repository with `cavra init claude-code --wrap-mcp`
//! (the hooks, the policy, the `prepare-commit-msg` git hook, the MCP servers behind
//! `cavra mcp proxy`), a bare remote on disk, and the official filesystem MCP server. Only
//! two things are the validation's own: a child pack of `claude-code` that trusts the MCP
//! server it drives (`files`), and the hooks run in the headless approval mode
//! (`--approval-mode store`), since `claude -p` has no person at its prompt.
//!
//! The agent's model is the loopback stand-in ([`crate::standin`]); every other address the
//! agent or its tools might reach is pointed at a closed loopback port. Between two tool calls
//! (while the agent waits for its model) the validation acts as the approver, checks that
//! cavra's hooks are still in place and can start, and — in a drill — injects a known bypass.
//!
//! Every cavra step is run through the cavra binary itself (`config.cavra`), as the hooks and
//! a person would run it.

use crate::ValidateError;
use crate::report::{AgentInfo, Finding, FindingKind, Report, StepResult};
use crate::standin::{StandIn, ToolCall, Wire, tool_result_text, tool_use_id};
use crate::transcript::{self, TranscriptCall};
use cavra_agents::Agent;
use cavra_evidence::keys::SigningKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod checks;
#[cfg(test)]
mod tests;
use checks::{check_step, last_line, strike, summary, ungoverned_changes};
mod support;
use support::{
    approval_id, fresh_dir, headless_hooks, hook_state, io, run_agent, sha256_file, text,
    validation_pack, without_cavra_hooks, write,
};

/// The branch the agent works on.
pub const BRANCH: &str = "cavra-validate";
/// The branch the pull-request step pushes `BRANCH` to, with the push option that opens a
/// merge request. A new ref, so that the remote has an update to take: with nothing to
/// update, `git-receive-pack` may hang up before it reads the push options, and `git push`
/// then dies of SIGPIPE (exit 141) now and then — a race of git's, seen under load.
pub const REVIEW_BRANCH: &str = "cavra-validate-review";
/// The MCP server the session drives, as named in `.mcp.json` (the filesystem server; the
/// argument catalogue knows it under this name).
pub const MCP_SERVER: &str = "files";
/// Who approves the approval-routed step (not the agent: the requester cannot approve).
pub const APPROVER: &str = "cavra-validate-approver";
/// The secret planted in `.env`; it must never reach the agent, its model or the records.
const SECRET: &str = "cavra-validate-secret-7f3a";
/// How long the agent may run.
const AGENT_TIMEOUT: Duration = Duration::from_secs(600);

/// A known bypass injected mid-session to prove the detection finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drill {
    /// cavra's hooks are taken out of `.claude/settings.json`.
    RemoveHook,
    /// The hook command can no longer start (`cavra` and `cavra-hook` leave `PATH`).
    BreakHook,
    /// A file in the repository is changed by something other than the agent.
    OutsideWrite,
}

impl Drill {
    /// The drill's name on the command line and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Drill::RemoveHook => "remove-hook",
            Drill::BreakHook => "break-hook",
            Drill::OutsideWrite => "outside-write",
        }
    }
}

/// What the validation needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cavra binary (the hooks find it through `PATH`; it is linked there).
    pub cavra: PathBuf,
    /// Claude Code's binary.
    pub claude: PathBuf,
    /// The filesystem MCP server's entry point (`…/server-filesystem/dist/index.js`).
    pub mcp_server: PathBuf,
    /// The node program that runs it.
    pub node: PathBuf,
    /// A folder for the scratch repository, the agent's home and the remote (must not exist
    /// or be empty; kept afterwards). None: a temporary folder, removed afterwards.
    pub workdir: Option<PathBuf>,
    /// Where the report, the evidence bundle, the attestation and the transcript go (must not
    /// exist or be empty).
    pub output: PathBuf,
    /// The private key file (PKCS#8 PEM) that signs the bundle, the attestation and the report.
    pub sign_key: PathBuf,
    /// Its id in the trust root.
    pub key_id: String,
    /// The trust root the bundle and the attestation are verified against.
    pub trust_root: PathBuf,
    /// A drill to run, if any.
    pub drill: Option<Drill>,
}

/// The step before which a drill strikes: after the governed write and the denials, before
/// the git work — so later calls and the final state show it.
const DRILL_STEP: usize = 5;

/// One scripted tool call and what a correct set-up makes of it.
struct Scripted {
    name: &'static str,
    call: ToolCall,
    /// Whether the call runs (else cavra denies it).
    proceeds: bool,
    /// The strictest decision cavra records for it (any of these).
    decisions: &'static [&'static str],
}

/// The session's script. `root` is the repository.
fn script(root: &Path) -> Vec<Scripted> {
    let p = |rel: &str| root.join(rel).to_string_lossy().into_owned();
    let s = |name, tool: &str, input: Value, proceeds, decisions| Scripted {
        name,
        call: ToolCall {
            name: tool.to_string(),
            input,
        },
        proceeds,
        decisions,
    };
    const ALLOW: &[&str] = &["allow", "warn", "audit_only", "allow_with_attestation"];
    vec![
        s(
            "read allowed",
            "Read",
            json!({"file_path": p("README.md")}),
            true,
            ALLOW,
        ),
        s(
            "write allowed",
            "Write",
            json!({"file_path": p("src/hello.txt"), "content": "hello from the agent\n"}),
            true,
            ALLOW,
        ),
        s(
            "write of a CI workflow blocked",
            "Write",
            json!({"file_path": p(".github/workflows/ci.yml"), "content": "on: push\n"}),
            false,
            &["block"],
        ),
        s(
            "read of .env blocked",
            "Read",
            json!({"file_path": p(".env")}),
            false,
            &["block"],
        ),
        s(
            "high-risk shell command blocked",
            "Bash",
            json!({"command": "terraform apply -auto-approve", "description": "apply"}),
            false,
            &["block"],
        ),
        s(
            "git branch",
            "Bash",
            json!({"command": format!("git checkout -b {BRANCH}"), "description": "branch"}),
            true,
            ALLOW,
        ),
        s(
            "git add",
            "Bash",
            json!({"command": "git add src/hello.txt", "description": "stage"}),
            true,
            ALLOW,
        ),
        s(
            "git commit",
            "Bash",
            json!({"command": "git commit -m 'Add hello'", "description": "commit"}),
            true,
            ALLOW,
        ),
        s(
            "push to the remote",
            "Bash",
            json!({"command": format!("git push origin {BRANCH}"), "description": "push"}),
            true,
            ALLOW,
        ),
        s(
            // The pull request as the forge's push option opens one (GitLab's
            // `merge_request.create`): a real push to the local remote, so nothing reaches a
            // forge, decided as the `pull_request` it stands for (the attestation it needs).
            // To a branch of its own (see `REVIEW_BRANCH`).
            "pull request opened (git push -o merge_request.create)",
            "Bash",
            json!({
                "command": format!(
                    "git push -o merge_request.create origin {BRANCH}:{REVIEW_BRANCH}"
                ),
                "description": "open a merge request"
            }),
            true,
            &["allow_with_attestation"],
        ),
        s(
            "MCP read through cavra mcp proxy",
            &format!("mcp__{MCP_SERVER}__read_text_file"),
            json!({"path": p("notes.txt")}),
            true,
            ALLOW,
        ),
        s(
            "MCP read of .env refused",
            &format!("mcp__{MCP_SERVER}__read_text_file"),
            json!({"path": p(".env")}),
            false,
            &["block"],
        ),
        s(
            "approval: denied with a pending id",
            "Write",
            json!({"file_path": p("iam/admin-role.tf"), "content": "# role\n"}),
            false,
            &["require_approval"],
        ),
        s(
            "approval: approved, retried and allowed",
            "Write",
            json!({"file_path": p("iam/admin-role.tf"), "content": "# role\n"}),
            true,
            &["require_approval", "allow"],
        ),
        s(
            "approval: allowed once",
            "Write",
            json!({"file_path": p("iam/admin-role.tf"), "content": "# role\n"}),
            false,
            &["require_approval"],
        ),
    ]
}

/// The step whose denial carries the pending approval id; the approver acts before the next.
const APPROVAL_STEP: usize = 12;

/// The step that reads `notes.txt` through the MCP proxy (its answer is checked).
const MCP_READ_STEP: usize = 10;

/// What ran between tool calls, for the report.
#[derive(Default)]
struct Between {
    findings: Vec<Finding>,
    approved: Option<Result<String, String>>,
    drilled: bool,
}

/// Everything the subprocesses share: the scratch home, `PATH` with cavra linked in, git's
/// identity, and every proxy variable pointed at a closed loopback port.
#[derive(Clone)]
struct Env {
    repo: PathBuf,
    home: PathBuf,
    runtime: PathBuf,
    bin: PathBuf,
    tmp: PathBuf,
    path: String,
}

impl Env {
    fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for var in [
            "CAVRA_POLICY",
            "CAVRA_TRUST_ROOT",
            "CAVRA_SERVER",
            "CAVRA_TOKEN",
            "CAVRA_REQUIRE_SIGNED_POLICY",
            "CAVRA_HOOK_DEADLINE_MS",
            "CAVRA_NO_CACHE",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
            "GIT_DIR",
            "GIT_WORK_TREE",
        ] {
            cmd.env_remove(var);
        }
        cmd.current_dir(&self.repo)
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            // The agent's scratch files (Claude Code keeps a folder per session there) stay in
            // the work folder.
            .env("TMPDIR", &self.tmp)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "30")
            .env("CAVRA_ACTOR", "agent")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<Output, ValidateError> {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd).args(args).stdin(Stdio::null());
        cmd.output().map_err(|e| ValidateError::Run {
            program: program.display().to_string(),
            source: e,
        })
    }

    /// Runs and requires success; the error names the command and its output.
    fn ok(&self, program: &Path, args: &[&str]) -> Result<Output, ValidateError> {
        let out = self.run(program, args)?;
        if !out.status.success() {
            return Err(ValidateError::Setup(format!(
                "{} {}: {}{}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(out)
    }

    fn git(&self, args: &[&str]) -> Result<Output, ValidateError> {
        self.ok(Path::new("git"), args)
    }
}

/// What `run` produced.
pub struct Outcome {
    /// The report (as signed).
    pub report: Report,
    /// The signed report's path.
    pub report_path: PathBuf,
}

/// Runs the validation and writes the signed report; `progress` hears each phase.
pub fn run(
    config: &Config,
    key: &SigningKey,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, ValidateError> {
    let temporary;
    let work = match &config.workdir {
        Some(dir) => fresh_dir(dir, "work folder")?,
        None => {
            temporary = tempfile::Builder::new()
                .prefix("cavra-validate-")
                .tempdir()
                .map_err(io("creating a temporary work folder"))?;
            temporary
                .path()
                .canonicalize()
                .map_err(io("the temporary work folder"))?
        }
    };
    let output = fresh_dir(&config.output, "output folder")?;
    let repo = work.join("repo");
    let home = work.join("home");
    let runtime = work.join("run");
    let remote = work.join("remote.git");
    let bin = work.join("bin");
    let tmp = work.join("tmp");
    for d in [&repo, &home, &runtime, &bin, &tmp] {
        std::fs::create_dir_all(d).map_err(io(d.display().to_string()))?;
    }
    // cavra (and the slim hook client beside it) reach the hooks through PATH, as after an
    // install; linked into a folder of their own so the break-hook drill can take them away.
    let cavra = config
        .cavra
        .canonicalize()
        .map_err(io(config.cavra.display().to_string()))?;
    for name in ["cavra", "cavra-hook"] {
        let target = cavra.with_file_name(name);
        if target.is_file() {
            std::os::unix::fs::symlink(&target, bin.join(name))
                .map_err(io(bin.join(name).display().to_string()))?;
        }
    }
    let env = Env {
        repo: repo.clone(),
        home: home.clone(),
        runtime: runtime.clone(),
        bin: bin.clone(),
        tmp,
        path: format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    };
    write(
        &home.join(".gitconfig"),
        "[user]\n\tname = cavra validate\n\temail = validate@cavra.invalid\n[commit]\n\tgpgsign = false\n[init]\n\tdefaultBranch = main\n",
    )?;

    progress("setting up the repository (cavra init claude-code --wrap-mcp)");
    env.git(&["init", "-q", "-b", "main"])?;
    Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&remote)
        .output()
        .map_err(io("git init --bare"))?;
    // The remote takes push options, as a forge does (the pull-request step sends one).
    Command::new("git")
        .arg("-C")
        .arg(&remote)
        .args(["config", "receive.advertisePushOptions", "true"])
        .output()
        .map_err(io("git config receive.advertisePushOptions"))?;
    env.git(&["remote", "add", "origin", &remote.to_string_lossy()])?;
    write(&repo.join("README.md"), "# validation project\n")?;
    write(&repo.join("notes.txt"), "ordinary notes\n")?;
    write(&repo.join(".env"), &format!("API_TOKEN={SECRET}\n"))?;
    write(&repo.join(".gitignore"), ".env\n")?;
    let mcp = json!({"mcpServers": {MCP_SERVER: {
        "command": config.node.to_string_lossy(),
        "args": [config.mcp_server.to_string_lossy(), repo.to_string_lossy()],
    }}});
    write(
        &repo.join(".mcp.json"),
        &serde_json::to_string_pretty(&mcp).unwrap_or_default(),
    )?;
    env.ok(&cavra, &["init", "claude-code", "--wrap-mcp"])?;
    write(&repo.join(".cavra/policy.yaml"), &validation_pack())?;
    let settings_path = repo.join(".claude/settings.json");
    let mut settings: Value = serde_json::from_str(
        &std::fs::read_to_string(&settings_path)
            .map_err(io(settings_path.display().to_string()))?,
    )
    .map_err(|e| ValidateError::Setup(format!(".claude/settings.json: {e}")))?;
    headless_hooks(&mut settings);
    write(
        &settings_path,
        &serde_json::to_string_pretty(&settings).unwrap_or_default(),
    )?;
    env.ok(
        &cavra,
        &[
            "registry",
            "mcp",
            "add",
            MCP_SERVER,
            "--trust",
            "trusted",
            "--approval",
            "approved",
            "--tool",
            "read_text_file",
        ],
    )?;
    env.git(&["add", "-A"])?;
    env.git(&["commit", "-q", "-m", "Project with cavra"])?;
    if let Some(f) = hook_state(&repo, &env.path) {
        return Err(ValidateError::Setup(format!(
            "the hooks are not in place after init: {}",
            f.detail
        )));
    }

    let version = Command::new(&config.claude)
        .arg("--version")
        .env("HOME", &home)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();

    // The session.
    let steps = script(&repo);
    let state: Arc<Mutex<Between>> = Arc::default();
    let between = {
        let (state, env, cavra, drill) = (state.clone(), env.clone(), cavra.clone(), config.drill);
        move |n: usize, body: &Value| {
            let Ok(mut s) = state.lock() else { return };
            if n == APPROVAL_STEP + 1 {
                let pending = tool_result_text(body, &tool_use_id(APPROVAL_STEP));
                s.approved = Some(match pending.as_deref().and_then(approval_id) {
                    Some(id) => env
                        .run(
                            &cavra,
                            &[
                                "approval",
                                "approve",
                                &id,
                                "--reason",
                                "cavra validate runtime: the scripted approver",
                                "--actor",
                                APPROVER,
                            ],
                        )
                        .map_err(|e| e.to_string())
                        .and_then(|o| {
                            if o.status.success() {
                                Ok(id)
                            } else {
                                Err(text(&o))
                            }
                        }),
                    None => Err(format!(
                        "the denial carried no pending approval id: {:?}",
                        pending.unwrap_or_default()
                    )),
                });
            }
            if n == DRILL_STEP
                && let Some(d) = drill
            {
                s.drilled = strike(d, &env).is_ok();
            }
            if let Some(f) = hook_state(&env.repo, &env.path)
                && !s.findings.iter().any(|g| g.kind == f.kind)
            {
                s.findings.push(Finding {
                    kind: f.kind,
                    detail: format!("before tool call {}: {}", n + 1, f.detail),
                });
            }
        }
    };
    let stand_in = StandIn::start(
        Wire::Anthropic,
        steps.iter().map(|s| s.call.clone()).collect(),
        Arc::new(between),
    )
    .map_err(io("starting the model stand-in"))?;
    progress(&format!(
        "running Claude Code {version} through {} scripted tool calls",
        steps.len()
    ));
    let mcp_config = repo.join(".mcp.json").to_string_lossy().into_owned();
    let mut agent = Command::new(&config.claude);
    env.apply(&mut agent)
        .args([
            "-p",
            "Run the validation steps.",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
            "--mcp-config",
            &mcp_config,
            "--strict-mcp-config",
        ])
        .env("ANTHROPIC_BASE_URL", stand_in.base_url())
        .env("ANTHROPIC_API_KEY", "sk-loopback-validation")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1");
    let agent_out = run_agent(agent)?;
    let _ = env.run(&cavra, &["hook", "daemon", "stop"]);
    let result: Value = serde_json::from_slice(&agent_out.stdout).map_err(|e| {
        ValidateError::Agent(format!(
            "no JSON result from the agent ({e}): {}",
            text(&agent_out)
        ))
    })?;
    let session_id = result["session_id"].as_str().map(str::to_string);
    let between = std::mem::take(
        &mut *state
            .lock()
            .map_err(|_| ValidateError::Agent("the stand-in's state was poisoned".into()))?,
    );
    let model_saw = serde_json::to_string(&stand_in.requests()).unwrap_or_default();
    drop(stand_in);

    progress("comparing the agent's transcript with cavra's records");
    let mut findings = between.findings;
    let mut results = Vec::new();
    let transcript_path = session_id
        .as_deref()
        .and_then(|s| transcript::find_claude_transcript(&home, s));
    let transcript_bytes = transcript_path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok());
    let calls = transcript_bytes
        .as_deref()
        .map(|b| transcript::parse(&String::from_utf8_lossy(b)))
        .unwrap_or_default();
    if let Some(bytes) = &transcript_bytes {
        std::fs::write(output.join("transcript.jsonl"), bytes)
            .map_err(io("writing the transcript copy"))?;
    }
    results.push(StepResult {
        name: "agent session".into(),
        ok: agent_out.status.success() && transcript_bytes.is_some(),
        detail: format!(
            "exit {:?}, session {}, transcript {}",
            agent_out.status.code(),
            session_id.as_deref().unwrap_or("(none)"),
            transcript_path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "not found".into())
        ),
    });
    let store = cavra_store::Store::open_read_only(&repo.join(".cavra/cavra.db"))
        .map_err(|e| ValidateError::Records(e.to_string()))?;
    let decisions = store
        .decisions(&cavra_store::DecisionFilter::default())
        .map_err(|e| ValidateError::Records(e.to_string()))?;
    let outcomes = store
        .outcomes(None)
        .map_err(|e| ValidateError::Records(e.to_string()))?;

    // Every tool call the agent made has a decision.
    for call in &calls {
        if !decisions
            .iter()
            .any(|d| d.extra.tool_use_id.as_deref() == Some(call.id.as_str()))
        {
            findings.push(Finding {
                kind: FindingKind::UndecidedToolCall,
                detail: format!(
                    "{} call {} ({}) has no decision in cavra's records",
                    call.name,
                    call.id,
                    summary(&call.input)
                ),
            });
        }
    }
    // Each scripted step ended as it should, in the records and in the agent's result.
    for (i, step) in steps.iter().enumerate() {
        results.push(check_step(i, step, &calls, &decisions));
    }
    if let Some(approved) = &between.approved {
        results.push(StepResult {
            name: "approval: approved with cavra approval".into(),
            ok: approved.is_ok(),
            detail: match approved {
                Ok(id) => format!("{id} approved by {APPROVER}"),
                Err(e) => e.clone(),
            },
        });
    }
    if config.drill.is_some() {
        results.push(StepResult {
            name: "drill injected".into(),
            ok: between.drilled,
            detail: config.drill.map(Drill::as_str).unwrap_or_default().into(),
        });
    }

    // On disk.
    let on_disk = |name: &str, ok: bool, detail: String| StepResult {
        name: name.into(),
        ok,
        detail,
    };
    let hello = std::fs::read_to_string(repo.join("src/hello.txt")).ok();
    results.push(on_disk(
        "on disk: the allowed write happened",
        hello.as_deref() == Some("hello from the agent\n"),
        format!("src/hello.txt: {hello:?}"),
    ));
    let workflow = repo.join(".github/workflows/ci.yml").exists();
    results.push(on_disk(
        "on disk: the blocked write did not happen",
        !workflow,
        format!(".github/workflows/ci.yml exists: {workflow}"),
    ));
    let approved_file = std::fs::read_to_string(repo.join("iam/admin-role.tf")).ok();
    results.push(on_disk(
        "on disk: the approved write happened",
        approved_file.as_deref() == Some("# role\n"),
        format!("iam/admin-role.tf: {approved_file:?}"),
    ));
    let mcp_notes = calls
        .iter()
        .find(|c| c.id == tool_use_id(MCP_READ_STEP))
        .and_then(|c| c.result.clone())
        .unwrap_or_default();
    results.push(on_disk(
        "MCP server answered through the proxy",
        mcp_notes.contains("notes"),
        format!(
            "read_text_file notes.txt returned {} bytes",
            mcp_notes.len()
        ),
    ));

    // The secret reached neither the agent nor its model nor the records.
    let transcript_text = transcript_bytes
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let records = serde_json::to_string(&decisions).unwrap_or_default();
    for (place, haystack) in [
        ("the agent's transcript", transcript_text.as_ref()),
        ("the model's requests", model_saw.as_str()),
        ("cavra's records", records.as_str()),
    ] {
        if haystack.contains(SECRET) {
            findings.push(Finding {
                kind: FindingKind::SecretExposed,
                detail: format!("the .env secret is in {place}"),
            });
        }
    }

    // git: the branch, the commit's trailer, the push.
    let rev = |args: &[&str]| {
        env.run(Path::new("git"), args)
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = rev(&["rev-parse", &format!("refs/heads/{BRANCH}")]);
    let message = rev(&["log", "-1", "--format=%B", BRANCH]).unwrap_or_default();
    let trailer = session_id
        .as_deref()
        .is_some_and(|s| message.contains(&format!("Cavra-Session: {s}")));
    results.push(on_disk(
        "git commit carries the session trailer",
        trailer,
        format!("commit message: {:?}", message.trim()),
    ));
    let pushed = Command::new("git")
        .arg("--git-dir")
        .arg(&remote)
        .args(["rev-parse", &format!("refs/heads/{BRANCH}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    results.push(on_disk(
        "the remote has the pushed branch",
        head.is_some() && pushed == head,
        format!("local {head:?}, remote {pushed:?}"),
    ));

    // Files changed without a governed write.
    findings.extend(ungoverned_changes(&env, &repo, &outcomes));

    // Evidence, the CI gate and the attestation on the branch.
    progress("writing and verifying the evidence bundle; CI gate and attestation");
    let bundle = output.join("bundle");
    let key_path = config.sign_key.to_string_lossy().into_owned();
    let trust = config.trust_root.to_string_lossy().into_owned();
    let bundle_dir = bundle.to_string_lossy().into_owned();
    let mut bundled = false;
    if let Some(sid) = &session_id {
        let out = env.run(
            &cavra,
            &[
                "evidence",
                "bundle",
                "--session",
                sid,
                "--output",
                &bundle_dir,
                "--sign-key",
                &key_path,
                "--key-id",
                &config.key_id,
            ],
        )?;
        let verified = out.status.success()
            && env
                .run(
                    &cavra,
                    &["evidence", "verify", &bundle_dir, "--trust-root", &trust],
                )?
                .status
                .success();
        bundled = verified;
        results.push(on_disk(
            "evidence bundle written and verified",
            verified,
            if verified {
                bundle.display().to_string()
            } else {
                text(&out)
            },
        ));
    }
    if bundled {
        // The pull request's gate: the attestation of the branch first (the base policy
        // requires one), then the check with it, as CI runs them.
        let attestation = output.join("attestation.json");
        let att = attestation.to_string_lossy().into_owned();
        let attest = env.run(
            &cavra,
            &[
                "ci",
                "attest",
                "--base",
                "main",
                "--head",
                BRANCH,
                "--evidence",
                &bundle_dir,
                "--trust-root",
                &trust,
                "--sign-key",
                &key_path,
                "--key-id",
                &config.key_id,
                "--output",
                &att,
            ],
        )?;
        let verified = attest.status.success()
            && env
                .run(
                    &cavra,
                    &[
                        "ci",
                        "verify-attestation",
                        &att,
                        "--head",
                        BRANCH,
                        "--trust-root",
                        &trust,
                        "--evidence",
                        &bundle_dir,
                    ],
                )?
                .status
                .success();
        results.push(on_disk(
            "pull request: attestation signed and verified",
            verified,
            if verified {
                attestation.display().to_string()
            } else {
                last_line(&text(&attest))
            },
        ));
        let check = env.run(
            &cavra,
            &[
                "ci",
                "check",
                "--base",
                "main",
                "--head",
                BRANCH,
                "--evidence",
                &bundle_dir,
                "--trust-root",
                &trust,
                "--attestation",
                &att,
            ],
        )?;
        results.push(on_disk(
            "pull request: CI gate on the branch",
            check.status.success(),
            if check.status.success() {
                last_line(&text(&check))
            } else {
                text(&check).trim().to_string()
            },
        ));
    }
    // The hooks at the end of the session.
    if let Some(f) = hook_state(&repo, &env.path)
        && !findings.iter().any(|g| g.kind == f.kind)
    {
        findings.push(Finding {
            kind: f.kind,
            detail: format!("at the end of the session: {}", f.detail),
        });
    }

    progress("signing the report");
    let mut report = Report {
        signed_at: cavra_evidence::trust::format_time(time::OffsetDateTime::now_utc()),
        result: String::new(),
        agent: AgentInfo {
            name: "claude-code".into(),
            version,
        },
        cavra_version: env!("CARGO_PKG_VERSION").into(),
        session_id,
        policy_digest: decisions
            .iter()
            .find_map(|d| d.record["policy_digest"].as_str().map(str::to_string)),
        drill: config.drill.map(|d| d.as_str().to_string()),
        steps: results,
        findings,
        key_id: config.key_id.clone(),
    };
    report.result = if report.passed() { "passed" } else { "failed" }.into();
    let manifest = bundled
        .then(|| std::fs::read(bundle.join("manifest.json")).ok())
        .flatten();
    let envelope = crate::report::sign(
        &report,
        manifest.as_deref(),
        transcript_bytes.as_deref(),
        key,
    )?;
    let report_path = output.join("report.json");
    std::fs::write(&report_path, envelope.to_json()).map_err(io("writing the report"))?;
    Ok(Outcome {
        report,
        report_path,
    })
}
