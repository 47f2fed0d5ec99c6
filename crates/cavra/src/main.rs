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
use cavra_cli::{
    aispm_cmd, ci_cmd, client, connector_cmd, demo, doctor_cmd, evidence_cmd, init, inventory_cmd,
    mcp_cmd, registry_cmd, release_cmd, server_cmd, store_cmds, support, trailer, validate_cmd,
};

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
    /// Install cavra's hooks for an agent in this repository (and a policy if there is none).
    Init(init::InitArgs),
    /// Agent sessions recorded in the local store.
    #[command(subcommand)]
    Session(store_cmds::SessionCommand),
    /// Decisions recorded in the local store.
    #[command(subcommand)]
    Decision(store_cmds::DecisionCommand),
    /// Approvals: list, approve, deny, expire.
    #[command(subcommand)]
    Approval(store_cmds::ApprovalCommand),
    /// Ed25519 key pairs for signing evidence, bundles and policy packs.
    #[command(subcommand)]
    Keys(evidence_cmd::KeysCommand),
    /// Trust roots: the keys a verifier accepts (add, list, revoke, retire, export, import,
    /// status).
    #[command(subcommand)]
    Trust(evidence_cmd::TrustCommand),
    /// The evidence log: verify it, checkpoint it, bundle it, verify bundles, export it.
    #[command(subcommand)]
    Evidence(evidence_cmd::EvidenceCommand),
    /// The CI gate: the branch's changes judged by the base policy and bound to evidence.
    #[command(subcommand)]
    Ci(ci_cmd::CiCommand),
    /// Add the Cavra-Session trailer to an agent's commit message (run by the
    /// prepare-commit-msg git hook that `cavra init` installs; always exits 0).
    Trailer(trailer::TrailerArgs),
    /// Run the API service (decisions, approvals, registry, packs, evidence for many clients).
    Serve(server_cmd::ServeArgs),
    /// Ask the API service whether it is ready (its /readyz): exit 0 ready, 1 not. The
    /// container image's health probe.
    Healthcheck(server_cmd::HealthcheckArgs),
    /// The service's database: run its migrations.
    #[command(subcommand)]
    Db(server_cmd::DbCommand),
    /// The service's tenants: create, list, entitle (status, expiry, features, limits), entitlement.
    #[command(subcommand)]
    Tenant(server_cmd::TenantCommand),
    /// The production readiness gate: every blocker with the validator that found it and the
    /// fix; --packet signs the result, `verify` checks a packet. Exit 0 ready, 4 blockers, 1 error.
    Readiness(server_cmd::ReadinessArgs),
    /// A tenant's inventory of endpoints, repositories, CI runners, agents and MCP servers: import.
    #[command(subcommand)]
    Inventory(inventory_cmd::InventoryCommand),
    /// The service's API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(server_cmd::TokenCommand),
    /// AISPM: a tenant's posture from its evidence (service, database or bundle); review packets.
    #[command(subcommand)]
    Aispm(aispm_cmd::AispmCommand),
    /// The service's connectors: list, test, deliveries, retry, dead-letters (admins).
    #[command(subcommand)]
    Connector(connector_cmd::ConnectorCommand),
    /// MCP: cavra's own MCP server (serve) and the gateway that governs an MCP server (proxy).
    #[command(subcommand)]
    Mcp(mcp_cmd::McpCommand),
    /// Registries cavra decides with (the MCP registry).
    #[command(subcommand)]
    Registry(registry_cmd::RegistryCommand),
    /// Check this repository's cavra set-up and say how to fix what is wrong (read-only).
    /// Exit 0: nothing worse than info; 3: warnings; 1: something is broken.
    Doctor(doctor_cmd::DoctorArgs),
    /// Validation with the real agents: `runtime` drives a scripted session through Claude Code
    /// and signs a report; `verify` checks a report offline.
    #[command(subcommand)]
    Validate(validate_cmd::ValidateCommand),
    /// Releases: signed release and rollback records, the release archive, offline checks.
    #[command(subcommand)]
    Release(release_cmd::ReleaseCommand),
    /// The operating review chain: signed records of each step, verified offline (docs/operations.md).
    #[command(subcommand)]
    Review(cavra_review::cli::ReviewCommand),
    /// Air-gapped installs: signed offline bundles (bundle, verify, install).
    #[command(subcommand)]
    Offline(release_cmd::OfflineCommand),
    /// Self-contained demonstrations.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
}

fn run(cli: Cli) -> Result<i32, support::Failure> {
    match &cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Policy(command) => policy_cmd::run(command),
        Command::Hook(cmd) => hook_cmd::command(cmd),
        Command::Init(args) => init::run(args),
        Command::Session(command) => store_cmds::session(command),
        Command::Decision(command) => store_cmds::decision(command),
        Command::Approval(command) => store_cmds::approval(command),
        Command::Keys(command) => evidence_cmd::keys(command),
        Command::Trust(command) => evidence_cmd::trust(command),
        Command::Evidence(command) => evidence_cmd::evidence(command),
        Command::Ci(command) => ci_cmd::run(command),
        Command::Trailer(args) => trailer::run(args),
        Command::Serve(args) => server_cmd::serve(args),
        Command::Healthcheck(args) => server_cmd::healthcheck(args),
        Command::Db(command) => server_cmd::db(command),
        Command::Tenant(command) => server_cmd::tenant(command),
        Command::Token(command) => server_cmd::token(command),
        Command::Inventory(command) => inventory_cmd::run(command),
        Command::Readiness(args) => server_cmd::readiness(args),
        Command::Connector(command) => connector_cmd::run(command),
        Command::Aispm(command) => aispm_cmd::run(command),
        Command::Release(command) => release_cmd::run(command),
        Command::Offline(command) => release_cmd::offline(command),
        Command::Review(command) => Ok(cavra_review::cli::run(command)),
        Command::Demo(command) => demo::run(command),
        Command::Validate(command) => validate_cmd::run(command),
        Command::Doctor(args) => doctor_cmd::run(args),
        Command::Registry(command) => registry_cmd::run(command),
        Command::Mcp(command) => mcp_cmd::run(command),
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
