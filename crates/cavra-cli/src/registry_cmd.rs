//! `cavra registry mcp add|list|check|remove`: the local MCP registry in `.cavra/cavra.db`.

use crate::support::{self, Failure};
use anyhow::anyhow;
use cavra_engine::{McpRegistry, McpServerEntry, ServerApproval, ToolCapability, TrustTier};
use cavra_store::Store;
use clap::{Args, Subcommand};

/// `cavra registry …`
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// The MCP registry: which MCP servers are known, trusted and allowed which tools.
    #[command(subcommand)]
    Mcp(McpRegistryCommand),
}

/// `cavra registry mcp …`
#[derive(Debug, Subcommand)]
pub enum McpRegistryCommand {
    /// Register a server, or replace its entry.
    Add(AddArgs),
    /// List the registered servers.
    List {
        /// Print JSON (the registry as the engine reads it).
        #[arg(long)]
        json: bool,
    },
    /// The registry's verdict on one tool call (exit 0 allow, 3 require_approval, 4 block).
    Check {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The tool's capability, when the caller knows it.
        #[arg(long, value_parser = parse_capability)]
        capability: Option<ToolCapability>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a server from the registry (it is then unregistered: blocked).
    Remove {
        /// The server.
        server: String,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a tool's changed description: forget its pin, so `cavra mcp proxy` pins what it
    /// sees next.
    Unpin {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cavra registry mcp add` arguments.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The server's name (as in `.mcp.json` and `mcp__NAME__tool`).
    pub server: String,
    /// Trust tier: trusted, approved, experimental, blocked, unknown.
    #[arg(long, value_parser = parse_tier)]
    pub trust: TrustTier,
    /// Approval state: approved, pending, denied.
    #[arg(long, value_parser = parse_state, default_value = "pending")]
    pub approval: ServerApproval,
    /// Who answers for the server.
    #[arg(long)]
    pub owner: Option<String>,
    /// An allowed tool (repeat; `*` for every tool, `list_*` for a prefix). None: every call
    /// needs approval.
    #[arg(long = "tool", value_name = "TOOL")]
    pub tools: Vec<String>,
    /// An allowed capability (repeat): filesystem, shell, network, cloud, secrets, repository.
    /// None: no restriction by capability.
    #[arg(long = "capability", value_name = "CAPABILITY", value_parser = parse_capability)]
    pub capabilities: Vec<ToolCapability>,
    /// A tool's known capability, `TOOL=CAPABILITY` (repeat).
    #[arg(long = "tool-capability", value_name = "TOOL=CAPABILITY", value_parser = parse_tool_capability)]
    pub tool_capabilities: Vec<(String, ToolCapability)>,
    /// Who makes the change (default: CAVRA_ACTOR, else the login name).
    #[arg(long)]
    pub actor: Option<String>,
    /// Print the registered entry as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_tier(s: &str) -> Result<TrustTier, String> {
    s.parse()
        .map_err(|e: cavra_engine::registry::UnknownWord| e.to_string())
}

fn parse_state(s: &str) -> Result<ServerApproval, String> {
    s.parse()
        .map_err(|e: cavra_engine::registry::UnknownWord| e.to_string())
}

fn parse_capability(s: &str) -> Result<ToolCapability, String> {
    s.parse()
        .map_err(|e: cavra_engine::registry::UnknownWord| e.to_string())
}

fn parse_tool_capability(s: &str) -> Result<(String, ToolCapability), String> {
    let (tool, cap) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not TOOL=CAPABILITY"))?;
    if tool.trim().is_empty() {
        return Err(format!("`{s}` names no tool"));
    }
    Ok((tool.trim().to_string(), parse_capability(cap)?))
}

/// A server name: what MCP configurations and `mcp__server__tool` names can carry, or a
/// Claude Code plugin's server as Claude Code names it, `plugin:<plugin>:<server>`.
fn valid_server_name(name: &str) -> bool {
    let plain = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    name.len() <= 128
        && match name.strip_prefix("plugin:").map(|r| r.split_once(':')) {
            Some(Some((plugin, server))) => plain(plugin) && plain(server),
            Some(None) => false,
            None => plain(name),
        }
}

fn open_store() -> Result<Store, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    Store::open_repo(&root).map_err(|e| Failure::Other(anyhow!("{e}")))
}

/// The registry for the commands that only read it: empty when nothing was recorded here
/// (nothing is created to find out).
fn read_registry() -> Result<McpRegistry, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    match cavra_runtime::local::open_readable(&root) {
        Ok(None) => Ok(McpRegistry::default()),
        Ok(Some(store)) => store.mcp_registry(),
        Err(e) => Err(e),
    }
    .map_err(|e| Failure::Other(anyhow!("{e}")))
}

/// Runs `cavra registry …`.
pub fn run(command: &RegistryCommand) -> Result<i32, Failure> {
    let RegistryCommand::Mcp(command) = command;
    match command {
        McpRegistryCommand::Add(args) => {
            if !valid_server_name(&args.server) {
                return Err(Failure::Usage(format!(
                    "server name `{}` must be 1-128 letters, digits, '-', '_' or '.' (a Claude Code plugin's server: plugin:<plugin>:<server>)",
                    args.server
                )));
            }
            let mut entry = McpServerEntry::new(&args.server, args.trust, args.approval);
            entry.owner = args.owner.clone();
            entry.allowed_tools = args.tools.clone();
            entry.capabilities = args.capabilities.clone();
            entry.capabilities.sort();
            entry.capabilities.dedup();
            entry.tool_capabilities = args.tool_capabilities.iter().cloned().collect();
            let mut store = open_store()?;
            store
                .put_mcp_server(
                    &entry,
                    cavra_runtime::repo::actor(
                        args.actor.as_deref(),
                        cavra_runtime::repo::process_var,
                    )
                    .as_deref(),
                    &support::now_rfc3339(),
                )
                .map_err(|e| Failure::Other(anyhow!("{e}")))?;
            support::done(
                args.json,
                &serde_json::to_value(&entry).map_err(|e| anyhow!("{e}"))?,
                &format!(
                    "registered MCP server {} ({}, approval {})",
                    entry.name, entry.trust_tier, entry.approval_state
                ),
            )
        }
        McpRegistryCommand::List { json } => {
            let registry = read_registry()?;
            if *json {
                support::print_json(&registry)?;
                return Ok(support::EXIT_OK);
            }
            print!("{}", cavra_runtime::text::registry(&registry));
            Ok(support::EXIT_OK)
        }
        McpRegistryCommand::Check {
            server,
            tool,
            capability,
            json,
        } => {
            let registry = read_registry()?;
            let verdict = registry.check(server, tool, *capability);
            if *json {
                support::print_json(&verdict)?;
            } else {
                let colour = support::stdout_is_terminal();
                let (rule, reason) = (&verdict.rule_id, &verdict.reason);
                println!(
                    "{}",
                    cavra_runtime::text::decision_line(verdict.decision, rule, reason, colour)
                );
            }
            Ok(verdict.decision.exit_code())
        }
        McpRegistryCommand::Remove { server, json } => {
            let mut store = open_store()?;
            let removed = store
                .remove_mcp_server(server)
                .map_err(|e| Failure::Other(anyhow!("{e}")))?;
            if !removed {
                return Err(Failure::Other(anyhow!(
                    "no MCP server `{server}` is registered"
                )));
            }
            support::done(
                *json,
                &serde_json::json!({ "server": server, "removed": true }),
                &format!("removed MCP server {server}"),
            )
        }
        McpRegistryCommand::Unpin { server, tool, json } => {
            let mut store = open_store()?;
            let removed = store
                .unpin_tool(server, tool)
                .map_err(|e| Failure::Other(anyhow!("{e}")))?;
            if !removed {
                return Err(Failure::Other(anyhow!("no pin for {server}/{tool}")));
            }
            support::done(
                *json,
                &serde_json::json!({ "server": server, "tool": tool, "unpinned": true }),
                &format!(
                    "unpinned {server}/{tool}; its next description is pinned when the proxy sees it"
                ),
            )
        }
    }
}
