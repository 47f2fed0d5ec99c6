//! `cavra`: before the agent acts, cavra decides.
//!
//! The binary only parses arguments and prints; every decision is made by `cavra-engine`.
//! Exit codes: 0 the action may proceed (allow, warn, audit_only, allow_with_attestation) or
//! the command succeeded; 1 error; 2 usage error; 3 require_approval; 4 block.

mod evaluate;
mod explain_cmd;
mod hook_cmd;
mod policy_cmd;

// The cold subcommands live in cavra-cli (built for size); see its crate documentation.
use cavra_cli::{client, evidence_cmd, support};

// Pack signatures are the runtime's (the hook and the MCP governor check them on loading).
use cavra_runtime::signature as policy_sig;
use clap::{Parser, Subcommand};

// The service's request threads and its store writer allocate and free concurrently; glibc's
// malloc spent about a fifth of `cavra serve`'s CPU under load in its arena locks and
// consolidation (perf, docs/benchmarks.md). mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

// Parsed once per process; boxing the larger argument structs would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Decide one action against a policy pack.
    Evaluate(evaluate::EvaluateArgs),
    /// Work with policy packs: list, validate, explain, test, compile, diff, sign, verify.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Answer an agent's hook (stdin JSON) with cavra's decision; never fails open.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Hook(hook_cmd::HookCommand),
    /// Everything else (built for size in cavra-cli, in the order the help lists it).
    #[command(flatten)]
    Cold(cavra_cli::commands::ColdCommand),
}

fn run(cli: Cli) -> Result<i32, support::Failure> {
    match &cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Policy(command) => policy_cmd::run(command),
        Command::Hook(cmd) => hook_cmd::command(cmd),
        Command::Cold(command) => cavra_cli::commands::run(command),
    }
}

/// `cavra hook <agent> …` alone: the command an agent runs on every tool call.
#[derive(Debug, Parser)]
#[command(name = "cavra hook")]
struct HookOnly {
    #[command(flatten)]
    args: hook_cmd::HookArgs,
}

/// `cavra evaluate …` alone, for the same reason.
#[derive(Debug, Parser)]
#[command(name = "cavra evaluate")]
struct EvaluateOnly {
    #[command(flatten)]
    args: evaluate::EvaluateArgs,
}

fn main() {
    // The hook runs on every tool call, and `evaluate` is the other command run once per
    // action: parse only their own arguments rather than building the whole CLI (most of a
    // short process's parsing). Anything else (`hook daemon …`, `--help`, a mistake) takes the
    // full parser below, which also gives the usual messages.
    let first = std::env::args_os().nth(1);
    if first.as_deref().is_some_and(|a| a == "hook")
        && let Ok(only) = HookOnly::try_parse_from(std::env::args_os().skip(1))
    {
        hook_cmd::run(&only.args)
    }
    let code = if first.as_deref().is_some_and(|a| a == "evaluate")
        && let Ok(only) = EvaluateOnly::try_parse_from(std::env::args_os().skip(1))
    {
        evaluate::run(&only.args)
    } else {
        run(Cli::parse())
    };
    let code = code.unwrap_or_else(|failure| failure.report());
    std::process::exit(code);
}
