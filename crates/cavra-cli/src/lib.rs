//! The `cavra` binary's subcommands that no decision waits for: key and trust management, the
//! evidence log, the CI gate, the service and its operators' commands, connectors, releases and
//! offline installs, validation, the MCP and registry commands, `init`, `doctor`, the demo.
//!
//! Why a crate of their own: the release profile builds it at opt-level `z` (size), while the
//! binary crate, which keeps what runs per action (`cavra evaluate`, `cavra hook`, start-up and
//! argument parsing, `cavra policy`), stays at opt-level 3. The binary's fat-LTO pass runs at
//! its own level, so the code here keeps the size attributes it was compiled with; its clap
//! derives, serde and future instantiations are made here too, not in the binary
//! (docs/benchmarks.md#container-image has what it saved).
//!
//! Each module is one subcommand (or a few related ones): its flags (clap) and a `run`-like
//! function returning the process's exit code or a [`support::Failure`].

#![warn(missing_docs)]

pub mod aispm_cmd;
pub mod ci_cmd;
pub mod client;
pub mod commands;
pub mod connector_cmd;
pub mod demo;
pub mod doctor_cmd;
pub mod evidence_cmd;
pub mod init;
pub mod inventory_cmd;
pub mod mcp_cmd;
pub mod proof_cmd;
pub mod registry_cmd;
pub mod release_cmd;
pub mod report;
pub mod server_cmd;
pub mod store_cmds;
pub mod support;
pub mod trailer;
pub mod validate_cmd;
