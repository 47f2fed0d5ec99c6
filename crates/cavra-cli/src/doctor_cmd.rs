//! `cavra doctor`: parses its flags, runs the checks of `cavra-doctor`, prints the findings.

use crate::support::{self, Failure};
use cavra_doctor::{Probes, ServiceProblem, Setup};
use clap::Args;
use std::path::{Path, PathBuf};

/// `cavra doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The policy the hooks use, when not the repository's .cavra/policy.yaml (a path or a
    /// built-in id).
    #[arg(long, env = "CAVRA_POLICY", value_name = "PATH")]
    pub policy: Option<String>,
    /// A trust root to check keys against (validity, expiry, revocation, the log key).
    #[arg(long, env = "CAVRA_TRUST_ROOT", value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// The API service the hooks use (token from CAVRA_TOKEN): reachable, and who you are there.
    #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The CLI's side of the checks: the hook server's socket and the service client.
struct CliProbes;

impl Probes for CliProbes {
    fn hook_server(&self, repo_root: &Path) -> cavra_doctor::HookServerState {
        cavra_agent_hook::daemon::look(repo_root)
    }

    fn service_identity(
        &self,
        url: &str,
        token: &str,
    ) -> Result<serde_json::Value, ServiceProblem> {
        crate::client::send(
            url,
            token,
            "GET",
            "/v1/whoami",
            None,
            std::time::Duration::from_secs(10),
        )
        .map_err(|e| match e {
            crate::client::CallError::Unreachable(m) => ServiceProblem::Unreachable(m),
            crate::client::CallError::Refused(m) => ServiceProblem::Refused(m),
        })
    }
}

/// Runs `cavra doctor`; the exit code follows the worst finding (see
/// [`cavra_doctor::exit_code`]).
pub fn run(args: &DoctorArgs) -> Result<i32, Failure> {
    let cwd = support::current_dir()?;
    let repo_root = support::find_repo_root(&cwd);
    let setup = Setup {
        is_git_repository: repo_root.join(".git").exists(),
        repo_root,
        path: std::env::var_os("PATH"),
        policy: args.policy.clone(),
        trust_root: args.trust_root.clone(),
        server: args.server.clone(),
        token: std::env::var("CAVRA_TOKEN").ok(),
        now: time::OffsetDateTime::now_utc(),
    };
    let report = cavra_doctor::run(&setup, &CliProbes);
    support::show(
        args.json,
        &report,
        &report.to_text(support::stdout_is_terminal()),
    )?;
    Ok(report.exit_code)
}
