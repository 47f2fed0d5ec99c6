//! cavra's API service: one shared decision, approval, registry and evidence surface for many
//! clients and tenants.
//!
//! Every request is authenticated ([`auth`]), scoped to the caller's tenant, and answered
//! with JSON or an RFC 9457 problem document ([`problem`]). Decisions are evaluated by the
//! same pure engine as the CLI and the hooks, and recorded with their evidence entries in one
//! transaction of the tenant store (`cavra-tenant-store`: SQLite or PostgreSQL).

/// Writes one line to the service's standard error, ignoring a failure to write: `eprintln!`
/// panics when stderr is closed (a supervisor that stopped reading), and a log line must never
/// take a request or the delivery worker down with it.
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod admin;
pub mod aispm;
pub mod api;
pub mod auth;
pub mod bundle;
pub mod cache;
pub mod config;
pub mod conn;
pub mod entitlement;
pub mod inventory;
pub mod itsm_poll;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod packet;
pub mod packs;
pub mod problem;
pub mod proofs;
pub mod rate;
pub mod readiness;
pub mod routing;
pub mod schemas;
pub mod validation;

use cavra_tenant_store::Directory;
use cavra_tenant_store::{Approvals, Configuration};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cavra_evidence::trust::TrustRoot;
use cavra_identity::OidcVerifier;
use cavra_tenant_store::{Db, LogSettings, LogSigner, Tenant};

pub use config::ServerConfig;

/// The HTTP application's type (what [`serve_app`] serves).
pub type App = Router;

use crate::auth::TokenCache;
use crate::cache::TtlCache;
use crate::metrics::Metrics;
use crate::packs::PackCache;
use crate::problem::Problem;
use crate::routing::Routing;

/// Everything a request handler shares.
pub struct AppState {
    /// The store.
    pub db: Db,
    /// The configuration.
    pub config: ServerConfig,
    /// OIDC verification, when configured.
    pub oidc: Option<OidcVerifier>,
    /// Token records, cached briefly.
    pub tokens: TokenCache,
    /// Compiled packs.
    pub packs: PackCache,
    /// Approval routing.
    pub routing: Routing,
    /// Counters.
    pub metrics: Metrics,
    /// Pack signatures are checked against this.
    pub trust: Option<TrustRoot>,
    /// The key id that signs checkpoints.
    pub signing_key_id: String,
    /// The key that signs checkpoints and bundles.
    pub signer: Arc<LogSigner>,
    /// Per-credential and per-tenant request rates.
    pub limiter: crate::rate::Limiter,
    /// Subtree hashes reused by inclusion proofs.
    pub subtrees: crate::proofs::SubtreeCache,
    /// Permits for assembling evidence bundles (`limits.concurrent_bundles`).
    pub bundles: Arc<tokio::sync::Semaphore>,
    /// The Slack apps whose button presses this service takes (signing secrets resolved).
    pub slack: cavra_connectors::slack::SlackApps,
    /// The Teams outgoing webhooks whose messages this service takes.
    pub teams: cavra_connectors::teams::TeamsApps,
    /// The ServiceNow instances whose change requests' approvals this service takes.
    pub servicenow: cavra_connectors::servicenow::ServiceNowApps,
    /// The Jira sites whose approvals' status changes this service takes.
    pub jira: cavra_connectors::jira::JiraApps,
    entitlements: TtlCache<Arc<entitlement::Gate>>,
    assignments: TtlCache<Assignments>,
}

/// A tenant's pack assignments, shared.
pub type Assignments = Arc<Vec<cavra_tenant_store::Assignment>>;

/// How long a replica trusts a tenant's cached entitlement: a change through another replica
/// takes effect within this, one through this replica at once. Each request reads it from
/// memory; the database is read once per tenant per this period.
pub const ENTITLEMENT_CACHE: Duration = Duration::from_secs(2);

/// How long a replica trusts its cached pack assignments (another replica's change takes
/// effect within this; this replica's own at once).
pub const ASSIGNMENT_CACHE: Duration = Duration::from_secs(2);

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration.
    #[error("{0}")]
    Config(String),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] cavra_tenant_store::StoreError),
    /// Listening.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The current time in the store's format.
pub fn now_text() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

/// A time in the store's format (RFC 3339 UTC with milliseconds, which sorts as text).
pub fn format_time(t: time::OffsetDateTime) -> String {
    cavra_store::Timestamp::at_or_epoch(t).text()
}

/// Loads the checkpoint signing key, creating it beside a SQLite database when none is given.
pub fn load_signer(config: &ServerConfig) -> Result<LogSigner, StartError> {
    let path: PathBuf = match (
        &config.signing_key,
        config.database_url.strip_prefix("sqlite://"),
    ) {
        (Some(p), _) => p.clone(),
        (None, Some(db)) => PathBuf::from(format!("{db}.log-key.pem")),
        (None, None) => {
            return Err(StartError::Config(
                "give --signing-key (every replica on PostgreSQL must sign with the same key)"
                    .into(),
            ));
        }
    };
    let key = if path.exists() {
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
        cavra_evidence::keys::private_key_from_pem(&pem)
            .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?
    } else if config.signing_key.is_none() {
        create_key(&path)?
    } else {
        return Err(StartError::Config(format!(
            "the signing key {} does not exist (create one with `cavra keys generate`)",
            path.display()
        )));
    };
    let key_id = format!(
        "log-{}",
        &cavra_evidence::keys::key_id(&key.verifying_key())[..12]
    );
    Ok(LogSigner { key_id, key })
}

fn create_key(path: &Path) -> Result<cavra_evidence::keys::SigningKey, StartError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut seed = [0u8; 32];
    getrandom_seed(&mut seed)?;
    let key = cavra_evidence::keys::from_seed(&seed);
    let pem = cavra_evidence::keys::private_key_to_pem(&key)
        .map_err(|e| StartError::Config(e.to_string()))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StartError::Config(format!("{}: {e}", parent.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
    Ok(key)
}

fn getrandom_seed(seed: &mut [u8; 32]) -> Result<(), StartError> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(seed))
        .map_err(|e| StartError::Config(format!("no randomness for a key: {e}")))
}

impl AppState {
    /// Opens the store (running migrations) and prepares everything else.
    pub async fn new(config: ServerConfig) -> Result<Arc<AppState>, StartError> {
        config.check().map_err(StartError::Config)?;
        let signer = Arc::new(load_signer(&config)?);
        let signing_key_id = signer.key_id.clone();
        let redactor = cavra_redact::Redactor::for_pack(&[], &[])
            .map_err(|e| StartError::Config(e.to_string()))?;
        let db = Db::open(
            &config.database_url,
            LogSettings {
                signer: signer.clone(),
                redactor: Arc::new(redactor),
            },
        )
        .await?;
        let oidc = config
            .oidc
            .clone()
            .map(OidcVerifier::new)
            .transpose()
            .map_err(|e| StartError::Config(format!("oidc: {e}")))?;
        let trust = config
            .trust_root
            .as_ref()
            .map(|p| {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| StartError::Config(format!("{}: {e}", p.display())))?;
                TrustRoot::from_json(&text)
                    .map_err(|e| StartError::Config(format!("{}: {e}", p.display())))
            })
            .transpose()?;
        let routing = Routing::new(&config.routing).map_err(StartError::Config)?;
        let slack = cavra_connectors::slack::SlackApps::new(&config.connectors)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let teams = cavra_connectors::teams::TeamsApps::new(&config.connectors)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let servicenow = cavra_connectors::servicenow::ServiceNowApps::new(&config.connectors)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let jira = cavra_connectors::jira::JiraApps::new(&config.connectors)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let packs = PackCache::default();
        let bundles = Arc::new(tokio::sync::Semaphore::new(
            config.limits.concurrent_bundles,
        ));
        packs
            .builtin(&format!("{}{}", packs::BUILTIN, config.default_pack))
            .map_err(|e| StartError::Config(format!("default_pack: {e}")))?;
        Ok(Arc::new(AppState {
            db,
            config,
            oidc,
            tokens: TokenCache::default(),
            packs,
            routing,
            metrics: Metrics::default(),
            trust,
            signing_key_id,
            signer,
            limiter: crate::rate::Limiter::default(),
            bundles,
            slack,
            teams,
            servicenow,
            jira,
            subtrees: crate::proofs::SubtreeCache::default(),
            entitlements: TtlCache::new(ENTITLEMENT_CACHE),
            assignments: TtlCache::new(ASSIGNMENT_CACHE),
        }))
    }

    /// The entitlement gate of `tenant`; None: there is no such tenant. Cached for
    /// [`ENTITLEMENT_CACHE`] once found (a tenant's row, by primary key, on a miss).
    pub async fn tenant_gate(
        &self,
        tenant: &str,
    ) -> Result<Option<Arc<entitlement::Gate>>, Problem> {
        if let Some(gate) = self.entitlements.get(tenant) {
            return Ok(Some(gate));
        }
        let Some(found) = self.db.entitlement(tenant).await? else {
            return Ok(None);
        };
        let gate = entitlement::Gate::new(tenant, found);
        self.entitlements.put(tenant, gate.clone());
        Ok(Some(gate))
    }

    /// Forgets `tenant`'s cached entitlement (after this replica changed it).
    pub fn forget_entitlement(&self, tenant: &str) {
        self.entitlements.evict(tenant);
    }

    /// The tenant's pack assignments (cached for [`ASSIGNMENT_CACHE`]).
    pub async fn assignments(&self, tenant: &str) -> Result<Assignments, Problem> {
        if let Some(list) = self.assignments.get(tenant) {
            return Ok(list);
        }
        let list = Arc::new(self.db.assignments(tenant).await?);
        self.assignments.put(tenant, list.clone());
        Ok(list)
    }

    /// Forgets the tenant's cached assignments (after this replica changed them).
    pub fn forget_assignments(&self, tenant: &str) {
        self.assignments.evict(tenant);
    }

    /// Creates a tenant (used by the CLI's bootstrap and the admin API).
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<bool, Problem> {
        Ok(self
            .db
            .create_tenant(&Tenant {
                id: id.to_string(),
                name: name.to_string(),
                created_at: cavra_tenant_store::Timestamp::now(),
            })
            .await?)
    }
}

/// The whole HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    api::router(state)
}

/// Runs the service until Ctrl-C / SIGTERM; `ready` is told the bound address.
pub async fn serve(
    config: ServerConfig,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), StartError> {
    serve_app(config, |state, _| Ok(app(state)), ready).await
}

/// [`serve`] with the application built by `make_app` from the state and the bound address
/// (`cavra serve` adds the console there, a crate above this one), before `ready` is told.
pub async fn serve_app(
    config: ServerConfig,
    make_app: impl FnOnce(Arc<AppState>, std::net::SocketAddr) -> Result<Router, StartError>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), StartError> {
    let listen = config.listen.clone();
    let sweep = Duration::from_secs(config.expiry_sweep_seconds.max(1));
    let state = AppState::new(config).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: listen.clone(),
        source,
    })?;
    let router = make_app(state.clone(), addr)?;
    ready(addr);
    let sweeper = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweep);
        loop {
            tick.tick().await;
            if let Err(e) = sweeper
                .db
                .expire_due(cavra_tenant_store::Timestamp::now())
                .await
            {
                log_line!("cavra serve: expiring approvals failed: {e}");
            }
        }
    });
    // The outbox's retention, with or without connectors: events are written either way.
    let purger = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(cavra_connectors::retention::SWEEP_EVERY);
        loop {
            tick.tick().await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let days = purger.config.connector_retention_days;
            if let Err(e) = cavra_connectors::retention::purge(&purger.db, days, now).await {
                log_line!("cavra serve: purging the connectors' outbox failed: {e}");
            }
        }
    });
    // The connectors' worker: delivers the outbox of every tenant (see cavra-connectors).
    let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    if !state.config.connectors.0.is_empty() {
        let worker = connector_worker(&state)?;
        // On a thread of its own below the decisions' priority (see `Worker::spawn`).
        worker
            .spawn(worker_stopped.clone())
            .map_err(|e| StartError::Config(format!("cannot start the connectors' worker: {e}")))?;
        start_itsm_polling(&state, worker_stopped)?;
    }
    let limits = state.config.connections.clone();
    serve_on(listener, router, &limits, shutdown()).await;
    let _ = stop_worker.send(true);
    Ok(())
}

/// Starts a task polling each ServiceNow and Jira connector with `poll` (see
/// [`itsm_poll`]: one replica at a time per connector) until `stop` says so; how many were
/// started.
pub fn start_itsm_polling(
    state: &Arc<AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<usize, StartError> {
    let pollers = itsm_poll::Poller::all(&state.config.connectors)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let n = pollers.len();
    for p in pollers {
        tokio::spawn(itsm_poll::poll(state.clone(), p, stop.clone()));
    }
    Ok(n)
}

/// The connectors' worker of this replica: its destinations built (secrets resolved, a
/// missing one is an error naming the connector), envelopes redacted with the store's rules
/// and signed with the log key.
pub fn connector_worker(state: &AppState) -> Result<cavra_connectors::Worker, StartError> {
    use cavra_connectors::retry::{SystemClock, SystemJitter};
    let connectors = &state.config.connectors;
    let destinations = cavra_connectors::worker::build_destinations(connectors)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let redactor = cavra_redact::Redactor::for_pack(&[], &[])
        .map_err(|e| StartError::Config(e.to_string()))?;
    Ok(cavra_connectors::Worker::new(
        state.db.clone(),
        connectors,
        destinations,
        Arc::new(redactor),
        Some(Arc::new(
            cavra_connectors::event::EnvelopeSigner::new(
                state.signer.key_id.clone(),
                &state.signer.key,
            )
            .map_err(|e| StartError::Config(e.to_string()))?,
        )),
        Arc::new(SystemClock),
        Box::new(SystemJitter::new()),
        cavra_connectors::WorkerSettings::default(),
    ))
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (for up to 30 s). At most `limits.max_connections` connections are open at once (further
/// peers wait in the kernel's listen backlog, costing the service nothing); a peer must send a
/// request's head within `header_read_timeout_seconds` and at most `max_header_bytes` of it,
/// so a slow or silent peer holds a bounded buffer for a bounded time; and at most
/// `limits.max_unauthenticated` connections that have not yet authenticated are open (the
/// oldest is closed for a newcomer, see [`conn`]), so such peers cannot crowd out clients.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: &config::ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let unauthenticated =
        conn::Unauthenticated::new(limits.max_unauthenticated.min(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_seconds))
        .max_buf_size(limits.max_header_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment rather than spin.
                    log_line!("cavra serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (tag, evicted) = unauthenticated.admit();
        let request_tag = tag.clone();
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |req: axum::http::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(request_tag.clone());
                    req
                },
            ));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Closed early (dropped) when a newer unauthenticated peer needs its place.
            tokio::select! {
                _ = conn => {},
                Ok(()) = evicted => {},
            }
            tag.closed();
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            log_line!("cavra serve: requests still in flight after 30 s; stopping");
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
