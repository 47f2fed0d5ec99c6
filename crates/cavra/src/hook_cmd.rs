//! `cavra hook`: the flags of the agent hook and of `cavra hook daemon status|stop|run`; the
//! hook itself is `cavra-agent-hook`.

use crate::support::{self, Failure};
use cavra_agent_hook::daemon::{self, Paths};
use cavra_agent_hook::{
    ApprovalMode, DEFAULT_APPROVAL_TTL_MINUTES, DEFAULT_DEADLINE_MS, HookOptions, ServerFallback,
};
use cavra_agents::Agent;
use clap::Args;
use std::path::PathBuf;

/// `cavra hook` arguments.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook format is on stdin: claude-code, codex, cursor, gemini, copilot.
    #[arg(value_parser = parse_agent)]
    pub agent: Agent,
    /// What require_approval does: ask a person at the agent, or create a pending approval in
    /// the local store (headless runs, CI).
    #[arg(long, value_enum, default_value_t = ApprovalMode::Ask)]
    pub approval_mode: ApprovalMode,
    /// The policy: a path or a built-in id (default: CAVRA_POLICY, else the repository's
    /// .cavra/policy.yaml; with neither, every tool call is denied).
    #[arg(long, short = 'p', value_name = "PATH|ID")]
    pub policy: Option<String>,
    /// How long an approval stays valid, in minutes: one created in store mode, or the
    /// question recorded in ask mode (unanswered by then, it closes as declined or abandoned).
    #[arg(long, value_name = "MINUTES", default_value_t = DEFAULT_APPROVAL_TTL_MINUTES)]
    pub approval_ttl: u64,
    /// Answer deny if no decision is made within this many milliseconds (keep it below the
    /// agent's hook timeout).
    #[arg(long, value_name = "MS", env = "CAVRA_HOOK_DEADLINE_MS", default_value_t = DEFAULT_DEADLINE_MS)]
    pub deadline_ms: u64,
    /// Refuse (deny every tool call) unless every pack file of the policy carries a valid
    /// signature (PACK.sig) by a key of the trust root. Also on with
    /// CAVRA_REQUIRE_SIGNED_POLICY=1 or `metadata.require_signature: true`.
    #[arg(long)]
    pub require_signed_policy: bool,
    /// The trust root for policy signatures (default: CAVRA_TRUST_ROOT, else
    /// .cavra/trust-root.json).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// The API service that decides (token from CAVRA_TOKEN); the local policy decides only
    /// when it cannot be reached, as --server-fallback says.
    #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// When the service cannot be reached: decide with the local policy (`local`), or deny
    /// (`deny`). A service that answers with an error (a bad token, say) is always a deny.
    #[arg(long, env = "CAVRA_SERVER_FALLBACK", value_enum, default_value_t = ServerFallback::Local)]
    pub server_fallback: ServerFallback,
    /// Ask this repository's hook server (started on first use, stopped after
    /// CAVRA_HOOK_DAEMON_IDLE_SECS idle) instead of loading the policy and store in this
    /// process; when it cannot be reached the hook decides in process, exactly as without.
    #[arg(long)]
    pub daemon: bool,
    /// Answer deny with this message and exit (how the slim `cavra-hook` client renders its
    /// fail-closed answers in the agent's format).
    #[arg(long, hide = true, value_name = "MESSAGE")]
    pub fail_closed: Option<String>,
}

impl HookArgs {
    /// The hook's options.
    fn options(&self) -> HookOptions {
        HookOptions {
            agent: self.agent,
            approval_mode: self.approval_mode,
            policy: self.policy.clone(),
            approval_ttl: self.approval_ttl,
            deadline_ms: self.deadline_ms,
            require_signed_policy: self.require_signed_policy,
            trust_root: self.trust_root.clone(),
            server: self.server.clone(),
            server_fallback: self.server_fallback,
            daemon: self.daemon,
        }
    }
}

/// `cavra hook`: answer an agent's hook, or manage this repository's hook server.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HookCommand {
    /// `cavra hook daemon status|stop`.
    #[command(subcommand)]
    pub sub: Option<HookSub>,
    /// The hook's own arguments.
    #[command(flatten)]
    pub args: Option<HookArgs>,
}

/// Subcommands of `cavra hook`.
#[derive(Debug, clap::Subcommand)]
pub enum HookSub {
    /// This repository's hook server (`--daemon`): status, stop.
    #[command(subcommand)]
    Daemon(DaemonCommand),
}

/// `cavra hook daemon …`: see or stop this repository's hook server.
#[derive(Debug, clap::Subcommand)]
pub enum DaemonCommand {
    /// Whether this repository's hook server runs: pid, calls served, socket.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop this repository's hook server (the next `--daemon` call starts a new one).
    Stop {
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the hook server in the foreground (what `--daemon` starts in the background).
    #[command(hide = true)]
    Run {
        /// The repository root to serve (default: the repository of the current folder).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

fn parse_agent(s: &str) -> Result<Agent, String> {
    s.parse::<Agent>().map_err(|e| e.to_string())
}

/// Runs the hook. Never returns: the process exits with the agent's exit code.
pub fn run(args: &HookArgs) -> ! {
    if let Some(message) = &args.fail_closed {
        cavra_agent_hook::emit(&cavra_agents::render_failure(args.agent, message));
    }
    cavra_agent_hook::run(&args.options())
}

/// Runs `cavra hook …`.
pub fn command(cmd: &HookCommand) -> Result<i32, Failure> {
    match &cmd.sub {
        Some(HookSub::Daemon(d)) => daemon_command(d),
        None => match &cmd.args {
            Some(args) => run(args),
            // clap requires the agent when no subcommand is given; kept for exhaustiveness.
            None => Err(Failure::Usage("name the agent: cavra hook <agent>".into())),
        },
    }
}

/// Runs `cavra hook daemon …`.
fn daemon_command(cmd: &DaemonCommand) -> Result<i32, Failure> {
    let root_of = |explicit: Option<&PathBuf>| -> Result<Paths, Failure> {
        let root = match explicit {
            Some(r) => r.clone(),
            None => support::find_repo_root(&support::current_dir()?),
        };
        Paths::for_root(&root).ok_or_else(|| {
            Failure::Other(anyhow::anyhow!(
                "no hook server for {}: no private socket folder (XDG_RUNTIME_DIR/cavra or /tmp/cavra-UID, mode 0700, yours), or the path is too long",
                root.display()
            ))
        })
    };
    match cmd {
        DaemonCommand::Status { json } => {
            // Only looks: no socket folder is made to find out.
            let root = support::find_repo_root(&support::current_dir()?);
            let state = daemon::look(&root);
            if *json {
                support::print_json(&state.to_json(&root))?;
            } else {
                say(&state.to_text(&root));
            }
            Ok(0)
        }
        DaemonCommand::Stop { json } => {
            let paths = root_of(None)?;
            let was_running =
                daemon::stop(&paths).map_err(|e| Failure::Other(anyhow::anyhow!(e)))?;
            let text = if was_running {
                "stopped"
            } else {
                "not running"
            };
            support::done(
                *json,
                &serde_json::json!({ "root": paths.root, "was_running": was_running }),
                &format!("hook server for {}: {text}", paths.root.display()),
            )
        }
        DaemonCommand::Run { root } => {
            let paths = root_of(root.as_ref())?;
            daemon::serve(paths)
                .map_err(|e| Failure::Other(anyhow::anyhow!("hook server: {e}")))?;
            Ok(0)
        }
    }
}

/// Prints a line on stdout; a reader that stopped early (`| head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
