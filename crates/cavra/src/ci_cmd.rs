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

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
    /// JUnit XML (GitLab test reports, most CI systems): one test case per changed path.
    Junit,
    /// GitHub Actions: `::error file=…::` annotations, and a markdown job summary written to
    /// `$GITHUB_STEP_SUMMARY` when it is set.
    Github,
    /// GitLab code-quality report (JSON).
    Gitlab,
    /// SARIF 2.1.0 (GitHub code scanning): one rule per finding kind, results located on the
    /// changed paths.
    Sarif,
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
    let signer = crate::keyfiles::signer(&args.sign_key, args.key_id.as_deref())?;
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
            Ok(v) => println!(
                "verified: commit {} attested by {} (policy {})",
                v.head,
                v.key_id,
                v.predicate["policy_digest"].as_str().unwrap_or("?")
            ),
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
    let text = match args.format {
        Format::Junit => junit(&report),
        Format::Github => {
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| anyhow!("writing $GITHUB_STEP_SUMMARY: {e}"))?;
                f.write_all(markdown_summary(&report).as_bytes())
                    .map_err(|e| anyhow!("writing $GITHUB_STEP_SUMMARY: {e}"))?;
            }
            github(&report)
        }
        Format::Gitlab => gitlab(&report)?,
        Format::Sarif => sarif(&report)?,
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
            for c in report.commits.iter().filter(|c| !c.sessions.is_empty()) {
                s.push_str(&format!(
                    "commit {}: agent session {}\n",
                    &c.commit[..12.min(c.commit.len())],
                    c.sessions.join(", ")
                ));
            }
            for e in &report.exempted {
                s.push_str(&format!(
                    "exempt: {} (by {}; would be: {})\n",
                    e.path,
                    e.authors.join(", "),
                    e.waived.label()
                ));
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

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per changed path (failing with its findings), plus one for the
/// evidence when it does not verify.
fn junit(report: &cavra_ci::CheckReport) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    let bundle: Vec<&cavra_ci::Finding> = report
        .findings
        .iter()
        .filter(|f| f.path.is_empty())
        .collect();
    let mut case =
        |name: &str, found: &[&cavra_ci::Finding]| {
            cases.push_str(&format!(
                "    <testcase classname=\"cavra.ci\" name=\"{}\"",
                xml_escape(name)
            ));
            if found.is_empty() {
                cases.push_str("/>\n");
                return;
            }
            failures += 1;
            cases.push_str(">\n");
            for f in found {
                cases.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}: {}\">{}\nrule: {}\nfix: {}</failure>\n",
                xml_escape(f.kind.label()),
                xml_escape(f.kind.label()),
                xml_escape(if f.path.is_empty() { "(bundle)" } else { &f.path }),
                xml_escape(&f.message),
                xml_escape(&f.rule),
                xml_escape(&f.fix)
            ));
            }
            cases.push_str("    </testcase>\n");
        };
    case("evidence", &bundle);
    for c in &report.changes {
        let found: Vec<&cavra_ci::Finding> = report
            .findings
            .iter()
            .filter(|f| f.path == c.change.path)
            .collect();
        case(&c.change.path, &found);
    }
    let tests = report.changes.len() + 1;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cavra ci check\" tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"cavra ci check {}..{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml_escape(&report.base),
        xml_escape(&report.head)
    )
}

/// GitHub's workflow-command escaping for the message and for properties.
fn gh_escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// GitHub annotations, one per finding (GitHub shows at most 10 errors per step; the rest
/// are in the job summary and the log).
fn github(report: &cavra_ci::CheckReport) -> String {
    let mut s = String::new();
    for f in &report.findings {
        let title = gh_escape(&format!("cavra: {}", f.kind.label()), true);
        let message = gh_escape(
            &format!("{} (rule {}). Fix: {}", f.message, f.rule, f.fix),
            false,
        );
        if f.path.is_empty() {
            s.push_str(&format!("::error title={title}::{message}\n"));
        } else {
            s.push_str(&format!(
                "::error file={},title={title}::{message}\n",
                gh_escape(&f.path, true)
            ));
        }
    }
    s.push_str(&if report.ok() {
        format!(
            "cavra ci check passed: {} changed path(s) covered\n",
            report.changes.len()
        )
    } else {
        format!(
            "cavra ci check FAILED: {} finding(s)\n",
            report.findings.len()
        )
    });
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The job summary (markdown).
fn markdown_summary(report: &cavra_ci::CheckReport) -> String {
    let mut s = format!(
        "## cavra ci check: {}\n\n{} changed path(s) between `{}` and `{}`, judged by `{}` ({}).\n\n",
        if report.ok() { "passed" } else { "failed" },
        report.changes.len(),
        &report.base[..12.min(report.base.len())],
        &report.head[..12.min(report.head.len())],
        md_cell(&report.policy),
        report.policy_digest
    );
    if report.findings.is_empty() {
        s.push_str(
            "Every change is allowed by the base policy and covered by governed evidence.\n",
        );
        return s;
    }
    s.push_str("| finding | path | rule | what | fix |\n|---|---|---|---|---|\n");
    for f in &report.findings {
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            f.kind.label(),
            md_cell(&f.path).replace('`', "'"),
            md_cell(&f.rule),
            md_cell(&f.message),
            md_cell(&f.fix)
        ));
    }
    s
}

/// GitLab code quality: an array of issues with a fingerprint, severity and location.
fn gitlab(report: &cavra_ci::CheckReport) -> Result<String, Failure> {
    use sha2::{Digest, Sha256};
    let issues: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let path = if f.path.is_empty() { ".cavra/evidence" } else { &f.path };
            let fingerprint = hex::encode(Sha256::digest(
                format!("{}\0{}\0{}", f.kind.label(), f.path, f.message).as_bytes(),
            ));
            serde_json::json!({
                "description": format!("{}: {} — {} (fix: {})", f.kind.label(), path, f.message, f.fix),
                "check_name": format!("cavra/{}", serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
                "fingerprint": fingerprint,
                "severity": match f.kind {
                    cavra_ci::FindingKind::RequiresApproval => "major",
                    _ => "blocker",
                },
                "location": {"path": path, "lines": {"begin": 1}},
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&issues).map_err(|e| anyhow!("{e}"))? + "\n")
}

/// GitHub code scanning accepts at most this many results per run.
const SARIF_MAX_RESULTS: usize = 25_000;

const KINDS: [cavra_ci::FindingKind; 8] = [
    cavra_ci::FindingKind::PolicyBlock,
    cavra_ci::FindingKind::RequiresApproval,
    cavra_ci::FindingKind::Bypass,
    cavra_ci::FindingKind::AlteredAfterDecision,
    cavra_ci::FindingKind::BlockedWrite,
    cavra_ci::FindingKind::EvidenceInvalid,
    cavra_ci::FindingKind::SessionNotInEvidence,
    cavra_ci::FindingKind::AttestationMissing,
];

fn kind_id(kind: cavra_ci::FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn kind_help(kind: cavra_ci::FindingKind) -> (&'static str, &'static str) {
    use cavra_ci::FindingKind::*;
    match kind {
        PolicyBlock => (
            "The base branch's policy blocks this change.",
            "Revert the change; a branch cannot loosen the policy that judges it.",
        ),
        RequiresApproval => (
            "The base branch's policy routes this change to a person and no approval covers it.",
            "Have the change approved through cavra so the evidence holds an approved write.",
        ),
        Bypass => (
            "The path changed with no governed write behind it.",
            "Make the change through a governed agent session, or have it approved.",
        ),
        AlteredAfterDecision => (
            "The content at head is not what the governed write left.",
            "Revert the edit made after the decision, or make it through the agent.",
        ),
        BlockedWrite => (
            "The only governed writes of this path were blocked or not approved.",
            "Revert the change, or get it approved through cavra.",
        ),
        EvidenceInvalid => (
            "The evidence bundle does not verify.",
            "Produce the bundle with `cavra evidence bundle` and sign it with a trusted key.",
        ),
        AttestationMissing => (
            "The base policy requires a pull-request attestation and none that verifies was given.",
            "Attest the change with `cavra ci attest` and pass it with --attestation.",
        ),
        SessionNotInEvidence => (
            "A commit's Cavra-Session trailer names an agent session the evidence does not hold.",
            "Bundle every session that made the branch's commits.",
        ),
    }
}

/// SARIF 2.1.0.
fn sarif(report: &cavra_ci::CheckReport) -> Result<String, Failure> {
    use sha2::{Digest, Sha256};
    let rules: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|&k| {
            let (what, fix) = kind_help(k);
            serde_json::json!({
                "id": format!("cavra/{}", kind_id(k)),
                "name": kind_id(k),
                "shortDescription": {"text": k.label()},
                "fullDescription": {"text": what},
                "help": {"text": fix},
                "defaultConfiguration": {"level": "error"},
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .take(SARIF_MAX_RESULTS)
        .map(|f| {
            let index = KINDS.iter().position(|&k| k == f.kind).unwrap_or(0);
            // Code scanning needs a file location; bundle-wide findings sit on the policy.
            let uri = if f.path.is_empty() { ".cavra/policy.yaml" } else { &f.path };
            let fingerprint = hex::encode(Sha256::digest(
                format!("{}\0{}\0{}", kind_id(f.kind), f.path, f.rule).as_bytes(),
            ));
            serde_json::json!({
                "ruleId": format!("cavra/{}", kind_id(f.kind)),
                "ruleIndex": index,
                "level": "error",
                "message": {"text": format!("{}: {} — {} (rule {}). Fix: {}", f.kind.label(), if f.path.is_empty() { "(bundle)" } else { &f.path }, f.message, f.rule, f.fix)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 1},
                }}],
                "partialFingerprints": {"cavraFinding/v1": fingerprint},
            })
        })
        .collect();
    let doc = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cavra",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": format!("cavra-ci-check/{}", &report.head)},
            "results": results,
            "properties": {
                "base": report.base,
                "head": report.head,
                "policy": report.policy,
                "policyDigest": report.policy_digest,
                "changedPaths": report.changes.len(),
                "findings": report.findings.len(),
                "truncated": report.findings.len() > SARIF_MAX_RESULTS,
            },
        }],
    });
    Ok(serde_json::to_string_pretty(&doc).map_err(|e| anyhow!("{e}"))? + "\n")
}
