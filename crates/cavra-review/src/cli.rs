//! `cavra review …`: the flags of each step (feature `clap`), and running it. The binary
//! only hands the parsed command to [`run`]; what each step does is in its module.
//!
//! Exit codes: 0 the step passed (a record verified), 1 an error (a record that does not
//! verify), 2 a usage mistake, 4 a step recorded that did not pass.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::{ReviewError, Service, Step, Written};

/// `cavra review …`
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Step 1: check the release artefacts against the release record; write the signed record.
    Publication(PublicationArgs),
    /// Step 2: the readiness gate for the first tenants, recorded.
    Activation(ActivationArgs),
    /// Step 3: the operating review report of a period (Markdown, HTML with SVG charts).
    Report(ReportArgs),
    /// Step 4: the security advisory drill (simulated key compromise: revoke, rotate, re-sign,
    /// re-verify).
    Drill(DrillArgs),
    /// Step 5: the archive closeout: the period's records in one folder with a signed manifest.
    Closeout(CloseoutArgs),
    /// Step 6: where each step stands, from its records.
    Status(StatusArgs),
    /// Mail a report to the tenant's own recipients through its SMTP connectors.
    Send(SendArgs),
    /// Verify a review record, or a closeout folder, offline; exit 1 with the reason.
    Verify(VerifyArgs),
}

/// The key that signs a record.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The private key that signs the record (a key of the trust root verifiers use).
    #[arg(long, value_name = "FILE")]
    pub sign_key: PathBuf,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra review publication`.
#[derive(Debug, Args)]
pub struct PublicationArgs {
    /// The release record (`cavra release record`).
    #[arg(long, value_name = "FILE")]
    pub release_record: PathBuf,
    /// An artefact as published (repeat for each; every one the record names).
    #[arg(long = "artifact", value_name = "FILE", required = true)]
    pub artifacts: Vec<PathBuf>,
    /// The trust root the release is signed under.
    #[arg(long, value_name = "FILE")]
    pub trust_root: PathBuf,
    /// Where the record goes.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review activation`.
#[derive(Debug, Args)]
pub struct ActivationArgs {
    /// The API service: the gate for each token's tenant (`--token-file`, else CAVRA_TOKEN).
    #[arg(long, value_name = "URL", conflicts_with = "tenant")]
    pub server: Option<String>,
    /// A file holding one first tenant's token (an admin's or auditor's); repeat per tenant.
    #[arg(long = "token-file", value_name = "FILE", requires = "server")]
    pub token_files: Vec<PathBuf>,
    /// A first tenant, read from the service's database (repeat per tenant).
    #[arg(long = "tenant", value_name = "ID")]
    pub tenant: Vec<String>,
    /// The database (`sqlite://PATH` or `postgres://…`), with --tenant.
    #[arg(long, env = "CAVRA_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The service's configuration file (YAML), with --tenant.
    #[arg(long, env = "CAVRA_SERVER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the record goes.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The API service (CAVRA_TOKEN: an admin's or auditor's; the report is of its tenant).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The period, ending now (or at --until): 30d, 7d, 12h, ….
    #[arg(long, value_parser = cavra_server::packet::parse_duration, default_value = "30d")]
    pub period: time::Duration,
    /// The period's end (RFC 3339; default now).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The folder the report's files and record go to.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The trust root in use (read, never changed).
    #[arg(long, value_name = "FILE")]
    pub trust_root: PathBuf,
    /// The key whose compromise is simulated.
    #[arg(long, value_name = "ID")]
    pub compromised: String,
    /// The id of the key to rotate to.
    #[arg(long, value_name = "ID")]
    pub new_key_id: String,
    /// Who holds the new key.
    #[arg(long, default_value = "operations")]
    pub owner: String,
    /// Where the new key pair goes (not with the records).
    #[arg(long, value_name = "DIR")]
    pub new_key_dir: PathBuf,
    /// Where the rotated trust root, the re-signed records and the drill's record go.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// The past records and packets to re-verify and re-sign.
    #[arg(required = true, value_name = "RECORD")]
    pub records: Vec<PathBuf>,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review closeout`.
#[derive(Debug, Args)]
pub struct CloseoutArgs {
    /// The period's records and files (files or folders).
    #[arg(required = true, value_name = "PATH")]
    pub sources: Vec<PathBuf>,
    /// The trust root the records are verified against before they are bundled.
    #[arg(long, value_name = "FILE")]
    pub trust_root: PathBuf,
    /// The bundle's folder.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The records (files or folders, closeout folders included).
    #[arg(required = true, value_name = "PATH")]
    pub sources: Vec<PathBuf>,
    /// The trust root the records are verified against.
    #[arg(long, value_name = "FILE")]
    pub trust_root: PathBuf,
    /// Where the record goes (its Markdown beside it, `.md`).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// The signing key and output form.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// `cavra review send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The service's configuration file, whose `connectors` are used.
    #[arg(long, env = "CAVRA_SERVER_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// The tenant whose report it is.
    #[arg(long, value_name = "ID")]
    pub tenant: String,
    /// Only this connector (it must be the tenant's).
    #[arg(long, value_name = "NAME")]
    pub connector: Option<String>,
    /// The subject line.
    #[arg(long)]
    pub subject: String,
    /// The message's text (the report's Markdown, for instance).
    #[arg(long, value_name = "FILE")]
    pub text: PathBuf,
    /// A file to attach (repeat): the HTML report, the signed record.
    #[arg(long = "attach", value_name = "FILE")]
    pub attachments: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra review verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The record, or a closeout folder.
    pub path: PathBuf,
    /// The trust root to verify against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// Refuse a record signed longer ago than this (30d, 12h, …) as stale.
    #[arg(long, value_parser = cavra_server::packet::parse_duration)]
    pub max_age: Option<time::Duration>,
    /// The step the record must be.
    #[arg(long, value_enum)]
    pub step: Option<Step>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn token() -> Result<String, ReviewError> {
    std::env::var("CAVRA_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ReviewError::Usage("set CAVRA_TOKEN to an API token of the service".into()))
}

fn print(json: bool, value: &impl serde::Serialize, text: &str) -> Result<(), ReviewError> {
    if json {
        let s =
            serde_json::to_string_pretty(value).map_err(|e| ReviewError::Render(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{text}");
    }
    Ok(())
}

fn written(json: bool, w: &Written) -> Result<i32, ReviewError> {
    print(json, w, &w.to_text())?;
    Ok(w.exit_code())
}

fn signer(s: &SignArgs) -> Result<cavra_runtime::keyfiles::LogSigner, ReviewError> {
    crate::signer(&s.sign_key, s.key_id.as_deref())
}

fn step(command: &ReviewCommand) -> Result<i32, ReviewError> {
    match command {
        ReviewCommand::Publication(a) => {
            let inputs = crate::publication::Inputs {
                release_record: &a.release_record,
                artifacts: &a.artifacts,
                trust_root: &a.trust_root,
            };
            written(
                a.sign.json,
                &crate::publication::run(&inputs, &signer(&a.sign)?, &a.output)?,
            )
        }
        ReviewCommand::Activation(a) => {
            let w = if let Some(url) = &a.server {
                let tokens = if a.token_files.is_empty() {
                    vec![token()?]
                } else {
                    a.token_files
                        .iter()
                        .map(|f| {
                            std::fs::read_to_string(f)
                                .map(|t| t.trim().to_string())
                                .map_err(|e| crate::file_error(f, e))
                        })
                        .collect::<Result<_, _>>()?
                };
                let services: Vec<Service> = tokens
                    .into_iter()
                    .map(|token| Service {
                        url: url.clone(),
                        token,
                    })
                    .collect();
                crate::activation::run(
                    &crate::activation::Source::Service(&services),
                    &signer(&a.sign)?,
                    &a.output,
                )?
            } else {
                let config = cavra_server::admin::config(
                    a.config.as_deref(),
                    a.database_url.as_deref(),
                    None,
                )
                .map_err(|e| ReviewError::Usage(e.to_string()))?;
                let source = crate::activation::Source::Database {
                    config: &config,
                    tenants: &a.tenant,
                };
                crate::activation::run(&source, &signer(&a.sign)?, &a.output)?
            };
            written(a.sign.json, &w)
        }
        ReviewCommand::Report(a) => {
            let until = match &a.until {
                Some(t) => {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| ReviewError::Usage(format!("--until {t:?}: {e}")))?
                }
                None => time::OffsetDateTime::now_utc(),
            };
            let service = Service {
                url: a.server.clone(),
                token: token()?,
            };
            let data = crate::report::gather(&service, until - a.period, until)?;
            written(
                a.sign.json,
                &crate::report::write(&data, &a.output, &signer(&a.sign)?)?,
            )
        }
        ReviewCommand::Drill(a) => {
            let inputs = crate::drill::Inputs {
                trust_root: &a.trust_root,
                compromised: &a.compromised,
                new_key_id: &a.new_key_id,
                owner: &a.owner,
                records: &a.records,
                key_dir: &a.new_key_dir,
                output: &a.output,
            };
            written(a.sign.json, &crate::drill::run(&inputs, &signer(&a.sign)?)?)
        }
        ReviewCommand::Closeout(a) => {
            let trust = cavra_runtime::trust_file::read(&a.trust_root)?;
            let w = crate::closeout::run(&a.sources, &trust, &signer(&a.sign)?, &a.output)?;
            written(a.sign.json, &w)
        }
        ReviewCommand::Status(a) => {
            let trust = cavra_runtime::trust_file::read(&a.trust_root)?;
            let w = crate::status::run(&a.sources, &trust, &signer(&a.sign)?, &a.output)?;
            written(a.sign.json, &w)
        }
        ReviewCommand::Send(a) => {
            let config = crate::mail::config(&a.config)?;
            let connectors = crate::mail::connectors(&config, &a.tenant, a.connector.as_deref())?;
            let text =
                std::fs::read_to_string(&a.text).map_err(|e| crate::file_error(&a.text, e))?;
            let msg = crate::mail::Message {
                tenant: &a.tenant,
                subject: &a.subject,
                text: &text,
                attachments: &a.attachments,
            };
            let sent = crate::mail::send(&msg, &connectors)?;
            let lines: String = sent
                .iter()
                .map(|d| {
                    format!(
                        "{} {}: {} ({} {})\n",
                        if d.delivered { "sent" } else { "NOT sent" },
                        d.connector,
                        d.recipients.join(", "),
                        d.status,
                        d.response
                    )
                })
                .collect();
            print(a.json, &sent, &lines)?;
            Ok(if sent.iter().all(|d| d.delivered) {
                0
            } else {
                1
            })
        }
        ReviewCommand::Verify(a) => {
            let checks = crate::verify::Checks {
                max_age: a.max_age,
                step: a.step,
            };
            let outcome = crate::verify::path(&a.path, &a.trust_root, &checks)?;
            print(a.json, &outcome, &format!("{}\n", outcome.detail))?;
            Ok(outcome.exit_code())
        }
    }
}

/// Runs `cavra review …` and returns the exit code; an error is printed to stderr (exit 2
/// for a usage mistake, else 1).
pub fn run(command: &ReviewCommand) -> i32 {
    match step(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, ReviewError::Usage(_)) {
                2
            } else {
                1
            }
        }
    }
}
