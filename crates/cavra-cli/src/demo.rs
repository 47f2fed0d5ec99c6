//! `cavra demo before-the-agent-acts`: real Claude Code hook payloads, through the real
//! `cavra hook claude-code` (this binary, spawned), in a throw-away repository. The scene is
//! `cavra_validate::demo`'s; this prints it.

use crate::support::{self, Failure};
use anyhow::anyhow;
use clap::Subcommand;

/// `cavra demo …`
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// An agent session in a temporary repository: every tool call decided before it runs.
    BeforeTheAgentActs,
}

/// Runs the demo.
pub fn run(cmd: &DemoCommand) -> Result<i32, Failure> {
    let DemoCommand::BeforeTheAgentActs = cmd;
    let colour = support::stdout_is_terminal();
    let exe = std::env::current_exe().map_err(|e| anyhow!("cannot find the cavra binary: {e}"))?;
    cavra_validate::demo::run(&exe, &mut std::io::stdout().lock(), colour)?;
    Ok(support::EXIT_OK)
}
