//! The delivery worker: routes new outbox events into deliveries, then delivers what is due.
//!
//! Each step claims rows with a lease (`owner`, until `now + lease_ms`): workers of several
//! replicas take different rows, and rows whose worker died are taken over when its lease
//! ends. A delivery is sent at least once; receivers that deduplicate on the idempotency key
//! (NATS `Nats-Msg-Id`, HTTP `Idempotency-Key`) see it once.
//!
//! Every attempt, whatever its outcome, is appended to the tenant's evidence log as a
//! `delivery` entry (see [`attempt_entry`]), in the same transaction as the delivery's new
//! state. A dead letter also writes a `connector.failure` event, which goes to the tenant's
//! other connectors (never back to the one that failed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cavra_redact::Redactor;
use cavra_tenant_store::Db;
use cavra_tenant_store::Outbox;
use cavra_tenant_store::TenantStore as _;
use cavra_tenant_store::outbox::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, NewEvent, Release, Route,
};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::ConnectorError;
use crate::config::{ConnectorConfig, ConnectorsConfig, Kind};
use crate::event::{EnvelopeSigner, idempotency_key};
use crate::retry::{Breaker, Clock, Gate, Jitter, Next, after_failure, rfc3339};
use crate::route::Router;
use crate::seal::{SEAL_CHUNK, Sealed, Sealer, Sealing, ToSeal};
use crate::sink::{Sent, Sink, Verdict};

/// A chunk of deliveries being sealed.
type SealedChunk = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Sealed>> + Send>>;

/// How a worker claims.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Who claims (unique per worker: a replica's id and a random part).
    pub owner: String,
    /// Rows claimed at once.
    pub batch: usize,
    /// How long a claim holds, in milliseconds: longer than the slowest attempt (a
    /// connector's timeout, or its acknowledgement wait).
    pub lease_ms: i64,
    /// How long to wait when there is nothing to do.
    pub idle: Duration,
    /// How long to wait after a step that found less than a full batch, so that the next
    /// step takes more at once: a step's two writes and its commits cost about as much for
    /// a few deliveries as for a few hundred, and each write takes the store's writer from
    /// the decisions for a moment. Adds up to this much to an event's delivery latency.
    pub gather: Duration,
    /// How much lower than the service's threads the thread that seals envelopes runs
    /// (niceness added, Linux; 0: the same): sealing is most of a delivery's CPU, and the
    /// decisions should not wait for it (docs/benchmarks.md).
    pub seal_nice: i32,
    /// How much lower than the service's threads the worker's own thread runs when started
    /// with [`Worker::spawn`] (niceness added, Linux; 0: the same). Everything the worker
    /// does but its store writes (claims' routing, sends, acknowledgements, the attempts'
    /// records made ready) then runs there, off the decisions' threads.
    pub thread_nice: i32,
    /// The most deliveries claimed in one write: a batch is claimed in writes of this size,
    /// each chunk sent while the next is claimed. (On SQLite the writer runs a claim's events
    /// a few at a time between the decisions' writes, which go first: the store's
    /// `write_units`.)
    pub claim_chunk: usize,
    /// The most attempts recorded in one write (each is a row update and a log entry): on
    /// PostgreSQL a write holds the tenant's log head, which the decisions' group commit
    /// waits for, as long as it runs. (On SQLite, where a batch of 1,024 recorded at once
    /// held the one writer for tens of milliseconds, the writer now records a write's
    /// attempts a few at a time between the decisions' writes, which go first.)
    pub record_chunk: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            owner: format!(
                "worker-{:016x}",
                crate::retry::SystemJitter::new().upto(u64::MAX)
            ),
            // Flat out on 2 cores, batches of 256 fell behind the decisions (1,692 events/s
            // against 2,308 decisions/s) where 1,024 kept closer (2,339 against 2,517):
            // docs/benchmarks.md. At a steady rate the gather pause makes batches smaller.
            batch: 1024,
            lease_ms: 120_000,
            idle: Duration::from_millis(100),
            gather: Duration::from_millis(20),
            seal_nice: 10,
            thread_nice: 10,
            claim_chunk: 128,
            record_chunk: 256,
        }
    }
}

/// The worker's thread's name, when it runs on one ([`Worker::spawn`]).
pub const WORKER_THREAD: &str = "cavra-delivery";

/// A configured destination and how to send to it.
#[derive(Clone)]
pub struct Destination {
    /// Its configuration.
    pub config: ConnectorConfig,
    /// How to send.
    pub sink: Arc<dyn Sink>,
}

/// Builds the destination of each configured connector, resolving its secrets: a connector
/// that cannot be built (a secret missing) is an error naming it, at start.
pub fn build_destinations(config: &ConnectorsConfig) -> Result<Vec<Destination>, ConnectorError> {
    config
        .0
        .iter()
        .map(|c| {
            let sink: Arc<dyn Sink> = match c.kind() {
                Some(Kind::SplunkHec) => Arc::new(crate::hec::Hec::new(c)?),
                Some(Kind::OcsfHttps) => Arc::new(crate::ocsf::Ocsf::new(c)?),
                Some(Kind::NatsJetstream) => Arc::new(crate::nats::Nats::new(c)?),
                Some(Kind::Amqp) => Arc::new(crate::amqp::Amqp::new(c)?),
                Some(Kind::Smtp) => Arc::new(crate::smtp::Smtp::new(c)?),
                Some(Kind::SyslogTls) => Arc::new(crate::syslog::Syslog::new(c)?),
                Some(Kind::Slack) => Arc::new(crate::slack::Slack::new(c)?),
                Some(Kind::Teams) => Arc::new(crate::teams::Teams::new(c)?),
                Some(Kind::ServiceNow) => Arc::new(crate::servicenow::ServiceNow::new(c)?),
                Some(Kind::Jira) => Arc::new(crate::jira::Jira::new(c)?),
                None => {
                    return Err(ConnectorError::Config(format!(
                        "connector {}: no kind",
                        c.name
                    )));
                }
            };
            Ok(Destination {
                config: c.clone(),
                sink,
            })
        })
        .collect()
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events routed.
    pub routed: usize,
    /// Attempts made.
    pub attempted: usize,
    /// Of which delivered.
    pub delivered: usize,
    /// Deliveries given back because their destination's circuit is open.
    pub deferred: usize,
    /// Dead letters made.
    pub dead: usize,
}

/// What a step's attempts leave to write: their records, and the deliveries given back
/// without an attempt.
#[derive(Default)]
struct Attempted {
    records: Vec<AttemptRecord>,
    releases: Vec<Release>,
}

impl Attempted {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.releases.is_empty()
    }

    /// Writes the records (in writes of at most `chunk`, see
    /// [`WorkerSettings::record_chunk`]), then gives the others back. Each write is a turn
    /// of the store's writer, which the decisions wait behind: none for nothing.
    async fn write(self, store: &Store, owner: &str, chunk: usize) -> Result<(), ConnectorError> {
        let Attempted {
            mut records,
            releases,
        } = self;
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(chunk.max(1)));
            let db = store.db.clone();
            store
                .call(async move { db.record_attempts(records).await })
                .await??;
            records = rest;
        }
        if !releases.is_empty() {
            let (db, owner) = (store.db.clone(), owner.to_string());
            store
                .call(async move { db.release_deliveries(&owner, releases).await })
                .await??;
        }
        Ok(())
    }
}

/// The store as the worker calls it. On PostgreSQL each call runs on the service's runtime
/// (when the worker runs on a thread of its own, [`Worker::spawn`]): a pooled connection
/// opened by a call is driven by a task of the runtime that opened it, and the decisions
/// share the pool, so no connection may depend on the worker's thread of low priority (or
/// die with it). On SQLite the writes go to the store's writer thread whichever runtime
/// asks, and the reads (the claims' routing) then run on the worker's runtime, at its
/// priority.
#[derive(Clone)]
struct Store {
    db: Db,
    runtime: Option<tokio::runtime::Handle>,
}

impl Store {
    async fn call<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, ConnectorError> {
        match &self.runtime {
            Some(rt) => rt
                .spawn(f)
                .await
                .map_err(|e| ConnectorError::Task(e.to_string())),
            None => Ok(f.await),
        }
    }
}

/// The delivery worker.
pub struct Worker {
    store: Store,
    /// The routing, as the store runs it inside a claim.
    route: Route,
    /// Shared with each send of a batch: a destination's configuration is a large value
    /// (every kind's settings, filters, parsed templates), not to be copied per delivery.
    destinations: HashMap<(String, String), Arc<Destination>>,
    redactor: Arc<Redactor>,
    /// Seals envelopes on a thread of lower priority.
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    jitter: Box<dyn Jitter>,
    breakers: HashMap<(String, String), Breaker>,
    settings: WorkerSettings,
}

/// The `delivery` evidence entry of an attempt: the delivery audit record.
#[allow(clippy::too_many_arguments)]
pub fn attempt_entry(
    d: &ClaimedDelivery,
    kind: &str,
    attempt: u32,
    sent: &Sent,
    latency_ms: u64,
    outcome: &AttemptOutcome,
    key: &str,
) -> Value {
    let (word, next) = match outcome {
        AttemptOutcome::Delivered => ("delivered", None),
        AttemptOutcome::Retry { next_at_ms } => ("retry", Some(rfc3339(*next_at_ms))),
        AttemptOutcome::Dead => ("dead_letter", None),
    };
    json!({
        "event_id": d.event.id,
        "event_type": d.event.kind,
        "event_log_index": d.event.log_index,
        "destination": d.delivery.destination,
        "connector_kind": kind,
        "attempt": attempt,
        "outcome": word,
        "status": sent.status,
        "latency_ms": latency_ms,
        "idempotency_key": key,
        "request": sent.request,
        "response": sent.response,
        "next_attempt_at": next,
    })
}

impl Worker {
    /// A worker over `db` for the connectors `destinations` (see [`build_destinations`]).
    /// `redactor` is the store's: every envelope passes it before it leaves; `signer` signs
    /// envelopes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        config: &ConnectorsConfig,
        destinations: Vec<Destination>,
        redactor: Arc<Redactor>,
        signer: Option<Arc<EnvelopeSigner>>,
        clock: Arc<dyn Clock>,
        jitter: Box<dyn Jitter>,
        settings: WorkerSettings,
    ) -> Worker {
        Worker {
            store: Store { db, runtime: None },
            route: {
                let router = Router::new(config);
                Arc::new(move |e: &cavra_tenant_store::outbox::OutboxEvent| router.destinations(e))
            },
            destinations: destinations
                .into_iter()
                .map(|d| {
                    (
                        (d.config.tenant.clone(), d.config.name.clone()),
                        Arc::new(d),
                    )
                })
                .collect(),
            sealer: Sealer::start(
                Sealing {
                    redactor: redactor.clone(),
                    signer,
                },
                settings.seal_nice,
            ),
            redactor,
            clock,
            jitter,
            breakers: HashMap::new(),
            settings,
        }
    }

    /// Routes what is new and claims it with what is due (one write), delivers it, and
    /// records every attempt of the batch (one more write): one step.
    pub async fn step(&mut self) -> Result<Progress, ConnectorError> {
        let (p, written) = self.attempt_step().await?;
        written
            .write(
                &self.store,
                &self.settings.owner,
                self.settings.record_chunk,
            )
            .await?;
        Ok(p)
    }

    /// [`Worker::step`] up to its attempts, whose records it returns to write. The batch is
    /// claimed in writes of at most `claim_chunk` (on SQLite each is a turn of the one
    /// writer, which the decisions wait behind), each chunk sealed and sent while the next
    /// is claimed.
    async fn attempt_step(&mut self) -> Result<(Progress, Attempted), ConnectorError> {
        let now = self.clock.now_ms();
        let at = crate::retry::stamp_ms(now);
        let batch = self.settings.batch.max(1);
        let chunk = self.settings.claim_chunk.clamp(1, batch);
        let claim = {
            let (store, owner, route) = (
                self.store.clone(),
                self.settings.owner.clone(),
                self.route.clone(),
            );
            let lease_ms = self.settings.lease_ms;
            move |limit: usize| {
                let (store, owner, route) = (store.clone(), owner.clone(), route.clone());
                let db = store.db.clone();
                async move {
                    store
                        .call(
                            async move { db.claim(&owner, now, lease_ms, limit, at, route).await },
                        )
                        .await?
                        .map_err(ConnectorError::from)
                }
            }
        };
        // A claim's future tagged with the limit it asked for.
        let tagged = |limit: usize| {
            let f = claim(limit);
            async move { (limit, f.await) }
        };
        let first = claim(chunk).await?;
        let mut p = Progress {
            routed: first.routed,
            ..Progress::default()
        };
        let mut claimed = first.deliveries.len();
        let mut out = Attempted::default();
        let mut sealing = FuturesUnordered::new();
        // At most one claim at a time; another while the last one came back full (as many
        // events as it asked for, some of which may go nowhere, or as many deliveries).
        let full = |c: &cavra_tenant_store::outbox::Claim, limit: usize| {
            c.routed >= limit || c.deliveries.len() >= limit
        };
        let mut claims = FuturesUnordered::new();
        if full(&first, chunk) && claimed < batch {
            let limit = chunk.min(batch - claimed);
            claims.push(tagged(limit));
        }
        self.dispatch(first.deliveries, now, &mut p, &mut out, &mut sealing);
        // The sends run concurrently inside this task rather than as a task each: a batch's
        // acknowledgements then wake one task, not one per delivery (sinks never panic).
        let mut sends = FuturesUnordered::new();
        loop {
            tokio::select! {
                Some((limit, got)) = claims.next(), if !claims.is_empty() => {
                    match got {
                        Ok(c) => {
                            p.routed += c.routed;
                            claimed += c.deliveries.len();
                            if full(&c, limit) && claimed < batch {
                                let limit = chunk.min(batch - claimed);
                                claims.push(tagged(limit));
                            }
                            self.dispatch(c.deliveries, now, &mut p, &mut out, &mut sealing);
                        }
                        // What is claimed already is delivered; the rest waits for the next step.
                        Err(e) => log_line!("cavra: connectors: {e}"),
                    }
                }
                Some(ready) = sealing.next(), if !sealing.is_empty() => {
                    for Sealed { delivery, dest, msg } in ready {
                        sends.push(async move {
                            let started = Instant::now();
                            let sent = dest.sink.send(&msg).await;
                            let latency = started.elapsed().as_millis().min(u64::MAX as u128) as u64;
                            (delivery, dest, sent, latency, msg.idempotency_key)
                        });
                    }
                }
                Some((d, dest, sent, latency, ikey)) = sends.next(), if !sends.is_empty() => {
                    out.records.push(self.outcome(d, Some(&*dest), sent, latency, ikey, &mut p));
                }
                else => break,
            }
        }
        Ok((p, out))
    }

    /// How this worker claims and runs.
    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Prepares every destination (connects, creates or checks a stream or an exchange):
    /// returns the connectors that could not be, with why. None is fatal: a destination
    /// that is down now is connected again by its next attempt. (`&mut`: a worker is `Send`,
    /// not `Sync`, and [`Worker::run`] awaits this.)
    pub async fn prepare(&mut self) -> Vec<(String, String, String)> {
        let mut failed = Vec::new();
        for ((tenant, name), d) in &self.destinations {
            if let Err(why) = d.sink.prepare().await {
                failed.push((tenant.clone(), name.clone(), why));
            }
        }
        failed.sort();
        failed
    }

    /// Runs the worker ([`Worker::run`]) on a thread of its own, with a runtime of its own,
    /// `thread_nice` below the service's threads ([`WorkerSettings::thread_nice`]): the
    /// delivery's CPU (routing, sends, acknowledgements, records made ready) then goes to
    /// the decisions first when the two compete (issue 18: at most 5 % added latency on the
    /// decision path). Must be called inside the service's runtime: on PostgreSQL the store
    /// calls run there (see `Store`). The thread ends when `stop` turns true (or its sender
    /// is dropped).
    pub fn spawn(
        mut self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        if self.store.db.backend() == "postgres" {
            self.store.runtime = tokio::runtime::Handle::try_current().ok();
        }
        let nice = self.settings.thread_nice;
        std::thread::Builder::new()
            .name(WORKER_THREAD.into())
            .spawn(move || {
                // First, so that the threads this one starts (the runtime's blocking pool,
                // which runs the SQLite reads) inherit the niceness.
                crate::seal::lower_priority(nice);
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(self.run(stop)),
                    Err(e) => log_line!("cavra: connectors: the worker's runtime: {e}"),
                }
            })
    }

    /// Runs steps until `stop` turns true; waits `idle` after a step that did nothing and
    /// after an error (reported on standard error; the rows stay for the next step), and
    /// `gather` after one that took less than a full batch. It first prepares the destinations ([`Worker::prepare`]), reporting those that failed.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        for (tenant, name, why) in self.prepare().await {
            log_line!(
                "cavra: connectors: {tenant}/{name} is not ready ({why}); its deliveries will retry"
            );
        }
        // A batch's attempts are written while the next batch is claimed and sent: the
        // write (on PostgreSQL it waits for the log head behind the decisions' group
        // commits) is then off the delivery's path. One write at a time: the next waits for
        // it. Its rows stay leased until it is written, so no other claim takes them.
        let mut writing: Option<tokio::task::JoinHandle<Result<(), ConnectorError>>> = None;
        let finish = |done: Result<Result<(), ConnectorError>, tokio::task::JoinError>| match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log_line!("cavra: connectors: {e}"),
            Err(e) => log_line!("cavra: connectors: recording attempts: {e}"),
        };
        loop {
            if *stop.borrow() {
                break;
            }
            let pause = match self.attempt_step().await {
                Ok((p, written)) => {
                    if let Some(previous) = writing.take() {
                        finish(previous.await);
                    }
                    if !written.is_empty() {
                        let (store, owner) = (self.store.clone(), self.settings.owner.clone());
                        let chunk = self.settings.record_chunk;
                        writing = Some(tokio::spawn(async move {
                            written.write(&store, &owner, chunk).await
                        }));
                    }
                    if p.routed == 0 && p.attempted == 0 {
                        self.settings.idle
                    } else if p.attempted + p.deferred < self.settings.batch {
                        self.settings.gather
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    log_line!("cavra: connectors: {e}");
                    self.settings.idle
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    changed = stop.changed() => {
                        // The sender is gone: nobody can stop this worker any more, and
                        // nobody needs it.
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
        }
        if let Some(last) = writing {
            finish(last.await);
        }
    }

    /// Hands each claimed delivery whose circuit lets it through to the sealer (in chunks;
    /// each sealed chunk is sent as soon as it is ready), gives the others back (`out`), and
    /// records at once those whose connector is gone.
    fn dispatch(
        &mut self,
        claimed: Vec<ClaimedDelivery>,
        now: i64,
        p: &mut Progress,
        out: &mut Attempted,
        sealing: &mut FuturesUnordered<SealedChunk>,
    ) {
        let mut chunk = Vec::new();
        for d in claimed {
            let key = (d.delivery.tenant.clone(), d.delivery.destination.clone());
            let Some(dest) = self.destinations.get(&key).cloned() else {
                // Its connector was removed from the configuration: nowhere to send it.
                let sent = Sent {
                    verdict: Verdict::Permanent,
                    status: "no such connector".into(),
                    request: String::new(),
                    response: String::new(),
                };
                let ikey =
                    idempotency_key(&d.delivery.tenant, &d.event.id, &d.delivery.destination);
                out.records.push(self.outcome(d, None, sent, 0, ikey, p));
                continue;
            };
            let gate = self
                .breakers
                .entry(key)
                .or_default()
                .gate(&dest.config.breaker, now);
            if let Gate::Wait(until) = gate {
                out.releases.push(Release {
                    tenant: d.delivery.tenant,
                    event_id: d.delivery.event_id,
                    destination: d.delivery.destination,
                    next_at_ms: until,
                });
                p.deferred += 1;
                continue;
            }
            let key = idempotency_key(&d.delivery.tenant, &d.event.id, &d.delivery.destination);
            chunk.push(ToSeal {
                delivery: d,
                dest,
                key,
            });
            if chunk.len() == SEAL_CHUNK {
                sealing.push(Box::pin(self.sealer.submit(std::mem::take(&mut chunk))));
            }
        }
        if !chunk.is_empty() {
            sealing.push(Box::pin(self.sealer.submit(chunk)));
        }
    }

    /// Decides what an attempt leaves the delivery as, updates the breaker, and builds the
    /// record.
    fn outcome(
        &mut self,
        d: ClaimedDelivery,
        dest: Option<&Destination>,
        sent: Sent,
        latency: u64,
        ikey: String,
        p: &mut Progress,
    ) -> AttemptRecord {
        let now = self.clock.now_ms();
        let attempt = d.delivery.attempts.saturating_add(1);
        let key = (d.delivery.tenant.clone(), d.delivery.destination.clone());
        let outcome = match (&sent.verdict, dest) {
            (Verdict::Delivered, _) => {
                if let Some(b) = self.breakers.get_mut(&key) {
                    b.success();
                }
                AttemptOutcome::Delivered
            }
            (_, None) => AttemptOutcome::Dead,
            (verdict, Some(dest)) => {
                let (permanent, after) = match verdict {
                    Verdict::Retry { after_ms } => (false, *after_ms),
                    _ => (true, None),
                };
                if !permanent {
                    self.breakers
                        .entry(key)
                        .or_default()
                        .failure(&dest.config.breaker, now);
                }
                match after_failure(
                    &dest.config.retry,
                    attempt,
                    d.delivery.created_ms,
                    now,
                    permanent,
                    after,
                    self.jitter.as_mut(),
                ) {
                    Next::RetryAt(t) => AttemptOutcome::Retry { next_at_ms: t },
                    Next::Dead => AttemptOutcome::Dead,
                }
            }
        };
        p.attempted += 1;
        match outcome {
            AttemptOutcome::Delivered => p.delivered += 1,
            AttemptOutcome::Dead => p.dead += 1,
            AttemptOutcome::Retry { .. } => {}
        }
        let kind = dest.map(|d| d.sink.kind()).unwrap_or("none");
        let entry = attempt_entry(&d, kind, attempt, &sent, latency, &outcome, &ikey);
        let at = crate::retry::stamp_ms(now);
        let error = match sent.verdict {
            Verdict::Delivered => None,
            _ => Some(
                self.redactor
                    .redact_text(&format!("{}: {}", sent.status, sent.response))
                    .value,
            ),
        };
        let follow_up = (outcome == AttemptOutcome::Dead && d.event.kind != "connector.failure")
            .then(|| {
                let mut e = NewEvent::new(
                    "connector.failure",
                    Some(d.event.id.clone()),
                    at,
                    json!({
                        "destination": d.delivery.destination,
                        "connector_kind": kind,
                        "event_id": d.event.id,
                        "event_type": d.event.kind,
                        "attempts": attempt,
                        "status": sent.status,
                        "error": error,
                    }),
                );
                // Reported to the tenant's other connectors, never back to the one that
                // failed (and a failure's own failure makes no further event).
                e.not_destination = Some(d.delivery.destination.clone());
                e
            });
        AttemptRecord {
            tenant: d.delivery.tenant.clone(),
            event_id: d.event.id.clone(),
            destination: d.delivery.destination.clone(),
            owner: self.settings.owner.clone(),
            attempt,
            outcome,
            at,
            status: sent.status.clone(),
            error,
            entry,
            follow_up,
        }
    }
}
