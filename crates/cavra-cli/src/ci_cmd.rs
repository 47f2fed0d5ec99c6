//! `cavra ci check`: the CI gate.

use crate::evidence_cmd::{read_trust, write_atomic};
use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `cavra ci …`
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Check a branch: every changed path judged by the base ref's policy and bound to
    /// verified evidence of a governed write (exit 0 only when every check holds).
    Check(CheckArgs),
    /// Attest a passing check: an in-toto statement about the head commit and the evidence
    /// bundle (policy digest, decisions, approvals, break-glass events), DSSE-signed.
    Attest(AttestArgs),
    /// Check an attestation offline: signature and key status, the commit, the bundle digest.
    VerifyAttestation(VerifyAttestationArgs),
}

/// `cavra ci attest` arguments.
#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The base ref.
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The head ref (the attested commit).
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
    /// The evidence bundle.
    #[arg(long, value_name = "DIR")]
    pub evidence: PathBuf,
    /// The trust root the bundle must verify against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// The policy file, relative to the repository root, read at the base ref.
    #[arg(long, value_name = "PATH", default_value = ".cavra/policy.yaml")]
    pub policy: String,
    /// The private key that signs the attestation.
    #[arg(long, value_name = "FILE")]
    pub sign_key: PathBuf,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// The attestation file to write.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print what was attested as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra ci verify-attestation` arguments.
#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The attestation file.
    pub file: PathBuf,
    /// The trust root.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// The commit it must be about.
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
    /// The bundle it must name.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub use cavra_ci::render::Format;

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
    /// The PR attestation (from `cavra ci attest`); required when the base policy sets
    /// `git.require_ai_attestation`.
    #[arg(long, value_name = "FILE")]
    pub attestation: Option<PathBuf>,
    /// Commits by this author (e-mail) need no evidence: a path whose every commit in the
    /// range is by an exempt author is not bound (the policy still judges it). Repeatable.
    /// Author addresses are whatever the committer set; combine with signed-commit rules.
    #[arg(long = "exempt-author", value_name = "EMAIL")]
    pub exempt_authors: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `cavra ci …`.
pub fn run(command: &CiCommand) -> Result<i32, Failure> {
    match command {
        CiCommand::Check(args) => check(args),
        CiCommand::Attest(args) => attest(args),
        CiCommand::VerifyAttestation(args) => verify_attestation(args),
    }
}

fn attest(args: &AttestArgs) -> Result<i32, Failure> {
    let trust = read_trust(&args.trust_root)?;
    let signer = cavra_runtime::keyfiles::signer(&args.sign_key, args.key_id.as_deref())?;
    let report = run_check(
        &args.base,
        &args.head,
        &args.policy,
        Some(&args.evidence),
        Some(&trust),
        &[],
        None,
        true,
    )?;
    if !report.ok() {
        for f in &report.findings {
            eprintln!("{}: {}  ({})", f.kind.label(), f.path, f.message);
        }
        return Err(anyhow!(
            "not attested: the check has {} finding(s) (run `cavra ci check` for details)",
            report.findings.len()
        )
        .into());
    }
    let signed_at = cavra_evidence::trust::format_time(time::OffsetDateTime::now_utc());
    let env = cavra_ci::attest::attest(
        &report,
        &args.evidence,
        &report.evidence_decisions,
        &signer.key,
        &signer.key_id,
        &signed_at,
    )
    .map_err(|e| anyhow!("{e}"))?;
    write_atomic(&args.output, format!("{}\n", env.to_json()).as_bytes())?;
    crate::support::done(
        args.json,
        &serde_json::json!({
            "attested": report.head,
            "changed_paths": report.changes.len(),
            "policy_digest": report.policy_digest,
            "key_id": signer.key_id,
            "written": args.output,
        }),
        &format!(
            "attested {} ({} changed paths, policy {}) signed by {}: {}",
            report.head,
            report.changes.len(),
            report.policy_digest,
            signer.key_id,
            args.output.display()
        ),
    )
}

fn verify_attestation(args: &VerifyAttestationArgs) -> Result<i32, Failure> {
    let repo = support::find_repo_root(&support::current_dir()?);
    let trust = read_trust(&args.trust_root)?;
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| anyhow!("reading {}: {e}", args.file.display()))?;
    let result = cavra_evidence::dsse::Envelope::from_json(&text)
        .map_err(|e| format!("not an attestation: {e}"))
        .and_then(|env| {
            cavra_ci::attest::verify_attestation(
                &env,
                &trust,
                &repo,
                &args.head,
                args.evidence.as_deref(),
            )
        });
    if args.json {
        support::print_json(&serde_json::json!({
            "ok": result.is_ok(),
            "attestation": result.as_ref().ok(),
            "error": result.as_ref().err(),
        }))?;
    } else {
        match &result {
            Ok(v) => print!("{}", v.to_text()),
            Err(e) => println!("NOT verified: {e}"),
        }
    }
    Ok(if result.is_ok() { EXIT_OK } else { EXIT_ERROR })
}

/// Runs the check in the repository of the current folder.
#[allow(clippy::too_many_arguments)]
fn run_check(
    base: &str,
    head: &str,
    policy: &str,
    evidence: Option<&std::path::Path>,
    trust: Option<&cavra_evidence::trust::TrustRoot>,
    exempt_authors: &[String],
    attestation: Option<&str>,
    skip_attestation: bool,
) -> Result<cavra_ci::CheckReport, Failure> {
    let repo = support::find_repo_root(&support::current_dir()?);
    let timestamp = support::now_rfc3339();
    cavra_ci::check(&cavra_ci::CheckOptions {
        repo: &repo,
        base,
        head,
        policy_path: Some(policy),
        evidence,
        trust,
        timestamp: &timestamp,
        exempt_authors,
        attestation,
        skip_attestation,
    })
    .map_err(|e| anyhow!("{e}").into())
}

fn check(args: &CheckArgs) -> Result<i32, Failure> {
    let trust = args.trust_root.as_deref().map(read_trust).transpose()?;
    if args.evidence.is_some() && trust.is_none() {
        return Err(Failure::Usage(
            "--evidence needs --trust-root: a bundle is only evidence once its signature is checked".into(),
        ));
    }
    let attestation = args
        .attestation
        .as_deref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| anyhow!("reading {}: {e}", p.display())))
        .transpose()?;
    let report = run_check(
        &args.base,
        &args.head,
        &args.policy,
        args.evidence.as_deref(),
        trust.as_ref(),
        &args.exempt_authors,
        attestation.as_deref(),
        false,
    )?;
    if args.format == Format::Github
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        cavra_ci::render::append_step_summary(&report, std::path::Path::new(&path))
            .map_err(|e| anyhow!("writing $GITHUB_STEP_SUMMARY: {e}"))?;
    }
    let text = cavra_ci::render::render(&report, args.format).map_err(|e| anyhow!("{e}"))?;
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
}
