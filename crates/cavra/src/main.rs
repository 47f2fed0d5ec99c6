//! `cavra`: before the agent acts, cavra decides.
//!
//! The binary only parses arguments and prints; every decision is made by `cavra-engine`.
//! Exit codes: 0 the action may proceed (allow, warn, audit_only, allow_with_attestation) or
//! the command succeeded; 1 error; 2 usage error; 3 require_approval; 4 block.

mod evaluate;
mod policy_cmd;
mod support;

use clap::{Parser, Subcommand};

/// Before the agent acts, cavra decides.
#[derive(Debug, Parser)]
#[command(name = "cavra", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 may proceed / success, 1 error, 2 usage error, 3 require_approval, 4 block."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide one action against a policy pack.
    Evaluate(evaluate::EvaluateArgs),
    /// Work with policy packs: list, validate, explain, test, compile, diff.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

fn run(cli: Cli) -> Result<i32, support::Failure> {
    match &cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Policy(command) => policy_cmd::run(command),
    }
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    };
    std::process::exit(code);
}
