//! `cavra keys`, `cavra trust` and `cavra evidence`: key pairs, trust roots, the local evidence
//! log, bundles, their verification and SIEM exports.

use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::anyhow;
use cavra_bundle::{BundleOptions, ExportFormat, Selection, VerifyOptions};
use cavra_evidence::trust::TrustRoot;
use cavra_runtime::keyfiles;
use cavra_runtime::trust_file::{self, TrustFileError};
use cavra_runtime::trust_package::{self, TrustPackageError};
use cavra_store::{EntryFilter, Store};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// `cavra keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair: DIR/ID.key (PKCS#8 PEM, mode 0600) and DIR/ID.pub.
    Generate {
        /// The key's id (names the files and the trust-root record).
        #[arg(long, value_name = "ID")]
        key_id: String,
        /// Folder to write the two files into (created if missing).
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--trust-root FILE`
#[derive(Debug, Args)]
pub struct TrustRootArg {
    /// The trust root file (JSON).
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
}

/// `cavra trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Add a public key to a trust root (the file is created if missing).
    Add {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// The key's id, as signatures name it.
        #[arg(long, value_name = "ID", required_unless_present = "log_key")]
        key_id: Option<String>,
        /// The public key file (SPKI PEM, as written by `cavra keys generate`).
        #[arg(long, value_name = "FILE", required_unless_present = "log_key")]
        public_key: Option<PathBuf>,
        /// Add this repository's log key (.cavra/keys/log.pub, under its own id), which signs
        /// the log's checkpoints: what `evidence check-proof` and unsigned bundles are checked
        /// against.
        #[arg(long, conflicts_with_all = ["key_id", "public_key"])]
        log_key: bool,
        /// Who holds the private key.
        #[arg(long, value_name = "NAME")]
        owner: String,
        /// Signatures dated before this are refused (RFC 3339; default: when the public key
        /// file was written, whole seconds, or now if later — so a key added after it has
        /// signed, such as a repository's log key, still verifies what it signed since).
        #[arg(long, value_name = "TIME")]
        valid_from: Option<String>,
        /// Signatures dated after this are refused (RFC 3339; default: open-ended).
        #[arg(long, value_name = "TIME")]
        valid_until: Option<String>,
        /// Print the added key's record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the keys of a trust root with their status and validity.
    List {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: nothing it signed verifies any more.
    Revoke {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// The key.
        #[arg(long, value_name = "ID")]
        key_id: String,
        /// Why (kept in the record).
        #[arg(long)]
        reason: String,
        /// Print the key's record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retire a key after a rotation: what it signed while valid still verifies.
    Retire {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// The key.
        #[arg(long, value_name = "ID")]
        key_id: String,
        /// Why (kept in the record).
        #[arg(long)]
        reason: String,
        /// When it stopped signing (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Print the key's record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write an offline trust package: the trust root and signed policy packs, with checksums,
    /// signed, to carry into an air-gapped environment.
    Export {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// Policy pack files to include; each needs its signature beside it (PACK.sig).
        #[arg(long = "policy", value_name = "PACK")]
        policies: Vec<PathBuf>,
        /// Signs the package (its key must be in the trust root).
        #[arg(long, value_name = "FILE")]
        sign_key: PathBuf,
        /// The signing key's id (default: the key file's name without extension).
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
        /// The package file to write.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify an offline trust package and install its trust root and policy packs.
    Import {
        /// The package file.
        package: PathBuf,
        /// The package's signing key fingerprint (sha256:…), told out of band; needed when
        /// there is no trust root yet that holds the signing key.
        #[arg(long, value_name = "SHA256")]
        fingerprint: Option<String>,
        /// The trust root to check the package against and to update (created if missing).
        #[arg(long, value_name = "FILE")]
        trust_root: PathBuf,
        /// Where to write the packs and their signatures.
        #[arg(long, value_name = "DIR")]
        policies_dir: Option<PathBuf>,
        /// Print what was imported as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare the trust root in use with the distributed trust package and with what each
    /// service replica uses, and report drift. Exit 0: in sync; 3: drift; 1: error.
    Status(crate::release_cmd::TrustStatusArgs),
}

/// `cavra evidence …`
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// The local evidence log: verify it.
    #[command(subcommand)]
    Log(LogCommand),
    /// Sign a checkpoint of the local log now (with the repository's log key).
    Checkpoint {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a signed bundle of real log entries, with proofs, policies and approvals.
    Bundle(BundleArgs),
    /// Verify a bundle offline against a trust root (exit 1 on any failure).
    Verify(VerifyArgs),
    /// Export log entries for a SIEM (already redacted).
    Export(ExportArgs),
    /// Prove that one log entry is in the log: its inclusion proof against a fresh signed
    /// checkpoint, to check offline with `check-proof`.
    Prove {
        /// The entry's index (from 0).
        #[arg(long, value_name = "N")]
        index: u64,
        /// Write the proof here (default: standard output).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// With --output: print what was written as JSON (the proof itself is JSON).
        #[arg(long)]
        json: bool,
    },
    /// Prove that the log now extends an earlier signed checkpoint (nothing before it changed).
    Consistency {
        /// The earlier checkpoint's tree size.
        #[arg(long, value_name = "SIZE")]
        from: u64,
        /// Write the proof here (default: standard output).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// With --output: print what was written as JSON (the proof itself is JSON).
        #[arg(long)]
        json: bool,
    },
    /// Check an inclusion or consistency proof offline against a trust root (exit 1 if it fails).
    CheckProof {
        /// The proof file.
        file: PathBuf,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        root: TrustRootArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cavra evidence log …`
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Re-read the whole log: entry hashes, positions, checkpoints and their signatures.
    Verify {
        /// Check checkpoint signatures against this trust root (default: the repository's
        /// own log key, .cavra/keys/log.pub).
        #[arg(long, value_name = "FILE")]
        trust_root: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Entry selection flags.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Only this agent session.
    #[arg(long, value_name = "ID", conflicts_with_all = ["since", "until"])]
    pub session: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// `cavra evidence bundle` arguments.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The bundle folder to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Sign the bundle with this private key (unsigned bundles only verify with --allow-unsigned).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Days the bundle must be kept.
    #[arg(long, value_name = "N", default_value_t = 365)]
    pub retention_days: u32,
    /// Keep the bundle until the hold is lifted.
    #[arg(long)]
    pub legal_hold: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra evidence verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// The trust root file (JSON). Needed unless --allow-unsigned, which without it checks the
    /// checkpoint against this repository's own log key (.cavra/keys/log.pub).
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: Option<PathBuf>,
    /// Require the bundle to be signed by this key.
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
    /// Require the retention record to keep the bundle at least this many days.
    #[arg(long, value_name = "N")]
    pub minimum_retention_days: Option<u32>,
    /// Accept a bundle without a bundle signature (everything else is still checked).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra evidence export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// jsonl, splunk-hec or ocsf.
    #[arg(long, value_name = "FORMAT")]
    pub format: ExportFormat,
    /// The file to write (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// With a file: print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str, what: &str) -> Result<OffsetDateTime, Failure> {
    cavra_runtime::local::parse_time(s, what).map_err(|e| Failure::Usage(e.to_string()))
}

fn filter_of(sel: &SelectionArgs) -> Result<EntryFilter, Failure> {
    let (since, until) = (sel.since.as_deref(), sel.until.as_deref());
    cavra_runtime::local::entry_filter(sel.session.as_deref(), since, until)
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn repo_root() -> Result<PathBuf, Failure> {
    Ok(support::find_repo_root(&support::current_dir()?))
}

/// Opens this repository's store, with its log key attached; an error if nothing was recorded.
pub(crate) fn open_repo_store() -> Result<(PathBuf, Store), Failure> {
    let root = repo_root()?;
    match cavra_runtime::local::open_existing(&root).map_err(|e| anyhow!("{e}"))? {
        Some(store) => Ok((root, store)),
        None => Err(no_evidence(&root)),
    }
}

/// The failure of a command that needs recorded evidence in a repository that has none.
fn no_evidence(root: &Path) -> Failure {
    anyhow!(
        "no evidence here: {} does not exist (cavra records decisions once its hooks run; see `cavra init`)",
        cavra_store::store_path(root).display()
    )
    .into()
}

/// Reads a trust root file (the runtime's [`trust_file::read`]).
pub(crate) fn read_trust(path: &Path) -> Result<TrustRoot, Failure> {
    Ok(trust_file::read(path)?)
}

/// Writes a file whole or not at all (the runtime's [`cavra_runtime::repo::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    Ok(cavra_runtime::repo::write_atomic(path, bytes)?)
}

/// `cavra keys …`
pub fn keys(command: &KeysCommand) -> Result<i32, Failure> {
    match command {
        KeysCommand::Generate {
            key_id,
            output,
            json,
        } => {
            let generated = keyfiles::generate(output, key_id)?;
            crate::support::show(*json, &generated, &generated.to_text())
        }
    }
}

/// `cavra trust …`
pub fn trust(command: &TrustCommand) -> Result<i32, Failure> {
    let now = OffsetDateTime::now_utc();
    match command {
        TrustCommand::Add {
            root,
            key_id,
            public_key,
            log_key,
            owner,
            valid_from,
            valid_until,
            json,
        } => {
            let (key_id, public_key) = match (key_id, public_key, log_key) {
                (Some(id), Some(file), false) => (id.clone(), file.clone()),
                (None, None, true) => {
                    keyfiles::log_public_key(&support::find_repo_root(&support::current_dir()?))?
                }
                _ => {
                    return Err(Failure::Usage(
                        "give --key-id and --public-key, or --log-key".into(),
                    ));
                }
            };
            let valid_from = valid_from
                .as_deref()
                .map(|t| parse_time(t, "--valid-from"))
                .transpose()?;
            let valid_until = valid_until
                .as_deref()
                .map(|t| parse_time(t, "--valid-until"))
                .transpose()?;
            let new = trust_file::NewKey {
                key_id: &key_id,
                public_key: &public_key,
                owner,
                valid_from,
                valid_until,
            };
            let record = trust_file::add_key(&root.trust_root, &new, now).map_err(|e| match e {
                TrustFileError::EmptyWindow => {
                    Failure::Usage("--valid-until must be after --valid-from".into())
                }
                e => e.into(),
            })?;
            let fingerprint = record.fingerprint.clone();
            let added = serde_json::to_value(&record).map_err(|e| anyhow!("{e}"))?;
            support::done(
                *json,
                &added,
                &format!(
                    "added {key_id} ({fingerprint}) to {}",
                    root.trust_root.display()
                ),
            )
        }
        TrustCommand::List { root, json } => {
            let trust = read_trust(&root.trust_root)?;
            crate::support::show(
                *json,
                &trust.keys,
                &trust_file::list_text(&trust, &root.trust_root),
            )
        }
        TrustCommand::Revoke {
            root,
            key_id,
            reason,
            json,
        } => {
            let record = trust_file::revoke_key(&root.trust_root, key_id, reason, now)?;
            support::done(
                *json,
                &serde_json::to_value(&record).map_err(|e| anyhow!("{e}"))?,
                &format!("revoked {key_id}: nothing it signed verifies any more"),
            )
        }
        TrustCommand::Retire {
            root,
            key_id,
            reason,
            at,
            json,
        } => {
            let at = at
                .as_deref()
                .map(|t| parse_time(t, "--at"))
                .transpose()?
                .unwrap_or(now);
            let record = trust_file::retire_key(&root.trust_root, key_id, reason, at)?;
            let until = record.valid_until.clone().unwrap_or_default();
            support::done(
                *json,
                &serde_json::to_value(&record).map_err(|e| anyhow!("{e}"))?,
                &format!("retired {key_id}: what it signed until {until} still verifies"),
            )
        }
        TrustCommand::Export {
            root,
            policies,
            sign_key,
            key_id,
            output,
            json,
        } => trust_export(
            &root.trust_root,
            policies,
            sign_key,
            key_id.as_deref(),
            output,
            *json,
        ),
        TrustCommand::Status(args) => crate::release_cmd::trust_status(args),
        TrustCommand::Import {
            package,
            fingerprint,
            trust_root,
            policies_dir,
            json,
        } => trust_import(
            package,
            fingerprint.as_deref(),
            trust_root,
            policies_dir.as_deref(),
            *json,
        ),
    }
}

/// A trust package that cannot be written or imported, as the failure that reports it.
fn package_failure(e: TrustPackageError) -> Failure {
    match e {
        TrustPackageError::NoAnchor(_) => Failure::Usage(e.to_string()),
        other => Failure::Other(other.into()),
    }
}

/// `cavra trust export`
fn trust_export(
    trust_path: &Path,
    policies: &[PathBuf],
    sign_key: &Path,
    key_id: Option<&str>,
    output: &Path,
    json: bool,
) -> Result<i32, Failure> {
    let done = trust_package::export(trust_path, policies, sign_key, key_id, output)
        .map_err(package_failure)?;
    support::done(json, &done.to_json(output), &done.to_text(output))
}

/// `cavra trust import`
fn trust_import(
    package_path: &Path,
    fingerprint: Option<&str>,
    trust_path: &Path,
    policies_dir: Option<&Path>,
    json: bool,
) -> Result<i32, Failure> {
    let done = trust_package::import(package_path, fingerprint, trust_path, policies_dir)
        .map_err(package_failure)?;
    support::done(
        json,
        &done.to_json(package_path, trust_path, policies_dir),
        &done.to_text(package_path, trust_path, policies_dir),
    )
}

/// `cavra evidence …`
pub fn evidence(command: &EvidenceCommand) -> Result<i32, Failure> {
    match command {
        EvidenceCommand::Log(LogCommand::Verify { trust_root, json }) => {
            // Verifying only reads: the store opened read-only, no key created.
            let root = repo_root()?;
            let store = cavra_runtime::local::open_readable(&root)
                .map_err(|e| anyhow!("{e}"))?
                .ok_or_else(|| no_evidence(&root))?;
            let trust = match trust_root {
                Some(p) => Some(read_trust(p)?),
                None => keyfiles::own_log_trust(&root)?,
            };
            let report = store
                .verify_log(trust.as_ref())
                .map_err(|e| anyhow!("{e}"))?;
            if *json {
                support::print_json(&report)?;
            } else {
                print!("{}", report.to_text());
            }
            Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
        }
        EvidenceCommand::Checkpoint { json } => {
            let (root, mut store) = open_repo_store()?;
            let signer = keyfiles::log_key(&root)?;
            let now =
                cavra_store::format_time(OffsetDateTime::now_utc()).map_err(|e| anyhow!("{e}"))?;
            let cp = store
                .checkpoint_now(&signer, &now)
                .map_err(|e| anyhow!("{e}"))?;
            if *json {
                println!("{}", cp.envelope);
            } else {
                println!(
                    "checkpoint: {} entries, tree head {}, signed by {}",
                    cp.checkpoint.tree_size, cp.checkpoint.root_hash, cp.checkpoint.key_id
                );
            }
            Ok(EXIT_OK)
        }
        EvidenceCommand::Bundle(args) => bundle(args),
        EvidenceCommand::Verify(args) => verify(args),
        EvidenceCommand::Export(args) => export(args),
        EvidenceCommand::Prove {
            index,
            output,
            json,
        } => crate::proof_cmd::prove(*index, output.as_deref(), *json),
        EvidenceCommand::Consistency { from, output, json } => {
            crate::proof_cmd::consistency(*from, output.as_deref(), *json)
        }
        EvidenceCommand::CheckProof { file, root, json } => {
            crate::proof_cmd::check_proof(file, &root.trust_root, *json)
        }
    }
}

fn bundle(args: &BundleArgs) -> Result<i32, Failure> {
    let filter = filter_of(&args.selection)?;
    let (root, mut store) = open_repo_store()?;
    let sign = args
        .sign_key
        .as_deref()
        .map(|p| keyfiles::signer(p, args.key_id.as_deref()))
        .transpose()?;
    if sign.is_none() && args.key_id.is_some() {
        return Err(Failure::Usage("--key-id needs --sign-key".into()));
    }
    let log = keyfiles::log_key(&root)?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} entries ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("bundling");
    if args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let written = cavra_bundle::write_bundle(
        &mut store,
        &args.output,
        BundleOptions {
            selection: Selection {
                session_id: filter.session_id,
                since: filter.since,
                until: filter.until,
            },
            sign: sign.as_ref(),
            log_signer: Some(&log),
            retention_days: args.retention_days,
            legal_hold: args.legal_hold,
            created_at: OffsetDateTime::now_utc(),
            progress: Some(&mut progress),
        },
    )
    .map_err(|e| anyhow!("{e}"))?;
    bar.finish_and_clear();
    crate::support::show(args.json, &written, &written.to_text(&log.key_id))
}

fn verify(args: &VerifyArgs) -> Result<i32, Failure> {
    let trust = match (&args.trust_root, args.allow_unsigned) {
        (Some(path), _) => read_trust(path)?,
        (None, true) => {
            let root = support::find_repo_root(&support::current_dir()?);
            let public = keyfiles::log_public_path(&root);
            if !public.is_file() {
                return Err(Failure::Usage(format!(
                    "no --trust-root, and no log key of this repository at {} to check the checkpoint with: give --trust-root FILE",
                    public.display()
                )));
            }
            eprintln!(
                "note: no --trust-root: the checkpoint is checked against this repository's log key ({})",
                public.display()
            );
            keyfiles::own_log_trust(&root)?
                .ok_or_else(|| anyhow!("no log key at {}", public.display()))?
        }
        (None, false) => {
            return Err(Failure::Usage(
                "--trust-root FILE is needed to check the bundle's signature (or --allow-unsigned for an unsigned bundle of this repository)".into(),
            ));
        }
    };
    if !args.bundle.is_dir() {
        return Err(anyhow!("{} is not a bundle folder", args.bundle.display()).into());
    }
    let report = cavra_bundle::verify_bundle(
        &args.bundle,
        &trust,
        &VerifyOptions {
            key_id: args.key_id.clone(),
            minimum_retention_days: args.minimum_retention_days,
            allow_unsigned: args.allow_unsigned,
        },
    );
    if args.json {
        support::print_json(&serde_json::json!({
            "ok": report.ok(),
            "report": report,
        }))?;
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_ERROR })
}

fn export(args: &ExportArgs) -> Result<i32, Failure> {
    let filter = filter_of(&args.selection)?;
    let (_, store) = open_repo_store()?;
    let count = if args.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        cavra_bundle::export_entries(&store, &filter, args.format, &mut lock)
            .map_err(|e| anyhow!("{e}"))?
    } else {
        cavra_bundle::export_to_file(&store, &filter, args.format, &args.output)
            .map_err(|e| anyhow!("{e}"))?
    };
    if count == 0 {
        return Err(anyhow!("no log entries match the selection").into());
    }
    if args.output.as_os_str() == "-" {
        return Ok(EXIT_OK);
    }
    if args.json {
        support::print_json(&serde_json::json!({
            "written": args.output,
            "entries": count,
        }))?;
    } else {
        eprintln!("exported {count} entries to {}", args.output.display());
    }
    Ok(EXIT_OK)
}
