//! `cavra mcp serve` and `cavra mcp proxy`: thin calls into `cavra-mcp`.

use crate::support::{self, Failure};
use anyhow::anyhow;
use cavra_mcp::{Governor, OpenError, OpenOptions};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `cavra mcp …`
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve cavra's tools over MCP (stdio by default).
    Serve(ServeArgs),
    /// Sit between an agent and an MCP server: filter its tools, decide and record every call.
    Proxy(ProxyArgs),
}

/// `cavra mcp proxy` arguments.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub common: CommonArgs,
    /// The upstream server's name, as in the MCP registry and the policy.
    #[arg(long, value_name = "NAME")]
    pub server_name: String,
    /// Seconds a forwarded tool call may wait for the upstream before it is answered with an
    /// error (other requests wait at least 30 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub call_timeout: u64,
    /// An upstream reached over streamable HTTP (`http://host:port/mcp`) instead of a command.
    #[arg(long, value_name = "URL", conflicts_with = "upstream")]
    pub upstream_url: Option<String>,
    /// How durable records are: `full` (a decision is fsynced before the call is forwarded; a
    /// result is synced with the next decision, or within a tenth of a second when idle) or
    /// `process` (records survive the proxy being killed, not the machine losing power).
    #[arg(long, value_name = "LEVEL", default_value = "full", value_parser = ["full", "process"])]
    pub durability: String,
    /// The upstream command and its arguments (after `--`).
    #[arg(
        last = true,
        value_name = "COMMAND",
        required_unless_present = "upstream_url"
    )]
    pub upstream: Vec<String>,
}

/// What every MCP subcommand needs: the repository, policy, session and keys.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The policy (a path or a built-in id); default CAVRA_POLICY, else .cavra/policy.yaml,
    /// else the built-in baseline.
    #[arg(long, value_name = "PATH|ID")]
    pub policy: Option<String>,
    /// The repository root (default: the git top level of the current folder).
    #[arg(long, value_name = "DIR")]
    pub repo_root: Option<PathBuf>,
    /// The session decisions are recorded under (default: a fresh `mcp-…` id).
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
    /// Minutes a pending approval stays valid.
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    pub approval_ttl: u64,
}

/// `cavra mcp serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub common: CommonArgs,
    /// The key that signs evidence bundles written by the evidence_bundle tool (default: the
    /// repository's log key).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// The bundle key's id (default: the key file's name).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Serve streamable HTTP at this address instead of stdio (endpoint /mcp; loopback by
    /// default; port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765")]
    pub http: Option<std::net::SocketAddr>,
    /// An Origin allowed to call the HTTP endpoint besides its own loopback origins (repeat).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
}

/// Builds the governor for a subcommand.
pub fn governor(
    common: &CommonArgs,
    agent: &str,
    bundle_key: Option<cavra_store::LogSigner>,
) -> Result<Governor, Failure> {
    let cwd = support::current_dir()?;
    let repo_root = match &common.repo_root {
        Some(r) => cwd.join(r),
        None => support::find_repo_root(&cwd),
    };
    Governor::open(OpenOptions {
        repo_root,
        cwd: &cwd,
        policy: common.policy.as_deref(),
        session_id: common.session_id.as_deref(),
        agent,
        approval_ttl: Duration::from_secs(common.approval_ttl.saturating_mul(60)),
        bundle_key,
    })
    .map_err(|e| match e {
        OpenError::Policy(e) => support::load_failure(e),
        other => Failure::Other(other.into()),
    })
}

/// Runs `cavra mcp …`.
pub fn run(command: &McpCommand) -> Result<i32, Failure> {
    match command {
        McpCommand::Serve(args) => {
            let bundle_key = args
                .sign_key
                .as_deref()
                .map(|p| cavra_runtime::keyfiles::signer(p, args.key_id.as_deref()))
                .transpose()?;
            let governor = governor(&args.common, "mcp", bundle_key)?;
            let mut server = cavra_mcp::server::McpServer::new(governor);
            if let Some(bind) = args.http {
                let config = cavra_mcp::http::HttpConfig {
                    bind,
                    allowed_origins: args.allow_origins.clone(),
                };
                cavra_mcp::http::serve(server, &config, |addr| {
                    eprintln!("cavra mcp serve: listening on http://{addr}/mcp");
                })
                .map_err(|e| anyhow!("{e}"))?;
                return Ok(support::EXIT_OK);
            }
            let stdin = std::io::stdin();
            let mut reader = stdin.lock();
            let mut writer = std::io::stdout().lock();
            cavra_mcp::stdio::serve(&mut server, &mut reader, &mut writer)
                .map_err(|e| anyhow!("{e}"))?;
            Ok(support::EXIT_OK)
        }
        McpCommand::Proxy(args) => {
            let mut governor = governor(&args.common, "mcp-proxy", None)?;
            // The policy says what a changed tool gets (`mcp.on_tool_change`, default block).
            let on_tool_change = cavra_mcp::proxy::OnToolChange::of_pack(governor.pack());
            governor
                .store()
                .set_power_loss_durable(args.durability == "full")
                .map_err(|e| anyhow!("{e}"))?;
            let gate = cavra_mcp::proxy::Gate::new(
                governor,
                cavra_mcp::proxy::GateConfig {
                    server_name: args.server_name.clone(),
                    on_tool_change,
                    call_timeout: Duration::from_secs(args.call_timeout.max(1)),
                    defer_result_fsync: args.durability == "full",
                },
            );
            if let Some(url) = &args.upstream_url {
                if !url.starts_with("http://") {
                    return Err(Failure::Usage(format!(
                        "--upstream-url {url}: only http:// upstreams are supported (TLS upstreams are not built in)"
                    )));
                }
                let stdin = std::io::BufReader::new(std::io::stdin());
                let code = cavra_mcp::proxy::run_http(gate, url.clone(), stdin, std::io::stdout())
                    .map_err(|e| anyhow!("{e}"))?;
                return Ok(code);
            }
            let Some((program, rest)) = args.upstream.split_first() else {
                return Err(Failure::Usage(
                    "give the upstream command after `--`".into(),
                ));
            };
            let mut upstream = std::process::Command::new(program);
            upstream.args(rest);
            let stdin = std::io::BufReader::new(std::io::stdin());
            let code = cavra_mcp::proxy::run_stdio(gate, upstream, stdin, std::io::stdout())
                .map_err(|e| anyhow!("{e}"))?;
            Ok(code)
        }
    }
}
