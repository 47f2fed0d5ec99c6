//! `cavra init <agent>`: registers cavra's hook for an agent in this repository (and a policy
//! if there is none); `--dry-run` prints the diff, `--uninstall` removes exactly what init
//! added. The plan and the file changes are `cavra-install`'s; this prints them.

use crate::support::{self, Failure};
use cavra_agents::Agent;
use cavra_install::{Change, InitOptions, InstallError, Programs};
use clap::Args;
use serde_json::json;

/// `cavra init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The agent: claude-code, codex, cursor, gemini, copilot.
    #[arg(value_parser = parse_agent, required_unless_present = "all")]
    pub agent: Option<Agent>,
    /// Print what would change, as a diff, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove this agent's hooks. The shared parts (the policy file init wrote, the git hook,
    /// `.cavra/.gitignore`) go too once no other agent's cavra hooks remain.
    #[arg(long)]
    pub uninstall: bool,
    /// With --uninstall: remove every agent's hooks and the shared parts.
    #[arg(long, requires = "uninstall", conflicts_with = "agent")]
    pub all: bool,
    /// The built-in pack written to .cavra/policy.yaml when there is none (default: claude-code
    /// for Claude Code, cavra-baseline otherwise).
    #[arg(long, value_name = "ID")]
    pub pack: Option<String>,
    /// Claude Code: also rewrite the project's .mcp.json so every stdio MCP server runs behind
    /// `cavra mcp proxy` (its command, args and env kept; `--uninstall` restores them).
    #[arg(long)]
    pub wrap_mcp: bool,
    /// Register the hook without `--daemon`: every call loads the policy and opens the store
    /// in its own process (slower, no background server). Re-running init without it adds
    /// `--daemon` back.
    #[arg(long)]
    pub no_daemon: bool,
    /// Print what changed (or, with --dry-run, would change) as JSON: each file with
    /// `created`, `updated` or `removed` (and its diff with --dry-run), and the notes.
    #[arg(long)]
    pub json: bool,
}

fn parse_agent(s: &str) -> Result<Agent, String> {
    s.parse::<Agent>().map_err(|e| e.to_string())
}

impl From<InstallError> for Failure {
    fn from(e: InstallError) -> Self {
        Failure::Other(e.into())
    }
}

/// Runs `cavra init`.
pub fn run(args: &InitArgs) -> Result<i32, Failure> {
    let targets = cavra_install::choice::targets(args.agent, args.all, args.uninstall)
        .map_err(Failure::Usage)?;
    let label = if args.all {
        "--all".to_string()
    } else {
        targets[0].to_string()
    };
    let pack = cavra_install::choice::pack(&targets, args.pack.as_deref(), support::DEFAULT_PACK)
        .map_err(Failure::Usage)?;
    if args.wrap_mcp && targets != [Agent::ClaudeCode] {
        return Err(Failure::Usage(
            "--wrap-mcp rewrites Claude Code's .mcp.json; use it with `cavra init claude-code`"
                .into(),
        ));
    }
    let root = support::find_repo_root(&support::current_dir()?);
    let programs = Programs::of_this_process()?;
    let plan = cavra_install::plan(
        &root,
        &InitOptions {
            agents: targets.clone(),
            uninstall: args.uninstall,
            pack,
            wrap_mcp: args.wrap_mcp,
            daemon: !args.no_daemon,
        },
        &programs,
    )?;
    let changed: Vec<&Change> = plan.changes.iter().filter(|c| c.changes()).collect();
    let diff =
        |c: &Change| cavra_install::diff(&c.path, &root, c.before.as_deref(), c.after.as_deref());
    if args.dry_run && args.json {
        let files = cavra_install::choice::changes_json(&changed, &root, true);
        support::print_json(&json!({ "agent": label, "dry_run": true, "changes": files }))?;
        return Ok(support::EXIT_OK);
    }
    if args.dry_run {
        if changed.is_empty() {
            println!("cavra init {label}: nothing to change");
        }
        for c in &changed {
            print!("{}", diff(c));
        }
        return Ok(support::EXIT_OK);
    }
    for c in &changed {
        cavra_install::apply(c)?;
    }
    let installed = (!args.uninstall).then(|| targets[0]);
    let (notes, warnings) = cavra_install::choice::after_apply(
        &plan.notes,
        &changed,
        installed,
        &programs,
        &root,
        !args.no_daemon,
    );
    // Notes and warnings go to stderr either way, so a person running with --json sees them.
    for n in &notes {
        eprintln!("note: {n}");
    }
    for w in &warnings {
        eprintln!("{w}");
    }
    if args.json {
        let files = cavra_install::choice::changes_json(&changed, &root, false);
        support::print_json(&json!({
            "agent": label,
            "uninstall": args.uninstall,
            "root": root,
            "changes": files,
            "notes": notes,
            "warnings": warnings,
        }))?;
        return Ok(support::EXIT_OK);
    }
    let verb = if args.uninstall {
        "removed"
    } else {
        "installed"
    };
    if changed.is_empty() {
        println!("cavra init {label}: already {verb}; nothing changed");
    } else {
        for c in &changed {
            println!("{} {}", c.what(), cavra_install::relative(&c.path, &root));
        }
        if !args.uninstall {
            println!(
                "cavra now decides every {label} tool call in {}",
                root.display()
            );
        }
    }
    Ok(support::EXIT_OK)
}
