//! `cavra ci check`: the CI gate.

use crate::evidence_cmd::{read_trust, write_atomic};
use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `cavra ci …`
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Check a branch: every changed path judged by the base ref's policy and bound to
    /// verified evidence of a governed write (exit 0 only when every check holds).
    Check(CheckArgs),
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// `cavra ci check` arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The base ref (the policy is read here).
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The head ref.
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
    /// The evidence bundle of the agent session(s) that made the change.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// The trust root the bundle must verify against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: Option<PathBuf>,
    /// The policy file, relative to the repository root, read at the base ref.
    #[arg(long, value_name = "PATH", default_value = ".cavra/policy.yaml")]
    pub policy: String,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `cavra ci …`.
pub fn run(command: &CiCommand) -> Result<i32, Failure> {
    let CiCommand::Check(args) = command;
    let repo = support::find_repo_root(&support::current_dir()?);
    let trust = args.trust_root.as_deref().map(read_trust).transpose()?;
    if args.evidence.is_some() && trust.is_none() {
        return Err(Failure::Usage(
            "--evidence needs --trust-root: a bundle is only evidence once its signature is checked".into(),
        ));
    }
    let timestamp = support::now_rfc3339();
    let report = cavra_ci::check(&cavra_ci::CheckOptions {
        repo: &repo,
        base: &args.base,
        head: &args.head,
        policy_path: Some(&args.policy),
        evidence: args.evidence.as_deref(),
        trust: trust.as_ref(),
        timestamp: &timestamp,
    })
    .map_err(|e| anyhow!("{e}"))?;
    let text = match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&report).map_err(|e| anyhow!("{e}"))?;
            v["ok"] = serde_json::Value::Bool(report.ok());
            serde_json::to_string_pretty(&v).map_err(|e| anyhow!("{e}"))? + "\n"
        }
        Format::Text => {
            let mut s = format!(
                "cavra ci check {}..{}: {} changed path(s), judged by {} ({})\n",
                &report.base[..12.min(report.base.len())],
                &report.head[..12.min(report.head.len())],
                report.changes.len(),
                report.policy,
                report.policy_digest
            );
            if let Some(n) = report.evidence_entries {
                s.push_str(&format!("evidence: verified bundle of {n} entries\n"));
            }
            for f in &report.findings {
                let path = if f.path.is_empty() {
                    "(bundle)"
                } else {
                    &f.path
                };
                s.push_str(&format!(
                    "{}: {path}\n    rule: {}\n    {}\n    fix: {}\n",
                    f.kind.label(),
                    f.rule,
                    f.message,
                    f.fix
                ));
            }
            s.push_str(&if report.ok() {
                "passed: every change is allowed by the base policy and covered by governed evidence\n".to_string()
            } else {
                format!("FAILED: {} finding(s)\n", report.findings.len())
            });
            s
        }
    };
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
}
