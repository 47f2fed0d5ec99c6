//! The cold subcommands of `cavra`'s command line, as one clap enum the binary flattens into
//! its own (`cavra init`, `keys`, `serve`, …: everything but `evaluate`, `policy` and `hook`).
//!
//! Why here: clap's derive builds the whole command tree in one function per enum. Defined in
//! the binary crate (opt-level 3), that function inlined every subcommand's argument
//! definitions and was 0.47 MB of the static binary; here it is built for size like the rest
//! of this crate (docs/benchmarks.md#container-image). `cavra evaluate` and `cavra hook` parse
//! with their own small parsers and never build it.

use crate::{
    aispm_cmd, ci_cmd, connector_cmd, demo, doctor_cmd, evidence_cmd, init, inventory_cmd, mcp_cmd,
    registry_cmd, release_cmd, server_cmd, store_cmds, support, trailer, validate_cmd,
};
use clap::Subcommand;

/// The subcommands built for size, in the order `cavra --help` lists them (after `evaluate`,
/// `policy` and `hook`).
// Parsed once per process; boxing the larger argument structs would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ColdCommand {
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

/// Runs a cold subcommand: its exit code, or the failure to report.
pub fn run(command: &ColdCommand) -> Result<i32, support::Failure> {
    match command {
        ColdCommand::Init(args) => init::run(args),
        ColdCommand::Session(command) => store_cmds::session(command),
        ColdCommand::Decision(command) => store_cmds::decision(command),
        ColdCommand::Approval(command) => store_cmds::approval(command),
        ColdCommand::Keys(command) => evidence_cmd::keys(command),
        ColdCommand::Trust(command) => evidence_cmd::trust(command),
        ColdCommand::Evidence(command) => evidence_cmd::evidence(command),
        ColdCommand::Ci(command) => ci_cmd::run(command),
        ColdCommand::Trailer(args) => trailer::run(args),
        ColdCommand::Serve(args) => server_cmd::serve(args),
        ColdCommand::Healthcheck(args) => server_cmd::healthcheck(args),
        ColdCommand::Db(command) => server_cmd::db(command),
        ColdCommand::Tenant(command) => server_cmd::tenant(command),
        ColdCommand::Token(command) => server_cmd::token(command),
        ColdCommand::Inventory(command) => inventory_cmd::run(command),
        ColdCommand::Readiness(args) => server_cmd::readiness(args),
        ColdCommand::Connector(command) => connector_cmd::run(command),
        ColdCommand::Aispm(command) => aispm_cmd::run(command),
        ColdCommand::Release(command) => release_cmd::run(command),
        ColdCommand::Offline(command) => release_cmd::offline(command),
        ColdCommand::Review(command) => Ok(cavra_review::cli::run(command)),
        ColdCommand::Demo(command) => demo::run(command),
        ColdCommand::Validate(command) => validate_cmd::run(command),
        ColdCommand::Doctor(args) => doctor_cmd::run(args),
        ColdCommand::Registry(command) => registry_cmd::run(command),
        ColdCommand::Mcp(command) => mcp_cmd::run(command),
    }
}
