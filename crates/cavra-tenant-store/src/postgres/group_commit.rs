//! Group commit of a tenant's plain decisions and delivery attempts: one transaction and one
//! lock of the log head for many, and up to two groups in flight at once.
//!
//! A tenant's appender keeps the log head its groups leave (log id and frontier) in memory.
//! While one group commits, the next is built on the head the first will leave and sent
//! behind it on the same connection, `BEGIN`, statements and `COMMIT` together (pipelined:
//! PostgreSQL runs them as they come, with no round trip to the service in between). Its
//! first statement updates the head only if it is still the one the group was built on
//! (`size` and `frontier` as expected) and fails otherwise, so the second group commits after
//! the first and on what the first committed (log order is commit order); if the first did
//! not commit, the head is not the expected one, the second group's transaction fails before
//! its `COMMIT` and is rolled back, and its work is appended again from the head the database
//! holds. Nothing is answered before its own group's `COMMIT` returned, so nothing
//! acknowledged is missing.
//! When the head is not known (the first group, after a failure) a group locks and reads it
//! (`SELECT … FOR UPDATE`) first, as every other write of the log does; any other write that
//! appends between two groups (an approval, another replica) makes the next guarded update
//! fail, and that group is appended again under the lock.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::*;
use crate::log::{BuiltEntry, PreparedBody};
use crate::outbox::{AttemptRecord, AttemptWritten, NewEvent, outcome_row};
use tokio_postgres::error::SqlState;

/// Groups of one tenant in flight at once: the one committing and the one chained on it.
const IN_FLIGHT: usize = 2;

/// Failed groups of one tenant being appended again at once. While this many run, the
/// appender starts no new group (its work waits in the bounded queue), so that a failing
/// database is not sent ever more retries, each holding a connection of the pool every
/// tenant shares.
const RETRYING: usize = 2;

/// What a tenant's appender appends, each with whom to answer.
// A decision is the common item and goes through the queue by value: boxing it would cost an
// allocation per decision on the hot path to shrink the rarer attempts' items.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    /// A plain decision (no approval asked or used), answered with its entry's index.
    Decision {
        decision: NewDecision,
        prepared: PreparedBody,
        /// Its outbox event, written in the same transaction.
        event: Option<NewEvent>,
        /// Its `repository` column.
        repository: Option<String>,
        reply: oneshot::Sender<Result<u64>>,
    },
    /// Delivery attempts of the tenant, each an entry and its delivery row's new state, all
    /// or none (their bodies prepared, in the attempts' order).
    Attempts {
        attempts: Vec<AttemptRecord>,
        bodies: Vec<PreparedBody>,
        reply: oneshot::Sender<Result<Vec<AttemptWritten>>>,
    },
}

impl Work {
    /// Answers with what a committed group wrote for this work (`moved`: the deliveries whose
    /// rows moved, as event id and destination).
    fn answer(self, placed: Result<Vec<u64>>, moved: &HashSet<(String, String)>) {
        match self {
            Work::Decision { reply, .. } => {
                let r = placed.and_then(|p| p.first().copied().ok_or(StoreError::Closed));
                let _ = reply.send(r);
            }
            Work::Attempts {
                attempts, reply, ..
            } => {
                let r = placed.map(|indexes| {
                    attempts
                        .iter()
                        .zip(indexes)
                        .map(|(a, log_index)| AttemptWritten {
                            log_index,
                            applied: moved.contains(&(a.event_id.clone(), a.destination.clone())),
                        })
                        .collect()
                });
                let _ = reply.send(r);
            }
        }
    }

    /// Answers with an error (its group failed).
    fn fail(self, e: StoreError) {
        match self {
            Work::Decision { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            Work::Attempts { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// A log head: the log's id and its frontier.
#[derive(Clone)]
struct Head {
    log_id: String,
    frontier: Frontier,
}

/// What a group in flight left: the head once it committed (None when it failed), and its
/// work to append again when it failed (with the error when that was not a moved head).
struct Landed {
    head: Option<Head>,
    again: Option<(Vec<Work>, Option<StoreError>)>,
}

impl Landed {
    fn committed(head: Head) -> Landed {
        Landed {
            head: Some(head),
            again: None,
        }
    }

    fn failed(items: Vec<Work>, error: Option<StoreError>) -> Landed {
        Landed {
            head: None,
            again: Some((items, error)),
        }
    }
}

/// Why a group did not commit.
enum Failure {
    /// The log head was not the one the group was built on (a group before it failed, or
    /// another write appended in between): nothing of it was written, append it again.
    HeadMoved,
    /// The database refused it (nothing of it was written either).
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Store(e.into())
    }
}

/// One tenant's appender: takes the work waiting (up to [`BATCH`] items) and appends it as a
/// group; a second group starts while the first commits when the head the first leaves is
/// known (see the module's documentation). Each group's task answers its own callers after
/// its commit. Should a group fail for another reason than a moved head (a duplicate
/// decision id, say), its work is appended item by item, so that only the one at fault fails.
pub(super) async fn append_loop(
    pool: Pool,
    settings: LogSettings,
    tenant: String,
    mut rx: mpsc::Receiver<Work>,
) {
    // The head once every group in flight has committed, when known.
    let mut head: Option<Head> = None;
    let mut flights: VecDeque<tokio::task::JoinHandle<Landed>> = VecDeque::new();
    // Failed groups' work being appended again (at most RETRYING at once).
    let mut retries: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    // The connection the chained groups go out on, one behind the other, while any is in
    // flight (given back to the pool when none is), and the signal that the last one's
    // statements have all been sent, for the next to go out behind them.
    let mut chain: Option<Arc<deadpool_postgres::Client>> = None;
    let mut last_sent: Option<oneshot::Receiver<()>> = None;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // A group built on a predicted head may follow one in flight; a group that must read
        // the head waits until nothing is in flight (what it reads would be stale).
        let can_start = retries.len() < RETRYING
            && (flights.is_empty() || (head.is_some() && flights.len() < IN_FLIGHT));
        tokio::select! {
            biased;
            done = async { flights.front_mut().expect("a group in flight").await },
                if !flights.is_empty() => {
                flights.pop_front();
                if flights.is_empty() {
                    chain = None;
                    last_sent = None;
                }
                match done {
                    // Only a group that read the head runs alone, so its head is the newest.
                    Ok(Landed { head: Some(h), .. }) if flights.is_empty() && head.is_none() => {
                        head = Some(h)
                    }
                    Ok(Landed { head: Some(_), .. }) => {}
                    // A failed group (and the one chained on it, which fails too) leaves the
                    // head unknown until a group has read it again.
                    Ok(Landed { head: None, again }) => {
                        head = None;
                        if let Some((items, error)) = again {
                            let (pool, settings, tenant) =
                                (pool.clone(), settings.clone(), tenant.clone());
                            retries.spawn(async move {
                                append_again(&pool, &settings, &tenant, items, error).await
                            });
                        }
                    }
                    Err(_) => head = None,
                }
            }
            Some(_) = retries.join_next(), if !retries.is_empty() => {}
            n = rx.recv_many(&mut batch, BATCH), if can_start => {
                if n == 0 {
                    break;
                }
                let items: Vec<Work> = std::mem::take(&mut batch);
                batch.reserve(BATCH);
                let built = head.take().map(|h| build(&settings, &tenant, h, &items));
                let conn = match (&built, &chain) {
                    (Some(Ok(_)), Some(c)) if !c.is_closed() => Some(c.clone()),
                    (Some(Ok(_)), _) => pool.get().await.ok().map(Arc::new),
                    _ => None,
                };
                flights.push_back(match (built, conn) {
                    (Some(Ok(group)), Some(conn)) => {
                        head = Some(Head {
                            log_id: group.before.log_id.clone(),
                            frontier: group.after.clone(),
                        });
                        if !chain.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                            chain = Some(conn.clone());
                            last_sent = None;
                        }
                        let (sent, next) = oneshot::channel();
                        let after = last_sent.replace(next);
                        tokio::spawn(commit_chained(
                            tenant.clone(),
                            conn,
                            after,
                            sent,
                            group,
                            items,
                        ))
                    }
                    _ => tokio::spawn(commit_locked(
                        pool.clone(),
                        settings.clone(),
                        tenant.clone(),
                        items,
                    )),
                });
            }
        }
    }
    for f in flights {
        if let Ok(Landed {
            again: Some((items, error)),
            ..
        }) = f.await
        {
            append_again(&pool, &settings, &tenant, items, error).await;
        }
    }
    while retries.join_next().await.is_some() {}
}

/// Commits a group built on a predicted head, answers its callers; returns the head it left,
/// or its work to append again (under the lock) when it failed.
/// It goes out on `conn` once the group before it has gone out there (`after`), and says
/// when it has (`sent`).
async fn commit_chained(
    tenant: String,
    conn: Arc<deadpool_postgres::Client>,
    after: Option<oneshot::Receiver<()>>,
    sent: oneshot::Sender<()>,
    group: Group,
    items: Vec<Work>,
) -> Landed {
    if let Some(after) = after {
        // Sent, or failed before it could be: either way this group may go.
        let _ = after.await;
    }
    let written = write_group(&conn, &tenant, &group, true, Some(sent)).await;
    drop(conn);
    match written {
        Ok(moved) => {
            for (item, placed) in items.into_iter().zip(group.placed) {
                item.answer(placed, &moved);
            }
            Landed::committed(Head {
                log_id: group.before.log_id,
                frontier: group.after,
            })
        }
        // Appended again by the appender's retries, so that the appender learns at once that
        // the head it predicted is wrong (and reads it again) rather than after the retries.
        Err(Failure::HeadMoved) => Landed::failed(items, None),
        Err(Failure::Store(e)) => Landed::failed(items, Some(e)),
    }
}

/// Appends a failed group's work again: under the lock as one group after a moved head
/// (`error` None), then, or straight away after another failure, item by item.
async fn append_again(
    pool: &Pool,
    settings: &LogSettings,
    tenant: &str,
    items: Vec<Work>,
    error: Option<StoreError>,
) {
    let error = match error {
        Some(e) => e,
        None => match locked(pool, settings, tenant, &items).await {
            Ok((group, moved)) => {
                for (item, placed) in items.into_iter().zip(group.placed) {
                    item.answer(placed, &moved);
                }
                return;
            }
            Err(e) => e,
        },
    };
    one_by_one(pool, settings, tenant, items, error).await
}

/// Commits a group under the lock of the log head, read first; answers its callers and
/// returns the head it left, or its work to append again (one by one) when it failed.
async fn commit_locked(
    pool: Pool,
    settings: LogSettings,
    tenant: String,
    items: Vec<Work>,
) -> Landed {
    match locked(&pool, &settings, &tenant, &items).await {
        Ok((group, moved)) => {
            for (item, placed) in items.into_iter().zip(group.placed) {
                item.answer(placed, &moved);
            }
            Landed::committed(Head {
                log_id: group.before.log_id,
                frontier: group.after,
            })
        }
        Err(e) => Landed::failed(items, Some(e)),
    }
}

/// After a group failed with `e`: one item fails with it; several are appended each alone,
/// so that only the one at fault fails.
async fn one_by_one(
    pool: &Pool,
    settings: &LogSettings,
    tenant: &str,
    mut items: Vec<Work>,
    e: StoreError,
) {
    if items.len() == 1 {
        if let Some(item) = items.pop() {
            item.fail(e);
        }
        return;
    }
    for item in items {
        let one = [item];
        match locked(pool, settings, tenant, &one).await {
            Ok((group, moved)) => {
                let [item] = one;
                let placed = group.placed.into_iter().next();
                item.answer(placed.unwrap_or(Err(StoreError::Closed)), &moved);
            }
            Err(e) => {
                let [item] = one;
                item.fail(e);
            }
        }
    }
}

/// Begins a transaction, locks and reads the log head, builds `items` on it and commits.
async fn locked(
    pool: &Pool,
    settings: &LogSettings,
    tenant: &str,
    items: &[Work],
) -> Result<(Group, HashSet<(String, String)>)> {
    let c = pool.get().await?;
    let mut c = TxConn::new(c);
    c.open = true;
    let (begun, head) = tokio::join!(c.batch_execute("BEGIN"), read_head(&c, tenant));
    let group = match begun
        .map_err(StoreError::from)
        .and(head)
        .and_then(|h| build(settings, tenant, h, items))
    {
        Ok(g) => g,
        Err(e) => {
            c.rollback().await;
            return Err(e);
        }
    };
    let written = write_group(&c, tenant, &group, false, None).await;
    // The statements and the COMMIT went out together: the transaction is over whatever
    // the answers (committed, rolled back, or the connection is gone and the pool drops it).
    c.open = false;
    match written {
        Ok(moved) => Ok((group, moved)),
        Err(Failure::Store(e)) => Err(e),
        // Under the lock the head cannot move.
        Err(Failure::HeadMoved) => Err(StoreError::Corrupt(format!(
            "the log head of {tenant} moved under its lock"
        ))),
    }
}

/// Locks `tenant`'s log head (creating it for the first entry) and reads it, in the
/// transaction `c` has open.
async fn read_head(c: &deadpool_postgres::Client, tenant: &str) -> Result<Head> {
    let (log_id, frontier) = super::append::lock_log_head(c, tenant).await?;
    Ok(Head { log_id, frontier })
}

/// A pooled connection in a transaction begun by hand (`BEGIN` sent with the statements, so
/// that it costs no round trip of its own). Dropped while the transaction may still be open (a
/// task cancelled in the middle), the connection is closed, not given back to the pool.
struct TxConn {
    client: Option<deadpool_postgres::Client>,
    /// Whether a transaction may be open.
    open: bool,
}

impl TxConn {
    fn new(client: deadpool_postgres::Client) -> TxConn {
        TxConn {
            client: Some(client),
            open: false,
        }
    }

    /// Rolls back what is open (a failed group before its statements went out).
    async fn rollback(&mut self) {
        if self.batch_execute("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }
}

impl std::ops::Deref for TxConn {
    type Target = deadpool_postgres::Client;
    fn deref(&self) -> &deadpool_postgres::Client {
        // Present from `new` until `drop`.
        self.client.as_ref().expect("a connection")
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        if self.open
            && let Some(c) = self.client.take()
        {
            drop(deadpool_postgres::Object::take(c));
        }
    }
}

/// Sends a group's statements, its `COMMIT` with them (and its `BEGIN` first when `begin`),
/// says so on `sent`, and waits for every answer; returns the deliveries whose rows moved.
/// Whatever else is sent on `c` afterwards runs after this transaction. The first statement
/// is the head's update, guarded: it fails with a division by zero when the head is not the
/// one the group was built on, which aborts the transaction, so that the `COMMIT` sent behind
/// it rolls back (PostgreSQL answers `ROLLBACK` to the `COMMIT` of an aborted transaction,
/// which is why every statement's answer is checked, not only the `COMMIT`'s).
async fn write_group(
    c: &deadpool_postgres::Client,
    tenant: &str,
    g: &Group,
    begin: bool,
    sent: Option<oneshot::Sender<()>>,
) -> std::result::Result<HashSet<(String, String)>, Failure> {
    let st = Statements::prepare(c).await?;
    let pg: &tokio_postgres::Client = c;
    let (old_size, old_bytes) = (
        g.before.frontier.size() as i64,
        g.before.frontier.to_bytes(),
    );
    let (new_size, new_bytes) = (g.after.size() as i64, g.after.to_bytes());
    let e = &g.entries;
    let d = &g.decisions;
    let ev = &g.events;
    let cp = &g.checkpoints;
    let dl = &g.deliveries;
    // Polled in this order on the first poll, each sends its statement then: tokio-postgres
    // pipelines the queries of one connection polled at once, so the group costs one round
    // trip (and its WAL flush) however many statements it has.
    let (begun, guarded, entries, decisions, events, checkpoints, deliveries, committed, ()) = tokio::join!(
        async {
            if begin {
                pg.batch_execute("BEGIN").await
            } else {
                Ok(())
            }
        },
        async {
            pg.execute(
                &st.guard,
                &[&tenant, &new_size, &new_bytes, &old_size, &old_bytes],
            )
            .await
        },
        async {
            if e.idx.is_empty() {
                return Ok(0);
            }
            pg.execute(
                &st.entries,
                &[
                    &tenant,
                    &e.idx,
                    &e.kind,
                    &e.ref_id,
                    &e.session_id,
                    &e.timestamp,
                    &e.entry,
                    &e.leaf,
                ],
            )
            .await
        },
        async {
            if d.decision_id.is_empty() {
                return Ok(0);
            }
            pg.execute(
                &st.decisions,
                &[
                    &tenant,
                    &d.decision_id,
                    &d.session_id,
                    &d.agent,
                    &d.requested_by,
                    &d.action_type,
                    &d.decision,
                    &d.rule_id,
                    &d.timestamp,
                    &d.fingerprint,
                    &d.policy_digest,
                    &d.log_index,
                    &d.repository,
                ],
            )
            .await
        },
        async {
            if ev.id.is_empty() {
                return Ok(0);
            }
            pg.execute(
                &st.events,
                &[
                    &tenant,
                    &ev.id,
                    &ev.kind,
                    &ev.ref_id,
                    &ev.log_index,
                    &ev.only_destination,
                    &ev.not_destination,
                    &ev.created_at,
                    &ev.payload,
                ],
            )
            .await
        },
        async {
            if cp.tree_size.is_empty() {
                return Ok(0);
            }
            pg.execute(
                &st.checkpoints,
                &[
                    &tenant,
                    &cp.tree_size,
                    &cp.root_hash,
                    &cp.timestamp,
                    &cp.key_id,
                    &cp.envelope,
                ],
            )
            .await
        },
        async {
            if dl.event_id.is_empty() {
                return Ok(Vec::new());
            }
            let f = &dl.follow_ups;
            pg.query(
                &st.deliveries,
                &[
                    &tenant,
                    &dl.event_id,
                    &dl.destination,
                    &dl.owner,
                    &dl.state,
                    &dl.attempts,
                    &dl.next_at,
                    &dl.at,
                    &dl.status,
                    &dl.error,
                    &dl.follow_event,
                    &dl.follow_destination,
                    &f.id,
                    &f.kind,
                    &f.ref_id,
                    &f.log_index,
                    &f.only_destination,
                    &f.not_destination,
                    &f.created_at,
                    &f.payload,
                ],
            )
            .await
        },
        pg.batch_execute("COMMIT"),
        // Polled last on the first poll: every statement above has been sent.
        async {
            if let Some(sent) = sent {
                let _ = sent.send(());
            }
        },
    );
    begun?;
    match guarded {
        Err(e) if e.code() == Some(&SqlState::DIVISION_BY_ZERO) => {
            return Err(Failure::HeadMoved);
        }
        r => {
            r?;
        }
    }
    // After a failing statement the others fail too (the transaction is aborted): the
    // first failure in statement order is the one that says why.
    entries?;
    decisions?;
    events?;
    checkpoints?;
    let moved = deliveries?;
    committed?;
    let mut out = HashSet::with_capacity(moved.len());
    for r in &moved {
        out.insert((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?));
    }
    Ok(out)
}

/// A group's statements, prepared on its connection (cached there after the first group).
struct Statements {
    guard: tokio_postgres::Statement,
    entries: tokio_postgres::Statement,
    decisions: tokio_postgres::Statement,
    events: tokio_postgres::Statement,
    checkpoints: tokio_postgres::Statement,
    deliveries: tokio_postgres::Statement,
}

impl Statements {
    async fn prepare(c: &deadpool_postgres::Client) -> Result<Statements> {
        Ok(Statements {
            // The head moves only from the head the group was built on; otherwise 1 / 0.
            guard: c
                .prepare_cached(
                    "WITH moved AS (UPDATE log_meta SET size = $2, frontier = $3 WHERE tenant = $1 AND size = $4 AND frontier = $5 RETURNING 1) SELECT 1 / COUNT(*)::int FROM moved",
                )
                .await?,
            entries: c
                .prepare_cached(
                    "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])",
                )
                .await?,
            decisions: c
                .prepare_cached(&format!(
                    "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[])"
                ))
                .await?,
            events: c
                .prepare_cached(
                    "INSERT INTO connector_events (tenant, id, kind, ref_id, log_index, only_destination, not_destination, created_at, payload) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])",
                )
                .await?,
            checkpoints: c
                .prepare_cached(
                    "INSERT INTO checkpoints (tenant, tree_size, root_hash, timestamp, key_id, envelope) SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) ON CONFLICT (tenant, tree_size) DO UPDATE SET root_hash = EXCLUDED.root_hash, timestamp = EXCLUDED.timestamp, key_id = EXCLUDED.key_id, envelope = EXCLUDED.envelope",
                )
                .await?,
            // The delivery rows still leased by the attempt's worker move; a follow-up event
            // (a dead letter's) is written only with its row's move, as before.
            deliveries: c
                .prepare_cached(
                    "WITH moved AS (UPDATE connector_deliveries d SET state = u.s, attempts = u.n, next_at = u.next, updated_at = u.at, last_status = u.status, last_error = u.error, lease_owner = NULL, lease_until = 0 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) AS u(e, dst, o, s, n, next, at, status, error) WHERE d.tenant = $1 AND d.event_id = u.e AND d.destination = u.dst AND d.lease_owner = u.o AND d.state = 'pending' RETURNING d.event_id, d.destination), followed AS (INSERT INTO connector_events (tenant, id, kind, ref_id, log_index, only_destination, not_destination, created_at, payload) SELECT $1, f.id, f.kind, f.ref_id, f.log_index, f.only_dst, f.not_dst, f.created_at, f.payload FROM UNNEST($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[]) AS f(e, dst, id, kind, ref_id, log_index, only_dst, not_dst, created_at, payload) WHERE EXISTS (SELECT 1 FROM moved m WHERE m.event_id = f.e AND m.destination = f.dst) RETURNING 1) SELECT event_id, destination FROM moved",
                )
                .await?,
        })
    }
}

/// A group built on a head: what its transaction writes, as statement parameters.
struct Group {
    /// The head it chains on.
    before: Head,
    /// The frontier after it.
    after: Frontier,
    entries: EntryColumns,
    decisions: DecisionColumns,
    events: EventColumns,
    checkpoints: CheckpointColumns,
    deliveries: DeliveryColumns,
    /// Per item of work: its entries' indexes, or why it was left out.
    placed: Vec<Result<Vec<u64>>>,
}

/// Builds `items` on `before`: their entries, in order, each item whole or left out (an entry
/// that cannot be built fails its item only).
fn build(settings: &LogSettings, tenant: &str, before: Head, items: &[Work]) -> Result<Group> {
    let mut g = Group {
        after: before.frontier.clone(),
        before,
        entries: EntryColumns::default(),
        decisions: DecisionColumns::default(),
        events: EventColumns::default(),
        checkpoints: CheckpointColumns::default(),
        deliveries: DeliveryColumns::default(),
        placed: Vec::with_capacity(items.len()),
    };
    for item in items {
        let first = g.after.size();
        match item {
            Work::Decision {
                decision: d,
                prepared,
                event,
                repository,
                ..
            } => {
                let at = d.timestamp.to_string();
                let built = match build_entry(
                    &settings.redactor,
                    tenant,
                    first,
                    "decision",
                    &at,
                    EntryBody::Prepared(prepared.clone()),
                ) {
                    Ok(b) => b,
                    Err(e) => {
                        g.placed.push(Err(e.into()));
                        continue;
                    }
                };
                g.push_entry(
                    settings,
                    "decision",
                    Some(d.decision_id.clone()),
                    d.session_id.clone(),
                    at,
                    built,
                )?;
                g.decisions.push(first, d, repository);
                if let Some(e) = event {
                    g.events.push(e, Some(first))?;
                }
                g.placed.push(Ok(vec![first]));
            }
            Work::Attempts {
                attempts, bodies, ..
            } => {
                // Built before any is placed, so that the item is whole or left out.
                let built: std::result::Result<Vec<(String, BuiltEntry)>, _> = attempts
                    .iter()
                    .zip(bodies)
                    .enumerate()
                    .map(|(k, (a, body))| {
                        let at = a.at.to_string();
                        build_entry(
                            &settings.redactor,
                            tenant,
                            first + k as u64,
                            "delivery",
                            &at,
                            EntryBody::Prepared(body.clone()),
                        )
                        .map(|b| (at, b))
                    })
                    .collect();
                let built = match built {
                    Ok(b) => b,
                    Err(e) => {
                        g.placed.push(Err(e.into()));
                        continue;
                    }
                };
                let mut indexes = Vec::with_capacity(attempts.len());
                for (a, (at, b)) in attempts.iter().zip(built) {
                    let index = g.after.size();
                    g.push_entry(settings, "delivery", Some(a.event_id.clone()), None, at, b)?;
                    g.deliveries.push(a, index)?;
                    indexes.push(index);
                }
                g.placed.push(Ok(indexes));
            }
        }
    }
    Ok(g)
}

impl Group {
    /// Appends one built entry (and the checkpoint it completes, with its event).
    fn push_entry(
        &mut self,
        settings: &LogSettings,
        kind: &'static str,
        ref_id: Option<String>,
        session_id: Option<String>,
        at: String,
        built: BuiltEntry,
    ) -> Result<()> {
        let index = self.after.size();
        self.after.push(built.leaf);
        if self.after.size().is_multiple_of(CHECKPOINT_EVERY) {
            let cp = sign_checkpoint(&self.before.log_id, &self.after, &at, &settings.signer);
            self.events
                .push(&crate::outbox::checkpoint_event(&cp)?, None)?;
            self.checkpoints.push(cp);
        }
        let e = &mut self.entries;
        e.idx.push(index as i64);
        e.kind.push(kind);
        e.ref_id.push(ref_id);
        e.session_id.push(session_id);
        e.timestamp.push(at);
        e.leaf.push(built.leaf.to_vec());
        e.entry.push(built.bytes);
        Ok(())
    }
}

/// Log entry columns of a group, as arrays for one `INSERT … SELECT … UNNEST`.
#[derive(Default)]
struct EntryColumns {
    idx: Vec<i64>,
    kind: Vec<&'static str>,
    ref_id: Vec<Option<String>>,
    session_id: Vec<Option<String>>,
    timestamp: Vec<String>,
    entry: Vec<Vec<u8>>,
    leaf: Vec<Vec<u8>>,
}

/// Decision columns of a group, in [`DECISION_COLUMNS`] order.
#[derive(Default)]
struct DecisionColumns {
    decision_id: Vec<String>,
    session_id: Vec<Option<String>>,
    agent: Vec<Option<String>>,
    requested_by: Vec<String>,
    action_type: Vec<&'static str>,
    decision: Vec<&'static str>,
    rule_id: Vec<String>,
    timestamp: Vec<String>,
    fingerprint: Vec<String>,
    policy_digest: Vec<String>,
    log_index: Vec<i64>,
    repository: Vec<Option<String>>,
}

impl DecisionColumns {
    fn push(&mut self, index: u64, d: &NewDecision, repository: &Option<String>) {
        self.decision_id.push(d.decision_id.clone());
        self.session_id.push(d.session_id.clone());
        self.agent.push(d.agent.clone());
        self.requested_by.push(d.extra.requested_by.clone());
        self.action_type.push(d.action_type.as_str());
        self.decision.push(d.decision.as_str());
        self.rule_id.push(d.rule_id.clone());
        self.timestamp.push(d.timestamp.to_string());
        self.fingerprint.push(d.fingerprint.clone());
        self.policy_digest.push(d.extra.policy_digest.clone());
        self.log_index.push(index as i64);
        self.repository.push(repository.clone());
    }
}

/// Outbox event columns (every column an event has).
#[derive(Default)]
struct EventColumns {
    id: Vec<String>,
    kind: Vec<String>,
    ref_id: Vec<Option<String>>,
    log_index: Vec<Option<i64>>,
    only_destination: Vec<Option<String>>,
    not_destination: Vec<Option<String>>,
    created_at: Vec<String>,
    payload: Vec<String>,
}

impl EventColumns {
    fn push(&mut self, e: &NewEvent, log_index: Option<u64>) -> Result<()> {
        self.payload.push(serde_json::to_string(&e.payload)?);
        self.id.push(e.id.clone());
        self.kind.push(e.kind.clone());
        self.ref_id.push(e.ref_id.clone());
        self.log_index.push(log_index.map(|i| i as i64));
        self.only_destination.push(e.only_destination.clone());
        self.not_destination.push(e.not_destination.clone());
        self.created_at.push(e.created_at.to_string());
        Ok(())
    }
}

/// Checkpoint columns.
#[derive(Default)]
struct CheckpointColumns {
    tree_size: Vec<i64>,
    root_hash: Vec<String>,
    timestamp: Vec<String>,
    key_id: Vec<String>,
    envelope: Vec<String>,
}

impl CheckpointColumns {
    fn push(&mut self, c: CheckpointRecord) {
        self.tree_size.push(c.tree_size as i64);
        self.root_hash.push(c.root_hash);
        self.timestamp.push(c.timestamp);
        self.key_id.push(c.key_id);
        self.envelope.push(c.envelope);
    }
}

/// Delivery rows to move, and the follow-up events written with them.
#[derive(Default)]
struct DeliveryColumns {
    event_id: Vec<String>,
    destination: Vec<String>,
    owner: Vec<String>,
    state: Vec<&'static str>,
    attempts: Vec<i64>,
    next_at: Vec<i64>,
    at: Vec<String>,
    status: Vec<String>,
    error: Vec<Option<String>>,
    /// The delivery (event id, destination) each follow-up goes with.
    follow_event: Vec<String>,
    follow_destination: Vec<String>,
    follow_ups: EventColumns,
}

impl DeliveryColumns {
    fn push(&mut self, a: &AttemptRecord, log_index: u64) -> Result<()> {
        let (state, next_at) = outcome_row(&a.outcome);
        self.event_id.push(a.event_id.clone());
        self.destination.push(a.destination.clone());
        self.owner.push(a.owner.clone());
        self.state.push(state.as_str());
        self.attempts.push(a.attempt as i64);
        self.next_at.push(next_at);
        self.at.push(a.at.to_string());
        self.status.push(a.status.clone());
        self.error.push(a.error.clone());
        if let Some(f) = &a.follow_up {
            self.follow_ups.push(f, Some(log_index))?;
            self.follow_event.push(a.event_id.clone());
            self.follow_destination.push(a.destination.clone());
        }
        Ok(())
    }
}

// The chaining itself, on PostgreSQL (`CAVRA_TEST_POSTGRES_URL`, a schema of its own): two
// groups built one on the other and sent together, the first made to fail at its `COMMIT`.
#[cfg(test)]
mod tests;
