//! `cavra aispm posture`: a tenant's AISPM posture from the service, its database, or an
//! evidence bundle offline (all three computed by `cavra-aispm` from the evidence entries);
//! `cavra aispm packet create|verify`: signed review packets (`cavra_server::packet`).

use std::path::PathBuf;

use anyhow::anyhow;
use cavra_server::packet;
use clap::{ArgGroup, Args, Subcommand};

use crate::support::{self, EXIT_OK, Failure};

/// `cavra aispm …`
#[derive(Debug, Subcommand)]
pub enum AispmCommand {
    /// The posture: factors with weight, value, contribution and why, and the score.
    Posture(PostureArgs),
    /// Review packets: create a signed one for a period, verify one offline.
    #[command(subcommand)]
    Packet(PacketCommand),
}

/// `cavra aispm packet …`
#[derive(Debug, Subcommand)]
pub enum PacketCommand {
    /// Write a signed review packet of a tenant's period (posture, findings, evidence, readiness).
    Create(CreateArgs),
    /// Verify a review packet; exit 1 with the reason (see docs/aispm.md).
    Verify(VerifyArgs),
}

/// `cavra aispm packet create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["server", "tenant"])))]
#[command(group(ArgGroup::new("key").required(true).args(["sign_key"])))]
pub struct CreateArgs {
    /// The period reviewed, up to now: 30d, 12h, ….
    #[arg(long, value_parser = packet::parse_duration, default_value = "30d")]
    pub period: time::Duration,
    /// Where the packet goes.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub key: crate::server_cmd::SignKey,
    /// The API service: the token's tenant (CAVRA_TOKEN, an admin's or auditor's).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The tenant, read from the service's database.
    #[arg(long, conflicts_with = "server")]
    pub tenant: Option<String>,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub db: crate::server_cmd::DbArgs,
}

/// `… packet verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The packet.
    pub file: PathBuf,
    /// The trust root to verify it against.
    #[arg(long, value_name = "FILE", env = "CAVRA_TRUST_ROOT")]
    pub trust_root: PathBuf,
    /// Refuse a packet signed longer ago than this (30d, 12h, …) as stale.
    #[arg(long, value_parser = packet::parse_duration)]
    pub max_age: Option<time::Duration>,
    /// The live service (CAVRA_TOKEN): stale when its configuration digests differ.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Verifies a packet file of `kind`: exit 0 or 1.
pub fn verify(args: &VerifyArgs, kind: packet::Kind) -> Result<i32, Failure> {
    let live = args.server.as_deref().map(live_readiness).transpose()?;
    let expect = packet::Expect::new(kind, args.max_age, live.as_ref().map(|r| &r.digests));
    let outcome = packet::verify_file(&args.file, &args.trust_root, &expect).map_err(any)?;
    support::done(args.json, &outcome.value(), &outcome.detail)?;
    Ok(outcome.exit_code())
}

/// The service's readiness gate for the token's tenant.
pub fn live_readiness(url: &str) -> Result<cavra_server::readiness::Readiness, Failure> {
    serde_json::from_value(crate::client::call(url, "GET", "/v1/readiness", None)?)
        .map_err(|e| anyhow!("the service's readiness report does not read: {e}").into())
}

fn any(e: impl std::fmt::Display) -> Failure {
    Failure::Other(anyhow!("{e}"))
}

fn create(args: &CreateArgs) -> Result<i32, Failure> {
    let (token, config);
    let source = if let Some(url) = &args.server {
        token = crate::client::token()?;
        packet::Source::Service { url, token: &token }
    } else {
        config = crate::server_cmd::config(&args.db)?;
        let tenant = args.tenant.as_deref().unwrap_or_default();
        packet::Source::Database {
            config: &config,
            tenant,
        }
    };
    let key = args.key.sign_key.clone().unwrap_or_default(); // required by the `key` group
    let id = args.key.key_id.as_deref();
    let blockers = packet::create(&source, args.period, &args.output, &key, id).map_err(any)?;
    println!("wrote {} ({blockers} blocker(s))", args.output.display());
    Ok(EXIT_OK)
}

/// Where the entries come from: exactly one of the three.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["server", "database_url", "from_bundle"])))]
pub struct PostureArgs {
    /// The API service: the posture of the token's tenant (token from CAVRA_TOKEN).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The service's database, read directly (`sqlite://PATH` or `postgres://…`); with --tenant.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub database_url: Option<String>,
    /// The tenant whose log to read (with --database-url).
    #[arg(long, requires = "database_url", conflicts_with_all = ["server", "from_bundle"])]
    pub tenant: Option<String>,
    /// An evidence bundle folder: recompute the posture offline from its entries (verify the
    /// bundle first with `cavra evidence verify`).
    #[arg(long, value_name = "DIR")]
    pub from_bundle: Option<PathBuf>,
    /// Day by day (UTC days) over the last --days N (default 30).
    #[arg(long, conflicts_with = "from_bundle")]
    pub trend: bool,
    /// The trend's length in days (hidden; the default is 30).
    #[arg(long, requires = "trend", hide = true)]
    pub days: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cavra aispm …`.
pub fn run(command: &AispmCommand) -> Result<i32, Failure> {
    let args = match command {
        AispmCommand::Posture(args) => args,
        AispmCommand::Packet(PacketCommand::Create(args)) => return create(args),
        AispmCommand::Packet(PacketCommand::Verify(args)) => {
            return verify(args, packet::Kind::AispmReview);
        }
    };
    let view = cavra_server::aispm::View(args.trend.then_some(args.days));
    let (value, text) = if let Some(server) = &args.server {
        let answer = crate::client::call(server, "GET", &view.path(), None)?;
        view.of_answer(answer).map_err(|e| anyhow!(e))?
    } else if let (Some(url), Some(tenant)) = (&args.database_url, &args.tenant) {
        let read = view.of_database(url, tenant);
        crate::server_cmd::runtime()?
            .block_on(read)
            .map_err(crate::server_cmd::failure)?
    } else if let Some(dir) = &args.from_bundle {
        let p = cavra_aispm::posture_from_bundle(dir).map_err(|e| anyhow!("{e}"))?;
        (
            serde_json::to_value(&p).map_err(|e| anyhow!("{e}"))?,
            cavra_aispm::render(&p),
        )
    } else {
        return Err(Failure::Usage(
            "name --server, --database-url with --tenant, or --from-bundle".into(),
        ));
    };
    crate::support::done(args.json, &value, &text)
}
