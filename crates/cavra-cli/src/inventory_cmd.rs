//! `cavra inventory`: flags in, `cavra_server::inventory::cli` called, its outcome printed.

use cavra_server::inventory::cli::{ImportArgs, Target, run_import};

use crate::support::{self, Failure};

/// `cavra inventory …`
#[derive(Debug, clap::Subcommand)]
pub enum InventoryCommand {
    /// Import a tenant's inventory (endpoints, repositories, CI runners, agents, MCP servers)
    /// from a JSON, CSV or osquery results file, or an http(s) URL (pages followed, ETag sent
    /// back: 304 keeps the version), as its next version with an evidence entry.
    Import {
        /// A file, or an http(s) URL (bearer token from CAVRA_INVENTORY_SOURCE_TOKEN, if set).
        source: String,
        /// The tenant (required without --server; with it, checked against the token's).
        #[arg(long)]
        tenant: Option<String>,
        /// json, csv or osquery (default: .csv is csv, .ndjson/.log osquery, else json).
        #[arg(long, value_parser = ["json", "csv", "osquery"])]
        format: Option<String>,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        at: crate::server_cmd::EntitlementAt,
    },
}

/// Runs `cavra inventory …`.
pub fn run(command: &InventoryCommand) -> Result<i32, Failure> {
    let InventoryCommand::Import {
        source,
        tenant,
        format,
        at,
    } = command;
    let args = ImportArgs::new(source, tenant.as_deref(), format.as_deref());
    let out = match &at.server {
        Some(url) => {
            let token = crate::client::token()?;
            let call = |m: &str, p: &str, b: Option<&serde_json::Value>| {
                crate::client::call_with(url, &token, m, p, b).map_err(|e| e.to_string())
            };
            run_import(&args, Target::Service(call))
        }
        None => run_import(&args, Target::database(&crate::server_cmd::config(&at.db)?)),
    };
    let out = out.map_err(|e| match e {
        cavra_server::inventory::InventoryError::Usage(m) => Failure::Usage(m),
        e => anyhow::anyhow!("{e}").into(),
    })?;
    support::done(at.json, &out.json(), out.text().trim_end())
}
