//! `cavra serve`, and the operator's bootstrap commands that talk to the service's database
//! directly: `cavra db migrate`, `cavra tenant create|list`, `cavra token create|list|revoke`;
//! and `cavra healthcheck`, the probe a container runs against the service.

use cavra_tenant_store::Directory;
use std::path::PathBuf;

use anyhow::anyhow;
use cavra_identity::Role;
use cavra_server::ServerConfig;
use cavra_server::admin::{self, AdminError};
use cavra_tenant_store::Db;
use clap::{Args, Subcommand};

use crate::support::{self, EXIT_OK, Failure};

/// Where the service's database and configuration are.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// `sqlite://PATH` or `postgres://…` (default: the config file's, else sqlite://cavra-server.db).
    #[arg(long, env = "CAVRA_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// The service's configuration file (YAML).
    #[arg(long, env = "CAVRA_SERVER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The checkpoint signing key (PKCS#8 PEM); in a container, the mounted secret's path.
    #[arg(long, env = "CAVRA_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// `cavra serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// `host:port` to listen on (default 127.0.0.1:7700).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The trust root that uploaded packs' signatures are checked against.
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// The tenant the printed one-time console login link signs in to (default: the
    /// configuration's `console.login_link.tenant`, else the operator tenant).
    #[cfg(feature = "console")]
    #[arg(long, value_name = "TENANT")]
    pub console_tenant: Option<String>,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub db: DbArgs,
}

/// `cavra healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The service's readiness route.
    #[arg(long, env = "CAVRA_HEALTHCHECK_URL", value_name = "URL",
          default_value = cavra_runtime::service::DEFAULT_READYZ_URL)]
    pub url: String,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout_seconds: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra readiness [verify]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReadinessArgs {
    /// Verify a readiness packet instead of running the gate.
    #[command(subcommand)]
    pub verify: Option<ReadinessVerify>,
    /// Also write the result as a signed readiness packet here (with --sign-key).
    #[arg(long, value_name = "FILE", requires = "sign_key")]
    pub packet: Option<PathBuf>,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub key: SignKey,
    /// The API service (token from CAVRA_TOKEN, an admin's or auditor's): its tenant's gate.
    /// Without it, the gate of the database's tenants.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Only this tenant (with the database).
    #[arg(long, conflicts_with = "server")]
    pub tenant: Option<String>,
    /// A service replica whose trust root must equal the one in use (`trust_root.drift`;
    /// repeat per replica; token from CAVRA_TOKEN; with the database).
    #[arg(long = "replica", value_name = "URL", conflicts_with = "server")]
    pub replicas: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
    #[command(flatten)]
    pub db: DbArgs,
}

/// `cavra readiness verify`.
#[derive(Debug, Subcommand)]
pub enum ReadinessVerify {
    /// Verify a readiness packet; exit 1 with the reason (see docs/operations.md).
    Verify(crate::aispm_cmd::VerifyArgs),
}

/// The key that signs a packet.
#[derive(Debug, Args)]
pub struct SignKey {
    /// The private key that signs the packet (a key of the trust root verifiers use).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// The signing key's id (default: the key file's name without extension).
    #[arg(long, value_name = "ID")]
    pub key_id: Option<String>,
}

/// `cavra db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run the service database's migrations (safe from several replicas at once).
    Migrate {
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
        /// Print the schema version reached as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cavra tenant …`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Its id (lowercase letters, digits, - and _).
        id: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tenants.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
    },
    /// Change a tenant's entitlement (what is not given stays): a suspended or expired tenant
    /// cannot act; its auditors still read.
    Entitle {
        /// The tenant.
        id: String,
        /// active, suspended or expired.
        #[arg(long)]
        status: Option<String>,
        /// When it expires (RFC 3339), or `never`.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// A feature it may use (repeatable; or `all`, or `none`): break_glass, evidence_bundle.
        #[arg(long = "feature", value_name = "FEATURE")]
        features: Vec<String>,
        /// A limit, KIND=N or KIND=none (repeatable): agents, mcp_servers, policy_packs.
        #[arg(long = "limit", value_name = "KIND=N")]
        limits: Vec<String>,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        at: EntitlementAt,
    },
    /// Show a tenant's entitlement.
    Entitlement {
        /// The tenant.
        id: String,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        at: EntitlementAt,
    },
}

/// Where `cavra tenant entitle|entitlement` and `cavra inventory import` work: the service,
/// or its database.
#[derive(Debug, Args)]
pub struct EntitlementAt {
    /// The API service (token from CAVRA_TOKEN: an admin's, of the operator tenant for
    /// entitlements); without it, the database.
    #[arg(long, value_name = "URL")]
    pub(crate) server: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) db: DbArgs,
}

/// `cavra token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints it once (only its hash is stored).
    Create {
        /// The tenant it acts in.
        #[arg(long)]
        tenant: String,
        /// agent, approver, auditor or admin.
        #[arg(long)]
        role: Role,
        /// Who it stands for (default: the token's id).
        #[arg(long)]
        subject: Option<String>,
        /// An approver group its holder belongs to (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Days until it expires (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token id (the hex part after `cavra_`).
        id: String,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(crate) fn config(db: &DbArgs) -> Result<ServerConfig, Failure> {
    admin::config(
        db.config.as_deref(),
        db.database_url.as_deref(),
        db.signing_key.as_deref(),
    )
    .map_err(failure)
}

pub(crate) fn failure(e: AdminError) -> Failure {
    match e {
        AdminError::Usage(m) => Failure::Usage(m),
        other => Failure::Other(anyhow!("{other}")),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}").into())
}

async fn open(config: &ServerConfig) -> Result<Db, Failure> {
    admin::open(config).await.map_err(failure)
}

async fn open_existing(config: &ServerConfig) -> Result<Db, Failure> {
    admin::open_existing(config).await.map_err(failure)
}

/// `cavra serve`
pub fn serve(args: &ServeArgs) -> Result<i32, Failure> {
    let mut config = config(&args.db)?;
    if let Some(l) = &args.listen {
        config.listen = l.clone();
    }
    if let Some(t) = &args.trust_root {
        config.trust_root = Some(t.clone());
    }
    #[cfg(feature = "console")]
    if let Some(t) = &args.console_tenant {
        config.console.login_link.tenant = Some(t.clone());
    }
    let url = cavra_redact::url_without_password(&config.database_url);
    let link = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let printed = link.clone();
    runtime()?.block_on(async move {
        // The console under /console, beside the API; its one-time login link, if any, is
        // printed once the service listens.
        let make_app = move |state: std::sync::Arc<cavra_server::AppState>,
                             addr: std::net::SocketAddr| {
            let (app, made) = with_console(state, addr);
            *link
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = made;
            Ok(app)
        };
        // On a worker, not on this thread: the runtime's workers share all the work.
        tokio::spawn(cavra_server::serve_app(config, make_app, move |addr| {
            eprintln!("cavra serve: listening on http://{addr} ({url})");
            let made = printed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(l) = made {
                // Not eprintln!: a supervisor that read the first line and closed the pipe
                // must not take the service down with a panic on this one.
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "cavra serve: console sign-in (one-time link): {l}"
                );
            }
        }))
        .await
        .map_err(|e| Failure::Other(anyhow!("the service stopped: {e}")))?
        .map_err(|e| Failure::Other(anyhow!("{e}")))
    })?;
    Ok(EXIT_OK)
}

/// The API, and the web console under `/console` when this binary has it (the `console`
/// feature, on by default), with the one-time login link to print.
#[cfg(feature = "console")]
fn with_console(
    state: std::sync::Arc<cavra_server::AppState>,
    addr: std::net::SocketAddr,
) -> (cavra_server::App, Option<String>) {
    let app = cavra_server::app(std::sync::Arc::clone(&state));
    let (app, link, _) = cavra_console::mount(app, state, addr);
    (app, link)
}

/// The API alone: this binary was built without the `console` feature.
#[cfg(not(feature = "console"))]
fn with_console(
    state: std::sync::Arc<cavra_server::AppState>,
    _addr: std::net::SocketAddr,
) -> (cavra_server::App, Option<String>) {
    (cavra_server::app(state), None)
}

/// `cavra healthcheck`: exit 0 when the service says ready, 1 when it does not or cannot be
/// reached.
pub fn healthcheck(args: &HealthcheckArgs) -> Result<i32, Failure> {
    let timeout = std::time::Duration::from_secs(args.timeout_seconds);
    match cavra_runtime::service::readiness(&args.url, timeout) {
        Ok(answer) => support::done(
            args.json,
            &serde_json::json!({ "url": args.url, "ready": true, "answer": answer }),
            &format!("ready: {}", args.url),
        ),
        Err(not_ready) if args.json => {
            support::print_json(&serde_json::json!({
                "url": args.url, "ready": false, "reason": not_ready.to_string(),
            }))?;
            Ok(support::EXIT_ERROR)
        }
        Err(not_ready) => Err(Failure::Other(anyhow!("not ready: {not_ready}"))),
    }
}

/// `cavra db …`
pub fn db(command: &DbCommand) -> Result<i32, Failure> {
    let DbCommand::Migrate { db, json } = command;
    let config = config(db)?;
    let migrated = runtime()?
        .block_on(admin::migrate(&config))
        .map_err(failure)?;
    let value = serde_json::to_value(&migrated).map_err(|e| anyhow!("{e}"))?;
    support::done(*json, &value, &migrated.to_text())
}

/// `cavra readiness`: exit 0 ready, 4 while blockers remain (the gate blocks), 1 error.
pub fn readiness(args: &ReadinessArgs) -> Result<i32, Failure> {
    if let Some(ReadinessVerify::Verify(args)) = &args.verify {
        return crate::aispm_cmd::verify(args, cavra_server::packet::Kind::Readiness);
    }
    use cavra_server::readiness;
    let report: readiness::Readiness = match &args.server {
        Some(url) => crate::aispm_cmd::live_readiness(url)?,
        None => {
            let mut sides = Vec::new();
            for url in &args.replicas {
                let answer = crate::client::call(url, "GET", "/v1/trust", None)?;
                sides.push(
                    cavra_release::drift::replica_side(url, &answer).map_err(|e| anyhow!("{e}"))?,
                );
            }
            runtime()?.block_on(async {
                let config = config(&args.db)?;
                let db = open_existing(&config).await?;
                let now = time::OffsetDateTime::now_utc();
                let tenant = args.tenant.as_deref();
                readiness::check_database_with(&db, &config, tenant, now, sides)
                    .await
                    .map_err(failure)
            })?
        }
    };
    support::show(args.json, &report, &report.text())?;
    let ready = report.ready();
    if let (Some(path), Some(key)) = (&args.packet, &args.key.sign_key) {
        let id = args.key.key_id.as_deref();
        cavra_server::packet::write_signed(path, key, id, report, None)
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!("signed packet: {}", path.display());
    }
    Ok(if ready { EXIT_OK } else { 4 })
}

/// `cavra tenant …`
pub fn tenant(command: &TenantCommand) -> Result<i32, Failure> {
    match command {
        TenantCommand::Entitle {
            id,
            status,
            expires_at,
            features,
            limits,
            at,
        } => {
            let change = admin::EntitlementChange::from_words(
                status.as_deref(),
                expires_at.as_deref(),
                features,
                limits,
            )
            .map_err(failure)?;
            entitlement(id, at, Some(change))
        }
        TenantCommand::Entitlement { id, at } => entitlement(id, at, None),
        TenantCommand::Create { id, name, json, db } => runtime()?.block_on(async {
            // Checked before the database is opened (and perhaps created).
            admin::check_tenant_id(id).map_err(failure)?;
            let db = open(&config(db)?).await?;
            let created = admin::create_tenant(&db, id, name.as_deref())
                .await
                .map_err(failure)?;
            support::done(
                *json,
                &serde_json::json!({ "id": id, "created": created }),
                &if created {
                    format!("created tenant {id}")
                } else {
                    format!("tenant {id} exists")
                },
            )
        }),
        TenantCommand::List { json, db } => runtime()?.block_on(async {
            let db = open_existing(&config(db)?).await?;
            let tenants = db.tenants().await.map_err(|e| anyhow!("{e}"))?;
            support::show(*json, &tenants, &admin::tenants_text(&tenants))
        }),
    }
}

/// `cavra tenant entitle|entitlement`.
fn entitlement(
    id: &str,
    at: &EntitlementAt,
    change: Option<admin::EntitlementChange>,
) -> Result<i32, Failure> {
    let view = match &at.server {
        Some(url) => {
            let token = crate::client::token()?;
            admin::entitle_remote(
                |method, path, body| {
                    crate::client::call_with(url, &token, method, path, body)
                        .map_err(|e| e.to_string())
                },
                id,
                change.as_ref(),
            )
        }
        None => runtime()?.block_on(async {
            let config = config(&at.db)?;
            let db = open_existing(&config).await?;
            Ok::<_, Failure>(match &change {
                Some(change) => admin::entitle(&db, &config, id, change).await,
                None => admin::entitlement(&db, id).await,
            })
        })?,
    }
    .map_err(failure)?;
    support::done(
        at.json,
        &serde_json::to_value(&view).map_err(|e| anyhow!("{e}"))?,
        &view.describe(),
    )
}

/// `cavra token …`
pub fn token(command: &TokenCommand) -> Result<i32, Failure> {
    runtime()?.block_on(async {
        match command {
            TokenCommand::Create {
                tenant,
                role,
                subject,
                groups,
                expires_in_days,
                json,
                db,
            } => {
                let db = open(&config(db)?).await?;
                let new = admin::NewToken {
                    tenant,
                    role: *role,
                    subject: subject.as_deref(),
                    groups,
                    expires_in_days: *expires_in_days,
                };
                let (record, issued) =
                    admin::create_token(&db, &new, time::OffsetDateTime::now_utc())
                        .await
                        .map_err(failure)?;
                if *json {
                    println!("{}", admin::issued_json(&record, *role, &issued));
                } else {
                    eprintln!(
                        "created {} token {} for {} in tenant {tenant} (shown once; only its hash is stored):",
                        role.as_str(),
                        record.id,
                        record.subject
                    );
                    println!("{}", issued.plaintext());
                }
                Ok(EXIT_OK)
            }
            TokenCommand::List { tenant, json, db } => {
                let db = open_existing(&config(db)?).await?;
                let now = time::OffsetDateTime::now_utc();
                let tokens = admin::tokens(&db, tenant.as_deref(), now)
                    .await
                    .map_err(failure)?;
                support::show(*json, &tokens, &admin::tokens_text(&tokens))
            }
            TokenCommand::Revoke { id, json, db } => {
                let db = open(&config(db)?).await?;
                admin::revoke_token(&db, id).await.map_err(failure)?;
                support::done(
                    *json,
                    &serde_json::json!({ "id": id, "revoked": true }),
                    &format!("revoked token {id}"),
                )
            }
        }
    })
}
