//! `cavra validate`: parses its flags, runs `cavra-validate`, prints the result.

use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::{Context as _, anyhow};
use cavra_validate::runtime::{self, Config, Drill};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit code of a validation that ran and found something (as a gate blocks).
pub const EXIT_FAILED: i32 = 4;

/// `cavra validate …`
#[derive(Debug, Subcommand)]
pub enum ValidateCommand {
    /// Run a scripted session through real Claude Code on this machine, look for bypasses, and
    /// write a signed validation report. Exit 0: passed; 4: failed (steps or findings);
    /// 1: could not run.
    Runtime(RuntimeArgs),
    /// Verify a runtime or tenant validation report offline against a trust root. Exit 0:
    /// verified and passed; 4: verified, and it says failed; 1: it does not verify.
    Verify(VerifyArgs),
    /// Prove tenant isolation live (HTTP only) with two probe tenants' credentials; write a
    /// signed report per tenant. Exit 0: every proof held; 4: one failed (named); 1: could not
    /// run. `cavra validate verify REPORT` checks a report offline.
    Tenants(TenantsArgs),
}

/// `cavra validate tenants` arguments.
#[derive(Debug, Args)]
pub struct TenantsArgs {
    /// The deployed service.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Probe tenant A's credentials: a token file, or JSON {"agent","admin","auditor"}.
    #[arg(long, value_name = "CRED_FILE")]
    pub probe_a: PathBuf,
    /// Probe tenant B's credentials.
    #[arg(long, value_name = "CRED_FILE")]
    pub probe_b: PathBuf,
    /// Signs the reports (a key of the service's trust root, to be recorded).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Where `<tenant>.json` is written per tenant.
    #[arg(long, value_name = "DIR", default_value = "cavra-tenant-validation")]
    pub output: PathBuf,
    /// Seconds to wait for the probe connector deliveries to settle.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub wait: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A known bypass to inject, proving the detection finds it (the report then fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillArg {
    /// Take cavra's hooks out of .claude/settings.json mid-session.
    RemoveHook,
    /// Make the hook command unable to start mid-session (cavra leaves PATH).
    BreakHook,
    /// Change a file in the repository mid-session, outside the agent.
    OutsideWrite,
}

/// `cavra validate runtime` arguments.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Claude Code's binary.
    #[arg(long, value_name = "PATH", default_value = "claude")]
    pub claude: PathBuf,
    /// The filesystem MCP server's entry point
    /// (node_modules/@modelcontextprotocol/server-filesystem/dist/index.js).
    #[arg(long, value_name = "FILE")]
    pub mcp_server: PathBuf,
    /// The node program that runs the MCP server.
    #[arg(long, value_name = "PATH", default_value = "node")]
    pub node: PathBuf,
    /// The private key that signs the evidence bundle, the attestation and the report.
    #[arg(long, value_name = "FILE")]
    pub sign_key: PathBuf,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// The trust root that holds the signing key.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// Where the report, the bundle, the attestation and the agent's transcript go (new or
    /// empty).
    #[arg(long, value_name = "DIR", default_value = "cavra-validation")]
    pub output: PathBuf,
    /// Keep the scratch repository, the agent's home and the remote here (new or empty;
    /// default: a temporary folder, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Inject a known bypass mid-session to prove it is detected.
    #[arg(long, value_enum, value_name = "DRILL")]
    pub drill: Option<DrillArg>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra validate verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The report (report.json in the output folder).
    pub report: PathBuf,
    /// The trust root to verify it against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// The evidence bundle: checked to be the one the report names.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cavra validate …`.
pub fn run(command: &ValidateCommand) -> Result<i32, Failure> {
    match command {
        ValidateCommand::Runtime(args) => runtime_cmd(args),
        ValidateCommand::Verify(args) => verify_cmd(args),
        ValidateCommand::Tenants(args) => tenants_cmd(args),
    }
}

fn tenants_cmd(args: &TenantsArgs) -> Result<i32, Failure> {
    use cavra_server::validation as v;
    let key = args
        .sign_key
        .as_deref()
        .map(|k| (k, args.key_id.as_deref()));
    let (a, b) = (&args.probe_a, &args.probe_b);
    let config = v::Config::from_files(&args.server, a, b, key, &args.output, args.wait)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let outcome = v::run_blocking(&config).map_err(|e| Failure::Other(e.into()))?;
    let value = serde_json::to_value(&outcome).map_err(|e| anyhow!("{e}"))?;
    support::done(args.json, &value, outcome.to_text().trim_end())?;
    Ok(outcome.exit_code())
}

fn runtime_cmd(args: &RuntimeArgs) -> Result<i32, Failure> {
    let signer = cavra_runtime::keyfiles::signer(&args.sign_key, args.key_id.as_deref())?;
    let cavra = std::env::current_exe()
        .map_err(|e| Failure::Other(anyhow!("cannot find the cavra binary's path: {e}")))?;
    let absolute = |p: &PathBuf| -> Result<PathBuf, Failure> {
        std::path::absolute(p)
            .with_context(|| format!("{}", p.display()))
            .map_err(Failure::Other)
    };
    let config = Config {
        cavra,
        claude: args.claude.clone(),
        mcp_server: absolute(&args.mcp_server)?,
        node: args.node.clone(),
        workdir: args.workdir.as_ref().map(absolute).transpose()?,
        output: absolute(&args.output)?,
        sign_key: absolute(&args.sign_key)?,
        key_id: signer.key_id,
        trust_root: absolute(&args.trust_root)?,
        drill: args.drill.map(|d| match d {
            DrillArg::RemoveHook => Drill::RemoveHook,
            DrillArg::BreakHook => Drill::BreakHook,
            DrillArg::OutsideWrite => Drill::OutsideWrite,
        }),
    };
    let outcome = runtime::run(&config, &signer.key, &mut |phase| {
        eprintln!("cavra validate: {phase}")
    })
    .map_err(|e| Failure::Other(e.into()))?;
    let (report, written) = (&outcome.report, &outcome.report_path);
    let text = format!("{}report: {}\n", report.to_text(), written.display());
    let value = serde_json::json!({"report": report, "written": written});
    support::show(args.json, &value, &text)?;
    Ok(if report.passed() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

fn verify_cmd(args: &VerifyArgs) -> Result<i32, Failure> {
    let trust = crate::evidence_cmd::read_trust(&args.trust_root)?;
    let report = std::fs::read_to_string(&args.report)
        .with_context(|| format!("reading {}", args.report.display()))?;
    let (value, text, code) =
        cavra_server::validation::verify_any(&report, &trust, args.evidence.as_deref());
    match code {
        EXIT_ERROR if !args.json => eprintln!("{text}"),
        _ => _ = support::done(args.json, &value, text.trim_end())?,
    }
    Ok(code)
}
