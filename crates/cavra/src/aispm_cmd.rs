//! `cavra aispm posture`: a tenant's AISPM posture from the service, its database, or an
//! evidence bundle offline (all three computed by `cavra-aispm` from the evidence entries).

use std::path::PathBuf;

use anyhow::anyhow;
use cavra_tenant_store::Directory;
use clap::{ArgGroup, Args, Subcommand};

use crate::support::{EXIT_OK, Failure, print_json};

/// `cavra aispm …`
#[derive(Debug, Subcommand)]
pub enum AispmCommand {
    /// The posture: factors with weight, value, contribution and why, and the score.
    Posture(PostureArgs),
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
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cavra aispm …`.
pub fn run(command: &AispmCommand) -> Result<i32, Failure> {
    let AispmCommand::Posture(args) = command;
    let posture = if let Some(server) = &args.server {
        let answer = crate::client::call(server, "GET", "/v1/posture", None)?;
        serde_json::from_value::<cavra_aispm::Posture>(answer["aispm"].clone())
            .map_err(|e| anyhow!("the service's answer holds no posture: {e}"))?
    } else if let (Some(url), Some(tenant)) = (&args.database_url, &args.tenant) {
        crate::server_cmd::runtime()?.block_on(async {
            let db = crate::server_cmd::open_url(url).await?;
            if db
                .tenant(tenant)
                .await
                .map_err(|e| anyhow!("{e}"))?
                .is_none()
            {
                return Err(Failure::Usage(format!(
                    "no tenant `{tenant}` in this database"
                )));
            }
            cavra_server::aispm::tenant_posture(&db, tenant)
                .await
                .map_err(|e| Failure::Other(anyhow!("{e}")))
        })?
    } else if let Some(dir) = &args.from_bundle {
        cavra_aispm::posture_from_bundle(dir).map_err(|e| anyhow!("{e}"))?
    } else {
        return Err(Failure::Usage(
            "name --server, --database-url with --tenant, or --from-bundle".into(),
        ));
    };
    if args.json {
        print_json(&posture)?;
    } else {
        print!("{}", cavra_aispm::render(&posture));
    }
    Ok(EXIT_OK)
}
