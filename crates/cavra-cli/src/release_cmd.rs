//! `cavra release …` and `cavra offline …`: flags in, `cavra-release` called, results printed.

use crate::support::{self, EXIT_OK, Failure};
use anyhow::anyhow;
use cavra_release::ReleaseError;
use cavra_release::record;
use cavra_runtime::{keyfiles, trust_file};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};

/// `cavra release …`
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Record a release: a signed in-toto statement binding each artefact's SHA-256 to the
    /// commits of the release and the CI attestations (and evidence bundles) that checked them.
    Record(RecordArgs),
    /// Record a rollback from one recorded release to another, signed the same way.
    Rollback(RollbackArgs),
    /// Verify a release record, a rollback record or a release archive offline (exit 1 when it
    /// does not verify, naming what failed).
    Verify(VerifyArgs),
    /// Write the release archive: the binaries, the built-in packs, a CycloneDX SBOM, SHA-256
    /// sums and a signature over them (what `scripts/build-release` runs).
    Archive(ArchiveArgs),
}

/// The signing key and the trust root it belongs to.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// The private key that signs (an active key of the trust root).
    #[arg(long, value_name = "FILE")]
    pub sign_key: PathBuf,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// The trust root that holds the signing key (and checks the attestations and records).
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
}

/// Where the service is, to deliver the record as a connector event.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Also send the record to this API service (token from CAVRA_TOKEN, an admin's): it checks
    /// the signature, records it in the tenant's evidence log and its connectors deliver it.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
}

/// `cavra release record` arguments.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The release's version (names the record file).
    #[arg(long, value_name = "V")]
    pub version: String,
    /// An artefact of the release (repeat); named by its file name.
    #[arg(long = "artifact", value_name = "FILE", required = true)]
    pub artifacts: Vec<PathBuf>,
    /// A CI attestation (`cavra ci attest`) of a commit of the release (repeat).
    #[arg(long = "attestation", value_name = "FILE")]
    pub attestations: Vec<PathBuf>,
    /// The previous release's ref: the release is the commits after it (default: every
    /// commit reachable from --to).
    #[arg(long, value_name = "REF")]
    pub since: Option<String>,
    /// The release commit.
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub to: String,
    /// Refuse the release when a commit has no passing CI attestation.
    #[arg(long)]
    pub require_checks: bool,
    /// The repository (default: the one around the current folder).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The record file (default: .cavra/releases/V.release.json in the repository).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub signing: SigningArgs,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// Print what was recorded as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra release rollback` arguments.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The version rolled back from.
    #[arg(long, value_name = "V")]
    pub from: String,
    /// The version rolled back to.
    #[arg(long, value_name = "W")]
    pub to: String,
    /// Why (kept in the record, redacted).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Who decided (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// The folder of the release records (V.release.json, W.release.json; default:
    /// .cavra/releases in the repository).
    #[arg(long, value_name = "DIR")]
    pub records: Option<PathBuf>,
    /// The rollback record file (default: rollback-V-to-W-<time>.json in the records folder).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub signing: SigningArgs,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// Print what was recorded as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra release verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The release record, rollback record or release archive (.tar.gz).
    pub file: PathBuf,
    /// The trust root to verify against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// An artefact to check against the digest the record names for its file name (repeat).
    #[arg(long = "artifact", value_name = "FILE")]
    pub artifacts: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra release archive` arguments.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The release's version.
    #[arg(long, value_name = "V")]
    pub version: String,
    /// The target triple the binaries were built for.
    #[arg(long, value_name = "TRIPLE")]
    pub target: String,
    /// A binary to ship (repeat: cavra, cavra-hook).
    #[arg(long = "binary", value_name = "FILE", required = true)]
    pub binaries: Vec<PathBuf>,
    /// `cargo metadata --format-version 1 --locked --filter-platform TRIPLE` output, for the SBOM.
    #[arg(long, value_name = "FILE")]
    pub metadata: PathBuf,
    /// The Cargo.lock the binaries were built from (the SBOM's checksums).
    #[arg(long, value_name = "FILE")]
    pub lock: PathBuf,
    /// The release commit's time, seconds since the epoch (every entry's time and the signed
    /// time; `git log -1 --format=%ct`).
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    pub source_date_epoch: u64,
    /// The folder to write the archive into.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub output: PathBuf,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub signing: SigningArgs,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra offline …`
#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// Write a signed offline install bundle: release archive, trust package, extra signed
    /// packs and container images (OCI archives).
    Bundle(BundleArgs),
    /// Verify an offline bundle against the trust root, or the key of a fingerprint told out
    /// of band (exit 1 when anything is tampered, unsigned or signed by an untrusted key).
    Verify(OfflineVerifyArgs),
    /// Verify an offline bundle, then install it: binaries, packs, images and the trust root.
    Install(InstallArgs),
}

/// `cavra offline bundle` arguments.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// A release archive (from scripts/build-release; repeat for several platforms).
    #[arg(long = "archive", value_name = "FILE", required = true)]
    pub archives: Vec<PathBuf>,
    /// The trust package (`cavra trust export`).
    #[arg(long, value_name = "FILE")]
    pub trust_package: PathBuf,
    /// An extra policy pack, its signature beside it as PACK.sig (repeat).
    #[arg(long = "pack", value_name = "FILE")]
    pub packs: Vec<PathBuf>,
    /// A container image as an OCI archive (`podman save --format oci-archive`; repeat).
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// The bundle file to write.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub signing: SigningArgs,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The bundle and what it is checked against.
#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// The signing key's fingerprint (sha256:…), told out of band; needed when the trust root
    /// does not hold the key yet.
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// The trust root to check against (and, on install, to update; created if missing).
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra offline verify` arguments.
#[derive(Debug, Args)]
pub struct OfflineVerifyArgs {
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub anchor: AnchorArgs,
}

/// `cavra offline install` arguments.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub anchor: AnchorArgs,
    /// Where to install: PREFIX/bin, PREFIX/share/cavra, PREFIX/policies, PREFIX/images.
    #[arg(long, value_name = "DIR")]
    pub prefix: PathBuf,
}

fn failure(e: ReleaseError) -> Failure {
    match e {
        ReleaseError::Input(m) if m.starts_with("nothing to check") => Failure::Usage(m),
        other => Failure::Other(anyhow!("{other}")),
    }
}

fn repo_root(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => Ok(support::find_repo_root(&support::current_dir()?)),
    }
}

fn signer(
    args: &SigningArgs,
) -> Result<(cavra_evidence::trust::TrustRoot, keyfiles::LogSigner), Failure> {
    let trust = trust_file::read(&args.trust_root)?;
    let signer = keyfiles::trusted_signer(&trust, &args.sign_key, args.key_id.as_deref())?;
    Ok((trust, signer))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    cavra_release::write_file(path, bytes).map_err(failure)
}

/// Sends a record to the service, which records it and hands it to its connectors.
fn notify(server: Option<&str>, text: &str) -> Result<Option<serde_json::Value>, Failure> {
    let Some(base) = server else { return Ok(None) };
    let body = json!({ "record": text });
    crate::client::call(base, "POST", "/v1/releases", Some(&body)).map(Some)
}

/// Runs `cavra release …`.
pub fn run(command: &ReleaseCommand) -> Result<i32, Failure> {
    match command {
        ReleaseCommand::Record(args) => record_cmd(args),
        ReleaseCommand::Rollback(args) => rollback_cmd(args),
        ReleaseCommand::Verify(args) => verify_cmd(args),
        ReleaseCommand::Archive(args) => archive_cmd(args),
    }
}

fn record_cmd(args: &RecordArgs) -> Result<i32, Failure> {
    let (trust, signer) = signer(&args.signing)?;
    let repo = repo_root(args.repo.as_deref())?;
    let signed_at = cavra_release::now();
    let signed = record::record_release(
        &record::ReleaseInputs {
            version: &args.version,
            artifacts: &args.artifacts,
            repo: &repo,
            from: args.since.as_deref(),
            to: &args.to,
            attestations: &args.attestations,
            require_checks: args.require_checks,
            signed_at: &signed_at,
        },
        &trust,
        &signer,
    )
    .map_err(failure)?;
    let output = args.output.clone().unwrap_or_else(|| {
        repo.join(record::RECORDS_DIR)
            .join(record::record_file_name(&args.version))
    });
    if output.exists() {
        return Err(Failure::Usage(format!(
            "{} exists; a release is recorded once (a rollback is its own record)",
            output.display()
        )));
    }
    let text = signed.to_file_text();
    write(&output, text.as_bytes())?;
    let sent = notify(args.notify.server.as_deref(), &text)?;
    let predicate = &signed.statement.predicate;
    if args.json {
        support::print_json(&json!({
            "record": output,
            "version": args.version,
            "signed_by": signer.key_id,
            "subjects": signed.statement.subject,
            "predicate": predicate,
            "service": sent,
        }))?;
    } else {
        println!(
            "{}",
            signed.release_text(&args.version, &signer.key_id, &output)
        );
        let unchecked = signed.unchecked();
        if unchecked > 0 {
            eprintln!(
                "note: {unchecked} commit(s) have no CI attestation; --require-checks refuses such a release"
            );
        }
        if let Some(s) = sent {
            println!("sent to the service: log index {}", s["log_index"]);
        }
    }
    Ok(EXIT_OK)
}

fn rollback_cmd(args: &RollbackArgs) -> Result<i32, Failure> {
    let (trust, signer) = signer(&args.signing)?;
    let dir = match &args.records {
        Some(d) => d.clone(),
        None => repo_root(None)?.join(record::RECORDS_DIR),
    };
    let signed_at = cavra_release::now();
    let actor = args
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| Failure::Usage("say who decided with --actor".into()))?;
    let from_record = dir.join(record::record_file_name(&args.from));
    let to_record = dir.join(record::record_file_name(&args.to));
    let signed = record::record_rollback(
        &record::RollbackInputs {
            from: &args.from,
            to: &args.to,
            reason: &args.reason,
            actor: &actor,
            from_record: &from_record,
            to_record: &to_record,
            signed_at: &signed_at,
        },
        &trust,
        &signer,
    )
    .map_err(failure)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| dir.join(record::rollback_file_name(&args.from, &args.to, &signed_at)));
    let text = signed.to_file_text();
    write(&output, text.as_bytes())?;
    let sent = notify(args.notify.server.as_deref(), &text)?;
    if args.json {
        support::print_json(&json!({
            "record": output,
            "signed_by": signer.key_id,
            "subjects": signed.statement.subject,
            "predicate": signed.statement.predicate,
            "service": sent,
        }))?;
    } else {
        println!(
            "recorded rollback {} -> {} signed by {}: {}",
            args.from,
            args.to,
            signer.key_id,
            output.display()
        );
        if let Some(s) = sent {
            println!("sent to the service: log index {}", s["log_index"]);
        }
    }
    Ok(EXIT_OK)
}

fn verify_cmd(args: &VerifyArgs) -> Result<i32, Failure> {
    use cavra_release::verify_file::{VerifyFileError, verify_file};
    let trust = trust_file::read(&args.trust_root)?;
    let printed = verify_file(&args.file, &trust, &args.artifacts).map_err(|e| match e {
        VerifyFileError::ArtifactsWithArchive => Failure::Usage(e.to_string()),
        e => Failure::Other(e.into()),
    })?;
    support::done(args.json, &printed.json, printed.text.trim_end())
}

fn archive_cmd(args: &ArchiveArgs) -> Result<i32, Failure> {
    let (trust, signer) = signer(&args.signing)?;
    let metadata = std::fs::read(&args.metadata)
        .map_err(|e| anyhow!("reading {}: {e}", args.metadata.display()))?;
    let lock = std::fs::read_to_string(&args.lock)
        .map_err(|e| anyhow!("reading {}: {e}", args.lock.display()))?;
    let built = cavra_release::archive::build_from_cargo(
        &cavra_release::archive::CargoInputs {
            version: &args.version,
            target: &args.target,
            binaries: &args.binaries,
            metadata: &metadata,
            lock: &lock,
            source_date_epoch: args.source_date_epoch,
        },
        &signer,
    )
    .map_err(failure)?;
    // What verifiers will check, checked before anything is written (a key not yet valid at
    // the commit's time, say).
    cavra_release::archive::verify(&built.bytes, &trust)
        .map_err(|e| anyhow!("the archive would not verify: {e}"))?;
    let path = cavra_release::archive::write(&built, &args.output).map_err(failure)?;
    support::show(
        args.json,
        &json!({"archive": path, "built": built}),
        &built.to_text(&path),
    )
}

/// Runs `cavra offline …`.
pub fn offline(command: &OfflineCommand) -> Result<i32, Failure> {
    match command {
        OfflineCommand::Bundle(args) => {
            let (trust, signer) = signer(&args.signing)?;
            let signed_at = cavra_release::now();
            let (bytes, summary) = cavra_release::offline::bundle(
                &cavra_release::offline::Inputs {
                    archives: &args.archives,
                    trust_package: &args.trust_package,
                    packs: &args.packs,
                    images: &args.images,
                    signed_at: &signed_at,
                },
                &trust,
                &args.signing.trust_root,
                &signer,
            )
            .map_err(failure)?;
            write(&args.output, &bytes)?;
            support::show(
                args.json,
                &json!({"bundle": args.output, "summary": summary}),
                &summary.written_text(&args.output),
            )
        }
        OfflineCommand::Verify(args) => {
            let a = &args.anchor;
            let checked = open_bundle(a)?;
            support::show(
                a.json,
                &json!({"verified": true, "bundle": checked.summary}),
                &checked.summary.to_text(),
            )
        }
        OfflineCommand::Install(args) => {
            let a = &args.anchor;
            let checked = open_bundle(a)?;
            let installed = cavra_release::offline::install(checked, &args.prefix, &a.trust_root)
                .map_err(failure)?;
            support::show(a.json, &installed, &installed.to_text(&args.prefix))
        }
    }
}

fn open_bundle(a: &AnchorArgs) -> Result<cavra_release::offline::Checked, Failure> {
    let bytes =
        std::fs::read(&a.bundle).map_err(|e| anyhow!("reading {}: {e}", a.bundle.display()))?;
    cavra_release::offline::verify(&bytes, a.fingerprint.as_deref(), &a.trust_root).map_err(|e| {
        if e.is_verification() {
            Failure::Other(anyhow!("{}: refused: {e}", a.bundle.display()))
        } else {
            failure(e)
        }
    })
}

/// `cavra trust status` arguments.
#[derive(Debug, Args)]
pub struct TrustStatusArgs {
    /// The trust root in use.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// The distributed trust package to compare with (its signature is checked first).
    #[arg(long, value_name = "FILE")]
    pub package: Option<PathBuf>,
    /// The package's signing key fingerprint (sha256:…), told out of band, when the trust root
    /// in use does not hold that key.
    #[arg(long, value_name = "SHA256", requires = "package")]
    pub fingerprint: Option<String>,
    /// A service replica to compare with (repeat for each replica; token from CAVRA_TOKEN).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Exit code of `cavra trust status` when something drifted.
pub const EXIT_DRIFT: i32 = 3;

/// Runs `cavra trust status`.
pub fn trust_status(args: &TrustStatusArgs) -> Result<i32, Failure> {
    if args.package.is_none() && args.servers.is_empty() {
        return Err(Failure::Usage(
            "nothing to compare with: give --package and/or --server".into(),
        ));
    }
    let mut replicas = Vec::new();
    for server in &args.servers {
        replicas.push((
            server.clone(),
            crate::client::call(server, "GET", "/v1/trust", None)?,
        ));
    }
    let (package, fingerprint) = (args.package.as_deref(), args.fingerprint.as_deref());
    let status = cavra_release::drift::status_of(&args.trust_root, package, fingerprint, &replicas)
        .map_err(failure)?;
    let value = json!({"in_sync": status.in_sync(), "status": status});
    support::done(args.json, &value, status.to_text().trim_end())?;
    Ok(if status.in_sync() {
        EXIT_OK
    } else {
        EXIT_DRIFT
    })
}
