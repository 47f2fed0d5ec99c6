//! `cavra policy list | validate | explain | test | compile | diff`.

use crate::evaluate::RequestArgs;
use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use cavra_runtime::policy::Validated;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `cavra policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List the built-in policy packs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate policy packs: schema, patterns, inheritance (errors name file, line, column).
    Validate {
        /// Pack files or built-in ids.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show how a request is normalised and every rule that matched or was considered.
    Explain(Box<ExplainArgs>),
    /// Run policy test files (and packs' embedded tests); ends with `N passed, M failed`.
    Test {
        /// Test files, packs with `tests:`, or folders of them.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Print the resolved pack (inheritance merged) and its compiled rules as JSON.
    Compile {
        /// A pack file or built-in id.
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Sign a pack file: a detached DSSE signature over its canonical form, written to PATH.sig.
    Sign {
        /// The pack file.
        path: PathBuf,
        /// The private key (PKCS#8 PEM, from `cavra keys generate`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The key's id (default: the key file's name without extension).
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
        /// Print what was signed as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a pack file's signature (PATH.sig) against a trust root; exit 1 if it does not hold.
    Verify {
        /// The pack file.
        path: PathBuf,
        /// The trust root file.
        #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
        trust_root: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Semantic difference between two packs: rules added, removed, changed; settings changed.
    Diff {
        /// The old pack (file or built-in id).
        a: String,
        /// The new pack (file or built-in id).
        b: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cavra policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Explain a recorded decision (an id from `cavra decision list`) exactly as it was
    /// decided: the pack kept under its digest, the deciding rule, every rule considered.
    /// Exit 0 when the explanation is exact, 1 when it cannot be (the pack gone or changed,
    /// the record not matching the evidence log, a replay that differs).
    #[arg(long, value_name = "ID", conflicts_with_all = ["action", "request"])]
    pub decision: Option<String>,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `policy` subcommand.
pub fn run(command: &PolicyCommand) -> Result<i32, Failure> {
    match command {
        PolicyCommand::List { json } => list(*json),
        PolicyCommand::Validate { paths, json } => validate(paths, *json),
        PolicyCommand::Explain(args) => explain(args),
        PolicyCommand::Test { files, json } => test(files, *json),
        PolicyCommand::Compile { path } => compile_cmd(path),
        PolicyCommand::Diff { a, b, json } => diff(a, b, *json),
        PolicyCommand::Sign {
            path,
            key,
            key_id,
            json,
        } => {
            let signer = cavra_runtime::keyfiles::signer(key, key_id.as_deref())?;
            let envelope = crate::policy_sig::sign(path, &signer, time::OffsetDateTime::now_utc())
                .map_err(|e| anyhow::anyhow!(e))?;
            let out = crate::policy_sig::signature_path(path);
            crate::evidence_cmd::write_atomic(&out, format!("{envelope}\n").as_bytes())?;
            support::done(
                *json,
                &serde_json::json!({ "signed": path, "key_id": signer.key_id, "signature": out }),
                &format!(
                    "signed {} with {}: {}",
                    path.display(),
                    signer.key_id,
                    out.display()
                ),
            )
        }
        PolicyCommand::Verify {
            path,
            trust_root,
            json,
        } => {
            let text = std::fs::read_to_string(trust_root)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", trust_root.display()))?;
            let trust = cavra_evidence::trust::TrustRoot::from_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", trust_root.display()))?;
            let result = crate::policy_sig::verify(path, &trust);
            if *json {
                support::print_json(&serde_json::json!({
                    "ok": result.is_ok(),
                    "signed_by": result.as_ref().ok().map(|b| b.key_id.clone()),
                    "error": result.as_ref().err(),
                }))?;
            }
            match result {
                Ok(by) => {
                    if !*json {
                        println!(
                            "verified: {} signed by {} ({})",
                            path.display(),
                            by.key_id,
                            by.status.as_str()
                        );
                    }
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    if !*json {
                        println!("NOT verified: {e}");
                    }
                    Ok(support::EXIT_ERROR)
                }
            }
        }
    }
}

fn list(json: bool) -> Result<i32, Failure> {
    crate::support::show(
        json,
        &cavra_runtime::policy::builtin_rows(),
        &cavra_runtime::policy::builtin_text(),
    )
}

fn validate(paths: &[String], json: bool) -> Result<i32, Failure> {
    let mut rows = Vec::new();
    let mut failed = 0;
    for path in paths {
        match support::load_policy(path) {
            Ok(p) => rows.push(Validated::valid(path, &p.resolved, &p.compiled)),
            Err(Failure::Policy(e)) => {
                failed += 1;
                if !json {
                    eprint!("{}", support::policy_report(&e));
                }
                rows.push(Validated::invalid(path, &e));
            }
            Err(other) => return Err(other),
        }
    }
    if json {
        support::print_json(&rows)?;
    } else {
        for row in rows.iter().filter(|r| r.ok) {
            println!("{}", row.ok_line());
            for w in &row.warnings {
                eprintln!("warning: {}: {w}", row.path);
            }
        }
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_ERROR })
}

fn explain(args: &ExplainArgs) -> Result<i32, Failure> {
    if let Some(id) = &args.decision {
        return crate::explain_cmd::explain_decision(id, args.json);
    }
    let prepared = args.request.prepare()?;
    let policy = &prepared.policy;
    let explanation = cavra_engine::explain(&policy.compiled, &prepared.request, &prepared.env());
    if args.json {
        support::print_json(&explanation)?;
        return Ok(explanation.record.decision.exit_code());
    }
    print!(
        "{}",
        cavra_runtime::text::explanation(&explanation, &policy.compiled.origin)
    );
    Ok(explanation.record.decision.exit_code())
}

fn test(files: &[PathBuf], json: bool) -> Result<i32, Failure> {
    let (report, load_errors) = cavra_runtime::testfiles::run_test_files(files);
    let failed = report.failures.len() + load_errors.len();
    if json {
        support::print_json(&serde_json::json!({
            "passed": report.passed,
            "failed": failed,
            "failures": report.failures,
            "errors": load_errors,
        }))?;
    } else {
        print!(
            "{}",
            cavra_runtime::testfiles::to_text(&report, &load_errors)
        );
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_ERROR })
}

fn compile_cmd(path: &str) -> Result<i32, Failure> {
    let policy = support::load_policy(path)?;
    let view = cavra_runtime::policy::compiled_view(&policy.resolved, &policy.compiled);
    support::print_json(&view)?;
    Ok(EXIT_OK)
}

fn diff(a: &str, b: &str, json: bool) -> Result<i32, Failure> {
    let pa = support::load_policy(a)?;
    let pb = support::load_policy(b)?;
    let d = cavra_policy::diff::diff(&pa.compiled, &pb.compiled);
    crate::support::show(json, &d, &d.to_text())
}
